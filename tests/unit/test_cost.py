"""Cost per hook, in counts: HTTP calls to Prowlarr, Pebble calls, secret and relation writes.

Counts are deterministic, so they are asserted; `tox -e benchmark` prints the whole table. The
point is how cost scales: a steady-state hook must cost the same with 10 media managers as with 1
(HTTP and Pebble), and write nothing at all.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ops import testing

from charm import ProwlarrCharm
from tests.unit.conftest import make_state
from tests.unit.fake_prowlarr import FakeProwlarr
from tests.unit.recorder import CallRecorder
from tests.unit.test_registration import deployment, manager

Ctx = testing.Context[ProwlarrCharm]
WRITE_METHODS = ("POST", "PUT", "DELETE")


@dataclasses.dataclass(frozen=True)
class Cost:
    """What one hook cost."""

    hook: str
    managers: int
    http: int
    http_writes: int
    pebble: int
    secret_reads: int
    secret_grants: int
    secret_writes: int
    relation_writes: int

    def row(self) -> str:
        values = dataclasses.astuple(self)
        return "| " + " | ".join(str(v) for v in values) + " |"


@dataclasses.dataclass
class Meter:
    """Runs hooks and records what each cost."""

    ctx: Ctx
    prowlarr: FakeProwlarr
    calls: CallRecorder
    managers: int
    costs: list[Cost] = dataclasses.field(default_factory=list[Cost])

    def run(self, hook: str, event: Any, state: testing.State) -> testing.State:
        self.prowlarr.clear_requests()
        self.calls.reset()
        out = self.ctx.run(event, state)
        requests, calls = self.prowlarr.requests, self.calls
        self.costs.append(
            Cost(
                hook=hook,
                managers=self.managers,
                http=len(requests),
                http_writes=sum(
                    1
                    for r in requests
                    if r.method in WRITE_METHODS and r.path.startswith("/api/v1/applications")
                ),
                pebble=calls.total("pebble"),
                secret_reads=calls.total("secret-read"),
                secret_grants=calls.calls["secret-grant"],
                secret_writes=calls.total("secret")
                - calls.total("secret-read")
                - calls.calls["secret-grant"],
                relation_writes=calls.calls["relation-write"],
            )
        )
        return out


def lifecycle(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, calls: CallRecorder, n: int
) -> dict[str, Cost]:
    """First start, n managers registering, steady update-status, rotations on both sides."""
    meter = Meter(ctx, prowlarr, calls, n)
    managers = [
        manager(f"radarr{i}", 10 + i, f"{i:032x}", kind="radarr", port=7878) for i in range(n)
    ]
    state = make_state(config_dir)
    out = meter.run(
        "pebble-ready (first start)", ctx.on.pebble_ready(state.get_container("prowlarr")), state
    )
    own = out.get_secret(label="prowlarr-api-key")
    related = deployment(config_dir, *managers)
    related = dataclasses.replace(
        related, secrets={s for s in related.secrets if s.label != "prowlarr-api-key"} | {own}
    )
    out = meter.run(
        "relation-changed (register all)",
        ctx.on.relation_changed(managers[0].relation, remote_unit=0),
        related,
    )
    out = meter.run("update-status (steady)", ctx.on.update_status(), out)
    rotated = dataclasses.replace(managers[0].secret, latest_content={"api-key": "f" * 32})
    out = dataclasses.replace(
        out, secrets={s for s in out.secrets if s.id != rotated.id} | {rotated}
    )
    out = meter.run("secret-changed (one manager)", ctx.on.secret_changed(rotated), out)
    meter.run("rotate-api-key action", ctx.on.action("rotate-api-key"), out)
    return {cost.hook: cost for cost in meter.costs}


def fresh(prowlarr: FakeProwlarr, config_dir: Path) -> None:
    """Forget the previous deployment: Prowlarr stopped, no config.xml, no applications."""
    prowlarr.stop()
    (config_dir / "config.xml").unlink(missing_ok=True)
    for app_id in prowlarr.applications:
        prowlarr.remove_application(app_id)


def test_cost_per_hook_and_how_it_scales(
    ctx: Ctx, owned_config_dir: Path, prowlarr: FakeProwlarr, calls: CallRecorder
):
    one = lifecycle(ctx, owned_config_dir, prowlarr, calls, 1)
    fresh(prowlarr, owned_config_dir)
    ten = lifecycle(ctx, owned_config_dir, prowlarr, calls, 10)
    _print_table([*one.values(), *ten.values()])

    for costs in (one, ten):
        steady = costs["update-status (steady)"]
        assert (steady.http_writes, steady.secret_writes, steady.relation_writes) == (0, 0, 0)
        assert steady.http == 1, "the list of applications: nothing per manager"
        assert costs["secret-changed (one manager)"].http_writes == 1, (
            "one PUT for one rotated key"
        )
    steady_1, steady_10 = one["update-status (steady)"], ten["update-status (steady)"]
    assert steady_10.http / steady_1.http == 1.0, (
        "HTTP per steady hook does not grow with managers"
    )
    assert steady_10.pebble / steady_1.pebble == 1.0, "Pebble per steady hook does not grow"
    assert steady_10.secret_grants / steady_1.secret_grants == 10.0, (
        "one idempotent grant per relation"
    )
    register_1, register_10 = (
        one["relation-changed (register all)"],
        ten["relation-changed (register all)"],
    )
    assert (register_1.http_writes, register_10.http_writes) == (1, 10), "one POST per manager"


def _print_table(costs: list[Cost]) -> None:
    header = "| " + " | ".join(f.name for f in dataclasses.fields(Cost)) + " |"
    rule = "|" + "---|" * len(dataclasses.fields(Cost))
    print("\n" + "\n".join([header, rule, *(c.row() for c in costs)]))
