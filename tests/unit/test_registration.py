"""Registering related media managers as Prowlarr applications, against the fake Prowlarr."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import ops
import pytest
from ops import testing

from charm import ProwlarrCharm
from tests.unit.conftest import (
    MODEL_UUID,
    make_state,
    prowlarr_container,
    running_layer,
    service_environment,
)
from tests.unit.fake_prowlarr import FakeProwlarr, StoredApplication
from tests.unit.recorder import CallRecorder
from tests.unit.test_charm import USER_KEY, own_secret, write_config_xml
from workload import WorkloadSpec

Ctx = testing.Context[ProwlarrCharm]
PROWLARR_URL = "http://prowlarr-k8s.media.svc.cluster.local:9696"
RADARR_KEY = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"
RADARR_KEY_2 = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa2"
SONARR_KEY = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb1"
WRITES = ("POST", "PUT", "DELETE")


@dataclasses.dataclass(frozen=True)
class Manager:
    """A related media manager: its relation and the secret it granted us."""

    relation: testing.Relation
    secret: testing.Secret


def manager(
    app: str,
    rel_id: int,
    key: str,
    *,
    kind: str | None = None,
    instance_name: str | None = None,
    port: int = 7878,
    latest_key: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Manager:
    secret_id = f"secret://{MODEL_UUID}/d1{app}{rel_id:02d}key000000"[:60]
    data = {
        "api_url": f"http://{app}.media.svc.cluster.local:{port}",
        "api_key_secret_id": secret_id,
        "manager": kind or app,
        "instance_name": instance_name or app,
        "base_path": None,
        **(extra or {}),
    }
    relation = testing.Relation(
        "media-indexer",
        id=rel_id,
        remote_app_name=app,
        remote_app_data={"config": json.dumps(data)},
    )
    secret = testing.Secret(
        {"api-key": key},
        latest_content={"api-key": latest_key} if latest_key else None,
        id=secret_id,
        label=f"media-indexer-{rel_id}",
    )
    return Manager(relation, secret)


RADARR = manager("radarr", 3, RADARR_KEY)
SONARR = manager("sonarr", 4, SONARR_KEY, port=8989)


def deployment(config_dir: Path, *managers: Manager, **kwargs: Any) -> testing.State:
    """A running Prowlarr with these media managers related and their secrets granted."""
    container = prowlarr_container(
        config_dir,
        layers=running_layer(),
        service_statuses={"prowlarr": ops.pebble.ServiceStatus.ACTIVE},
    )
    secrets = [own_secret(USER_KEY), *(m.secret for m in managers), *kwargs.pop("secrets", [])]
    relations = [*(m.relation for m in managers), *kwargs.pop("relations", [])]
    return make_state(
        config_dir, container=container, secrets=secrets, relations=relations, **kwargs
    )


@pytest.fixture
def running(config_dir: Path, prowlarr: FakeProwlarr) -> FakeProwlarr:
    write_config_xml(config_dir, ApiKey=USER_KEY, Port="9696", UrlBase="")
    prowlarr.start(service_environment())
    return prowlarr


def apps_by_name(prowlarr: FakeProwlarr) -> dict[str, StoredApplication]:
    return {app.name: app for app in prowlarr.applications.values()}


def field(app: StoredApplication, name: str) -> object:
    return app.fields[name]


def without(state: testing.State, relation_id: int) -> testing.State:
    """The state after Juju has removed a broken relation."""
    return dataclasses.replace(
        state, relations={r for r in state.relations if r.id != relation_id}
    )


def writes(prowlarr: FakeProwlarr) -> list[tuple[str, str]]:
    return [
        (r.method, r.path)
        for r in prowlarr.requests
        if r.method in WRITES and r.path.startswith("/api/v1/applications")
    ]


# ------------------------------------------------------------------ registration


def test_radarr_and_sonarr_become_applications_with_their_keys(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    out = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0),
        deployment(config_dir, RADARR, SONARR),
    )

    apps = apps_by_name(running)
    assert set(apps) == {"radarr", "sonarr"}
    radarr, sonarr = apps["radarr"], apps["sonarr"]
    assert (radarr.implementation, radarr.config_contract) == ("Radarr", "RadarrSettings")
    assert (sonarr.implementation, sonarr.config_contract) == ("Sonarr", "SonarrSettings")
    assert field(radarr, "prowlarrUrl") == PROWLARR_URL
    assert field(radarr, "baseUrl") == "http://radarr.media.svc.cluster.local:7878"
    assert field(sonarr, "baseUrl") == "http://sonarr.media.svc.cluster.local:8989"
    assert running.stored_api_key(radarr.id) == RADARR_KEY
    assert running.stored_api_key(sonarr.id) == SONARR_KEY
    assert radarr.sync_level == sonarr.sync_level == "fullSync"
    assert field(sonarr, "animeSyncCategories") == [5070], "template fields kept on create"
    assert out.unit_status == testing.ActiveStatus("2 applications synced")

    peers = out.get_relations("prowlarr-peers")[0]
    records = peers.local_app_data["applications"]
    assert RADARR_KEY not in records and SONARR_KEY not in records
    assert {r["relation_id"] for r in json.loads(records)} == {3, 4}


def test_base_paths_on_both_sides_are_part_of_the_urls(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr
):
    spec = WorkloadSpec(url_base="/prowlarr")
    write_config_xml(config_dir, ApiKey=USER_KEY, UrlBase="/prowlarr")
    prowlarr.start(service_environment(spec))
    radarr = manager("radarr", 3, RADARR_KEY, extra={"base_path": "/radarr"})
    container = prowlarr_container(
        config_dir,
        layers=running_layer(spec),
        service_statuses={"prowlarr": ops.pebble.ServiceStatus.ACTIVE},
    )
    state = make_state(
        config_dir,
        container=container,
        secrets=[own_secret(USER_KEY), radarr.secret],
        relations=[radarr.relation],
        config={"url-base": "/prowlarr"},
    )

    ctx.run(ctx.on.relation_changed(radarr.relation, remote_unit=0), state)

    app = apps_by_name(prowlarr)["radarr"]
    assert field(app, "prowlarrUrl") == PROWLARR_URL + "/prowlarr"
    assert field(app, "baseUrl") == "http://radarr.media.svc.cluster.local:7878/radarr"
    # Radarr called Prowlarr back under its URL base, with the key Prowlarr holds.
    assert prowlarr.callbacks == [(f"{PROWLARR_URL}/prowlarr/0/api?t=caps", 200)]


def test_second_update_status_changes_nothing_in_prowlarr(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, calls: CallRecorder
):
    first = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0),
        deployment(config_dir, RADARR, SONARR),
    )
    running.clear_requests()
    calls.reset()

    out = ctx.run(ctx.on.update_status(), first)

    assert writes(running) == [], "no POST, PUT or DELETE in a steady-state hook"
    assert calls.calls["relation-write"] == 0
    assert out.unit_status == testing.ActiveStatus("2 applications synced")


def test_rotated_radarr_secret_gives_exactly_one_put_with_the_new_key(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    first = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0),
        deployment(config_dir, RADARR, SONARR),
    )
    radarr_id = apps_by_name(running)["radarr"].id
    rotated = dataclasses.replace(RADARR.secret, latest_content={"api-key": RADARR_KEY_2})
    state = dataclasses.replace(
        first, secrets={s for s in first.secrets if s.id != RADARR.secret.id} | {rotated}
    )
    running.clear_requests()

    ctx.run(ctx.on.secret_changed(rotated), state)

    assert writes(running) == [("PUT", f"/api/v1/applications/{radarr_id}")]
    assert running.stored_api_key(radarr_id) == RADARR_KEY_2


def test_sync_level_change_puts_new_level_and_keeps_ui_categories(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    first = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0),
        deployment(config_dir, RADARR, SONARR),
    )
    radarr_id = apps_by_name(running)["radarr"].id
    running.set_application_field(radarr_id, "syncCategories", [2000, 2040])  # edited in the UI
    running.clear_requests()

    ctx.run(
        ctx.on.config_changed(),
        dataclasses.replace(first, config={"sync-level": "add-remove-only"}),
    )

    assert sorted(m for m, _ in writes(running)) == ["PUT", "PUT"]
    apps = apps_by_name(running)
    assert apps["radarr"].sync_level == apps["sonarr"].sync_level == "addOnly"
    assert field(apps["radarr"], "syncCategories") == [2000, 2040]
    assert running.stored_api_key(radarr_id) == RADARR_KEY


def test_relation_broken_deletes_only_its_application(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    hand_added = running.add_application("Radarr", name="Manual Radarr")
    first = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0),
        deployment(config_dir, RADARR, SONARR),
    )
    sonarr_id = apps_by_name(running)["sonarr"].id

    out = ctx.run(ctx.on.relation_broken(first.get_relation(RADARR.relation.id)), first)

    assert set(apps_by_name(running)) == {"sonarr", "Manual Radarr"}
    assert out.unit_status == testing.ActiveStatus("1 application synced")

    out = without(out, RADARR.relation.id)
    last = ctx.run(ctx.on.relation_broken(out.get_relation(SONARR.relation.id)), out)
    assert set(apps_by_name(running)) == {"Manual Radarr"}, "the last relation removed too"
    assert hand_added in running.applications
    assert sonarr_id not in running.applications
    assert last.unit_status == testing.ActiveStatus("0 applications synced")


RADARR_URL = "http://radarr.media.svc.cluster.local:7878"


@pytest.mark.parametrize("name", ["Radarr", "My Radarr"])
def test_the_same_manager_added_by_hand_is_adopted(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, name: str
):
    app_id = running.add_application("Radarr", name=name, fields={"baseUrl": RADARR_URL + "/"})

    out = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0), deployment(config_dir, RADARR)
    )

    assert [a.id for a in running.applications.values()] == [app_id], "no duplicate created"
    assert running.stored_api_key(app_id) == RADARR_KEY
    assert running.applications[app_id].name == "radarr"
    assert out.unit_status == testing.ActiveStatus("1 application synced")


@pytest.mark.parametrize(
    ("implementation", "base_url"),
    [("Sonarr", "http://sonarr.media.svc.cluster.local:8989"), ("Radarr", "http://other:7878")],
    ids=["another kind", "another radarr"],
)
def test_a_hand_added_application_that_only_shares_the_name_is_left_alone(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, implementation: str, base_url: str
):
    app_id = running.add_application(implementation, name="radarr", fields={"baseUrl": base_url})
    before = running.applications[app_id]

    out = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0), deployment(config_dir, RADARR)
    )
    gone = ctx.run(ctx.on.relation_broken(out.get_relation(RADARR.relation.id)), out)

    assert running.applications == {app_id: before}, "not taken over, not deleted"
    assert out.unit_status == testing.BlockedStatus(
        "radarr: instance name 'radarr' is used by an application added by hand"
    )
    assert writes(running) == []
    assert gone.unit_status.name == "active"


def test_unreachable_radarr_does_not_block_sonarr_and_is_retried(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    running.unreachable.add("http://radarr.media.svc.cluster.local:7878")

    out = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0),
        deployment(config_dir, RADARR, SONARR),
    )

    assert set(apps_by_name(running)) == {"sonarr"}
    assert out.unit_status.name == "waiting"
    assert "radarr" in out.unit_status.message
    assert "cannot connect to Radarr" in out.unit_status.message

    running.unreachable.clear()
    later = ctx.run(ctx.on.update_status(), out)
    assert set(apps_by_name(running)) == {"radarr", "sonarr"}
    assert later.unit_status == testing.ActiveStatus("2 applications synced")


def test_a_prowlarr_url_the_managers_cannot_reach_fails_the_registration(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    # Prowlarr's Service name does not resolve from the managers (as in a cluster where it
    # does not exist): Radarr's test of Prowlarr's test indexer fails, and so does the save.
    running.hosts.clear()

    out = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0),
        deployment(config_dir, RADARR),
    )

    assert apps_by_name(running) == {}
    assert running.callbacks == [(f"{PROWLARR_URL}/0/api?t=caps", None)]
    assert out.unit_status.name in ("waiting", "blocked")
    assert "Prowlarr URL is invalid, Radarr cannot connect to Prowlarr" in out.unit_status.message

    running.answer_at(PROWLARR_URL)
    later = ctx.run(ctx.on.update_status(), out)
    assert set(apps_by_name(running)) == {"radarr"}
    assert later.unit_status == testing.ActiveStatus("1 application synced")


def test_prowlarr_down_after_relation_removed_deletes_nothing_then_retries(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    first = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0),
        deployment(config_dir, RADARR, SONARR),
    )
    running.fail_status = 500

    broken = ctx.run(ctx.on.relation_broken(first.get_relation(RADARR.relation.id)), first)

    assert set(apps_by_name(running)) == {"radarr", "sonarr"}, "a transient error deletes nothing"
    assert broken.unit_status.name == "waiting"

    running.fail_status = None
    later = ctx.run(ctx.on.update_status(), without(broken, RADARR.relation.id))
    assert set(apps_by_name(running)) == {"sonarr"}
    assert later.unit_status == testing.ActiveStatus("1 application synced")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json", "JSON"),
        (
            json.dumps({"api_url": "http://x:1", "manager": "radarr", "instance_name": "x"}),
            "api_key_secret_id",
        ),
        (
            json.dumps(
                {
                    "api_url": "ftp://x",
                    "api_key_secret_id": "s",
                    "manager": "radarr",
                    "instance_name": "x",
                }
            ),
            "api_url",
        ),
        (
            json.dumps(
                {
                    "api_url": "http://x:1",
                    "api_key_secret_id": "s",
                    "manager": "plex",
                    "instance_name": "x",
                }
            ),
            "manager",
        ),
    ],
)
def test_malformed_requirer_data_is_reported_and_others_go_on(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, raw: str, reason: str
):
    broken = testing.Relation(
        "media-indexer", id=9, remote_app_name="lidarr", remote_app_data={"config": raw}
    )

    out = ctx.run(
        ctx.on.relation_changed(broken, remote_unit=0),
        deployment(config_dir, SONARR, relations=[broken]),
    )

    assert set(apps_by_name(running)) == {"sonarr"}
    assert out.unit_status.name == "blocked"
    assert "lidarr" in out.unit_status.message and reason in out.unit_status.message


def test_old_requirer_form_with_app_type_registers(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    old = manager("sonarr", 5, SONARR_KEY, port=8989)
    data = json.loads(old.relation.remote_app_data["config"])
    data["app_type"] = data.pop("manager")
    data["media_type"] = "tv"
    relation = dataclasses.replace(old.relation, remote_app_data={"config": json.dumps(data)})

    ctx.run(
        ctx.on.relation_changed(relation, remote_unit=0),
        deployment(config_dir, Manager(relation, old.secret)),
    )

    assert apps_by_name(running)["sonarr"].implementation == "Sonarr"


def test_secret_not_granted_yet_waits_naming_the_app(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    state = deployment(
        config_dir, SONARR, relations=[RADARR.relation]
    )  # radarr's secret not granted

    out = ctx.run(ctx.on.relation_changed(RADARR.relation, remote_unit=0), state)

    assert set(apps_by_name(running)) == {"sonarr"}
    assert out.unit_status == testing.WaitingStatus(
        "waiting for radarr to grant its API key secret"
    )


def test_cross_model_secret_is_reported_not_awaited(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    other_model = manager("radarr", 3, RADARR_KEY)
    data = json.loads(other_model.relation.remote_app_data["config"])
    data["api_key_secret_id"] = "secret://0a0a0a0a-1111-2222-3333-444444444444/d1radarrkey"
    relation = dataclasses.replace(
        other_model.relation, remote_app_data={"config": json.dumps(data)}
    )

    out = ctx.run(
        ctx.on.relation_changed(relation, remote_unit=0),
        deployment(config_dir, relations=[relation]),
    )

    assert out.unit_status.name == "blocked"
    assert "cross-model" in out.unit_status.message and "radarr" in out.unit_status.message


def test_duplicate_instance_names_first_registered_keeps_it(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    first = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0), deployment(config_dir, RADARR)
    )
    twin = manager("radarr-4k", 2, RADARR_KEY_2, kind="radarr", instance_name="Radarr")
    state = dataclasses.replace(
        first, relations={*first.relations, twin.relation}, secrets={*first.secrets, twin.secret}
    )

    out = ctx.run(ctx.on.relation_changed(twin.relation, remote_unit=0), state)

    radarr = apps_by_name(running)["radarr"]
    assert running.stored_api_key(radarr.id) == RADARR_KEY, "the first registered keeps the name"
    assert out.unit_status.name == "blocked"
    assert (
        "radarr-4k" in out.unit_status.message
        and "already used by radarr" in out.unit_status.message
    )


def test_sync_indexers_runs_a_forced_sync_and_reports_completion(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    first = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0),
        deployment(config_dir, RADARR, SONARR),
    )

    ctx.run(ctx.on.action("sync-indexers"), first)

    commands = [
        r.json for r in running.requests if r.method == "POST" and r.path == "/api/v1/command"
    ]
    assert commands == [{"name": "ApplicationIndexerSync", "forceSync": True}]
    assert running.syncs == [True]
    results = ctx.action_results or {}
    assert results["status"] == "completed"
    assert int(results["applications"]) == 2


def test_sync_indexers_with_prowlarr_down_fails_clearly(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr
):
    write_config_xml(config_dir, ApiKey=USER_KEY)
    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("sync-indexers"), deployment(config_dir))
    assert "Prowlarr" in failure.value.message


def test_requirer_keys_never_leak(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    running.unreachable.add("http://radarr.media.svc.cluster.local:7878")
    out = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0),
        deployment(config_dir, RADARR, SONARR),
    )
    running.unreachable.clear()
    out = ctx.run(ctx.on.update_status(), out)
    out = ctx.run(ctx.on.action("sync-indexers"), out)
    results = json.dumps(ctx.action_results)
    out = ctx.run(ctx.on.relation_broken(out.get_relation(SONARR.relation.id)), out)

    text = "\n".join(
        [
            results,
            *(r.getMessage() for r in caplog.records),
            *(str(s) for s in ctx.unit_status_history),
            str(out.unit_status),
            *(json.dumps(dict(rel.local_app_data)) for rel in out.relations),
            *(json.dumps(dict(rel.local_unit_data)) for rel in out.relations),
        ]
    )
    for key in (RADARR_KEY, SONARR_KEY):
        assert key not in text
