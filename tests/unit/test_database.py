"""PostgreSQL and the standby, in pieces: the decision, config.xml, the layer, the fake's database.

The whole journey through the charm (relation, switch, failover) is in test_postgresql.py.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from ops import pebble

import database
import workload
from database import Decision, Offer, Role, decide, parse_endpoint
from problem import Problem
from tests.unit.fake_prowlarr import FakePostgres, FakeProwlarr, FakeStartError
from workload import PostgresSettings, WorkloadSpec

PASSWORD = "s3cret-db-pass"
SETTINGS = PostgresSettings(
    host="postgresql-k8s-primary.db.svc.cluster.local",
    port=5432,
    user="relation_7",
    password=PASSWORD,
    main_db="prowlarr-main",
)
OFFERED = Offer(related=True, settings=SETTINGS)
UNANSWERED = Offer(related=True, waiting=database.WAITING)
UNRELATED = Offer(related=False)


# ------------------------------------------------------------------ the wire format


def test_requirer_asks_for_prowlarr_main_and_the_v0_secret_fields():
    assert database.requirer_data() == {
        "database": "prowlarr-main",
        "requested-secrets": json.dumps(
            ["username", "password", "tls", "tls-ca", "uris", "read-only-uris"]
        ),
    }


@pytest.mark.parametrize(
    ("endpoints", "expected"),
    [
        ("pg-primary.db.svc.cluster.local:5432", ("pg-primary.db.svc.cluster.local", 5432)),
        ("10.1.2.3:6432,10.1.2.4:6432", ("10.1.2.3", 6432)),
        ("pg.example", ("pg.example", 5432)),
        ("[fd00::1]:5433", ("fd00::1", 5433)),
        ("", None),
        ("pg:notaport", None),
        ("pg:70000", None),
        (":5432", None),
    ],
)
def test_endpoints_give_the_first_host_and_port(endpoints: str, expected: tuple[str, int] | None):
    assert parse_endpoint(endpoints) == expected


def test_settings_never_show_the_password():
    assert PASSWORD not in repr(SETTINGS)
    assert PASSWORD not in str(Offer(related=True, settings=SETTINGS))


# ------------------------------------------------------------------ the decision


@pytest.mark.parametrize(
    ("leader", "switched", "offer", "sqlite_data", "expected"),
    [
        # No relation: the charm as before, on SQLite.
        (True, False, UNRELATED, True, Decision(Role.SQLITE)),
        (False, False, UNRELATED, False, Decision(Role.SQLITE)),
        # A fresh install with the relation: no SQLite data, so it switches by itself...
        (True, False, OFFERED, False, Decision(Role.POSTGRESQL, choose=True)),
        # ...and does not start Prowlarr on SQLite while the provider has not answered.
        (
            True,
            False,
            UNANSWERED,
            False,
            Decision(Role.HOLD, problem=Problem(database.WAITING)),
        ),
        # SQLite data: never a silent switch; Prowlarr keeps running on SQLite meanwhile.
        (
            True,
            False,
            OFFERED,
            True,
            Decision(Role.SQLITE, problem=Problem(database.HAS_SQLITE, waiting=False)),
        ),
        (
            True,
            False,
            UNANSWERED,
            True,
            Decision(Role.SQLITE, problem=Problem(database.WAITING)),
        ),
        # A non-leader before the switch is the SQLite standby of today.
        (False, False, OFFERED, False, Decision(Role.SQLITE)),
        # Switched: the leader runs it, every other unit stands by.
        (True, True, OFFERED, True, Decision(Role.POSTGRESQL)),
        (False, True, OFFERED, False, Decision(Role.STANDBY)),
        # Switched, the provider's answer incomplete: wait, touching nothing.
        (True, True, UNANSWERED, False, Decision(Role.HOLD, problem=Problem(database.WAITING))),
        # Switched, relation gone: stop, and say the way back; never stale SQLite silently.
        (
            True,
            True,
            UNRELATED,
            True,
            Decision(Role.HOLD, stop=True, problem=Problem(database.GONE, waiting=False)),
        ),
        # A non-leader stops too, and leaves the way back to the leader's status.
        (
            False,
            True,
            UNRELATED,
            False,
            Decision(Role.HOLD, stop=True, problem=Problem(database.STANDBY_WAITING)),
        ),
    ],
)
def test_decision(
    leader: bool, switched: bool, offer: Offer, sqlite_data: bool, expected: Decision
):
    assert decide(leader=leader, switched=switched, offer=offer, sqlite_data=sqlite_data) == (
        expected
    )


def test_blocked_messages_name_the_actions():
    assert "run `use-postgresql`" in database.HAS_SQLITE
    assert "SQLite files stay in /config" in database.HAS_SQLITE
    assert "`use-sqlite`" in database.GONE


# ------------------------------------------------------------------ config.xml


def elements(text: str) -> dict[str, str]:
    root = ET.fromstring(text)  # noqa: S314 - our own test text
    return {child.tag: child.text or "" for child in root}


def test_config_xml_gets_the_settings_and_keeps_everything_else():
    existing = (
        "<Config><ApiKey>k</ApiKey><Theme>dark</Theme><PostgresHost>old</PostgresHost></Config>"
    )

    text = workload.render_postgres(existing, SETTINGS)

    assert elements(text) == {
        "ApiKey": "k",
        "Theme": "dark",
        "PostgresHost": SETTINGS.host,
        "PostgresPort": "5432",
        "PostgresUser": "relation_7",
        "PostgresPassword": PASSWORD,
        "PostgresMainDb": "prowlarr-main",
        "LogDbEnabled": "False",
    }
    assert workload.parse_postgres(text) == SETTINGS


def test_config_xml_without_settings_is_sqlite_again():
    with_settings = workload.render_postgres("<Config><ApiKey>k</ApiKey></Config>", SETTINGS)

    text = workload.render_postgres(with_settings, None)

    assert elements(text) == {"ApiKey": "k"}
    assert workload.parse_postgres(text) is None


# ------------------------------------------------------------------ the standby layer


def level(check: pebble.Check) -> str:
    return check.level.value if isinstance(check.level, pebble.CheckLevel) else check.level


def test_standby_layer_plans_prowlarr_without_starting_it_or_failing_liveness():
    spec = WorkloadSpec(url_base="/prowlarr")
    standby = workload.standby_layer(spec)
    running = workload.pebble_layer(spec)

    service = standby.services["prowlarr"]
    assert service.startup == "disabled", "a replan does not start it"
    assert service.command == running.services["prowlarr"].command
    assert service.environment == running.services["prowlarr"].environment
    # Juju's liveness probe asks Pebble's level=alive health, its readiness probe level=ready.
    levels = {name: level(check) for name, check in standby.checks.items()}
    assert levels == {"ready": "ready", "alive": "ready"}, "not ready: out of the Service..."
    assert "alive" not in levels.values(), "...and the kubelet never restarts its container"
    assert {level(check) for check in running.checks.values()} == {"ready", "alive"}


# ------------------------------------------------------------------ the fake's database


def config_with(config_dir: Path, **values: str) -> None:
    body = "".join(f"<{name}>{value}</{name}>" for name, value in values.items())
    (config_dir / "config.xml").write_text(f"<Config><ApiKey>{'a' * 32}</ApiKey>{body}</Config>")


def server() -> FakePostgres:
    return FakePostgres(host=SETTINGS.host, users={SETTINGS.user: PASSWORD})


CONFIG = {
    "PostgresHost": SETTINGS.host,
    "PostgresUser": SETTINGS.user,
    "PostgresPassword": PASSWORD,
    "LogDbEnabled": "False",
}


def test_fake_uses_postgresql_from_config_xml_and_keeps_sqlite_aside(
    fake: FakeProwlarr, config_dir: Path
):
    fake.start()
    fake.add_application(name="radarr")
    fake.stop()
    fake.postgres = pg = server()
    config_with(config_dir, **CONFIG)

    fake.start()

    assert fake.database_backend == "postgresql"
    assert fake.applications == {}, "a new, empty database"
    assert pg.connections == 1
    fake.stop()
    config_with(config_dir)
    fake.start()
    assert fake.database_backend == "sqlite"
    assert [a.name for a in fake.applications.values()] == ["radarr"], "SQLite as it was"


def test_fake_environment_wins_over_config_xml(fake: FakeProwlarr, config_dir: Path):
    fake.postgres = server()
    config_with(config_dir, **{**CONFIG, "PostgresPassword": "wrong"})

    fake.start({"PROWLARR__POSTGRES__PASSWORD": PASSWORD})

    assert fake.database_backend == "postgresql"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"reachable": False}, "does not answer"),
        ({"users": {SETTINGS.user: "other"}}, "password authentication failed"),
        ({"databases": set[str]()}, 'database "prowlarr-main" does not exist'),
    ],
)
def test_fake_exits_without_its_database(
    fake: FakeProwlarr, config_dir: Path, change: dict[str, object], message: str
):
    pg = server()
    for name, value in change.items():
        setattr(pg, name, value)
    fake.postgres = pg
    config_with(config_dir, **CONFIG)

    with pytest.raises(FakeStartError, match=message) as failure:
        fake.start()

    assert not fake.running
    assert PASSWORD not in str(failure.value)


def test_fake_needs_the_log_database_while_it_is_enabled(fake: FakeProwlarr, config_dir: Path):
    fake.postgres = server()
    config_with(config_dir, **{**CONFIG, "LogDbEnabled": "True"})

    with pytest.raises(FakeStartError, match='database "prowlarr-log" does not exist'):
        fake.start()


def test_two_fakes_on_one_server_see_the_same_data(config_dir: Path, tmp_path: Path):
    pg = server()
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    with FakeProwlarr(config_dir) as first, FakeProwlarr(other_dir) as second:
        first.postgres = second.postgres = pg
        config_with(config_dir, **CONFIG)
        config_with(other_dir, **CONFIG)
        first.start()
        first.add_application(name="radarr")
        first.stop()

        second.start()

        assert [a.name for a in second.applications.values()] == ["radarr"]
