"""What a hook costs, in counts: Prowlarr requests, Pebble calls, hook tools, log records, writes.

The counts are deterministic, so they are asserted here for N = 1, 10 and 50 related media
managers. `tox -e benchmark` also prints them as a table, with each hook's CPU time as a ratio to
a charm that observes nothing (the framework floor), measured in the same run, interleaved (the
median of 25 pairs). The ratio is printed, never asserted.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import ops
import pytest
from ops import testing

from charm import ProwlarrCharm
from tests.unit.conftest import ACTIONS, CONFIG, META
from tests.unit.fake_prowlarr import FakeProwlarr
from tests.unit.recorder import CallRecorder
from tests.unit.recorder import install as install_recorder
from tests.unit.test_charm import started
from tests.unit.test_registration import Manager, deployment, manager

Ctx = testing.Context[ProwlarrCharm]
SIZES = (1, 10, 50)
SCENARIOS = (
    "steady update-status",
    "one manager's key rotated",
    "config-changed, nothing changed",
    "a new relation",
)
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})
ROUNDS = 25


@dataclasses.dataclass(frozen=True)
class Cost:
    """What one hook cost."""

    scenario: str
    managers: int
    http: Counter[str]
    pebble: Counter[str]
    hook_tools: Counter[str]
    logs: Counter[str]
    writes: dict[str, int]

    @property
    def secret_tools(self) -> int:
        return sum(n for name, n in self.hook_tools.items() if name.startswith("secret-"))

    @property
    def without_relation_list(self) -> int:
        return sum(self.hook_tools.values()) - self.hook_tools["relation-list"]


def _writes(calls: CallRecorder, prowlarr: FakeProwlarr) -> dict[str, int]:
    writes: Counter[str] = Counter(calls.hook_tool_writes())
    writes.update({f"pebble {k}": v for k, v in calls.pebble_writes().items()})
    writes.update(f"http {r.method}" for r in prowlarr.requests if r.method in WRITE_METHODS)
    return dict(writes)


def measure(
    ctx: Ctx,
    prowlarr: FakeProwlarr,
    calls: CallRecorder,
    scenario: str,
    managers: int,
    run: Callable[[], testing.State],
) -> tuple[Cost, testing.State]:
    prowlarr.clear_requests()
    calls.reset()
    out = run()
    cost = Cost(
        scenario=scenario,
        managers=managers,
        http=Counter(f"{r.method} {r.path}" for r in prowlarr.requests),
        pebble=Counter(calls.pebble),
        hook_tools=Counter(calls.hook_tools),
        logs=Counter(calls.logs),
        writes=_writes(calls, prowlarr),
    )
    return cost, out


def managers_for(n: int, start: int = 0) -> list[Manager]:
    return [
        manager(f"radarr{i}", 10 + i, f"{i:032x}", kind="radarr", port=7878)
        for i in range(start, start + n)
    ]


def settled(ctx: Ctx, config_dir: Path, managers: list[Manager]) -> testing.State:
    """A deployment with every manager registered and the leader's memory in place."""
    state = deployment(config_dir, *managers)
    out = ctx.run(ctx.on.relation_changed(managers[0].relation, remote_unit=0), state)
    return ctx.run(ctx.on.update_status(), out)


def scenario_inputs(
    ctx: Ctx, config_dir: Path, n: int
) -> Iterator[tuple[str, Callable[[testing.State], tuple[Any, testing.State]]]]:
    """Each scenario: its name and how to build its event and input from a settled state."""
    managers = managers_for(n)
    yield "steady update-status", lambda s: (ctx.on.update_status(), s)

    def rotated(s: testing.State) -> tuple[Any, testing.State]:
        secret = managers[0].secret
        new = dataclasses.replace(secret, latest_content={"api-key": "f" * 32})
        state = dataclasses.replace(s, secrets={x for x in s.secrets if x.id != new.id} | {new})
        return ctx.on.secret_changed(new), state

    yield "one manager's key rotated", rotated
    yield "config-changed, nothing changed", lambda s: (ctx.on.config_changed(), s)

    def joined(s: testing.State) -> tuple[Any, testing.State]:
        (new,) = managers_for(1, start=n)
        state = dataclasses.replace(
            s, relations={*s.relations, new.relation}, secrets={*s.secrets, new.secret}
        )
        return ctx.on.relation_changed(new.relation, remote_unit=0), state

    yield "a new relation", joined


def costs_for(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, calls: CallRecorder, n: int
) -> dict[str, Cost]:
    base = settled(ctx, config_dir, managers_for(n))
    costs: dict[str, Cost] = {}
    for name, build in scenario_inputs(ctx, config_dir, n):
        cost, _ = measure(ctx, prowlarr, calls, name, n, partial(_run, ctx, *build(base)))
        costs[name] = cost
    return costs


@pytest.fixture
def all_costs(
    ctx: Ctx, owned_config_dir: Path, prowlarr: FakeProwlarr
) -> dict[int, dict[str, Cost]]:
    """Every scenario's cost, counted with the recorder installed only while they run."""
    started(prowlarr, owned_config_dir)
    out: dict[int, dict[str, Cost]] = {}
    with pytest.MonkeyPatch.context() as patch:  # undone before anything is timed
        calls = install_recorder(patch)
        for n in SIZES:
            for app_id in prowlarr.applications:
                prowlarr.remove_application(app_id)
            out[n] = costs_for(ctx, owned_config_dir, prowlarr, calls, n)
    return out


def test_a_steady_hook_is_at_the_physical_minimum(all_costs: dict[int, dict[str, Cost]]):
    for n, costs in all_costs.items():
        steady = costs["steady update-status"]
        assert steady.http == Counter({"GET /api/v1/applications": 1}), n
        assert steady.writes == {}, n
        assert steady.logs["DEBUG"] + steady.logs["INFO"] + steady.logs["WARNING"] == (
            all_costs[1]["steady update-status"].logs["DEBUG"]
            + all_costs[1]["steady update-status"].logs["INFO"]
            + all_costs[1]["steady update-status"].logs["WARNING"]
        ), "no log record per relation"
    one, ten, fifty = (all_costs[n]["steady update-status"] for n in SIZES)
    per_relation = (fifty.without_relation_list - one.without_relation_list) / 49
    assert per_relation <= 2, "relation data and the manager's secret, nothing else"
    assert (ten.without_relation_list - one.without_relation_list) / 9 == per_relation
    own_secret = one.secret_tools - 1  # one secret-get per manager
    assert own_secret <= 2, "the charm's own secret"
    assert one.pebble == ten.pebble == fifty.pebble, "Pebble does not grow with managers"


def test_a_rotated_manager_key_costs_exactly_one_put(all_costs: dict[int, dict[str, Cost]]):
    for n, costs in all_costs.items():
        rotated = costs["one manager's key rotated"]
        http_writes = {k: v for k, v in rotated.writes.items() if k.startswith("http")}
        assert http_writes == {"http PUT": 1}, n
        assert "secret-grant" not in rotated.writes, n


def test_config_changed_with_nothing_changed_writes_nothing(
    all_costs: dict[int, dict[str, Cost]],
):
    for n, costs in all_costs.items():
        assert costs["config-changed, nothing changed"].writes == {}, n


def test_a_new_relation_costs_one_grant_one_write_and_one_post(
    all_costs: dict[int, dict[str, Cost]],
):
    for n, costs in all_costs.items():
        joined = costs["a new relation"]
        assert joined.writes.get("secret-grant") == 1, n
        assert joined.writes.get("http POST") == 1, n
        assert joined.writes.get("relation-set", 0) <= 3, "its databag and the leader's memory"


def test_a_grant_lost_behind_the_charms_back_heals(
    ctx: Ctx, owned_config_dir: Path, prowlarr: FakeProwlarr, calls: CallRecorder
):
    started(prowlarr, owned_config_dir)
    managers = managers_for(2)
    base = settled(ctx, owned_config_dir, managers)
    peers = base.get_relations("prowlarr-peers")[0]
    # The memory no longer knows relation 11 (as if its grant had been lost): it is granted again.
    forgotten = dict(peers.local_app_data)
    forgotten["published"] = forgotten["published"].replace('"11":', '"99":')
    state = dataclasses.replace(
        base,
        relations={r for r in base.relations if r.id != peers.id}
        | {dataclasses.replace(peers, local_app_data=forgotten)},
    )
    calls.reset()

    out = ctx.run(ctx.on.update_status(), state)

    assert calls.calls["secret-grant"] == 1
    secret = out.get_secret(label="prowlarr-api-key")
    assert set(secret.remote_grants) == {10, 11}


def test_a_prowlarr_restart_is_still_noticed(
    ctx: Ctx, owned_config_dir: Path, prowlarr: FakeProwlarr, calls: CallRecorder
):
    started(prowlarr, owned_config_dir)
    base = settled(ctx, owned_config_dir, managers_for(1))
    prowlarr.version = "2.4.0.1"  # a new image: the same steady hook sees the new version
    prowlarr.restart(prowlarr.env)

    out = ctx.run(ctx.on.update_status(), base)

    assert out.workload_version == "2.4.0.1"


# ------------------------------------------------------------------ the printed table


class FloorCharm(ops.CharmBase):
    """A charm that observes nothing: what the framework alone costs per hook."""


def _run(context: testing.Context[Any], event: Any, state: testing.State) -> testing.State:
    return context.run(event, state)


def _cpu(run: Callable[[], object]) -> float:
    """CPU time of one hook in this thread; the fake Prowlarr's work is not counted.

    The garbage collector is held off, so that collecting earlier garbage is charged to nobody.
    """
    gc.collect()
    gc.disable()
    try:
        start = time.thread_time()
        run()
        return time.thread_time() - start
    finally:
        gc.enable()


@pytest.mark.skipif(
    not os.environ.get("PROWLARR_BENCHMARK"),
    reason="prints the cost table with CPU ratios; run it with `tox -e benchmark`",
)
def test_print_the_cost_table(
    all_costs: dict[int, dict[str, Cost]], ctx: Ctx, owned_config_dir: Path
):
    floor = testing.Context(FloorCharm, meta=META, config=CONFIG, actions=ACTIONS)
    ratios: dict[tuple[int, str], float] = {}
    for n in SIZES:
        base = settled(ctx, owned_config_dir, managers_for(n))
        for name, build in scenario_inputs(ctx, owned_config_dir, n):
            pairs = [
                (_cpu(partial(_run, ctx, *build(base))), _cpu(partial(_run, floor, *build(base))))
                for _ in range(ROUNDS)  # interleaved: both see the same machine load
            ]
            ratios[n, name] = statistics.median(charm / floor for charm, floor in pairs)
    print("\n" + table(all_costs, ratios))
    print("\n" + import_table())


IMPORT_ROUNDS = 7
_IMPORT_PROBE = (
    "import sys, time; t = time.perf_counter(); import {module}; "
    "print(time.perf_counter() - t, len(sys.modules))"
)


def import_cost(module: str) -> tuple[float, int]:
    """What `import module` costs a fresh interpreter (every dispatch pays it first).

    The median wall time of IMPORT_ROUNDS fresh processes, and the number of modules loaded.
    """
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(root / p) for p in ("src", "lib"))}
    command = [sys.executable, "-c", _IMPORT_PROBE.format(module=module)]
    times: list[float] = []
    modules = 0
    for _ in range(IMPORT_ROUNDS):
        out = subprocess.run(  # noqa: S603 - this interpreter, a fixed program
            command, env=env, capture_output=True, text=True, check=True
        )
        seconds, count = out.stdout.split()
        times.append(float(seconds))
        modules = int(count)
    return statistics.median(times), modules


def import_table() -> str:
    """Before any handler: importing the charm beside `import ops` alone (the floor)."""
    rows = ["| import in a fresh interpreter | ms (median) | modules loaded |", "|---|---|---|"]
    for module in ("ops", "charm"):
        seconds, modules = import_cost(module)
        rows.append(f"| `import {module}` | {seconds * 1000:.0f} | {modules} |")
    return "\n".join(rows)


def _fmt(counter: Counter[str] | dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counter.items())) or "-"


def table(all_costs: dict[int, dict[str, Cost]], ratios: dict[tuple[int, str], float]) -> str:
    """The costs as a Markdown table (one row per scenario and N)."""
    rows = [
        "| scenario | N | HTTP | Pebble | hook tools (total: by name) | juju-log | writes "
        "| CPU ÷ floor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in SCENARIOS:
        for n in SIZES:
            cost = all_costs[n][name]
            tools = f"{sum(cost.hook_tools.values())}: {_fmt(cost.hook_tools)}"
            ratio = ratios.get((n, name))
            rows.append(
                f"| {name} | {n} | {_fmt(cost.http)} | {_fmt(cost.pebble)} | {tools} | "
                f"{_fmt(cost.logs)} | {_fmt(cost.writes)} | "
                f"{'' if ratio is None else f'{ratio:.2f}'} |"
            )
    return "\n".join(rows)
