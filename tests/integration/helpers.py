"""Helpers for the integration runbook: the juju CLI with parsed output, waiting, Prowlarr's view.

Keys are handled with care even here: a CLI failure reports the command and its stderr, never its
stdout (``juju show-secret --reveal`` prints keys); revealed keys live in `RevealedKey`, whose repr
hides the value; tests compare keys through booleans and SHA-256 prefixes so that pytest's
assertion rewriting has nothing secret to print.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import yaml
from juju.model import Model
from lightkube import Client
from lightkube.resources.core_v1 import Secret as K8sSecret
from pytest_operator.plugin import OpsTest

REPO_ROOT = Path(__file__).resolve().parents[2]
TESTER_DIR = Path(__file__).resolve().parent / "tester"
LIBRARY = Path("lib/charms/prowlarr_k8s/v0/media_indexer.py")

PROWLARR = "prowlarr"
PROWLARR_UNIT = f"{PROWLARR}/0"
PROWLARR_CONTAINER = "prowlarr"
PROWLARR_PORT = 9696
TRAEFIK = "traefik"
TRAEFIK_HOSTNAME = "prowlarr.test"  # traefik's external_hostname in the runbook
TESTER = "tester"
TESTER_UNIT = f"{TESTER}/0"
TESTER_PORT = 7878
ENDPOINT = "media-indexer"
SECRET_LABEL = "prowlarr-api-key"
UI_SECRET_LABEL = "prowlarr-ui-credentials"
TESTER_SECRET_LABEL = "tester-api-key"
SECRET_CONTENT_KEY = "api-key"
INSTANCE_NAME = "radarr-tester"  # the tester's default `instance-name`

_SYNCED = re.compile(r"(\d+) applications? synced")


def fingerprint(value: str) -> str:
    """First 12 hex digits of SHA-256, as the tester charm reports them."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class RevealedKey:
    """An API key the test read as a Juju admin. The value never shows in a repr."""

    value: str = field(repr=False)

    @property
    def fingerprint(self) -> str:
        """SHA-256 prefix of the key, comparable with the tester's results."""
        return fingerprint(self.value)

    def found_in(self, text: str) -> bool:
        """Whether the key appears in ``text``."""
        return self.value in text


def as_dict(value: object, what: str = "value") -> dict[str, Any]:
    """Narrow parsed JSON/YAML to an object, or fail saying what was expected."""
    assert isinstance(value, dict), f"{what}: expected a mapping, got {type(value).__name__}"
    return cast("dict[str, Any]", value)


def as_list(value: object, what: str = "value") -> list[Any]:
    """Narrow parsed JSON/YAML to a list, or fail saying what was expected."""
    assert isinstance(value, list), f"{what}: expected a list, got {type(value).__name__}"
    return cast("list[Any]", value)


def model_of(ops_test: OpsTest) -> Model:
    """The model pytest-operator created for this module."""
    assert ops_test.model is not None, "pytest-operator has no model"
    return ops_test.model


def model_name(ops_test: OpsTest) -> str:
    """The model's name, which is also its Kubernetes namespace."""
    assert ops_test.model_name is not None, "pytest-operator has no model"
    return ops_test.model_name


def service_url(ops_test: OpsTest, app: str, port: int) -> str:
    """The in-cluster URL of an application's Kubernetes Service."""
    return f"http://{app}.{model_name(ops_test)}.svc.cluster.local:{port}"


def secret_unique_id(secret_id: str) -> str:
    """The ID part of ``secret://<model-uuid>/<id>``, ``secret:<id>`` or ``<id>``."""
    return secret_id.rsplit("/", 1)[-1].removeprefix("secret:")


# -- the juju CLI ---------------------------------------------------------------------------------


async def juju(ops_test: OpsTest, *args: str) -> str:
    """Run ``juju <args>`` in the test model; fail with the command and its stderr only."""
    rc, stdout, stderr = await ops_test.juju(*args)
    assert rc == 0, f"`juju {' '.join(args)}` failed ({rc}): {stderr.strip()}"
    return stdout


async def juju_json(ops_test: OpsTest, *args: str) -> dict[str, Any]:
    """Run ``juju <args> --format=json`` and parse the object it prints."""
    return as_dict(json.loads(await juju(ops_test, *args, "--format=json")), f"juju {args[0]}")


async def juju_yaml(ops_test: OpsTest, *args: str) -> dict[str, Any]:
    """Run ``juju <args> --format=yaml`` and parse the mapping it prints."""
    return as_dict(yaml.safe_load(await juju(ops_test, *args, "--format=yaml")), f"juju {args[0]}")


@dataclass(frozen=True)
class UnitStatus:
    """One unit as ``juju status`` shows it."""

    name: str
    workload: str
    message: str
    leader: bool

    @property
    def synced(self) -> int | None:
        """N in Prowlarr's "N applications synced", if that is the message."""
        found = _SYNCED.search(self.message)
        return int(found.group(1)) if found else None


async def unit_statuses(ops_test: OpsTest, app: str) -> dict[str, UnitStatus]:
    """The units of ``app`` by name."""
    status = await juju_json(ops_test, "status", app)
    application = as_dict(as_dict(status.get("applications", {})).get(app, {}), app)
    units: dict[str, UnitStatus] = {}
    for name, raw in as_dict(application.get("units", {}), f"{app} units").items():
        unit = as_dict(raw, name)
        workload = as_dict(unit.get("workload-status", {}), f"{name} workload-status")
        units[name] = UnitStatus(
            name=name,
            workload=str(workload.get("current", "")),
            message=str(workload.get("message", "")),
            leader=bool(unit.get("leader", False)),
        )
    return units


async def charm_revision(ops_test: OpsTest, app: str) -> int:
    """The revision of the charm ``app`` runs (a local charm's goes up on each refresh)."""
    status = await juju_json(ops_test, "status", app)
    application = as_dict(as_dict(status.get("applications", {})).get(app, {}), app)
    return int(application.get("charm-rev", -1))


@dataclass(frozen=True)
class ActionOutcome:
    """What ``juju run <unit> <action>`` reported."""

    status: str
    message: str
    results: dict[str, str]


async def run_action(ops_test: OpsTest, unit: str, action: str, *params: str) -> ActionOutcome:
    """Run an action the way an operator does (``juju run``) and return its outcome.

    A failed action makes ``juju run`` exit non-zero but still print the task, so the outcome is
    returned either way; only a missing or unparsable task fails here.
    """
    rc, stdout, stderr = await ops_test.juju(
        "run", unit, action, *params, "--format=json", "--wait=10m"
    )
    try:
        tasks = as_dict(json.loads(stdout), "juju run output")
    except json.JSONDecodeError:
        raise AssertionError(f"`juju run {unit} {action}` ({rc}): {stderr.strip()}") from None
    task = as_dict(tasks.get(unit), f"task of {unit}")
    results = as_dict(task.get("results", {}), f"results of {action}")
    return ActionOutcome(
        status=str(task.get("status", "")),
        message=str(task.get("message", "")),
        results={str(key): str(value) for key, value in results.items()},
    )


async def wait_until(
    condition: Callable[[], Awaitable[bool]], *, what: str, timeout: float, interval: float = 5.0
) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds saying ``what``."""
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        await asyncio.sleep(interval)


async def wait_for_synced(ops_test: OpsTest, count: int, *, timeout: float = 900) -> None:
    """Wait until Prowlarr's leader says "<count> application(s) synced" and all is idle."""

    async def reached() -> bool:
        units = await unit_statuses(ops_test, PROWLARR)
        return any(unit.leader and unit.synced == count for unit in units.values())

    await wait_until(reached, what=f'Prowlarr to report "{count} ... synced"', timeout=timeout)
    await model_of(ops_test).wait_for_idle(apps=[PROWLARR, TESTER], timeout=timeout)


# -- secrets --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecretMeta:
    """One line of ``juju secrets``: metadata only."""

    id: str
    revision: int
    owner: str
    label: str


async def secrets_labelled(ops_test: OpsTest, label: str) -> list[SecretMeta]:
    """Every secret of the model whose owner label is ``label``."""
    listing = await juju_json(ops_test, "secrets")
    found: list[SecretMeta] = []
    for secret_id, raw in listing.items():
        meta = as_dict(raw, secret_id)
        if meta.get("label") == label:
            owner = str(meta.get("owner", ""))
            found.append(SecretMeta(secret_id, int(meta.get("revision", 0)), owner, label))
    return found


async def the_secret(ops_test: OpsTest, label: str) -> SecretMeta:
    """The one secret labelled ``label``."""
    found = await secrets_labelled(ops_test, label)
    assert len(found) == 1, f"expected exactly one secret labelled {label!r}, found {len(found)}"
    return found[0]


async def show_secret(ops_test: OpsTest, secret_id: str, *flags: str) -> dict[str, Any]:
    """``juju show-secret <id>`` as a mapping (YAML: its ``content`` is inline there)."""
    shown = await juju_yaml(ops_test, "show-secret", secret_id, *flags)
    return as_dict(shown.get(secret_id) or next(iter(shown.values()), None), secret_id)


async def reveal(ops_test: OpsTest, secret_id: str, revision: int | None = None) -> RevealedKey:
    """The ``api-key`` of a secret revision (the latest by default), as a Juju admin sees it."""
    flags = ["--reveal"] + ([] if revision is None else ["--revision", str(revision)])
    content = as_dict((await show_secret(ops_test, secret_id, *flags)).get("content"), "content")
    if isinstance(content.get("Data"), dict):  # JSON-style nesting; YAML inlines it
        content = as_dict(content["Data"])
    value = content.get(SECRET_CONTENT_KEY)
    assert isinstance(value, str), f"secret {secret_id} has no {SECRET_CONTENT_KEY!r} field"
    assert value, f"secret {secret_id} has an empty {SECRET_CONTENT_KEY!r}"
    return RevealedKey(value)


async def grant_targets(ops_test: OpsTest, secret_id: str) -> set[str]:
    """Who the secret is granted to (``access`` of ``juju show-secret``), e.g. application-x."""
    access = (await show_secret(ops_test, secret_id)).get("access")
    grants = as_list(access, "access") if access else []
    return {str(as_dict(grant, "grant").get("target", "")) for grant in grants}


def kubernetes_secret_key(kube: Client, namespace: str, name: str) -> RevealedKey:
    """The ``api-key`` held by Kubernetes Secret ``name`` (the kubernetes secret backend)."""
    secret = kube.get(K8sSecret, name=name, namespace=namespace)
    data = cast("dict[str, str]", secret.data or {})  # lightkube types it as a bare dict
    assert SECRET_CONTENT_KEY in data, f"Kubernetes Secret {name} has no {SECRET_CONTENT_KEY!r}"
    return RevealedKey(base64.b64decode(data[SECRET_CONTENT_KEY]).decode())


# -- relation data --------------------------------------------------------------------------------


async def show_unit(ops_test: OpsTest, unit: str) -> tuple[str, dict[str, Any]]:
    """``juju show-unit <unit>``: the raw text (to search for keys) and the parsed unit."""
    raw = await juju(ops_test, "show-unit", unit, "--format=json")
    return raw, as_dict(as_dict(json.loads(raw), "show-unit").get(unit), unit)


def media_indexer_configs(unit: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ``config`` JSON found in the unit's media-indexer relation data (either side)."""
    configs: list[dict[str, Any]] = []
    for raw in as_list(unit.get("relation-info", []), "relation-info"):
        info = as_dict(raw, "relation-info entry")
        if info.get("endpoint") != ENDPOINT:
            continue
        bags: list[object] = [info.get("application-data") or {}]
        local = as_dict(info.get("local-unit") or {}, "local-unit")
        bags.append(local.get("data") or {})
        for related in as_dict(info.get("related-units") or {}, "related-units").values():
            bags.append(as_dict(related, "related unit").get("data") or {})
        for bag in bags:
            text = as_dict(bag, "databag").get("config")
            if isinstance(text, str):
                configs.append(as_dict(json.loads(text), "config"))
    return configs


# -- Prowlarr's own view --------------------------------------------------------------------------

# Runs inside the workload container. The key is read there from config.xml and handed to curl on
# localhost; it never leaves the container. stdout is Prowlarr's JSON (keys in it are masked).
# One line with no trailing newline: `juju ssh --container` runs it as `sh -c "<cmd>; "`.
# Run with --pty=false: with a terminal (an interactive tox run) juju ssh would allocate a pty,
# which merges curl's stderr into stdout, so a curl failure showed up as a JSON decode error.
_PROWLARR_GET = (
    "cfg=/config/config.xml; "
    "key=$(sed -n 's:.*<ApiKey>\\(.*\\)</ApiKey>.*:\\1:p' $cfg); "
    "base=$(sed -n 's:.*<UrlBase>\\(.*\\)</UrlBase>.*:\\1:p' $cfg); "
    'curl -fsS --max-time 30 -H "X-Api-Key: $key" '
    '"http://localhost:' + str(PROWLARR_PORT) + "${base:+/$base}"
)


async def prowlarr_ui_status(
    ops_test: OpsTest, path: str, *form: str, unit: str = PROWLARR_UNIT
) -> tuple[int, str]:
    """Status code and Location of an anonymous request to Prowlarr's UI side (no API key).

    With `form` fields (`name=value`) it is a POST, as the login page sends it. Asked from inside
    the workload container, which is a local address: with the charm's login (required for
    every address) even that gets no key without logging in.
    """
    data = " ".join(f"--data-urlencode '{field}'" for field in form)
    command = (
        "cfg=/config/config.xml; "
        "base=$(sed -n 's:.*<UrlBase>\\(.*\\)</UrlBase>.*:\\1:p' $cfg); "
        f"curl -sS --max-time 30 -o /dev/null -w '%{{http_code}} %{{redirect_url}}' {data} "
        '"http://localhost:' + str(PROWLARR_PORT) + "${base:+/$base}" + path + '"'
    )
    out = await juju(
        ops_test, "ssh", "--pty=false", "--container", PROWLARR_CONTAINER, unit, command
    )
    code, _, location = out.strip().partition(" ")
    return int(code), location


async def http_status_from_prowlarr(ops_test: OpsTest, url: str, *headers: str) -> int:
    """The status code of a GET to `url`, asked with curl from inside Prowlarr's container."""
    options = " ".join(f"-H '{header}'" for header in headers)
    command = f"curl -sS --max-time 30 -o /dev/null -w '%{{http_code}}' {options} '{url}'"
    out = await juju(
        ops_test, "ssh", "--pty=false", "--container", PROWLARR_CONTAINER, PROWLARR_UNIT, command
    )
    return int(out.strip() or 0)


async def http_body_from_prowlarr(ops_test: OpsTest, url: str) -> str:
    """The body of a GET to `url`, asked with curl from inside Prowlarr's container."""
    command = f"curl -sS --max-time 30 -g '{url}'"
    return await juju(
        ops_test, "ssh", "--pty=false", "--container", PROWLARR_CONTAINER, PROWLARR_UNIT, command
    )


async def pebble_plan(ops_test: OpsTest, container: str, unit: str = PROWLARR_UNIT) -> str:
    """A workload container's Pebble plan, asked from the charm container.

    The charm container has a shell and the pebble client; exportarr's image has neither.
    """
    socket = f"/charm/containers/{container}/pebble.socket"
    return await juju(
        ops_test, "ssh", "--pty=false", unit, f"PEBBLE_SOCKET={socket} /charm/bin/pebble plan"
    )


async def reveal_fields(ops_test: OpsTest, secret_id: str) -> dict[str, str]:
    """Every field of a secret's latest revision, as a Juju admin sees them."""
    shown = await show_secret(ops_test, secret_id, "--reveal")
    content = as_dict(shown.get("content"), "content")
    if isinstance(content.get("Data"), dict):
        content = as_dict(content["Data"])
    return {str(name): str(value) for name, value in content.items()}


@dataclass(frozen=True)
class ProwlarrApplication:
    """An application registered in Prowlarr (GET /api/v1/applications)."""

    id: int
    name: str
    implementation: str
    sync_level: str
    base_url: str
    prowlarr_url: str


async def prowlarr_applications(
    ops_test: OpsTest, unit: str = PROWLARR_UNIT
) -> list[ProwlarrApplication]:
    """What Prowlarr itself lists, asked from inside its container (`juju ssh --container`)."""
    command = _PROWLARR_GET + '/api/v1/applications"'
    out = await juju(
        ops_test, "ssh", "--pty=false", "--container", PROWLARR_CONTAINER, unit, command
    )
    applications: list[ProwlarrApplication] = []
    for raw in as_list(json.loads(out), "applications"):
        app = as_dict(raw, "application")
        fields = {
            str(as_dict(item, "field").get("name")): as_dict(item, "field").get("value")
            for item in as_list(app.get("fields", []), "fields")
        }
        applications.append(
            ProwlarrApplication(
                id=int(app.get("id", 0)),
                name=str(app.get("name", "")),
                implementation=str(app.get("implementation", "")),
                sync_level=str(app.get("syncLevel", "")),
                base_url=str(fields.get("baseUrl", "")),
                prowlarr_url=str(fields.get("prowlarrUrl", "")),
            )
        )
    return applications


async def registered_tester(ops_test: OpsTest) -> ProwlarrApplication | None:
    """The tester's application in Prowlarr, if registered."""
    found = [app for app in await prowlarr_applications(ops_test) if app.name == INSTANCE_NAME]
    assert len(found) <= 1, f"Prowlarr lists {len(found)} applications named {INSTANCE_NAME}"
    return found[0] if found else None


# -- backups --------------------------------------------------------------------------------------

MANUAL_BACKUPS = "/config/Backups/manual"
PRE_REFRESH_COPIES = "/config/Backups/pre-refresh"


async def container_ls(ops_test: OpsTest, path: str, unit: str = PROWLARR_UNIT) -> list[str]:
    """The names in a directory of the Prowlarr container ([] when it does not exist)."""
    command = f"ls -1 {path} 2>/dev/null || true"
    out = await juju(
        ops_test, "ssh", "--pty=false", "--container", PROWLARR_CONTAINER, unit, command
    )
    return [line.strip() for line in out.splitlines() if line.strip()]


@dataclass(frozen=True)
class ListedBackup:
    """One row of list-backups' table: ID TYPE SIZE (number and unit) TIME NAME."""

    id: str
    type: str
    name: str


def listed_backups(table: str) -> list[ListedBackup]:
    """Parse the `backups` result of list-backups (its first line is the header)."""
    rows = [line.split() for line in table.splitlines()[1:] if line.strip()]
    return [ListedBackup(id=row[0], type=row[1], name=row[-1]) for row in rows if len(row) >= 6]


# -- the tester's view ----------------------------------------------------------------------------


async def check_prowlarr_key(ops_test: OpsTest) -> dict[str, str]:
    """The tester's report on Prowlarr's key (action check-prowlarr-key; never a key)."""
    outcome = await run_action(ops_test, TESTER_UNIT, "check-prowlarr-key")
    assert outcome.status == "completed", f"check-prowlarr-key failed: {outcome.message}"
    return outcome.results


async def fake_radarr_stats(ops_test: OpsTest) -> dict[str, int]:
    """Counters of the tester's fake Radarr API (action fake-radarr-stats)."""
    outcome = await run_action(ops_test, TESTER_UNIT, "fake-radarr-stats")
    assert outcome.status == "completed", f"fake-radarr-stats failed: {outcome.message}"
    assert outcome.results.get("running") == "true", "the tester's fake Radarr API is not running"
    counters = {name: value for name, value in outcome.results.items() if name != "return-code"}
    return {name: int(value) for name, value in counters.items() if value.isdigit()}


# -- PostgreSQL and the standby -------------------------------------------------------------------

POSTGRESQL = "postgresql-k8s"
POSTGRESQL_CHANNEL = "16/stable"
DATABASE_ENDPOINT = "database"
STANDBY_STATUS = "standby: ready to take over (PostgreSQL)"
SQLITE_COPIES = "/config/Backups/sqlite"


async def database_password(ops_test: OpsTest, unit: str = PROWLARR_UNIT) -> RevealedKey:
    """The password postgresql-k8s gave Prowlarr, read from its `secret-user` (admin view)."""
    _, shown = await show_unit(ops_test, unit)
    for raw in as_list(shown.get("relation-info", []), "relation-info"):
        info = as_dict(raw, "relation-info entry")
        if info.get("endpoint") == DATABASE_ENDPOINT:
            secret_id = str(as_dict(info.get("application-data") or {}).get("secret-user", ""))
            assert secret_id, "postgresql-k8s answered with its credentials secret"
            return RevealedKey((await reveal_fields(ops_test, secret_id))["password"])
    raise AssertionError(f"{unit} has no {DATABASE_ENDPOINT} relation")


async def config_xml_has(ops_test: OpsTest, element: str, unit: str = PROWLARR_UNIT) -> bool:
    """Whether config.xml holds a non-empty `element` (its value never leaves the container)."""
    command = f"grep -c '<{element}>[^<]' /config/config.xml || true"
    out = await juju(
        ops_test, "ssh", "--pty=false", "--container", PROWLARR_CONTAINER, unit, command
    )
    return int(out.strip() or 0) > 0


async def pebble_services(ops_test: OpsTest, unit: str) -> str:
    """`pebble services` of the Prowlarr container, asked from the charm container."""
    socket = f"/charm/containers/{PROWLARR_CONTAINER}/pebble.socket"
    return await juju(
        ops_test, "ssh", "--pty=false", unit, f"PEBBLE_SOCKET={socket} /charm/bin/pebble services"
    )


def pod_name(unit: str) -> str:
    """The pod of a unit: prowlarr/1 runs in prowlarr-1."""
    return unit.replace("/", "-")
