"""A hostile world: Prowlarr faults, Pebble failures, odd files, borrowed keys (issue 9).

Each test first reproduces what a user saw (a hook error, a stuck status, a key sent to the wrong
URL), then checks what they see now. Pebble failures are raised the way ops raises them: the real
`ops.pebble` exception classes, from the `ops.Container` method that would raise them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ops
import pytest
from ops import pebble, testing

import prowlarr as prowlarr_api
import workload
from api_key import UNUSABLE_KEY
from charm import ProwlarrCharm
from tests.unit.conftest import (
    LEADER_SECRET_ID,
    MODEL_UUID,
    make_state,
    prowlarr_container,
    running_layer,
    service_environment,
)
from tests.unit.fake_prowlarr import FakeProwlarr, SlowRule
from tests.unit.test_charm import (
    USER_KEY,
    config_xml,
    own_secret,
    prowlarr_http_status,
    started,
    steady_state,
    write_config_xml,
)
from tests.unit.test_registration import (
    RADARR,
    RADARR_KEY,
    SONARR,
    SONARR_KEY,
    Manager,
    apps_by_name,
    deployment,
    manager,
    writes,
)

Ctx = testing.Context[ProwlarrCharm]


# ------------------------------------------------------------------ helpers


def change_error(message: str) -> pebble.ChangeError:
    """What ops raises when a Pebble change (start, restart, replan) fails."""
    change = pebble.Change.from_dict(
        {
            "id": "7",
            "kind": "restart",
            "summary": "Restart service",
            "status": "Error",
            "ready": True,
            "err": message,
            "spawn-time": "2026-12-02T10:00:00Z",
            "ready-time": "2026-12-02T10:00:01Z",
        }
    )
    return pebble.ChangeError(message, change)


@pytest.fixture
def fail_pebble(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, Exception], None]:
    """Make `ops.Container.<method>` of the prowlarr container raise `error`."""

    def fail(method: str, error: Exception) -> None:
        original = getattr(ops.Container, method)

        def raising(self: ops.Container, *args: Any, **kwargs: Any) -> Any:
            if self.name == workload.CONTAINER_NAME:
                raise error
            return original(self, *args, **kwargs)

        monkeypatch.setattr(ops.Container, method, raising)

    return fail


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


def seen_text(ctx: Ctx, out: testing.State, caplog: pytest.LogCaptureFixture) -> str:
    """Every place a key must never reach, joined."""
    seen = [record.getMessage() for record in caplog.records]
    seen += [str(status) for status in ctx.unit_status_history] + [str(out.unit_status)]
    seen.append(json.dumps(ctx.action_results))
    for rel in out.relations:
        seen += [json.dumps(dict(rel.local_app_data)), json.dumps(dict(rel.local_unit_data))]
    seen += [json.dumps(c.plan.to_dict()) for c in out.containers]
    return "\n".join(seen)


@pytest.fixture
def running(config_dir: Path, prowlarr: FakeProwlarr) -> FakeProwlarr:
    started(prowlarr, config_dir)
    return prowlarr


# ------------------------------------------------------------------ 1-3: hook errors


def test_1_a_failing_restart_after_a_rejected_key_is_a_status(
    ctx: Ctx,
    config_dir: Path,
    running: FakeProwlarr,
    fail_pebble: Callable[[str, Exception], None],
):
    write_config_xml(config_dir, ApiKey="f" * 32, UrlBase="")  # edited, not loaded
    fail_pebble("restart", change_error("cannot start service: exited quickly with code 139"))

    out = ctx.run(ctx.on.update_status(), steady_state(config_dir))

    assert out.unit_status == testing.WaitingStatus(
        "restarting Prowlarr failed: cannot start service: exited quickly with code 139"
    )


@pytest.mark.parametrize(
    ("method", "error"),
    [
        ("get_services", pebble.ConnectionError("socket closed")),
        ("stop", change_error("cannot stop service: timed out")),
    ],
)
def test_2_a_standby_unit_whose_pebble_fails_reports_it(
    ctx: Ctx,
    config_dir: Path,
    fail_pebble: Callable[[str, Exception], None],
    caplog: pytest.LogCaptureFixture,
    method: str,
    error: Exception,
):
    container = prowlarr_container(
        config_dir,
        layers=running_layer(),
        service_statuses={"prowlarr": ops.pebble.ServiceStatus.ACTIVE},
    )
    fail_pebble(method, error)

    out = ctx.run(
        ctx.on.leader_elected(), make_state(config_dir, leader=False, container=container)
    )

    assert out.unit_status == testing.BlockedStatus(
        "standby: Prowlarr runs on the leader only; scale back to 1 unit "
        "(+1 more: juju run prowlarr-k8s/leader report)"
    )
    logged = [r.getMessage() for r in caplog.records]
    assert any("cannot stop Prowlarr on this standby unit" in line for line in logged)


@pytest.mark.parametrize("action", ["rotate-api-key", "sync-indexers"])
@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            pebble.PathError("permission-denied", "open /config/config.xml: permission denied"),
            "cannot read /config/config.xml: open /config/config.xml: permission denied",
        ),
        (
            pebble.ConnectionError("cannot connect to Pebble"),
            "reading /config/config.xml failed: cannot connect to Pebble",
        ),
    ],
)
def test_3_actions_fail_with_the_reason_when_config_xml_cannot_be_read(
    ctx: Ctx,
    config_dir: Path,
    running: FakeProwlarr,
    fail_pebble: Callable[[str, Exception], None],
    action: str,
    error: Exception,
    message: str,
):
    fail_pebble("pull", error)

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action(action), steady_state(config_dir))

    assert message in failure.value.message


# ------------------------------------------------------------------ 4: an unusable key


@pytest.mark.parametrize(
    "bad_key", ["0123456789abcdéf0123456789abcdef", "0123456789abcdef\n0123456789abcdef"]
)
def test_4_an_api_key_no_header_can_carry_blocks_until_rotated(
    ctx: Ctx,
    config_dir: Path,
    prowlarr: FakeProwlarr,
    everything_logged: pytest.LogCaptureFixture,
    bad_key: str,
):
    write_config_xml(config_dir, ApiKey=bad_key, UrlBase="")
    prowlarr.start(service_environment())

    out = ctx.run(ctx.on.update_status(), steady_state(config_dir, secrets=[]))

    assert out.unit_status == testing.BlockedStatus(UNUSABLE_KEY)
    assert not out.secrets, "an unusable key is not shared"
    assert prowlarr.requests == [], "and never sent"

    rotated = ctx.run(ctx.on.action("rotate-api-key"), out)

    new_key = config_xml(config_dir)["ApiKey"]
    assert new_key != bad_key and prowlarr.api_key == new_key, "loaded by a restart"
    assert rotated.get_secret(label="prowlarr-api-key").latest_content == {"api-key": new_key}
    assert (ctx.action_results or {})["revision"] == 1
    assert rotated.unit_status == testing.ActiveStatus("0 applications synced")
    text = seen_text(ctx, rotated, everything_logged)
    for piece in [bad_key, *bad_key.split("\n"), new_key]:
        assert piece not in text


# ------------------------------------------------------------------ 5: odd URL bases


@pytest.mark.parametrize("odd", ["my prowlarr", "/prowlarr?x=1", "http://example.com/prowlarr"])
def test_5_a_url_base_in_config_xml_no_client_can_use_is_replaced(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, odd: str
):
    write_config_xml(config_dir, ApiKey=USER_KEY, UrlBase=odd)
    radarr = testing.Relation("media-indexer", remote_app_name="radarr")
    state = make_state(config_dir, relations=[radarr])

    out = ctx.run(ctx.on.pebble_ready(state.get_container("prowlarr")), state)

    assert config_xml(config_dir)["UrlBase"] == ""
    assert prowlarr.url_base == ""
    assert json.loads(out.get_relation(radarr.id).local_app_data["config"])["base_path"] is None
    assert out.unit_status == testing.ActiveStatus("0 applications synced")


@pytest.mark.parametrize("odd", ["my prowlarr", "/prowlarr?x=1", "http://example.com/p"])
def test_5_an_unusable_url_base_option_blocks_naming_it_and_restarts_nothing(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, odd: str
):
    out = ctx.run(ctx.on.config_changed(), steady_state(config_dir, config={"url-base": odd}))

    assert out.unit_status.name == "blocked"
    assert out.unit_status.message.startswith("invalid url-base")
    assert (
        out.get_container("prowlarr").plan
        == steady_state(config_dir).get_container("prowlarr").plan
    )
    assert running.requests == []


# ------------------------------------------------------------------ 6: hostile relation data


def test_6_deeply_nested_json_spoils_only_its_own_relation(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    nested = testing.Relation(
        "media-indexer",
        id=9,
        remote_app_name="evil",
        remote_app_data={"config": "[" * 3000 + "]" * 3000},
    )

    out = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0),
        deployment(config_dir, RADARR, relations=[nested]),
    )

    assert set(apps_by_name(running)) == {"radarr"}
    assert out.unit_status == testing.BlockedStatus(
        "invalid media-indexer data from evil: 'config' is not valid JSON"
    )


# ------------------------------------------------------------------ 7: a stopped Prowlarr


def test_7_a_stopped_service_is_started_once_and_left_alone_when_running(
    ctx: Ctx, owned_config_dir: Path, prowlarr: FakeProwlarr, calls: Any
):
    write_config_xml(owned_config_dir, ApiKey=USER_KEY, UrlBase="")  # Prowlarr is not running
    container = prowlarr_container(
        owned_config_dir,
        layers=running_layer(),
        service_statuses={"prowlarr": ops.pebble.ServiceStatus.INACTIVE},
    )
    state = make_state(owned_config_dir, container=container, secrets=[own_secret(USER_KEY)])

    out = ctx.run(ctx.on.update_status(), state)

    assert prowlarr.running
    assert out.unit_status == testing.ActiveStatus("0 applications synced")
    assert (calls.calls["pebble-start"], calls.calls["pebble-replan"]) == (1, 0)

    calls.reset()
    ctx.run(ctx.on.update_status(), out)
    assert calls.calls["pebble-get-services"] == 1
    assert calls.writes() == {}


# ------------------------------------------------------------------ 8: records after a restore


@pytest.mark.parametrize(
    ("implementation", "base_url"),
    [("Sonarr", "http://sonarr-by-hand:8989"), ("Radarr", "http://another-radarr:7878")],
    ids=["another kind", "another manager"],
)
def test_8_a_record_naming_someone_elses_application_is_dropped(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, implementation: str, base_url: str
):
    registered = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0), deployment(config_dir, RADARR)
    )
    (ours,) = running.applications
    # A backup restore brings back another database: the recorded id now names another app.
    running.remove_application(ours)
    running.add_application(
        implementation, name="restored", fields={"baseUrl": base_url}, app_id=ours
    )
    before = running.applications[ours]

    out = ctx.run(ctx.on.update_status(), registered)
    after_update = running.applications[ours]
    gone = ctx.run(ctx.on.relation_broken(out.get_relation(RADARR.relation.id)), out)

    assert after_update == before, "not PUT over"
    assert running.applications[ours] == before, "not deleted with the relation"
    assert "radarr" not in apps_by_name(running), "the relation's own app went with it"
    assert out.unit_status == testing.ActiveStatus("1 application synced")
    assert gone.unit_status.name == "active"


# ------------------------------------------------------------------ 9: a hanging connection test


def test_9_a_manager_prowlarr_cannot_test_in_time_does_not_stop_the_others(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(prowlarr_api, "DEFAULT_TIMEOUT", 0.3)
    running.slow.append(
        SlowRule("POST", "/api/v1/applications", 1.0, body_contains="radarr.media.svc")
    )

    out = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0),
        deployment(config_dir, RADARR, SONARR),
    )

    assert "sonarr" in apps_by_name(running), "registered although radarr hung before it"
    assert out.unit_status == testing.WaitingStatus(
        "radarr: Prowlarr did not answer in time (is the media manager reachable?)"
    )

    deadline = time.monotonic() + 5  # Prowlarr finishes the request the charm gave up on
    while "radarr" not in apps_by_name(running) and time.monotonic() < deadline:
        time.sleep(0.01)
    running.slow.clear()
    running.clear_requests()
    later = ctx.run(ctx.on.update_status(), out)

    assert set(apps_by_name(running)) == {"radarr", "sonarr"}, "no duplicate of radarr"
    assert [m for m, _ in writes(running)] == ["PUT"], "the late radarr app is taken over"
    assert later.unit_status == testing.ActiveStatus("2 applications synced")


# ------------------------------------------------------------------ 10: borrowed keys


def test_10_a_relation_publishing_another_relations_secret_is_refused(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    borrower = manager("sonarr", 4, SONARR_KEY, port=8989)
    data = json.loads(borrower.relation.remote_app_data["config"])
    data["api_key_secret_id"] = RADARR.secret.id
    borrower = Manager(
        dataclasses.replace(borrower.relation, remote_app_data={"config": json.dumps(data)}),
        borrower.secret,
    )

    out = ctx.run(
        ctx.on.relation_changed(borrower.relation, remote_unit=0),
        deployment(config_dir, RADARR, borrower),
    )

    assert set(apps_by_name(running)) == {"radarr"}
    assert running.stored_api_key(apps_by_name(running)["radarr"].id) == RADARR_KEY
    assert not [url for url in running.connection_tests if "sonarr" in url], (
        "radarr's key never went to sonarr's URL"
    )
    assert out.unit_status == testing.BlockedStatus(
        "sonarr: publishes the key secret of radarr; each media manager must share a secret "
        "of its own"
    )


def test_10_the_relation_registered_first_keeps_its_secret_even_when_younger(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    registered = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0), deployment(config_dir, RADARR)
    )
    older = testing.Relation(
        "media-indexer",
        id=1,
        remote_app_name="thief",
        remote_app_data=dict(RADARR.relation.remote_app_data),
    )
    state = dataclasses.replace(registered, relations={*registered.relations, older})

    out = ctx.run(ctx.on.relation_changed(older, remote_unit=0), state)

    assert out.unit_status.message.startswith("thief: publishes the key secret of radarr")


def test_10_a_relation_publishing_prowlarrs_own_secret_is_refused_and_nothing_relabelled(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    mimic = testing.Relation(
        "media-indexer",
        id=5,
        remote_app_name="mimic",
        remote_app_data={
            "config": json.dumps(
                {
                    "api_url": "http://mimic:7878",
                    "api_key_secret_id": LEADER_SECRET_ID,
                    "manager": "radarr",
                    "instance_name": "mimic",
                }
            )
        },
    )

    out = ctx.run(
        ctx.on.relation_changed(mimic, remote_unit=0), deployment(config_dir, relations=[mimic])
    )
    again = ctx.run(ctx.on.update_status(), out)

    assert out.unit_status == testing.BlockedStatus(
        "mimic: publishes Prowlarr's own secret ID, not its own key"
    )
    labels = sorted(str(s.label) for s in again.secrets)
    assert labels == ["prowlarr-api-key", "prowlarr-ui-credentials"], "no relabel, no second one"
    assert apps_by_name(running) == {}


# ------------------------------------------------------------------ 11: a new secret ID


def test_11_a_requirer_switching_to_a_new_secret_is_read_and_registered_once(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    first = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0), deployment(config_dir, RADARR)
    )
    new_secret = testing.Secret(
        {"api-key": "c" * 32}, id=f"secret://{MODEL_UUID}/d1radarrnew0000001"
    )
    data = json.loads(RADARR.relation.remote_app_data["config"])
    data["api_key_secret_id"] = new_secret.id
    relation = dataclasses.replace(
        first.get_relation(RADARR.relation.id), remote_app_data={"config": json.dumps(data)}
    )
    state = dataclasses.replace(
        first,
        relations={r for r in first.relations if r.id != relation.id} | {relation},
        secrets={*first.secrets, new_secret},  # the old secret still exists
    )
    running.clear_requests()

    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), state)

    radarr_id = apps_by_name(running)["radarr"].id
    assert writes(running) == [("PUT", f"/api/v1/applications/{radarr_id}")]
    assert running.stored_api_key(radarr_id) == "c" * 32

    rotated = dataclasses.replace(new_secret, latest_content={"api-key": "d" * 32})
    state = dataclasses.replace(
        out, secrets={s for s in out.secrets if s.id != new_secret.id} | {rotated}
    )
    ctx.run(ctx.on.secret_changed(rotated), state)
    assert running.stored_api_key(apps_by_name(running)["radarr"].id) == "d" * 32


# ------------------------------------------------------------------ 13: statuses that say why


@pytest.mark.parametrize(
    ("method", "error", "status"),
    [
        (
            "list_files",
            pebble.PathError("not-found", "stat /config: no such file or directory"),
            testing.BlockedStatus("/config does not exist: the config storage is not mounted"),
        ),
        (
            "push",
            pebble.PathError("generic-file-error", "write /config/config.xml: no space left"),
            testing.BlockedStatus(
                "cannot write /config/config.xml: write /config/config.xml: no space left"
            ),
        ),
        (
            "replan",
            change_error("cannot start service: exited quickly with code 1"),
            testing.WaitingStatus(
                "starting Prowlarr failed: cannot start service: exited quickly with code 1"
            ),
        ),
        (
            "get_plan",
            pebble.APIError({}, 500, "Internal Server Error", "cannot read plan"),
            testing.WaitingStatus("reading the Pebble plan failed: cannot read plan"),
        ),
    ],
)
def test_13_each_pebble_failure_is_named(
    ctx: Ctx,
    config_dir: Path,
    prowlarr: FakeProwlarr,
    fail_pebble: Callable[[str, Exception], None],
    method: str,
    error: Exception,
    status: ops.StatusBase,
):
    fail_pebble(method, error)
    state = make_state(config_dir)

    out = ctx.run(ctx.on.pebble_ready(state.get_container("prowlarr")), state)

    assert out.unit_status == status


def test_13_a_config_xml_that_is_a_directory_is_named(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr
):
    (config_dir / "config.xml").mkdir()

    out = ctx.run(ctx.on.update_status(), make_state(config_dir))

    assert out.unit_status.name == "blocked"
    assert "/config/config.xml" in out.unit_status.message
    assert "directory" in out.unit_status.message or "regular file" in out.unit_status.message


# ------------------------------------------------------------------ 14: the port


def test_14_a_port_changed_in_the_ui_moves_nothing(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr
):
    write_config_xml(config_dir, ApiKey=USER_KEY, Port="8080", UrlBase="")
    state = make_state(config_dir)

    out = ctx.run(ctx.on.pebble_ready(state.get_container("prowlarr")), state)

    env = out.get_container("prowlarr").plan.services["prowlarr"].environment
    assert env["PROWLARR__SERVER__PORT"] == "9696"
    assert prowlarr.port_setting == 9696, "the environment wins over config.xml"
    assert out.get_container("prowlarr").plan.checks["alive"].http == {
        "url": "http://localhost:9696/ping"
    }
    assert out.unit_status.name == "active"


# ------------------------------------------------------------------ faults of Prowlarr itself


@pytest.mark.parametrize(
    "fault",
    ["drop the list", "restart mid-hook with a new key", "503 everywhere", "500 everywhere"],
)
def test_prowlarr_faults_lose_nothing_and_recover(
    ctx: Ctx,
    config_dir: Path,
    running: FakeProwlarr,
    everything_logged: pytest.LogCaptureFixture,
    fault: str,
):
    first = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0),
        deployment(config_dir, RADARR, SONARR),
    )
    apps = running.applications
    if fault == "drop the list":
        running.drop_next = 1
    elif fault == "restart mid-hook with a new key":
        write_config_xml(config_dir, ApiKey="e" * 32, UrlBase="")
        running.restart_after = 1
    else:
        running.fail_status = int(fault[:3])

    out = ctx.run(ctx.on.update_status(), first)

    assert running.applications == apps, "nothing deleted or overwritten"
    assert out.unit_status.name in ("waiting", "active", "maintenance")
    running.fail_status = None
    later = ctx.run(ctx.on.update_status(), ctx.run(ctx.on.update_status(), out))
    assert later.unit_status == testing.ActiveStatus("2 applications synced")
    assert running.applications.keys() == apps.keys()
    secret = later.get_secret(label="prowlarr-api-key")
    assert secret.latest_content == {"api-key": running.api_key}
    assert prowlarr_http_status(running, running.api_key) == 200
    text = seen_text(ctx, later, everything_logged)
    for key in (USER_KEY, "e" * 32, RADARR_KEY, SONARR_KEY):
        assert key not in text
