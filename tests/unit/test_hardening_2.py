"""A hostile world, round 2 (issue 23): what still slipped through after the first round.

Each test puts the charm where a user would have seen the defect (a key lost for good, a relation
silently skipped, Prowlarr restarted into a redirect loop, exportarr down for ever, a hook error)
and checks what they see now: a status naming the fault, no hook error, no credential anywhere,
and recovery once the fault is gone.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ops
import pytest
from ops import testing
from scenario import mocking

from charm import ProwlarrCharm
from memory import API_KEY_SECRET
from observability import EXPORTARR_CONTAINER
from tests.unit.conftest import (
    LEADER_SECRET_ID,
    MODEL_UUID,
    service_environment,
)
from tests.unit.fake_prowlarr import FakeProwlarr
from tests.unit.recorder import CallRecorder
from tests.unit.test_charm import USER_KEY, config_xml, started, steady_state, write_config_xml
from tests.unit.test_hardening import change_error, seen_text
from tests.unit.test_observability import deployed_with_metrics
from tests.unit.test_registration import (
    RADARR,
    RADARR_KEY,
    RADARR_KEY_2,
    SONARR,
    SONARR_KEY,
    apps_by_name,
    deployment,
    writes,
)

Ctx = testing.Context[ProwlarrCharm]
DOT_SEGMENTS = (
    "'.' and '..' segments are removed by clients, so Prowlarr would redirect every request"
)


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


@pytest.fixture
def running(config_dir: Path, prowlarr: FakeProwlarr) -> FakeProwlarr:
    started(prowlarr, config_dir)
    return prowlarr


def with_secret(state: testing.State, secret: testing.Secret) -> testing.State:
    """`state` with `secret` in place of the secret of the same ID."""
    return dataclasses.replace(
        state, secrets={s for s in state.secrets if s.id != secret.id} | {secret}
    )


def peer_memory(state: testing.State) -> dict[str, str]:
    return dict(state.get_relations("prowlarr-peers")[0].local_app_data)


# ------------------------------------------------------------------ 1: a key sent in an outage


@pytest.mark.parametrize("outage", ["500 on the applications list", "Prowlarr restarting"])
def test_1_a_key_announced_during_an_outage_is_applied_when_prowlarr_is_back(
    ctx: Ctx,
    config_dir: Path,
    running: FakeProwlarr,
    everything_logged: pytest.LogCaptureFixture,
    outage: str,
):
    first = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0),
        deployment(config_dir, RADARR, SONARR),
    )
    radarr_id = apps_by_name(running)["radarr"].id
    rotated = dataclasses.replace(RADARR.secret, latest_content={"api-key": RADARR_KEY_2})
    if outage == "500 on the applications list":
        running.failing_routes["GET /api/v1/applications"] = 500
    else:
        running.stop()  # connection refused, /ping too: Prowlarr is starting again

    # Juju sends secret-changed once for this revision, while Prowlarr cannot take it...
    during = ctx.run(ctx.on.secret_changed(rotated), with_secret(first, rotated))
    still = ctx.run(ctx.on.update_status(), during)

    assert during.unit_status.name == still.unit_status.name == "waiting"
    assert running.stored_api_key(radarr_id) == RADARR_KEY

    # ...and never again: the hooks after the outage must still apply it.
    running.failing_routes.clear()
    if not running.running:
        running.start(service_environment())
    running.clear_requests()
    later = ctx.run(ctx.on.update_status(), still)

    assert writes(running) == [("PUT", f"/api/v1/applications/{radarr_id}")]
    assert running.stored_api_key(radarr_id) == RADARR_KEY_2
    assert later.unit_status == testing.ActiveStatus("2 applications synced")
    running.clear_requests()
    ctx.run(ctx.on.update_status(), later)
    assert writes(running) == [], "applied once"
    text = seen_text(ctx, later, everything_logged)
    for key in (USER_KEY, RADARR_KEY, RADARR_KEY_2, SONARR_KEY):
        assert key not in text


# ------------------------------------------------------------------ 2: a bare secret: ID


@pytest.mark.parametrize("bare", ["secret:", "secret://", f"secret://{MODEL_UUID}/"])
def test_2_a_secret_id_naming_no_secret_is_invalid_data_naming_the_relation(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, bare: str
):
    data = json.loads(RADARR.relation.remote_app_data["config"])
    data["api_key_secret_id"] = bare
    radarr = dataclasses.replace(RADARR.relation, remote_app_data={"config": json.dumps(data)})

    out = ctx.run(
        ctx.on.relation_changed(radarr, remote_unit=0),
        deployment(config_dir, SONARR, relations=[radarr]),
    )

    assert out.unit_status == testing.BlockedStatus(
        "invalid media-indexer data from radarr: api_key_secret_id: secret ID names no secret"
    )
    assert set(apps_by_name(running)) == {"sonarr"}, "the others go on"


# ------------------------------------------------------------------ 3: dot segments in the base


@pytest.mark.parametrize(
    "base", ["/media/../prowlarr", "/./prowlarr", "prowlarr/.", "/media/%2e%2E/prowlarr"]
)
def test_3_a_url_base_option_with_dot_segments_blocks_naming_it_and_restarts_nothing(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, base: str
):
    boots = running.boots

    out = ctx.run(ctx.on.config_changed(), steady_state(config_dir, config={"url-base": base}))

    assert out.unit_status == testing.BlockedStatus(f"invalid url-base {base!r}: {DOT_SEGMENTS}")
    assert (
        out.get_container("prowlarr").plan
        == steady_state(config_dir).get_container("prowlarr").plan
    )
    assert (running.boots, running.requests) == (boots, [])
    assert config_xml(config_dir)["UrlBase"] == ""


@pytest.mark.parametrize(
    "url",
    [
        "http://home.example/media/../prowlarr",
        "http://home.example/./media-prowlarr",
        "https://home.example/media/%2E%2E/prowlarr/",
    ],
)
def test_3_an_ingress_url_with_dot_segments_blocks_naming_the_provider_and_restarts_nothing(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, url: str
):
    traefik = testing.Relation(
        "ingress",
        id=20,
        remote_app_name="traefik",
        remote_app_data={"ingress": json.dumps({"url": url})},
    )
    boots = running.boots

    out = ctx.run(
        ctx.on.relation_changed(traefik, remote_unit=0),
        steady_state(config_dir, relations=[traefik]),
    )

    assert out.unit_status == testing.BlockedStatus(
        f"ingress: the provider's URL path is unusable: {DOT_SEGMENTS}"
    )
    assert (running.boots, running.url_base, config_xml(config_dir)["UrlBase"]) == (boots, "", "")
    asked = json.loads(out.get_relation(traefik.id).local_app_data["healthcheck_params"])
    assert asked["path"] == "/ping", "the route asked for is still the one Prowlarr serves"


# ------------------------------------------------------------------ 5: exportarr stopped by hand


def stopped_behind_the_charms_back(state: testing.State) -> testing.State:
    """`kubectl exec -c exportarr -- /charm/bin/pebble stop exportarr`: the plan stays."""
    container = state.get_container(EXPORTARR_CONTAINER)
    stopped = dataclasses.replace(
        container, service_statuses={"exportarr": ops.pebble.ServiceStatus.INACTIVE}
    )
    return dataclasses.replace(state, containers={state.get_container("prowlarr"), stopped})


def test_5_exportarr_stopped_out_of_band_is_started_again(
    ctx: Ctx, owned_config_dir: Path, prowlarr: FakeProwlarr, calls: CallRecorder
):
    first = deployed_with_metrics(ctx, owned_config_dir, prowlarr)
    stopped = stopped_behind_the_charms_back(first)
    calls.reset()

    out = ctx.run(ctx.on.update_status(), stopped)

    assert out.get_container(EXPORTARR_CONTAINER).services["exportarr"].is_running()
    assert calls.calls["pebble-start"] == 1
    assert calls.pebble_writes() == {"start_services": 1}, "no push, no replan, no restart"
    assert out.unit_status == testing.ActiveStatus("0 applications synced")

    calls.reset()
    ctx.run(ctx.on.update_status(), out)
    assert calls.writes() == {}
    assert calls.calls["pebble-get-services"] == 2, "Prowlarr's and exportarr's, one each"


def test_5_exportarr_that_does_not_start_says_why_and_is_retried(
    ctx: Ctx,
    owned_config_dir: Path,
    prowlarr: FakeProwlarr,
    monkeypatch: pytest.MonkeyPatch,
):
    first = deployed_with_metrics(ctx, owned_config_dir, prowlarr)
    original = ops.Container.start

    def failing_start(self: ops.Container, *services: str) -> None:
        if self.name == EXPORTARR_CONTAINER:
            raise change_error("cannot start service: exited quickly with code 1")
        original(self, *services)

    monkeypatch.setattr(ops.Container, "start", failing_start)
    out = ctx.run(ctx.on.update_status(), stopped_behind_the_charms_back(first))

    assert out.unit_status == testing.WaitingStatus(
        "starting exportarr failed: cannot start service: exited quickly with code 1"
    )

    monkeypatch.setattr(ops.Container, "start", original)
    again = ctx.run(ctx.on.update_status(), out)
    assert again.get_container(EXPORTARR_CONTAINER).services["exportarr"].is_running()
    assert again.unit_status == testing.ActiveStatus("0 applications synced")


# ------------------------------------------------------------------ 6: a remembered foreign ID

UI_SECRET = testing.Secret(
    {"username": "admin", "password": "correct-horse-battery"},
    owner="app",
    label="prowlarr-ui-credentials",
    id=f"secret://{MODEL_UUID}/d1prowlarruicreds0001",
)
NOT_GRANTED_ID = f"secret://{MODEL_UUID}/d1somebodyelses00001"


@pytest.mark.parametrize(
    "remembered",
    ["a media manager's secret", "the UI credentials secret", "a secret not granted to us"],
)
def test_6_a_remembered_secret_id_that_is_not_ours_is_neither_written_nor_used(
    ctx: Ctx,
    config_dir: Path,
    running: FakeProwlarr,
    monkeypatch: pytest.MonkeyPatch,
    everything_logged: pytest.LogCaptureFixture,
    calls: CallRecorder,
    remembered: str,
):
    settled = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0),
        deployment(config_dir, RADARR, secrets=[UI_SECRET]),
    )
    foreign_id = {
        "a media manager's secret": RADARR.secret.id,
        "the UI credentials secret": UI_SECRET.id,
        "a secret not granted to us": NOT_GRANTED_ID,
    }[remembered]
    if remembered == "a secret not granted to us":  # real Juju: "permission denied"
        backend = mocking._MockModelBackend  # pyright: ignore[reportPrivateUsage]
        original = backend.secret_get

        def secret_get(self: Any, **kwargs: Any) -> dict[str, str]:
            if kwargs.get("id") == foreign_id:
                raise ops.ModelError("ERROR permission denied")
            return original(self, **kwargs)

        monkeypatch.setattr(backend, "secret_get", secret_get)
    peers = settled.get_relations("prowlarr-peers")[0]
    edited = {**peers.local_app_data, API_KEY_SECRET: json.dumps({"id": foreign_id})}
    state = dataclasses.replace(
        settled,
        relations={r for r in settled.relations if r.id != peers.id}
        | {dataclasses.replace(peers, local_app_data=edited)},
    )
    before = {s.id: (s.label, s.latest_content) for s in state.secrets}
    running.clear_requests()

    out = ctx.run(ctx.on.update_status(), state)

    after = {s.id: (s.label, s.latest_content) for s in out.secrets}
    assert after == before, "no secret written, relabelled, added or removed"
    assert json.loads(peer_memory(out)[API_KEY_SECRET])["id"] == LEADER_SECRET_ID
    published = json.loads(out.get_relation(RADARR.relation.id).local_app_data["config"])
    assert published["api_key_secret_id"] == LEADER_SECRET_ID
    assert writes(running) == [], "radarr's application keeps radarr's key"
    assert out.unit_status == testing.ActiveStatus("1 application synced")
    text = seen_text(ctx, out, everything_logged)
    for key in (USER_KEY, RADARR_KEY, "correct-horse-battery"):
        assert key not in text

    calls.reset()
    steady = ctx.run(ctx.on.update_status(), out)
    assert calls.writes() == {}
    assert calls.calls["secret-read-info"] == 0, "the check is paid before a write only"
    assert steady.unit_status == out.unit_status


def test_6_the_steady_hook_does_not_pay_for_the_ownership_check(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, calls: CallRecorder
):
    first = ctx.run(ctx.on.update_status(), steady_state(config_dir))
    assert json.loads(peer_memory(first)[API_KEY_SECRET])["id"] == LEADER_SECRET_ID
    calls.reset()

    out = ctx.run(ctx.on.update_status(), first)

    assert calls.calls["secret-read-get"] == 1, "the key secret, by its remembered ID"
    assert calls.calls["secret-read-info"] == 0
    assert out.unit_status == testing.ActiveStatus("0 applications synced")


def test_6_a_key_changed_in_config_xml_still_reaches_our_own_remembered_secret(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    first = ctx.run(ctx.on.update_status(), steady_state(config_dir))
    new_key = "e" * 32
    write_config_xml(config_dir, ApiKey=new_key, Port="9696", UrlBase="")
    running.restart(service_environment())  # Prowlarr's UI reset the key, say

    out = ctx.run(ctx.on.update_status(), first)

    assert out.get_secret(id=LEADER_SECRET_ID).latest_content == {"api-key": new_key}
    assert [s.id for s in out.secrets if s.label == "prowlarr-api-key"] == [LEADER_SECRET_ID]
