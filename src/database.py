"""Prowlarr's data in PostgreSQL (`postgresql-k8s`), and the standby unit that takes over.

The requirer half of `postgresql_client`, wire-compatible with the data-platform library
(`data_interfaces` v0): the leader asks for the database `prowlarr-main` and names the fields it
wants in a secret (`database`, `requested-secrets` in its app databag); the provider answers with
`endpoints` (`host:port`) and the credentials in a Juju secret (`secret-user`: `username`,
`password`) or, from older providers, in plain `username`/`password` fields. Nothing is copied
into this side's databags.

The settings go into config.xml (private to Prowlarr's user), never into the Pebble plan. The
choice of database is the application's, remembered in the peer databag: a fresh install with
the relation goes to PostgreSQL by itself; SQLite data already there waits for `use-postgresql`;
a relation removed blocks until it comes back or `use-sqlite` goes back to the SQLite data.

With PostgreSQL, every unit keeps Prowlarr ready (config.xml with the key from the
`prowlarr-api-key` secret, the standby layer planned) and only the leader runs it: Prowlarr's
scheduler has no lock, so two processes on one database would both run its tasks.

No password reaches a log record, a status, an exception, an action result, a databag or the
Pebble plan: `PostgresSettings` hides it from its repr and only config.xml holds it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum

import ops
from charms.prowlarr_k8s.v0.media_indexer import secret_unique_id
from pydantic import BaseModel, ConfigDict, Field

import ingress
import probe
from api_key import CONTENT_KEY, SECRET_LABEL
from capability import ActionError, Report
from charm_config import InvalidConfigError, load_config
from memory import (
    API_KEY_SECRET,
    APPLICATIONS,
    DATABASE_CHOICE,
    FLARESOLVERR,
    HOST_CONFIG,
    INDEXERS,
    Memory,
)
from problem import Problem
from workload import CONFIG_DIR, PORT, PostgresSettings, Workload, WorkloadError, WorkloadSpec

logger = logging.getLogger(__name__)

RELATION = "database"
MAIN_DB = "prowlarr-main"
# What the v0 requirer asks to receive in secrets (RequirerData's secret fields).
REQUESTED_SECRETS = ("username", "password", "tls", "tls-ca", "uris", "read-only-uris")
USER_SECRET_FIELD = "secret-user"  # noqa: S105 - a field name
DEFAULT_PORT = 5432

CHOICE = DATABASE_CHOICE  # peer-databag key: "postgresql" once the application has switched
POSTGRESQL = "postgresql"
# Ledgers and fingerprints a new, empty database makes stale: what the charm created in
# Prowlarr is created again. (Capabilities with ledgers of their own add their keys here.)
# What the charm made lives in the database it leaves: its ledgers go, and it is made again.
FORGET_ON_SWITCH = (APPLICATIONS, HOST_CONFIG, INDEXERS, FLARESOLVERR)

SQLITE_FILES = ("prowlarr.db", "prowlarr.db-wal", "prowlarr.db-shm")
SQLITE_COPIES = f"{CONFIG_DIR}/Backups/sqlite"

STANDBY = "standby: ready to take over (PostgreSQL)"
HAS_SQLITE = (
    "Prowlarr has data in SQLite; run `use-postgresql` to start on PostgreSQL "
    "(the SQLite files stay in /config)"
)
GONE = (
    "the database relation is gone and Prowlarr's data is in PostgreSQL: integrate "
    "postgresql-k8s again, or run `use-sqlite` to go back to the SQLite data from before "
    "the switch"
)
WAITING = f"waiting for postgresql-k8s to provide the {MAIN_DB} database"
STANDBY_WAITING = "standby: waiting for the database relation (PostgreSQL)"


class DatabaseError(ActionError):
    """An action on the database could not complete; the message says why (never a secret)."""


# --------------------------------------------------------------------------- the relation


class ProviderData(BaseModel):
    """What a v0 provider writes in its app databag (the fields this charm reads)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    endpoints: str = ""
    secret_user: str = Field("", alias=USER_SECRET_FIELD)
    username: str = ""
    password: str = Field("", repr=False)


def requirer_data() -> dict[str, str]:
    """The leader's app databag: the database to create and the fields wanted in a secret."""
    return {"database": MAIN_DB, "requested-secrets": json.dumps(list(REQUESTED_SECRETS))}


def refresh_events(on: ops.CharmEvents) -> list[ops.BoundEvent]:
    """The events after which the charm's reconcile must run for this capability."""
    events = on[RELATION]
    return [events.relation_created, events.relation_changed, events.relation_broken]


def request(relation: ops.Relation, app: ops.Application) -> bool:
    """Write the request into the app databag when it differs; return whether it wrote.

    Leader only. One relation holds one database: the name is never changed afterwards.
    """
    databag = relation.data[app]
    wanted = requirer_data()
    if databag.get("database"):
        del wanted["database"]  # written once: providers ignore a later change of the name
    changes = {key: value for key, value in wanted.items() if databag.get(key) != value}
    if changes:
        databag.update(changes)
    return bool(changes)


def parse_endpoint(endpoints: str) -> tuple[str, int] | None:
    """The first `host:port` of a provider's comma-separated `endpoints`; None if unusable."""
    first = endpoints.split(",", maxsplit=1)[0].strip()
    if not first:
        return None
    host, sep, port = first.rpartition(":")
    if not sep:
        return first, DEFAULT_PORT
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class Offer:
    """What the relation offers now: settings, or why there are none yet."""

    related: bool
    settings: PostgresSettings | None = None
    waiting: str = ""  # why there are no settings yet (never a secret value)


def offered(model: ops.Model, own_secret_id: str = "") -> Offer:
    """Read the provider's answer: endpoints from the databag, credentials from its secret.

    Every unit may read it (the secret is granted to the application). `own_secret_id` is
    this application's key secret, never to be read as the provider's (PITFALLS 11).
    """
    relation = model.get_relation(RELATION)
    if relation is None:
        return Offer(related=False)
    # Every field is an optional string: any databag validates.
    data = ProviderData.model_validate(dict(relation.data[relation.app]))
    endpoint = parse_endpoint(data.endpoints)
    if endpoint is None:
        return Offer(related=True, waiting=WAITING)
    credentials = _credentials(model, data, own_secret_id)
    if isinstance(credentials, str):
        return Offer(related=True, waiting=credentials)
    username, password = credentials
    if not username or not password:
        return Offer(related=True, waiting=WAITING)
    host, port = endpoint
    settings = PostgresSettings(
        host=host, port=port, user=username, password=password, main_db=MAIN_DB
    )
    return Offer(related=True, settings=settings)


def _credentials(
    model: ops.Model, data: ProviderData, own_secret_id: str
) -> tuple[str, str] | str:
    """The username and password the provider gave, or why they cannot be read."""
    if not data.secret_user:
        return data.username, data.password
    if own_secret_id and secret_unique_id(data.secret_user) == secret_unique_id(own_secret_id):
        return f"{WAITING} (it names this charm's own secret)"
    try:
        content = model.get_secret(id=data.secret_user).get_content(refresh=True)
    except ops.SecretNotFoundError:
        return f"{WAITING} (its credentials secret is gone)"
    except ops.ModelError:
        return f"{WAITING} (no access to its credentials yet)"
    return content.get("username", ""), content.get("password", "")


def follows_secret(model: ops.Model, secret: ops.Secret) -> bool:
    """Whether a secret-changed must reconcile this unit.

    It must for the provider's credentials, and on a non-leader for Prowlarr's key (only a
    standby reads it, and its config.xml follows it).
    """
    if not secret.id:
        return False
    if secret.label == SECRET_LABEL:
        return not model.unit.is_leader()
    relation = model.get_relation(RELATION)
    published = relation.data[relation.app].get(USER_SECRET_FIELD, "") if relation else ""
    return bool(published) and secret_unique_id(published) == secret_unique_id(secret.id)


# --------------------------------------------------------------------------- the decision


def chosen(memory: Memory) -> bool:
    """Whether the application has switched to PostgreSQL."""
    return memory.raw(CHOICE) == POSTGRESQL


class Role(Enum):
    """What this unit does with Prowlarr."""

    SQLITE = "sqlite"  # the charm as without the relation: the leader runs Prowlarr on SQLite
    POSTGRESQL = "postgresql"  # this unit runs Prowlarr on PostgreSQL
    STANDBY = "standby"  # PostgreSQL: ready to take over, Prowlarr stopped
    HOLD = "hold"  # Prowlarr must not start here now (waiting, or blocked)


@dataclass(frozen=True)
class Decision:
    """The role of this unit, and what else follows from the inputs."""

    role: Role
    choose: bool = False  # record the switch (a fresh install with the relation)
    stop: bool = False  # stop a Prowlarr that runs here
    problem: Problem | None = None


def decide(*, leader: bool, switched: bool, offer: Offer, sqlite_data: bool) -> Decision:
    """The role of this unit: a pure function of leadership, the choice and the relation."""
    if not switched:
        return _before_switch(leader=leader, offer=offer, sqlite_data=sqlite_data)
    if offer.settings is not None:
        return Decision(Role.POSTGRESQL if leader else Role.STANDBY)
    if offer.related:
        return Decision(Role.HOLD, problem=Problem(offer.waiting or WAITING))
    if not leader:  # the leader says what to do; a new unit sees the relation a hook later
        return Decision(Role.HOLD, stop=True, problem=Problem(STANDBY_WAITING))
    return Decision(Role.HOLD, stop=True, problem=Problem(GONE, waiting=False))


def _before_switch(*, leader: bool, offer: Offer, sqlite_data: bool) -> Decision:
    """The role while the application is on SQLite: a fresh install switches by itself."""
    if not offer.related or not leader:
        return Decision(Role.SQLITE)
    waiting = Problem(offer.waiting or WAITING)
    if sqlite_data:
        if offer.settings is None:
            return Decision(Role.SQLITE, problem=waiting)
        return Decision(Role.SQLITE, problem=Problem(HAS_SQLITE, waiting=False))
    if offer.settings is None:
        return Decision(Role.HOLD, problem=waiting)
    return Decision(Role.POSTGRESQL, choose=True)


# --------------------------------------------------------------------------- reconcile


@dataclass
class DatabaseReport(Report):
    """The database step's report, and what the rest of the reconcile must do."""

    role: Role = Role.SQLITE

    @property
    def runs(self) -> bool:
        """Whether the reconcile goes on to start (or keep) Prowlarr on this unit."""
        return self.role in (Role.SQLITE, Role.POSTGRESQL)

    @property
    def on_sqlite(self) -> bool:
        """Whether Prowlarr's data is in /config: only then is a pre-refresh copy worth it."""
        return self.role is Role.SQLITE


def has_sqlite_data(workload: Workload) -> bool:
    """Whether Prowlarr has ever run on SQLite here (its database file is in /config)."""
    return SQLITE_FILES[0] in workload.list_dir(CONFIG_DIR)


def reconcile(
    model: ops.Model, workload: Workload, memory: Memory, spec: WorkloadSpec
) -> DatabaseReport:
    """Request the database, decide this unit's role and put config.xml and Pebble in line.

    Runs before Prowlarr is ensured: config.xml must hold the settings before Prowlarr starts.
    The report's `runs` tells the reconcile whether to go on and start (or keep) Prowlarr;
    a standby, or a unit without its database, stops here. Without the relation and before
    any switch it touches nothing.
    """
    leader = model.unit.is_leader()
    relation = model.get_relation(RELATION)
    if leader and relation is not None:
        request(relation, model.app)
    switched = chosen(memory)
    offer = offered(model, memory.mapping(API_KEY_SECRET).get("id", ""))
    report = DatabaseReport(capability="database", state="SQLite (/config/prowlarr.db)")
    if not switched and not offer.related:
        return report
    if not model.storages.get(probe.STORAGE):
        report.role = Role.HOLD
        report.wait("waiting for the config storage")
        return report
    try:
        sqlite_data = leader and offer.related and not switched and has_sqlite_data(workload)
        decision = decide(leader=leader, switched=switched, offer=offer, sqlite_data=sqlite_data)
        report.role = decision.role
        if decision.problem is not None:
            report.add(decision.problem)
        if decision.choose:
            logger.info("a fresh install with the database relation: Prowlarr uses PostgreSQL")
            memory.put_raw(CHOICE, POSTGRESQL)
        _apply(model, workload, spec=spec, decision=decision, offer=offer, report=report)
    except WorkloadError as e:
        report.role = Role.HOLD
        report.wait(str(e))
    return report


def stand_by(
    model: ops.Model, workload: Workload, memory: Memory, options: Mapping[str, object]
) -> Report:
    """A non-leader: with PostgreSQL, a standby ready to take over; else idle, as with SQLite."""
    if not chosen(memory):
        return probe.stand_by(model, workload)
    ingress.request(model, None, PORT)  # the ingress' health check keeps traffic away
    try:
        config = load_config(options)
    except InvalidConfigError as e:
        return Report("database", problems=[Problem(str(e), waiting=False)])
    exposed, _ = ingress.reconcile(model)
    return reconcile(model, workload, memory, probe.spec_for(config, exposed))


def _apply(
    model: ops.Model,
    workload: Workload,
    *,
    spec: WorkloadSpec,
    decision: Decision,
    offer: Offer,
    report: DatabaseReport,
) -> None:
    """Make config.xml and Pebble what the decision says; fill in the report's state."""
    settings = offer.settings
    if decision.role is Role.SQLITE:
        return
    if decision.role is Role.HOLD:
        report.state = "no database: Prowlarr is stopped" if decision.stop else WAITING
        if decision.stop and workload.is_running():
            logger.info("stopping Prowlarr: its database relation is gone")
            workload.stop()
        return
    assert settings is not None  # noqa: S101 - decide() gives these roles only with settings
    where = f"PostgreSQL {settings.main_db} at {settings.host}:{settings.port}"
    if decision.role is Role.STANDBY:
        key = _shared_key(model)
        if key is None:
            report.role = Role.HOLD
            report.wait("standby: waiting for the leader to create the prowlarr-api-key secret")
            return
        workload.set_postgres(settings)
        workload.ensure_standby(spec, key)
        report.state = f"standby on {where}"
        report.summary = STANDBY
        return
    running = workload.is_running()
    if not running:
        _take_over_key(model, workload, spec)
    if workload.set_postgres(settings) and running:
        # Stopped here, started by the workload step, which then waits for it: one restart.
        logger.info("the PostgreSQL settings changed: restarting Prowlarr to load them")
        workload.stop()
    report.state = where


def _shared_key(model: ops.Model) -> str | None:
    """Prowlarr's key from the app secret (readable by every unit of the application).

    The latest revision is tracked (refresh), so that old revisions can be removed; where Juju
    refuses a refresh to this unit, the latest is peeked at.
    """
    try:
        secret = model.get_secret(label=SECRET_LABEL)
        try:
            content = secret.get_content(refresh=True)
        except ops.SecretNotFoundError:
            raise
        except ops.ModelError:
            content = secret.peek_content()
    except (ops.SecretNotFoundError, ops.ModelError):
        return None
    return content.get(CONTENT_KEY) or None


def _take_over_key(model: ops.Model, workload: Workload, spec: WorkloadSpec) -> None:
    """Before Prowlarr starts on a leader: config.xml holds the key the secret holds.

    Across units the secret is the source of truth; once Prowlarr runs, config.xml is again
    (a key reset in the UI reaches the secret as before).
    """
    key = _shared_key(model)
    if key is None:
        return
    current = workload.read_config()
    if current is None or current.api_key != key:
        logger.info("taking over with the key of the %s secret", SECRET_LABEL)
        workload.write_api_key(key, spec)


# --------------------------------------------------------------------------- actions


def forget_for_new_database(memory: Memory) -> None:
    """Forget what a different database makes stale, so the reconcile applies it again."""
    for key in FORGET_ON_SWITCH:
        memory.put_raw(key, "")


def _copy_sqlite(workload: Workload, now: datetime) -> str:
    """Copy the SQLite files present to a directory of their own; return it ("" if none)."""
    present = set(workload.list_dir(CONFIG_DIR))
    files = [name for name in SQLITE_FILES if name in present]
    if not files:
        return ""
    target = f"{SQLITE_COPIES}/{now.strftime('%Y%m%dT%H%M%SZ')}"
    workload.make_private_dir(target)
    for name in files:
        workload.copy_file(f"{CONFIG_DIR}/{name}", f"{target}/{name}")
    return target


def use_postgresql(model: ops.Model, workload: Workload, memory: Memory) -> dict[str, str]:
    """Switch from SQLite to PostgreSQL: stop, copy the SQLite files, switch, forget ledgers.

    The caller's reconcile then starts Prowlarr on the empty database and creates again what
    the charm owns. Raises DatabaseError saying why nothing was switched.
    """
    if chosen(memory):
        raise DatabaseError("Prowlarr already uses PostgreSQL")
    if not memory.available:
        raise DatabaseError("waiting for the peer relation")
    offer = offered(model)
    if offer.settings is None:
        detail = offer.waiting if offer.related else "integrate postgresql-k8s first"
        raise DatabaseError(f"no PostgreSQL to switch to: {detail}")
    try:
        workload.stop()
        copy = _copy_sqlite(workload, datetime.now(timezone.utc))
        workload.set_postgres(offer.settings)
    except WorkloadError as e:
        raise DatabaseError(f"not switched: {e}") from None
    memory.put_raw(CHOICE, POSTGRESQL)
    forget_for_new_database(memory)
    logger.info("switched Prowlarr to PostgreSQL; SQLite files copied to %s", copy or "(none)")
    return {
        "database": f"PostgreSQL {MAIN_DB} at {offer.settings.host}:{offer.settings.port}",
        "sqlite-copy": copy or "none (no SQLite files)",
        "sqlite-files": "kept in /config, unused from now on",
    }


def use_sqlite(model: ops.Model, workload: Workload, memory: Memory) -> dict[str, str]:
    """Go back to the SQLite data from before the switch, once the relation is gone.

    Raises DatabaseError saying why nothing was switched.
    """
    if not chosen(memory):
        raise DatabaseError("Prowlarr already uses SQLite")
    if offered(model).settings is not None:
        raise DatabaseError(
            "the database relation still provides PostgreSQL: remove it first "
            "(juju remove-relation prowlarr postgresql-k8s)"
        )
    try:
        workload.stop()
        workload.set_postgres(None)
    except WorkloadError as e:
        raise DatabaseError(f"not switched: {e}") from None
    memory.put_raw(CHOICE, "")
    forget_for_new_database(memory)
    logger.info("switched Prowlarr back to SQLite")
    return {
        "database": "SQLite (/config/prowlarr.db, as it was before the switch to PostgreSQL)",
    }


ACTIONS = ("use-postgresql", "use-sqlite")


def run(
    action: str,
    model: ops.Model,
    workload: Workload,
    memory: Memory,
    reconcile: Callable[[], None],
) -> dict[str, str]:
    """use-postgresql or use-sqlite, then the reconcile that starts Prowlarr; the results.

    Raises DatabaseError saying why nothing was switched, after the reconcile has started
    Prowlarr again where it was (a switch that failed half-way has stopped it).
    """
    switch = use_postgresql if action == "use-postgresql" else use_sqlite
    try:
        results = switch(model, workload, memory)
    finally:
        reconcile()
    try:
        running = workload.is_running()
    except WorkloadError:
        running = False
    results["prowlarr"] = "running" if running else "not running: see juju status"
    return results
