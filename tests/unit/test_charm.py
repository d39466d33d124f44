"""The charm core against a fake Prowlarr: workload, API-key secret, publication, rotation."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import ops
import pytest
from ops import testing

import api_key
import workload
from charm import ProwlarrCharm
from tests.unit.conftest import (
    LEADER_SECRET_ID,
    make_state,
    prowlarr_container,
    running_layer,
    service_environment,
)
from tests.unit.fake_prowlarr import FakeProwlarr
from tests.unit.recorder import CallRecorder

Ctx = testing.Context[ProwlarrCharm]
USER_KEY = "0123456789abcdef0123456789abcdef"
API_URL = "http://prowlarr-k8s.media.svc.cluster.local:9696"


def config_xml(config_dir: Path) -> dict[str, str]:
    root = ET.parse(config_dir / "config.xml").getroot()  # noqa: S314 - our own test file
    return {child.tag: (child.text or "") for child in root}


def write_config_xml(config_dir: Path, **elements: str) -> None:
    body = "".join(f"  <{name}>{value}</{name}>\n" for name, value in elements.items())
    (config_dir / "config.xml").write_text(f"<Config>\n{body}</Config>\n")


def own_secret(key: str, **kwargs: Any) -> testing.Secret:
    """The prowlarr-api-key secret as a previous hook left it."""
    return testing.Secret(
        {"api-key": key}, owner="app", label="prowlarr-api-key", id=LEADER_SECRET_ID, **kwargs
    )


def media_relation(app: str = "radarr", rel_id: int | None = None) -> testing.Relation:
    kwargs: dict[str, Any] = {"id": rel_id} if rel_id is not None else {}
    return testing.Relation("media-indexer", remote_app_name=app, **kwargs)


def started(prowlarr: FakeProwlarr, config_dir: Path, key: str = USER_KEY) -> None:
    """Prowlarr already running with `key`, as in an existing deployment."""
    write_config_xml(config_dir, ApiKey=key, Port="9696", BindAddress="*", UrlBase="")
    prowlarr.start(service_environment())


def steady_state(config_dir: Path, key: str = USER_KEY, **kwargs: Any) -> testing.State:
    """An existing, healthy deployment: layer in the plan, secret created, service running."""
    container = prowlarr_container(
        config_dir,
        layers=running_layer(),
        service_statuses={"prowlarr": ops.pebble.ServiceStatus.ACTIVE},
    )
    secrets = kwargs.pop("secrets", [own_secret(key)])
    return make_state(config_dir, container=container, secrets=secrets, **kwargs)


# ------------------------------------------------------------------ first start


def test_first_pebble_ready_seeds_key_runs_prowlarr_and_creates_secret(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, pushes: list[dict[str, Any]]
):
    state = make_state(config_dir)

    out = ctx.run(ctx.on.pebble_ready(state.get_container("prowlarr")), state)

    key = config_xml(config_dir)["ApiKey"]
    assert re.fullmatch(r"[0-9a-f]{32}", key), "a fresh key in Prowlarr's own format"
    config_push = next(p for p in pushes if p["path"] == "/config/config.xml")
    assert config_push.get("user_id", 911) == 911 or config_push.get("user") == "abc"
    assert config_push["permissions"] == 0o600
    assert ["chown", "-R", "911:911", "/config"] in [
        list(e.command) for e in ctx.exec_history["prowlarr"]
    ], "root-owned storage handed to abc"

    container = out.get_container("prowlarr")
    service = container.plan.services["prowlarr"]
    assert service.command == "/app/prowlarr/bin/Prowlarr -nobrowser -data=/config"
    assert service.user == "abc" and service.group == "abc"
    assert set(container.plan.checks) == {"ready", "alive"}
    assert container.services["prowlarr"].current == ops.pebble.ServiceStatus.ACTIVE

    secret = out.get_secret(label="prowlarr-api-key")
    assert secret.owner == "app"
    assert secret.tracked_content == {"api-key": key}
    assert testing.TCPPort(9696) in out.opened_ports
    assert prowlarr.api_key == key, "Prowlarr started with the key the charm seeded"
    assert out.unit_status == testing.ActiveStatus("0 applications synced")


@pytest.mark.parametrize(("option", "url_base"), [("", ""), ("prowlarr/", "/prowlarr")])
def test_existing_config_xml_key_adopted_elements_kept_and_url_base_owned(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, option: str, url_base: str
):
    write_config_xml(
        config_dir,
        ApiKey=USER_KEY,
        Port="9696",
        UrlBase="from-the-ui",
        Theme="dark",
        InstanceName="Prowlarr",
    )
    state = make_state(config_dir, config={"url-base": option})

    out = ctx.run(ctx.on.pebble_ready(state.get_container("prowlarr")), state)

    assert out.get_secret(label="prowlarr-api-key").tracked_content == {"api-key": USER_KEY}
    elements = config_xml(config_dir)
    assert elements["ApiKey"] == USER_KEY
    assert elements["Theme"] == "dark", "an element the user wrote survives"
    assert elements["UrlBase"] == url_base.strip("/"), "the charm decides the URL base"
    checks = out.get_container("prowlarr").plan.checks
    assert checks["ready"].http == {"url": f"http://localhost:9696{url_base}/ping"}
    assert prowlarr.url_base == url_base
    assert out.unit_status == testing.ActiveStatus("0 applications synced")


@pytest.mark.parametrize(
    ("state_kwargs", "message"),
    [
        ({"storage": False}, "waiting for the config storage"),
        ({"container_can_connect": False}, "waiting for Pebble in the prowlarr container"),
    ],
)
def test_waits_for_storage_and_pebble_touching_nothing(
    ctx: Ctx, config_dir: Path, calls: CallRecorder, state_kwargs: dict[str, Any], message: str
):
    can_connect = state_kwargs.pop("container_can_connect", True)
    state = make_state(
        config_dir,
        container=prowlarr_container(config_dir, can_connect=can_connect),
        **state_kwargs,
    )

    out = ctx.run(ctx.on.update_status(), state)

    assert out.unit_status.name == "waiting"
    assert out.unit_status.message.startswith(message)
    assert calls.writes() == {}
    assert not out.secrets


def test_prowlarr_starting_is_waiting(ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr):
    started(prowlarr, config_dir)
    prowlarr.starting_requests = 5

    out = ctx.run(ctx.on.update_status(), steady_state(config_dir))

    assert out.unit_status == testing.WaitingStatus("Prowlarr is starting")


# ------------------------------------------------------------------ publication


def test_each_relation_gets_a_grant_and_the_provider_json(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr
):
    started(prowlarr, config_dir)
    radarr, sonarr = media_relation("radarr"), media_relation("sonarr")

    out = ctx.run(
        ctx.on.relation_joined(radarr, remote_unit=0),
        steady_state(config_dir, relations=[radarr, sonarr]),
    )

    secret = out.get_secret(label="prowlarr-api-key")
    assert secret.remote_grants == {radarr.id: {"radarr"}, sonarr.id: {"sonarr"}}
    for rel in (radarr, sonarr):
        data = json.loads(out.get_relation(rel.id).local_app_data["config"])
        assert data == {
            "api_url": API_URL,
            "api_key_secret_id": LEADER_SECRET_ID,
            "indexer": "prowlarr",
            "base_path": None,
        }
        assert USER_KEY not in out.get_relation(rel.id).local_app_data["config"]


def test_base_path_published_from_url_base(ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr):
    spec = workload.WorkloadSpec(url_base="/prowlarr")
    write_config_xml(config_dir, ApiKey=USER_KEY, UrlBase="/prowlarr")
    prowlarr.start(service_environment(spec))
    radarr = media_relation()
    container = prowlarr_container(
        config_dir,
        layers=running_layer(spec),
        service_statuses={"prowlarr": ops.pebble.ServiceStatus.ACTIVE},
    )
    state = make_state(
        config_dir,
        container=container,
        secrets=[own_secret(USER_KEY)],
        relations=[radarr],
        config={"url-base": "/prowlarr"},
    )

    out = ctx.run(ctx.on.relation_joined(radarr, remote_unit=0), state)

    data = json.loads(out.get_relation(radarr.id).local_app_data["config"])
    assert data["base_path"] == "/prowlarr"
    assert out.unit_status.name == "active"


# ------------------------------------------------------------------ steady state


def test_steady_state_update_status_writes_nothing(
    ctx: Ctx, owned_config_dir: Path, prowlarr: FakeProwlarr, calls: CallRecorder
):
    started(prowlarr, owned_config_dir)
    radarr = media_relation()
    first = ctx.run(
        ctx.on.relation_joined(radarr, remote_unit=0),
        steady_state(owned_config_dir, relations=[radarr]),
    )
    prowlarr.clear_requests()
    calls.reset()

    out = ctx.run(ctx.on.update_status(), first)

    assert calls.writes() == {}, "no secret revision, databag write, push, exec or replan"
    assert all(r.method in ("GET", "HEAD") for r in prowlarr.requests), "no write to Prowlarr"
    assert out.get_secret(label="prowlarr-api-key").latest_content == {"api-key": USER_KEY}
    assert out.unit_status == testing.ActiveStatus("0 applications synced")


def test_key_regenerated_in_prowlarr_reaches_the_secret_on_next_update_status(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr
):
    started(prowlarr, config_dir)
    prowlarr.reset_api_key()  # the UI's "Reset API key": Prowlarr writes the new key to config.xml
    new_key = prowlarr.api_key
    assert new_key != USER_KEY

    out = ctx.run(ctx.on.update_status(), steady_state(config_dir))

    assert out.get_secret(label="prowlarr-api-key").latest_content == {"api-key": new_key}


def test_key_edited_in_config_xml_without_restart_restarts_prowlarr_once(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, caplog: pytest.LogCaptureFixture
):
    started(prowlarr, config_dir)
    edited = "fedcba9876543210fedcba9876543210"
    write_config_xml(config_dir, ApiKey=edited, Port="9696")  # Prowlarr still holds the old key

    out = ctx.run(ctx.on.update_status(), steady_state(config_dir))

    assert prowlarr.api_key == edited, "Pebble restarted Prowlarr, which re-read config.xml"
    assert out.get_secret(label="prowlarr-api-key").latest_content == {"api-key": edited}
    assert any("restarting it through Pebble" in r.getMessage() for r in caplog.records)

    again = ctx.run(ctx.on.update_status(), out)
    assert again.unit_status.name == "active"


# ------------------------------------------------------------------ rotation


def leaked(keys: set[str], ctx: Ctx, out: testing.State, caplog: pytest.LogCaptureFixture) -> str:
    """Every place a key must never reach, joined; returns the keys found there."""
    seen = [record.getMessage() for record in caplog.records]
    seen += [str(status) for status in ctx.unit_status_history] + [str(out.unit_status)]
    seen.append(json.dumps(ctx.action_results))
    seen += [json.dumps(dict(rel.local_app_data)) for rel in out.relations]
    seen += [json.dumps(c.plan.to_dict()) for c in out.containers]
    text = "\n".join(seen)
    return ", ".join(sorted(key for key in keys if key in text))


@pytest.mark.parametrize("delay", [0.0, 0.05, 1.0])
def test_rotate_api_key_follows_the_command_across_its_own_key_change(
    ctx: Ctx,
    config_dir: Path,
    prowlarr: FakeProwlarr,
    caplog: pytest.LogCaptureFixture,
    delay: float,
):
    caplog.set_level(logging.DEBUG)
    started(prowlarr, config_dir)
    prowlarr.command_delay = delay
    radarr = media_relation()

    out = ctx.run(ctx.on.action("rotate-api-key"), steady_state(config_dir, relations=[radarr]))

    new_key = prowlarr.api_key
    assert new_key != USER_KEY
    assert config_xml(config_dir)["ApiKey"] == new_key
    assert out.get_secret(label="prowlarr-api-key").latest_content == {"api-key": new_key}
    assert ctx.action_results == {"secret-id": LEADER_SECRET_ID, "revision": 2}
    assert prowlarr_http_status(prowlarr, USER_KEY) == 401, "the old key is rejected"
    assert prowlarr_http_status(prowlarr, new_key) == 200
    assert [c.status for c in prowlarr.commands] == ["completed"]
    assert out.unit_status.name == "active"
    assert leaked({USER_KEY, new_key}, ctx, out, caplog) == ""


def prowlarr_http_status(prowlarr: FakeProwlarr, key: str) -> int:
    import httpx

    return httpx.get(
        f"{prowlarr.url}/api/v1/system/status", headers={"X-Api-Key": key}
    ).status_code


def test_rotate_api_key_with_prowlarr_down_fails_and_keeps_the_secret(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, calls: CallRecorder
):
    write_config_xml(config_dir, ApiKey=USER_KEY)  # Prowlarr is not running

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("rotate-api-key"), steady_state(config_dir))

    assert "API key not rotated" in failure.value.message
    assert USER_KEY not in failure.value.message
    out = failure.value.state
    assert isinstance(out, testing.State)
    assert out.get_secret(label="prowlarr-api-key").latest_content == {"api-key": USER_KEY}
    assert calls.calls["secret-set-content"] == 0


def test_rotate_api_key_on_a_non_leader_fails_clearly(ctx: Ctx, config_dir: Path):
    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("rotate-api-key"), make_state(config_dir, leader=False))
    assert "leader" in failure.value.message


@pytest.mark.parametrize("delay", [0.0, 0.05])
def test_secret_rotate_policy_event_rotates(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, delay: float
):
    started(prowlarr, config_dir)
    prowlarr.command_delay = delay
    secret = own_secret(USER_KEY, rotate=ops.SecretRotate.DAILY)
    state = steady_state(config_dir, secrets=[secret], config={"api-key-rotation": "daily"})

    out = ctx.run(ctx.on.secret_rotate(secret), state)

    assert prowlarr.api_key != USER_KEY
    assert out.get_secret(label="prowlarr-api-key").latest_content == {"api-key": prowlarr.api_key}


def test_secret_remove_removes_the_obsolete_revision(ctx: Ctx, config_dir: Path):
    secret = own_secret(USER_KEY)
    ctx.run(ctx.on.secret_remove(secret, revision=42), make_state(config_dir, secrets=[secret]))
    assert ctx.removed_secret_revisions == [42]


def test_rotation_policy_follows_config(ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr):
    started(prowlarr, config_dir)

    daily = ctx.run(
        ctx.on.config_changed(), steady_state(config_dir, config={"api-key-rotation": "daily"})
    )
    assert daily.get_secret(label="prowlarr-api-key").rotate == ops.SecretRotate.DAILY

    back = ctx.run(
        ctx.on.config_changed(),
        dataclasses.replace(daily, config={"api-key-rotation": "disabled"}),
    )
    assert back.get_secret(label="prowlarr-api-key").rotate == ops.SecretRotate.NEVER


# ------------------------------------------------------------------ leadership and config


def test_non_leader_stays_idle_and_touches_no_secret(
    ctx: Ctx, config_dir: Path, calls: CallRecorder
):
    secret = testing.Secret(
        {"api-key": USER_KEY}, owner="app", label="prowlarr-api-key", id=LEADER_SECRET_ID
    )
    out = ctx.run(ctx.on.update_status(), make_state(config_dir, leader=False, secrets=[secret]))

    assert out.unit_status == testing.BlockedStatus(
        "standby: Prowlarr runs on the leader only; scale back to 1 unit"
    )
    assert calls.total("secret") == 0
    assert not (config_dir / "config.xml").exists()


def test_non_leader_stops_a_prowlarr_it_was_running(ctx: Ctx, config_dir: Path):
    container = prowlarr_container(
        config_dir,
        layers=running_layer(),
        service_statuses={"prowlarr": ops.pebble.ServiceStatus.ACTIVE},
    )
    out = ctx.run(
        ctx.on.leader_elected(), make_state(config_dir, leader=False, container=container)
    )
    assert (
        out.get_container("prowlarr").services["prowlarr"].current
        == ops.pebble.ServiceStatus.INACTIVE
    )


@pytest.mark.parametrize(
    ("option", "value", "allowed"),
    [
        ("log-level", "verbose", "trace, debug, info, warn, error"),
        ("sync-level", "everything", "full-sync, add-remove-only, disabled"),
        (
            "api-key-rotation",
            "fortnightly",
            "disabled, hourly, daily, weekly, monthly, quarterly, yearly",
        ),
    ],
)
def test_invalid_config_blocks_naming_the_option(
    ctx: Ctx, config_dir: Path, calls: CallRecorder, option: str, value: str, allowed: str
):
    out = ctx.run(ctx.on.config_changed(), make_state(config_dir, config={option: value}))

    assert out.unit_status.name == "blocked"
    assert option in out.unit_status.message and allowed in out.unit_status.message
    assert calls.writes() == {}


def test_log_level_reaches_the_layer(ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr):
    started(prowlarr, config_dir)
    out = ctx.run(ctx.on.config_changed(), steady_state(config_dir, config={"log-level": "debug"}))
    env = out.get_container("prowlarr").plan.services["prowlarr"].environment
    assert env["PROWLARR__LOG__LEVEL"] == "debug"


def test_corrupt_config_xml_blocks_and_is_not_overwritten(ctx: Ctx, config_dir: Path):
    (config_dir / "config.xml").write_text("<Config><ApiKey>")
    out = ctx.run(ctx.on.update_status(), make_state(config_dir))
    assert out.unit_status.name == "blocked"
    assert "config.xml" in out.unit_status.message
    assert (config_dir / "config.xml").read_text() == "<Config><ApiKey>"


# ------------------------------------------------------------------ the key never leaks


def test_key_never_appears_in_logs_status_databags_plan_or_results(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    radarr = media_relation()
    state = make_state(config_dir, relations=[radarr])
    seen: list[str] = []

    out = ctx.run(ctx.on.pebble_ready(state.get_container("prowlarr")), state)
    keys = {config_xml(config_dir)["ApiKey"]}
    out = ctx.run(ctx.on.relation_joined(out.get_relation(radarr.id), remote_unit=0), out)
    out = ctx.run(ctx.on.update_status(), out)
    out = ctx.run(ctx.on.action("rotate-api-key"), out)
    keys.add(prowlarr.api_key)
    seen.append(json.dumps(ctx.action_results))
    out = ctx.run(ctx.on.action("sync-indexers"), out)
    seen.append(json.dumps(ctx.action_results))
    prowlarr.stop()
    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("rotate-api-key"), out)
    seen.append(failure.value.message)

    seen.extend(record.getMessage() for record in caplog.records)
    seen.extend(str(status) for status in ctx.unit_status_history)
    seen.append(str(out.unit_status))
    for rel in out.relations:
        seen.append(json.dumps(dict(rel.local_app_data)))
        seen.append(json.dumps(dict(rel.local_unit_data)))
    seen.append(json.dumps(out.get_container("prowlarr").plan.to_dict()))
    text = "\n".join(seen)
    assert len(keys) == 2
    for key in keys:
        assert key not in text
    assert "api_key_secret_id" in text, "sanity: the collected text has the databags"


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("failing", "Prowlarr's ResetApiKey ended failed"),
        ("stuck", "Prowlarr's ResetApiKey did not finish"),
    ],
)
def test_rotate_api_key_that_prowlarr_does_not_complete_fails_saying_which(
    ctx: Ctx,
    config_dir: Path,
    prowlarr: FakeProwlarr,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    message: str,
):
    monkeypatch.setattr(api_key, "COMMAND_TIMEOUT", 0.3)
    started(prowlarr, config_dir)
    getattr(prowlarr, f"{fault}_commands").add("ResetApiKey")

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("rotate-api-key"), steady_state(config_dir))

    assert message in failure.value.message
    out = failure.value.state
    assert isinstance(out, testing.State)
    assert out.get_secret(label="prowlarr-api-key").latest_content == {"api-key": USER_KEY}
    assert prowlarr_http_status(prowlarr, USER_KEY) == 200, "the secret holds the accepted key"


def test_rotate_api_key_rejected_while_config_xml_keeps_the_old_key_is_a_clear_failure(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr
):
    started(prowlarr, config_dir)
    prowlarr.reset_writes_config = False  # a new key in memory that config.xml does not show

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("rotate-api-key"), steady_state(config_dir))

    assert "rejects the API key while config.xml holds no other key" in failure.value.message
    assert prowlarr.api_key not in failure.value.message
    out = failure.value.state
    assert isinstance(out, testing.State)
    assert out.get_secret(label="prowlarr-api-key").latest_content == {"api-key": USER_KEY}


@pytest.mark.parametrize("action", ["rotate-api-key", "sync-indexers"])
def test_actions_without_a_config_xml_fail_clearly(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, action: str
):
    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action(action), make_state(config_dir, secrets=[own_secret(USER_KEY)]))
    assert "Prowlarr has no API key yet" in failure.value.message


def test_sync_indexers_on_a_non_leader_fails_clearly(ctx: Ctx, config_dir: Path):
    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("sync-indexers"), make_state(config_dir, leader=False))
    assert "leader" in failure.value.message


def test_sync_indexers_reports_a_failed_command(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr
):
    started(prowlarr, config_dir)
    prowlarr.failing_commands.add("ApplicationIndexerSync")
    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("sync-indexers"), steady_state(config_dir))
    assert "ApplicationIndexerSync ended failed" in failure.value.message


def test_first_start_waits_for_prowlarr_in_the_same_hook(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr
):
    prowlarr.starting_requests = 1  # Prowlarr answers 503 once while it starts
    state = make_state(config_dir)

    out = ctx.run(ctx.on.pebble_ready(state.get_container("prowlarr")), state)

    assert out.unit_status == testing.ActiveStatus("0 applications synced")
    pings = [r for r in prowlarr.requests if r.path == "/ping"]
    assert [r.status for r in pings] == [503, 200]


def test_chown_failure_blocks_without_a_hook_error(ctx: Ctx, config_dir: Path):
    container = testing.Container(
        "prowlarr",
        can_connect=True,
        mounts={"config": testing.Mount(location="/config", source=config_dir)},
        execs={testing.Exec(["chown"], return_code=1, stderr="chown: Operation not permitted")},
    )

    out = ctx.run(ctx.on.update_status(), make_state(config_dir, container=container))

    assert out.unit_status.name == "blocked"
    assert "/config" in out.unit_status.message
    assert not (config_dir / "config.xml").exists(), "nothing written before /config is owned"
