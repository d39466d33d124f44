"""PostgreSQL through the charm (issue 21): the relation, the switch, and the standby.

The fake Prowlarr reads its PostgreSQL settings at start (the environment over config.xml) and
reaches a FakePostgres, which holds Prowlarr's data and may refuse a password or not answer.
Every test that handles the database password checks where it must never be.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import ops
import pytest
from ops import testing

import database
import probe
from charm import ProwlarrCharm
from tests.unit.conftest import (
    MODEL_UUID,
    Driven,
    make_state,
    prowlarr_container,
    running_layer,
    service_environment,
)
from tests.unit.fake_prowlarr import FakePostgres, FakeProwlarr
from tests.unit.recorder import CallRecorder
from tests.unit.test_charm import USER_KEY, own_secret, started, write_config_xml
from tests.unit.test_registration import RADARR, deployment

Ctx = testing.Context[ProwlarrCharm]
PASSWORD = "pg-pass-0f9e8d7c6b5a"
PASSWORD_2 = "pg-pass-rotated-1a2b3c"
HOST = "postgresql-k8s-primary.db.svc.cluster.local"
HOST_2 = "postgresql-k8s-primary-2.db.svc.cluster.local"
USER = "relation_12"
CREDENTIALS_ID = f"secret://{MODEL_UUID}/d1pgcredentials0000001"
STANDBY = "standby: ready to take over (PostgreSQL)"


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.fixture
def server(prowlarr: FakeProwlarr) -> FakePostgres:
    """postgresql-k8s as the fake reaches it: the user it created for the relation."""
    pg = FakePostgres(host=HOST, users={USER: PASSWORD})
    prowlarr.postgres = pg
    return pg


def credentials(password: str = PASSWORD, **kwargs: Any) -> testing.Secret:
    """The provider's `secret-user`, granted to this application."""
    return testing.Secret({"username": USER, "password": password}, id=CREDENTIALS_ID, **kwargs)


def pg_relation(form: str = "secret", host: str = HOST, **kwargs: Any) -> testing.Relation:
    """The database relation as a v0 provider answers it (credentials in a secret or plain)."""
    data = {"database": "prowlarr-main", "endpoints": f"{host}:5432", "version": "16.6"}
    if form == "secret":
        data["secret-user"] = CREDENTIALS_ID
    elif form == "plain":
        data.update(username=USER, password=PASSWORD)
    return testing.Relation(
        "database", remote_app_name="postgresql-k8s", remote_app_data=data, id=12, **kwargs
    )


def config_xml(config_dir: Path) -> dict[str, str]:
    root = ET.parse(config_dir / "config.xml").getroot()  # noqa: S314 - our own test file
    return {child.tag: (child.text or "") for child in root}


def peer_data(out: testing.State) -> dict[str, str]:
    return dict(out.get_relation(900).local_app_data)


def seen(ctx: Ctx, out: testing.State, logged: pytest.LogCaptureFixture) -> str:
    """Every place the password must never be: logs, statuses, results, databags, the plan."""
    text = [record.getMessage() for record in logged.records]
    text += [str(status) for status in ctx.unit_status_history] + [str(out.unit_status)]
    text.append(json.dumps(ctx.action_results))
    for rel in out.relations:
        text += [json.dumps(dict(rel.local_app_data)), json.dumps(dict(rel.local_unit_data))]
    text += [json.dumps(c.plan.to_dict()) for c in out.containers]
    return "\n".join(text)


def assert_password_hidden(ctx: Ctx, out: testing.State, logged: pytest.LogCaptureFixture):
    text = seen(ctx, out, logged)
    assert "PostgresHost" not in text and "POSTGRES" not in text, "nothing of it in the plan"
    for password in (PASSWORD, PASSWORD_2):
        assert password not in text


# ------------------------------------------------------------------ a fresh install


@pytest.mark.parametrize("form", ["secret", "plain"])
def test_fresh_install_with_the_relation_runs_on_postgresql_once_and_then_writes_nothing(
    ctx: Ctx,
    owned_config_dir: Path,
    prowlarr: FakeProwlarr,
    server: FakePostgres,
    calls: CallRecorder,
    logged: pytest.LogCaptureFixture,
    form: str,
):
    relation = pg_relation(form)
    secrets = [credentials()] if form == "secret" else []
    state = make_state(owned_config_dir, relations=[relation], secrets=secrets)

    out = ctx.run(ctx.on.pebble_ready(state.get_container("prowlarr")), state)

    elements = config_xml(owned_config_dir)
    assert {k: v for k, v in elements.items() if k.startswith(("Postgres", "LogDb"))} == {
        "PostgresHost": HOST,
        "PostgresPort": "5432",
        "PostgresUser": USER,
        "PostgresPassword": PASSWORD,
        "PostgresMainDb": "prowlarr-main",
        "LogDbEnabled": "False",
    }
    assert prowlarr.database_backend == "postgresql" and prowlarr.boots == 1, "started once"
    assert not (owned_config_dir / "prowlarr.db").exists(), "no SQLite database made"
    assert out.get_relation(relation.id).local_app_data == {
        "database": "prowlarr-main",
        "requested-secrets": json.dumps(
            ["username", "password", "tls", "tls-ca", "uris", "read-only-uris"]
        ),
    }
    assert peer_data(out)["database"] == "postgresql"
    assert out.unit_status.name == "active"
    assert_password_hidden(ctx, out, logged)

    calls.reset()
    prowlarr.clear_requests()
    again = ctx.run(ctx.on.update_status(), out)

    assert calls.writes() == {}, "no push, no restart, no databag write"
    assert prowlarr.boots == 1
    assert again.unit_status.name == "active"


def test_waits_for_the_provider_without_starting_prowlarr_on_sqlite(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, server: FakePostgres
):
    relation = testing.Relation("database", remote_app_name="postgresql-k8s", id=12)
    state = make_state(config_dir, relations=[relation])

    out = ctx.run(ctx.on.relation_created(relation), state)

    assert out.unit_status == testing.WaitingStatus(
        "waiting for postgresql-k8s to provide the prowlarr-main database"
    )
    assert not prowlarr.running and prowlarr.boots == 0
    assert "requested-secrets" in out.get_relation(relation.id).local_app_data


def test_non_leader_writes_no_request(ctx: Ctx, config_dir: Path):
    relation = testing.Relation("database", remote_app_name="postgresql-k8s", id=12)

    out = ctx.run(
        ctx.on.relation_created(relation),
        make_state(config_dir, leader=False, relations=[relation]),
    )

    assert out.get_relation(relation.id).local_app_data == {}


# ------------------------------------------------------------------ changes from the provider


def postgresql_deployment(config_dir: Path, relation: testing.Relation, **kwargs: Any):
    """A leader already running Prowlarr on PostgreSQL, as a previous hook left it."""
    container = kwargs.pop("container", None) or prowlarr_container(
        config_dir,
        layers=running_layer(),
        service_statuses={"prowlarr": ops.pebble.ServiceStatus.ACTIVE},
    )
    peer = kwargs.pop("peer", None) or testing.PeerRelation(
        "prowlarr-peers", id=900, local_app_data={"database": "postgresql"}
    )
    secrets = [own_secret(USER_KEY), *kwargs.pop("secrets", [credentials()])]
    return make_state(
        config_dir,
        container=container,
        relations=[relation, *kwargs.pop("relations", [])],
        secrets=secrets,
        peer=peer,
        **kwargs,
    )


def run_on_postgresql(prowlarr: FakeProwlarr, config_dir: Path, host: str = HOST) -> None:
    write_config_xml(
        config_dir,
        ApiKey=USER_KEY,
        Port="9696",
        UrlBase="",
        PostgresHost=host,
        PostgresPort="5432",
        PostgresUser=USER,
        PostgresPassword=PASSWORD,
        PostgresMainDb="prowlarr-main",
        LogDbEnabled="False",
    )
    prowlarr.start(service_environment())
    assert prowlarr.database_backend == "postgresql"


def test_new_endpoints_rewrite_config_xml_and_restart_prowlarr_once(
    ctx: Ctx,
    owned_config_dir: Path,
    prowlarr: FakeProwlarr,
    server: FakePostgres,
    calls: CallRecorder,
    logged: pytest.LogCaptureFixture,
):
    run_on_postgresql(prowlarr, owned_config_dir)
    boots = prowlarr.boots
    server.host = HOST_2  # a new primary: the old address no longer answers
    relation = pg_relation(host=HOST_2)

    out = ctx.run(
        ctx.on.relation_changed(relation), postgresql_deployment(owned_config_dir, relation)
    )

    assert config_xml(owned_config_dir)["PostgresHost"] == HOST_2
    assert prowlarr.boots == boots + 1 and prowlarr.running, "one restart"
    assert out.unit_status.name == "active"
    assert_password_hidden(ctx, out, logged)

    calls.reset()
    again = ctx.run(ctx.on.update_status(), out)
    assert calls.writes() == {}
    assert prowlarr.boots == boots + 1
    assert again.unit_status.name == "active"


def test_rotated_credentials_reach_config_xml_with_one_restart(
    ctx: Ctx,
    owned_config_dir: Path,
    prowlarr: FakeProwlarr,
    server: FakePostgres,
    logged: pytest.LogCaptureFixture,
):
    run_on_postgresql(prowlarr, owned_config_dir)
    boots = prowlarr.boots
    server.users[USER] = PASSWORD_2
    secret = credentials(latest_content={"username": USER, "password": PASSWORD_2})
    relation = pg_relation()

    out = ctx.run(
        ctx.on.secret_changed(secret),
        postgresql_deployment(owned_config_dir, relation, secrets=[secret]),
    )

    assert config_xml(owned_config_dir)["PostgresPassword"] == PASSWORD_2
    assert prowlarr.boots == boots + 1 and prowlarr.running
    assert out.unit_status.name == "active"
    assert_password_hidden(ctx, out, logged)


def test_a_new_pod_on_postgresql_makes_no_copy_of_the_stale_sqlite_files(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, server: FakePostgres
):
    run_on_postgresql(prowlarr, config_dir)
    prowlarr.stop()
    (config_dir / "prowlarr.db").write_text("{}")  # left from before the switch
    relation = pg_relation()
    state = postgresql_deployment(
        config_dir,
        relation,
        container=prowlarr_container(config_dir),  # an empty plan
    )

    out = ctx.run(ctx.on.pebble_ready(state.get_container("prowlarr")), state)

    assert prowlarr.running and prowlarr.database_backend == "postgresql"
    assert not (config_dir / "Backups" / "pre-refresh").exists(), "the data is in PostgreSQL"
    assert out.unit_status.name == "active"


# ------------------------------------------------------------------ switching an existing install


def test_existing_sqlite_blocks_until_use_postgresql_then_applications_come_back(
    ctx: Ctx,
    config_dir: Path,
    prowlarr: FakeProwlarr,
    server: FakePostgres,
    logged: pytest.LogCaptureFixture,
):
    started(prowlarr, config_dir)
    registered = ctx.run(ctx.on.update_status(), deployment(config_dir, RADARR))
    assert [a.name for a in prowlarr.applications.values()] == ["radarr"]
    relation = pg_relation()
    with_relation = dataclasses.replace(
        registered,
        relations={*registered.relations, relation},
        secrets={*registered.secrets, credentials()},
    )

    blocked = ctx.run(ctx.on.relation_changed(relation), with_relation)

    assert blocked.unit_status == testing.BlockedStatus(database.HAS_SQLITE)
    assert prowlarr.running and prowlarr.database_backend == "sqlite", "no silent switch"

    out = ctx.run(ctx.on.action("use-postgresql"), blocked)

    results = dict(ctx.action_results or {})
    assert results["database"] == f"PostgreSQL prowlarr-main at {HOST}:5432"
    copy = Path(results["sqlite-copy"])
    assert copy.parent == Path("/config/Backups/sqlite")
    assert (config_dir / copy.relative_to("/config") / "prowlarr.db").exists()
    assert (config_dir / "prowlarr.db").exists(), "the SQLite files stay in /config"
    assert prowlarr.database_backend == "postgresql" and prowlarr.running
    assert [a.name for a in prowlarr.applications.values()] == ["radarr"], "registered again"
    assert peer_data(out)["database"] == "postgresql"
    assert out.unit_status.name == "active"
    assert_password_hidden(ctx, out, logged)


def test_use_postgresql_without_a_database_fails_and_changes_nothing(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr
):
    started(prowlarr, config_dir)
    state = make_state(
        config_dir,
        container=prowlarr_container(
            config_dir,
            layers=running_layer(),
            service_statuses={"prowlarr": ops.pebble.ServiceStatus.ACTIVE},
        ),
        secrets=[own_secret(USER_KEY)],
    )

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("use-postgresql"), state)

    assert "integrate postgresql-k8s first" in failure.value.message
    assert prowlarr.running and prowlarr.database_backend == "sqlite"


def test_a_switch_that_fails_half_way_leaves_prowlarr_running_on_sqlite(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, server: FakePostgres
):
    started(prowlarr, config_dir)
    (config_dir / "Backups").write_text("not a directory")  # the copy cannot be made
    relation = pg_relation()
    state = postgresql_deployment(
        config_dir, relation, peer=testing.PeerRelation("prowlarr-peers", id=900)
    )

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("use-postgresql"), state)

    assert failure.value.message.startswith("use-postgresql: not switched: ")
    assert PASSWORD not in failure.value.message
    assert prowlarr.running and prowlarr.database_backend == "sqlite", "started again"
    assert "PostgresHost" not in config_xml(config_dir)
    out = failure.value.state
    assert isinstance(out, testing.State)
    assert "database" not in peer_data(out)
    assert out.unit_status == testing.BlockedStatus(database.HAS_SQLITE)


def test_relation_removed_blocks_with_the_way_back_and_use_sqlite_takes_it(
    ctx: Ctx,
    config_dir: Path,
    prowlarr: FakeProwlarr,
    server: FakePostgres,
    logged: pytest.LogCaptureFixture,
):
    run_on_postgresql(prowlarr, config_dir)
    relation = pg_relation()
    state = postgresql_deployment(config_dir, relation)
    gone = dataclasses.replace(state, relations={r for r in state.relations if r.id != 12})

    out = ctx.run(
        ctx.on.relation_broken(relation),
        dataclasses.replace(gone, relations={*gone.relations, relation}),
    )

    assert out.unit_status == testing.BlockedStatus(database.GONE)
    assert not prowlarr.running, "never a silent return to stale SQLite data"

    back = ctx.run(ctx.on.action("use-sqlite"), dataclasses.replace(out, relations=gone.relations))

    assert prowlarr.running and prowlarr.database_backend == "sqlite"
    assert "PostgresHost" not in config_xml(config_dir)
    assert "database" not in peer_data(back)
    assert back.unit_status.name == "active"
    assert_password_hidden(ctx, back, logged)


def test_use_sqlite_is_refused_while_the_relation_provides_a_database(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, server: FakePostgres
):
    run_on_postgresql(prowlarr, config_dir)

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("use-sqlite"), postgresql_deployment(config_dir, pg_relation()))

    assert "remove it first" in failure.value.message
    assert PASSWORD not in failure.value.message
    assert prowlarr.database_backend == "postgresql"


# ------------------------------------------------------------------ the standby


def unit_state(config_dir: Path, *, leader: bool, container: testing.Container | None = None):
    """One unit of a two-unit application on PostgreSQL (the peer databag is the app's)."""
    peer = testing.PeerRelation(
        "prowlarr-peers", id=900, local_app_data={"database": "postgresql"}, peers_data={1: {}}
    )
    return make_state(
        config_dir,
        leader=leader,
        relations=[pg_relation()],
        secrets=[own_secret(USER_KEY), credentials()],
        peer=peer,
        container=container,
    )


def test_leader_flip_the_new_leader_takes_over_with_the_same_key_the_old_one_stops(
    ctx: Ctx,
    config_dir: Path,
    tmp_path: Path,
    driven: Driven,
    server: FakePostgres,
    logged: pytest.LogCaptureFixture,
):
    first = driven.fake
    second_dir = tmp_path / "unit-1"
    second_dir.mkdir()
    second = FakeProwlarr(second_dir)
    second.postgres = server
    try:
        # Unit 0 leads and runs Prowlarr on PostgreSQL; radarr is registered.
        run_on_postgresql(first, config_dir)
        unit0 = ctx.run(ctx.on.update_status(), unit_state(config_dir, leader=True))
        assert unit0.unit_status.name == "active"

        # Unit 1 stands by: config.xml with the secret's key and the settings, Prowlarr stopped.
        driven.switch(second)
        unit1 = ctx.run(
            ctx.on.update_status(),
            unit_state(second_dir, leader=False, container=prowlarr_container(second_dir)),
        )
        assert unit1.unit_status == testing.ActiveStatus(STANDBY)
        assert config_xml(second_dir)["ApiKey"] == USER_KEY
        assert config_xml(second_dir)["PostgresHost"] == HOST
        plan = unit1.get_container("prowlarr").plan
        assert plan.services["prowlarr"].startup == "disabled"
        assert not second.running and second.boots == 0
        assert_password_hidden(ctx, unit1, logged)

        # Unit 0's node dies; Juju elects unit 1, which starts Prowlarr with the same key.
        unit1 = ctx.run(ctx.on.leader_elected(), dataclasses.replace(unit1, leader=True))
        assert second.running and second.database_backend == "postgresql"
        assert second.api_key == USER_KEY == first.api_key
        assert unit1.get_secret(label="prowlarr-api-key").latest_content == {"api-key": USER_KEY}
        assert unit1.unit_status.name == "active"

        # Unit 0 comes back as a non-leader: its first hook stops Prowlarr.
        driven.switch(first)
        unit0 = ctx.run(ctx.on.update_status(), dataclasses.replace(unit0, leader=False))
        assert not first.running
        assert unit0.unit_status == testing.ActiveStatus(STANDBY)
        assert_password_hidden(ctx, unit0, logged)
    finally:
        second.close()


def test_a_steady_standby_writes_nothing(
    ctx: Ctx,
    owned_config_dir: Path,
    prowlarr: FakeProwlarr,
    server: FakePostgres,
    calls: CallRecorder,
):
    state = unit_state(owned_config_dir, leader=False)
    first = ctx.run(ctx.on.update_status(), state)
    calls.reset()

    out = ctx.run(ctx.on.update_status(), first)

    assert calls.writes() == {}, "no push, no layer"
    assert calls.calls["pebble-stop"] == calls.calls["pebble-start"] == 0
    assert out.unit_status == testing.ActiveStatus(STANDBY)
    assert not prowlarr.running and prowlarr.boots == 0


def test_a_standby_refused_a_refresh_of_the_key_secret_peeks_at_it(
    ctx: Ctx, config_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    original = ops.Secret.get_content

    def get_content(self: ops.Secret, *, refresh: bool = False) -> dict[str, str]:
        if refresh and self.label == "prowlarr-api-key":
            raise ops.ModelError("ERROR secret owner cannot use --refresh")
        return original(self, refresh=refresh)

    monkeypatch.setattr(ops.Secret, "get_content", get_content)

    out = ctx.run(ctx.on.update_status(), unit_state(config_dir, leader=False))

    assert out.unit_status == testing.ActiveStatus(STANDBY)
    assert config_xml(config_dir)["ApiKey"] == USER_KEY


def test_without_postgresql_the_non_leader_stays_blocked(ctx: Ctx, config_dir: Path):
    out = ctx.run(ctx.on.update_status(), make_state(config_dir, leader=False))
    assert out.unit_status == testing.BlockedStatus(
        "standby: Prowlarr runs on the leader only; scale back to 1 unit"
    )


# ------------------------------------------------------------------ report, backups, no database


def test_report_names_the_database_and_never_the_password(
    ctx: Ctx,
    config_dir: Path,
    prowlarr: FakeProwlarr,
    server: FakePostgres,
    logged: pytest.LogCaptureFixture,
):
    run_on_postgresql(prowlarr, config_dir)

    out = ctx.run(ctx.on.action("report"), postgresql_deployment(config_dir, pg_relation()))

    results = dict(ctx.action_results or {})
    assert results["database"] == f"PostgreSQL prowlarr-main at {HOST}:5432"
    assert results["problems"] == "none"
    assert_password_hidden(ctx, out, logged)


def test_restore_backup_is_refused_while_the_data_is_in_postgresql(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, server: FakePostgres
):
    run_on_postgresql(prowlarr, config_dir)
    boots = prowlarr.boots

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(
            ctx.on.action("restore-backup", params={"id": 1597773633}),
            postgresql_deployment(config_dir, pg_relation()),
        )

    assert "restore it with postgresql-k8s's backups" in failure.value.message
    assert prowlarr.boots == boots and prowlarr.database_backend == "postgresql"


@pytest.mark.parametrize(
    "fault",
    [{"reachable": False}, {"users": {USER: "another-password"}}],
    ids=["down", "password"],
)
def test_without_its_database_prowlarr_stays_down_and_the_password_unsaid(
    ctx: Ctx,
    config_dir: Path,
    prowlarr: FakeProwlarr,
    server: FakePostgres,
    logged: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    fault: dict[str, object],
):
    monkeypatch.setattr(probe, "STARTUP_WAIT", 0.2)  # the hook waits for a start that fails
    for name, value in fault.items():
        setattr(server, name, value)
    state = make_state(config_dir, relations=[pg_relation()], secrets=[credentials()])

    out = ctx.run(ctx.on.pebble_ready(state.get_container("prowlarr")), state)

    assert not prowlarr.running, "Prowlarr exits after its retries, or at once on a password"
    assert out.unit_status == testing.WaitingStatus("Prowlarr is starting")
    assert_password_hidden(ctx, out, logged)
