"""Prowlarr's container through Pebble: the layer, config.xml and the files under /config.

Nothing here knows about Juju models or HTTP (Prowlarr's API is `prowlarr.py`). API keys never
reach a log record, an exception message, a repr or the layer.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Generator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, BinaryIO, TypedDict
from urllib.parse import unquote

import ops
from ops import pebble

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

logger = logging.getLogger(__name__)

PORT = 9696
SERVICE_NAME = "prowlarr"
CONTAINER_NAME = "prowlarr"
CONFIG_DIR = "/config"
CONFIG_XML = "/config/config.xml"
USER = "abc"
GROUP = "abc"
UID = 911
GID = 911

COMMAND = "/app/prowlarr/bin/Prowlarr -nobrowser -data=/config"
WORKING_DIR = "/app/prowlarr/bin"
CHOWN_TIMEOUT = 120.0
# After (re)starting Prowlarr, wait this long for it in the same hook, so a fresh deployment
# registers its media managers at once instead of at the next update-status.
STARTUP_WAIT = 30.0
# Prowlarr saves config.xml by truncating it and writing it again: a read may catch it empty or
# half-written. While Prowlarr runs, such a read is tried again (5 times, 100 ms apart).
CONFIG_READ_ATTEMPTS = 5
CONFIG_READ_DELAY = 0.1
_MAX_DETAIL = 200


class LogLevel(str, Enum):
    """Prowlarr log levels the charm offers (NLog names)."""

    TRACE = "trace"
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


def generate_api_key() -> str:
    """Return a fresh key in Prowlarr's own format: 32 lowercase hex characters."""
    return uuid.uuid4().hex


def normalize_url_base(url_base: str | None) -> str:
    """Normalise a URL base like Prowlarr does: "" or "/base" (no trailing slash)."""
    stripped = (url_base or "").strip().strip("/")
    return f"/{stripped}" if stripped else ""


_URL_BASE = re.compile(r"(/[A-Za-z0-9._~-]+)*")


def parse_url_base(value: str) -> str:
    """Normalise a URL base ("", "/base" or "/a/b"); ValueError when it is no plain URL path.

    A full URL, a query, a fragment, spaces or empty segments are refused: Prowlarr would take
    some of them, but no client can build a URL on them. So are `.` and `..` segments, encoded
    or not: clients and Kestrel remove them before routing (RFC 3986 §5.2.4), so Prowlarr's
    URL base would never match and every request would get a 307 (PITFALLS §16).
    """
    normalised = normalize_url_base(value)
    if any(unquote(segment) in (".", "..") for segment in normalised.split("/")):
        raise ValueError(
            "'.' and '..' segments are removed by clients, so Prowlarr would redirect "
            "every request"
        )
    if not _URL_BASE.fullmatch(normalised):
        raise ValueError("not a plain URL path such as /prowlarr")
    return normalised


@dataclass(frozen=True)
class WorkloadSpec:
    """What the charm wants the container to run: the layer and config.xml follow it."""

    log_level: LogLevel = LogLevel.INFO
    url_base: str = ""  # "" or "/base", from parse_url_base


# --------------------------------------------------------------------------- Pebble layer


def _environment(spec: WorkloadSpec) -> dict[str, str]:
    """Settings Prowlarr takes from its environment over config.xml and the UI.

    The charm owns the port, the bind address, the login and the URL base: a change made in
    Prowlarr's UI cannot move Prowlarr away from where the charm, its checks and its clients
    reach it, nor open it without a login (Prowlarr serves its API key to whoever passes its UI
    policy). No secret is ever part of it.
    """
    env = {
        "HOME": CONFIG_DIR,
        "TMPDIR": "/tmp",  # noqa: S108 - the image's TMPDIR is made by the bypassed init
        "XDG_CONFIG_HOME": f"{CONFIG_DIR}/xdg",
        "COMPlus_EnableDiagnostics": "0",
        "PROWLARR__LOG__LEVEL": LogLevel(spec.log_level).value,
        "PROWLARR__SERVER__PORT": str(PORT),
        "PROWLARR__SERVER__BINDADDRESS": "*",
        "PROWLARR__AUTH__METHOD": "Forms",
        "PROWLARR__AUTH__REQUIRED": "Enabled",
    }
    if spec.url_base:
        # Whether an empty value counts as set is not known: "no URL base" is left to
        # config.xml, which the charm keeps empty then.
        env["PROWLARR__SERVER__URLBASE"] = spec.url_base
    return env


def _service(spec: WorkloadSpec) -> pebble.ServiceDict:
    return {
        "override": "replace",
        "summary": "Prowlarr",
        "command": COMMAND,
        "startup": "enabled",
        "user": USER,
        "group": GROUP,
        "working-dir": WORKING_DIR,
        "environment": _environment(spec),
        "on-check-failure": {"alive": "restart"},
    }


def _checks(spec: WorkloadSpec) -> dict[str, pebble.CheckDict]:
    http: pebble.HttpDict = {"url": f"http://localhost:{PORT}{spec.url_base}/ping"}
    return {
        "ready": {
            "override": "replace",
            "level": "ready",
            "period": "10s",
            "threshold": 3,
            "http": http,
        },
        "alive": {
            "override": "replace",
            "level": "alive",
            "period": "30s",
            "threshold": 5,
            "http": http,
        },
    }


def pebble_layer(spec: WorkloadSpec) -> pebble.Layer:
    """Return the Pebble layer that runs Prowlarr, with ready and alive checks on its /ping.

    The layer never holds the API key: Prowlarr reads it from config.xml.
    """
    layer: pebble.LayerDict = {
        "summary": "Prowlarr",
        "description": "Prowlarr indexer manager, run as abc like the linuxserver image does",
        "services": {SERVICE_NAME: _service(spec)},
        "checks": _checks(spec),
    }
    return pebble.Layer(layer)


def standby_layer(spec: WorkloadSpec) -> pebble.Layer:
    """The layer of a standby unit: Prowlarr planned but not started, ready to take over.

    The service does not start on a replan. Both checks are at the `ready` level: the standby's
    pod is not ready (Kubernetes takes it out of the Service's endpoints), yet nothing at the
    `alive` level fails, so the kubelet does not restart its container. Pebble's
    on-check-failure acts only on a running service, so the failing checks do not start it.
    Taking over adds the layer of `pebble_layer`, which puts the `alive` check back.
    """
    service = _service(spec)
    service["startup"] = "disabled"
    checks = _checks(spec)
    checks["alive"]["level"] = "ready"
    layer: pebble.LayerDict = {
        "summary": "Prowlarr (standby)",
        "description": "Prowlarr, stopped on a standby unit until it becomes the leader",
        "services": {SERVICE_NAME: service},
        "checks": checks,
    }
    return pebble.Layer(layer)


def plan_covers(current: Mapping[str, object], desired: Mapping[str, object]) -> bool:
    """Tell whether `current` (from the plan) has every value `desired` sets.

    Pebble fills in defaults (a check timeout, for instance) and may or may not echo
    `override`, so only the keys the charm sets are compared, and `override` is not.
    """
    return all(current.get(key) == value for key, value in desired.items() if key != "override")


# --------------------------------------------------------------------------- errors


class WorkloadError(Exception):
    """The container is not as the charm needs it; the message says what failed.

    `blocked`: only the operator can fix it (else the charm retries on the next hook).
    """

    blocked = False


class ConfigXmlError(WorkloadError):
    """config.xml is empty, malformed or not a Prowlarr config.

    The message says what is wrong with the file (never its content) and reads well after a
    "config.xml: " prefix.
    """

    blocked = True


class IncompleteConfigXmlError(ConfigXmlError):
    """config.xml is empty or ends before its XML does: corrupt, or caught while being saved.

    Blocked when Prowlarr is not running (it would not start with it); `Workload.ensure` raises
    it with `being_written=True`, which is not blocked, when Prowlarr runs: Prowlarr saves the
    file by truncating it first, and the next hook finds it whole.
    """

    def __init__(self, message: str, *, being_written: bool = False) -> None:
        super().__init__(message)
        self.blocked = not being_written


class OwnershipError(WorkloadError):
    """Fixing the ownership of /config failed."""

    blocked = True


class FileAccessError(WorkloadError):
    """/config or config.xml cannot be read or written."""

    blocked = True


class PebbleError(WorkloadError):
    """A Pebble call failed: Pebble is gone, or a change (start, restart) failed."""


class PebbleUnreachableError(PebbleError):
    """Pebble in the container does not answer (yet): the container is (re)starting."""

    def __init__(self, action: str, detail: str) -> None:
        super().__init__(
            f"waiting for Pebble in the {CONTAINER_NAME} container ({action} failed: {detail})"
        )


@contextmanager
def _pebble(action: str) -> Generator[None, None, None]:
    """Turn the errors a Pebble call raises into a PebbleError naming `action`."""
    try:
        yield
    except pebble.ConnectionError as e:
        raise PebbleUnreachableError(action, _short(str(e))) from None
    except pebble.ChangeError as e:
        raise PebbleError(f"{action} failed: {_short(e.err)}") from None
    except (pebble.APIError, pebble.TimeoutError) as e:
        raise PebbleError(f"{action} failed: {_short(str(e))}") from None


def _short(text: str) -> str:
    first = next((line.strip() for line in text.splitlines() if line.strip()), "no detail")
    return first[:_MAX_DETAIL]


# --------------------------------------------------------------------------- config.xml


@dataclass(frozen=True)
class ProwlarrConfig:
    """What the charm needs from config.xml."""

    api_key: str = field(repr=False)
    url_base: str = ""  # as stored, normalised: "" or "/base"


def _parse_root(text: str | bytes) -> ET.Element:
    """Parse config.xml into its <Config> element, keeping comments; raise ConfigXmlError."""
    data = text.lstrip("\ufeff").encode() if isinstance(text, str) else text
    if not data.strip():
        raise IncompleteConfigXmlError("the file is empty")
    # Prowlarr's .NET reader refuses DTDs; refusing them here also rules out entity tricks.
    if b"<!DOCTYPE" in data:
        raise ConfigXmlError("it has a DOCTYPE, which Prowlarr refuses")
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))  # noqa: S314 - see above
    root: ET.Element | None = None
    position = (0, 0)
    try:
        parser.feed(data)
        root = parser.close()
    except ET.ParseError as e:
        # Only the position leaves the handler: raising from inside it would keep the ParseError
        # alive as __context__, which can crash CPython 3.12.1 (PITFALLS §13).
        position = e.position
    if root is None:
        line, column = position
        raise IncompleteConfigXmlError(f"not well-formed XML (line {line}, column {column})")
    if root.tag != "Config":
        raise ConfigXmlError(f"the root element is <{str(root.tag)[:40]}>, not <Config>")
    return root


def _single_text(root: ET.Element, name: str) -> str | None:
    """Return the trimmed text of `name` if it occurs exactly once (Prowlarr's rule), else None."""
    found = list(root.iter(name))
    if len(found) != 1:
        return None
    return (found[0].text or "").strip()


def parse_config_xml(text: str | bytes) -> ProwlarrConfig | None:
    """Read the API key and the stored URL base from config.xml.

    Returns None when there is no usable ApiKey (missing, blank or duplicated: Prowlarr would
    generate one). Raises ConfigXmlError when the file is corrupt or not a Prowlarr config.
    """
    root = _parse_root(text)
    api_key = _single_text(root, "ApiKey")
    if not api_key:
        return None
    return ProwlarrConfig(
        api_key=api_key, url_base=normalize_url_base(_single_text(root, "UrlBase"))
    )


def _set_single(root: ET.Element, name: str, value: str) -> None:
    """Leave exactly one `name` element holding `value` (duplicates count as missing)."""
    found = list(root.iter(name))
    if len(found) == 1:
        found[0].text = value
        return
    parents = {child: parent for parent in root.iter() for child in parent}
    for element in found:
        parents[element].remove(element)
    ET.SubElement(root, name).text = value


def render_config_xml(existing: str | bytes | None, api_key: str, url_base: str = "") -> str:
    """Return config.xml with `api_key` and `url_base` set, keeping every other element.

    Port 9696 and BindAddress * are added only when absent. Duplicate elements (which Prowlarr
    treats as missing) collapse into one. Raises ConfigXmlError for a corrupt file.
    """
    root = ET.Element("Config") if existing is None else _parse_root(existing)
    _set_single(root, "ApiKey", api_key)
    _set_single(root, "UrlBase", url_base.strip("/"))
    for name, default in (("Port", str(PORT)), ("BindAddress", "*")):
        if next(root.iter(name), None) is None:
            ET.SubElement(root, name).text = default
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


# --------------------------------------------------------------------------- PostgreSQL

# config.xml elements Prowlarr reads its PostgreSQL settings from (ConfigFileProvider, read at
# start, never written back); LogDbEnabled off, as nothing creates the log database.
POSTGRES_ELEMENTS = (
    "PostgresHost",
    "PostgresPort",
    "PostgresUser",
    "PostgresPassword",
    "PostgresMainDb",
)
LOG_DB_ELEMENT = "LogDbEnabled"


@dataclass(frozen=True)
class PostgresSettings:
    """Where Prowlarr's main database is: config.xml holds it, the layer never does."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    main_db: str

    def elements(self) -> dict[str, str]:
        """The config.xml elements that hold these settings (the log database off)."""
        return {
            "PostgresHost": self.host,
            "PostgresPort": str(self.port),
            "PostgresUser": self.user,
            "PostgresPassword": self.password,
            "PostgresMainDb": self.main_db,
            LOG_DB_ELEMENT: "False",
        }


def parse_postgres(text: str | bytes) -> PostgresSettings | None:
    """The PostgreSQL settings config.xml holds; None when Prowlarr would use SQLite.

    Prowlarr uses PostgreSQL when PostgresHost is set. Raises ConfigXmlError for a corrupt file.
    """
    root = _parse_root(text)
    host = _single_text(root, "PostgresHost")
    if not host:
        return None
    port = _single_text(root, "PostgresPort") or "5432"
    return PostgresSettings(
        host=host,
        port=int(port) if port.isdigit() else 0,
        user=_single_text(root, "PostgresUser") or "",
        password=_single_text(root, "PostgresPassword") or "",
        main_db=_single_text(root, "PostgresMainDb") or "",
    )


def render_postgres(existing: str | bytes, settings: PostgresSettings | None) -> str:
    """Return config.xml with `settings` (or, for None, without any PostgreSQL setting).

    Every other element is kept. Raises ConfigXmlError for a corrupt file.
    """
    root = _parse_root(existing)
    if settings is None:
        parents = {child: parent for parent in root.iter() for child in parent}
        for name in (*POSTGRES_ELEMENTS, "PostgresLogDb", LOG_DB_ELEMENT):
            for element in list(root.iter(name)):
                parents[element].remove(element)
    else:
        for name, value in settings.elements().items():
            _set_single(root, name, value)
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


# --------------------------------------------------------------------------- Pebble workload


@dataclass(frozen=True)
class Ensured:
    """What `Workload.ensure` found and did."""

    config: ProwlarrConfig
    started: bool = False  # Prowlarr was (re)started by this call
    seeded: bool = False  # a fresh key was written into config.xml


class Workload:
    """The Prowlarr container, driven through Pebble.

    Every Pebble failure comes out as a WorkloadError that says what failed.
    """

    def __init__(self, container: ops.Container) -> None:
        self.container = container

    def can_connect(self) -> bool:
        """Tell whether Pebble in the container answers."""
        return self.container.can_connect()

    def _pull_config(self) -> bytes | None:
        try:
            with (
                _pebble(f"reading {CONFIG_XML}"),
                self.container.pull(CONFIG_XML, encoding=None) as f,
            ):
                return f.read()
        except pebble.PathError as e:
            if e.kind == "not-found":
                return None
            raise FileAccessError(f"cannot read {CONFIG_XML}: {_short(e.message)}") from None
        except IsADirectoryError:
            raise FileAccessError(f"{CONFIG_XML} is a directory, not a file") from None

    def read_config(self) -> ProwlarrConfig | None:
        """Read config.xml; None when it or its ApiKey is missing. Raises WorkloadError."""
        existing = self._pull_config()
        return None if existing is None else parse_config_xml(existing)

    def ensure(
        self, spec: WorkloadSpec, *, before_first_start: Callable[[], None] | None = None
    ) -> Ensured:
        """Make config.xml, the layer and the service what `spec` says; start what is stopped.

        A steady state costs three reads (config.xml, the plan, the service) and no write.
        config.xml is written (owned by abc, mode 0600) only when its key is missing or its
        URL base differs; a corrupt file raises ConfigXmlError and is never overwritten (an
        empty or half-written one while Prowlarr runs: IncompleteConfigXmlError, not blocked).
        `before_first_start` runs when the plan has no Prowlarr service yet (a new container,
        as after a refresh), before anything is written or started; a WorkloadError from it
        means nothing starts.
        """
        existing, before = self._read_whole_config()
        config, text = before, None
        if before is None or before.url_base != spec.url_base:
            key = before.api_key if before else generate_api_key()
            text = render_config_xml(existing, key, spec.url_base)
            config = parse_config_xml(text)
        assert config is not None  # noqa: S101 - render_config_xml always sets the key
        layer_ok = self._plan_matches(spec)
        running = layer_ok and self.is_running()
        if text is None and running:
            return Ensured(config)
        self.ensure_ownership()
        if before_first_start is not None and not running and not self.is_planned():
            before_first_start()
        if text is not None:
            self._push_config(text)
        if not running:
            self._start(spec, layer_ok=layer_ok)
        return Ensured(config, started=not running, seeded=before is None)

    def _read_whole_config(self) -> tuple[bytes | None, ProwlarrConfig | None]:
        """config.xml's bytes and what they say, waiting briefly for a save in progress.

        An empty or half-written file is read again (`CONFIG_READ_ATTEMPTS`) while Prowlarr
        runs, since Prowlarr then is the likely writer; if it stays so, the error is not blocked.
        """
        attempt = 0
        while True:
            attempt += 1
            existing = self._pull_config()
            try:
                return existing, None if existing is None else parse_config_xml(existing)
            except IncompleteConfigXmlError as e:
                if not self.is_running():
                    raise
                if attempt >= CONFIG_READ_ATTEMPTS:
                    raise IncompleteConfigXmlError(
                        f"{e}, while Prowlarr runs: waiting for Prowlarr to finish saving it",
                        being_written=True,
                    ) from None
            time.sleep(CONFIG_READ_DELAY)

    def read_postgres(self) -> PostgresSettings | None:
        """The PostgreSQL settings in config.xml (None: SQLite). Raises WorkloadError."""
        existing = self._pull_config()
        return None if existing is None else parse_postgres(existing)

    def set_postgres(self, settings: PostgresSettings | None) -> bool:
        """Make config.xml hold `settings` (None: none); return whether the file was written.

        The file is written (owned by abc, mode 0600) only when it differs. Raises WorkloadError.
        """
        existing = self._pull_config()
        if existing is None and settings is None:
            return False
        current = None if existing is None else parse_postgres(existing)
        if existing is not None and current == settings and self._log_db_matches(existing):
            return False
        self.ensure_ownership()
        self._push_config(render_postgres(existing or "<Config/>", settings))
        return True

    @staticmethod
    def _log_db_matches(existing: bytes) -> bool:
        """Whether LogDbEnabled is as the PostgreSQL settings need it (False) or absent."""
        value = _single_text(_parse_root(existing), LOG_DB_ELEMENT)
        settings = parse_postgres(existing)
        return (value or "").lower() == "false" if settings is not None else value is None

    def ensure_standby(self, spec: WorkloadSpec, api_key: str) -> bool:
        """Keep this unit ready to take over; return whether anything changed.

        config.xml holds `api_key`, the standby layer is planned, Prowlarr is stopped. The
        PostgreSQL settings are `set_postgres`'s, put in place first. Raises WorkloadError.
        """
        existing = self._pull_config()
        before = None if existing is None else parse_config_xml(existing)
        changed = False
        if before is None or before.api_key != api_key or before.url_base != spec.url_base:
            self.ensure_ownership()
            self._push_config(render_config_xml(existing, api_key, spec.url_base))
            changed = True
        if not self._standby_planned(spec):
            with _pebble("planning Prowlarr on this standby unit"):
                self.container.add_layer(SERVICE_NAME, standby_layer(spec), combine=True)
            changed = True
        if self.is_running():
            logger.info("stopping Prowlarr: this unit is a standby")
            self.stop()
            changed = True
        return changed

    def _standby_planned(self, spec: WorkloadSpec) -> bool:
        with _pebble("reading the Pebble plan"):
            plan = self.container.get_plan()
        layer = standby_layer(spec)
        service = plan.services.get(SERVICE_NAME)
        wanted = layer.services[SERVICE_NAME].to_dict()
        same = service is not None and plan_covers(service.to_dict(), wanted)
        for name, check in layer.checks.items():
            current = plan.checks.get(name)
            same = same and current is not None and plan_covers(current.to_dict(), check.to_dict())
        return same

    def write_api_key(self, api_key: str, spec: WorkloadSpec) -> None:
        """Put a new key into config.xml (for a restart to load); raises WorkloadError."""
        self._push_config(render_config_xml(self._pull_config(), api_key, spec.url_base))

    def _start(self, spec: WorkloadSpec, *, layer_ok: bool) -> None:
        """Add the layer and replan; a service already planned but stopped is just started."""
        with _pebble("starting Prowlarr"):
            if layer_ok:
                logger.info("the Prowlarr service was not running: starting it")
                self.container.start(SERVICE_NAME)
            else:
                self.container.add_layer(SERVICE_NAME, pebble_layer(spec), combine=True)
                self.container.replan()

    def _plan_matches(self, spec: WorkloadSpec) -> bool:
        with _pebble("reading the Pebble plan"):
            plan = self.container.get_plan()
        service = plan.services.get(SERVICE_NAME)
        same = service is not None and plan_covers(service.to_dict(), _service(spec))
        for name, check in _checks(spec).items():
            current = plan.checks.get(name)
            same = same and current is not None and plan_covers(current.to_dict(), check)
        return same

    def _push_config(self, text: str) -> None:
        self.write_private_file(CONFIG_XML, text)

    def ensure_ownership(self) -> bool:
        """Give /config to abc (911:911) when it is owned by someone else; return whether it did.

        Costs one stat and no exec when it already is. Raises OwnershipError when chown
        fails, FileAccessError when /config does not exist.
        """
        try:
            with _pebble(f"looking at {CONFIG_DIR}"):
                info = self.container.list_files(CONFIG_DIR, itself=True)[0]
        except pebble.PathError as e:
            if e.kind == "not-found":
                raise FileAccessError(
                    f"{CONFIG_DIR} does not exist: the config storage is not mounted"
                ) from None
            raise FileAccessError(f"cannot read {CONFIG_DIR}: {_short(e.message)}") from None
        if info.user_id == UID and info.group_id == GID:
            return False
        command = ["chown", "-R", f"{UID}:{GID}", CONFIG_DIR]
        logger.info(
            "%s is owned by %s:%s; running %s",
            CONFIG_DIR,
            info.user_id,
            info.group_id,
            " ".join(command),
        )
        try:
            self.container.exec(command, timeout=CHOWN_TIMEOUT).wait_output()
        except pebble.ExecError as e:  # pyright: ignore[reportUnknownVariableType]
            stderr = e.stderr if isinstance(e.stderr, str) else ""
            detail = stderr.strip()[:_MAX_DETAIL]
            raise OwnershipError(
                f"{' '.join(command)} exited with {e.exit_code}: {detail}"
            ) from None
        except (pebble.ChangeError, pebble.APIError, pebble.TimeoutError) as e:
            raise OwnershipError(f"{' '.join(command)} failed: {e}") from None
        return True

    def restart(self) -> None:
        """Restart Prowlarr through Pebble (never through its API, which respawns itself)."""
        with _pebble("restarting Prowlarr"):
            self.container.restart(SERVICE_NAME)

    def is_running(self) -> bool:
        """Tell whether the Prowlarr service exists and is active."""
        with _pebble("reading the Prowlarr service"):
            service = self.container.get_services(SERVICE_NAME).get(SERVICE_NAME)
        return service is not None and service.is_running()

    def stop(self) -> None:
        """Stop Prowlarr if it exists and is running."""
        if self.is_running():
            with _pebble("stopping Prowlarr"):
                self.container.stop(SERVICE_NAME)

    # ------------------------------------------------------------ files under /config

    def is_planned(self) -> bool:
        """Whether the plan has a Prowlarr service: not yet in a new container (a refresh)."""
        with _pebble("reading the Pebble plan"):
            return SERVICE_NAME in self.container.get_plan().services

    def list_dir(self, path: str) -> list[str]:
        """The names in directory `path`; [] when it does not exist. Raises WorkloadError."""
        with _pebble(f"listing {path}"):
            try:
                return [info.name for info in self.container.list_files(path)]
            except pebble.APIError as e:
                if e.code == 404:  # Pebble answers a missing path with 404
                    return []
                raise

    def make_private_dir(self, path: str) -> None:
        """Create directory `path` (and missing parents) owned by abc, mode 0700."""
        try:
            with _pebble(f"creating {path}"):
                self.container.make_dir(
                    path,
                    make_parents=True,
                    permissions=0o700,
                    **_owner(),
                )
        except pebble.PathError as e:
            raise FileAccessError(f"cannot create {path}: {_short(e.message)}") from None

    def copy_file(self, source: str, target: str) -> CopiedFile:
        """Copy `source` to `target` through Pebble (streamed; owned by abc, mode 0600).

        Returns the size and SHA-256 of what was copied. Raises WorkloadError naming the file.
        """
        try:
            with (
                _pebble(f"copying {source} to {target}"),
                self.container.pull(source, encoding=None) as pulled,
            ):
                digest = _Digest(pulled)
                self.container.push(
                    target,
                    io.BufferedReader(digest),
                    permissions=0o600,
                    **_owner(),
                )
        except pebble.PathError as e:
            raise FileAccessError(
                f"cannot copy {source} to {target}: {_short(e.message)}"
            ) from None
        return CopiedFile(target, digest.size, digest.sha256.hexdigest())

    def write_private_file(self, path: str, text: str) -> None:
        """Write `text` to `path` (and missing parents), owned by abc, mode 0600.

        Raises WorkloadError.
        """
        try:
            with _pebble(f"writing {path}"):
                self.container.push(
                    path,
                    text,
                    make_dirs=True,
                    permissions=0o600,
                    **_owner(),
                )
        except pebble.PathError as e:
            raise FileAccessError(f"cannot write {path}: {_short(e.message)}") from None

    def remove_tree(self, path: str) -> None:
        """Remove `path` and everything under it, if there. Raises WorkloadError."""
        try:
            with _pebble(f"removing {path}"):
                self.container.remove_path(path, recursive=True)
        except pebble.PathError as e:
            raise FileAccessError(f"cannot remove {path}: {_short(e.message)}") from None


class _Owner(TypedDict):
    user: str
    user_id: int
    group: str
    group_id: int


def _owner() -> _Owner:
    """Pebble's ownership arguments for a file or directory of Prowlarr's user (abc)."""
    return {"user": USER, "user_id": UID, "group": GROUP, "group_id": GID}


@dataclass(frozen=True)
class CopiedFile:
    """A file `Workload.copy_file` wrote: where, how many bytes, their SHA-256."""

    path: str
    size: int
    sha256: str


class _Digest(io.RawIOBase):
    """Reads a stream through, counting and hashing what passes."""

    def __init__(self, source: BinaryIO) -> None:
        super().__init__()
        self._source = source
        self.size = 0
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        data = self._source.read(len(view))
        view[: len(data)] = data
        self.size += len(data)
        self.sha256.update(data)
        return len(data)
