"""Prowlarr as a workload: the Pebble layer, config.xml, and a typed HTTP client.

Nothing here knows about Juju. `Workload` drives the `prowlarr` container through Pebble;
`ProwlarrClient` talks to Prowlarr's HTTP API on localhost (the charm and the workload share the
pod's network). API keys never reach a log record, an exception message, a repr or the layer.
"""

from __future__ import annotations

import logging
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import TracebackType
from typing import TypeVar, cast

import httpx
import ops
from ops import pebble
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

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
LOCAL_URL = "http://localhost:9696"
DEFAULT_TIMEOUT = 10.0

COMMAND = "/app/prowlarr/bin/Prowlarr -nobrowser -data=/config"
WORKING_DIR = "/app/prowlarr/bin"
CHOWN_TIMEOUT = 120.0
TERMINAL_COMMAND_STATUSES = frozenset({"completed", "failed", "aborted", "cancelled", "orphaned"})

_API_KEY_HEADER = "X-Api-Key"
_CONNECT_ATTEMPTS = 2  # one retry, only when the connection could not be opened at all
_CONNECT_RETRY_DELAY = 0.1
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


# --------------------------------------------------------------------------- Pebble layer


def _service(log_level: LogLevel) -> pebble.ServiceDict:
    return {
        "override": "replace",
        "summary": "Prowlarr",
        "command": COMMAND,
        "startup": "enabled",
        "user": USER,
        "group": GROUP,
        "working-dir": WORKING_DIR,
        "environment": {
            "HOME": CONFIG_DIR,
            "TMPDIR": "/tmp",  # noqa: S108 - the image's TMPDIR is made by the bypassed init
            "XDG_CONFIG_HOME": f"{CONFIG_DIR}/xdg",
            "COMPlus_EnableDiagnostics": "0",
            "PROWLARR__LOG__LEVEL": LogLevel(log_level).value,
        },
        "on-check-failure": {"alive": "restart"},
    }


def _checks(url_base: str) -> dict[str, pebble.CheckDict]:
    http: pebble.HttpDict = {"url": f"http://localhost:{PORT}{normalize_url_base(url_base)}/ping"}
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


def _layer_dict(log_level: LogLevel, url_base: str) -> pebble.LayerDict:
    return {
        "summary": "Prowlarr",
        "description": "Prowlarr indexer manager, run as abc like the linuxserver image does",
        "services": {SERVICE_NAME: _service(log_level)},
        "checks": _checks(url_base),
    }


def pebble_layer(log_level: LogLevel, url_base: str) -> pebble.Layer:
    """Return the Pebble layer that runs Prowlarr, with ready and alive checks on /ping.

    The layer never holds the API key: Prowlarr reads it from config.xml.
    """
    return pebble.Layer(_layer_dict(log_level, url_base))


def _covers(current: Mapping[str, object], desired: Mapping[str, object]) -> bool:
    """Tell whether `current` (from the plan) has every value `desired` sets.

    Pebble fills in defaults (a check timeout, for instance) and may or may not echo
    `override`, so only the keys the charm sets are compared, and `override` is not.
    """
    return all(current.get(key) == value for key, value in desired.items() if key != "override")


# --------------------------------------------------------------------------- config.xml


class WorkloadError(Exception):
    """The workload container is in a state the charm cannot fix by itself."""


class ConfigXmlError(WorkloadError):
    """config.xml is empty, malformed or not a Prowlarr config.

    The message says what is wrong with the file (never its content) and reads well after a
    "config.xml: " prefix.
    """


class OwnershipError(WorkloadError):
    """Fixing the ownership of /config failed."""


@dataclass(frozen=True)
class ProwlarrConfig:
    """What the charm needs from config.xml."""

    api_key: str = field(repr=False)
    url_base: str = ""
    port: int = PORT


def _parse_root(text: str | bytes) -> ET.Element:
    """Parse config.xml into its <Config> element, keeping comments; raise ConfigXmlError."""
    data = text.lstrip("\ufeff").encode() if isinstance(text, str) else text
    if not data.strip():
        raise ConfigXmlError("the file is empty")
    # Prowlarr's .NET reader refuses DTDs; refusing them here also rules out entity tricks.
    if b"<!DOCTYPE" in data:
        raise ConfigXmlError("it has a DOCTYPE, which Prowlarr refuses")
    parser = ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))  # noqa: S314 - see above
    try:
        parser.feed(data)
        root = parser.close()
    except ET.ParseError as e:
        line, column = e.position
        raise ConfigXmlError(f"not well-formed XML (line {line}, column {column})") from None
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
    """Read the API key, URL base and port from config.xml.

    Returns None when there is no usable ApiKey (missing, blank or duplicated: Prowlarr would
    generate one). Raises ConfigXmlError when the file is corrupt or not a Prowlarr config.
    """
    root = _parse_root(text)
    api_key = _single_text(root, "ApiKey")
    if not api_key:
        return None
    port_text = _single_text(root, "Port")
    try:
        port = int(port_text) if port_text else PORT
    except ValueError:
        raise ConfigXmlError("Port is not a number") from None
    return ProwlarrConfig(
        api_key=api_key, url_base=normalize_url_base(_single_text(root, "UrlBase")), port=port
    )


def render_config_xml(existing: str | bytes | None, api_key: str) -> str:
    """Return config.xml with `api_key` set, keeping every other element of `existing`.

    Port 9696 and BindAddress * are added only when absent. Duplicate ApiKey elements (which
    Prowlarr treats as missing) collapse into one. Raises ConfigXmlError for a corrupt file.
    """
    root = ET.Element("Config") if existing is None else _parse_root(existing)
    keys = list(root.iter("ApiKey"))
    if len(keys) == 1:
        keys[0].text = api_key
    else:
        parents = {child: parent for parent in root.iter() for child in parent}
        for element in keys:
            parents[element].remove(element)
        ET.SubElement(root, "ApiKey").text = api_key
    for name, default in (("Port", str(PORT)), ("BindAddress", "*")):
        if next(root.iter(name), None) is None:
            ET.SubElement(root, name).text = default
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode") + "\n"


# --------------------------------------------------------------------------- Pebble workload


class Workload:
    """The Prowlarr container, driven through Pebble."""

    def __init__(self, container: ops.Container) -> None:
        self.container = container

    def can_connect(self) -> bool:
        """Tell whether Pebble in the container answers."""
        return self.container.can_connect()

    def _pull_config(self) -> bytes | None:
        try:
            with self.container.pull(CONFIG_XML, encoding=None) as f:
                return f.read()
        except pebble.PathError as e:
            if e.kind == "not-found":
                return None
            raise

    def read_config(self) -> ProwlarrConfig | None:
        """Read config.xml; None when it or its ApiKey is missing. Raises ConfigXmlError."""
        existing = self._pull_config()
        return None if existing is None else parse_config_xml(existing)

    def ensure_config(self) -> tuple[ProwlarrConfig, bool]:
        """Make sure config.xml holds an API key; return the config and whether it was written.

        The file is written (owned by abc, mode 0600) only when it or its key is missing; a corrupt
        file raises ConfigXmlError and is never overwritten.
        """
        existing = self._pull_config()
        if existing is not None:
            config = parse_config_xml(existing)
            if config is not None:
                return config, False
        text = render_config_xml(existing, generate_api_key())
        self.container.push(
            CONFIG_XML,
            text,
            make_dirs=True,
            permissions=0o600,
            user=USER,
            user_id=UID,
            group=GROUP,
            group_id=GID,
        )
        config = parse_config_xml(text)
        assert config is not None  # noqa: S101 - render_config_xml always sets the key
        return config, True

    def ensure_ownership(self) -> bool:
        """Give /config to abc (911:911) when it is owned by someone else; return whether it did.

        Steady state costs one stat and no exec. Raises OwnershipError when chown fails and
        pebble.APIError when /config does not exist.
        """
        info = self.container.list_files(CONFIG_DIR, itself=True)[0]
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

    def ensure_layer(self, log_level: LogLevel, url_base: str) -> bool:
        """Add the layer and replan, only when the plan differs from it; return whether it did."""
        plan = self.container.get_plan()
        service = plan.services.get(SERVICE_NAME)
        same = service is not None and _covers(service.to_dict(), _service(log_level))
        for name, check in _checks(url_base).items():
            current = plan.checks.get(name)
            same = same and current is not None and _covers(current.to_dict(), check)
        if same:
            return False
        self.container.add_layer(SERVICE_NAME, pebble_layer(log_level, url_base), combine=True)
        self.container.replan()
        return True

    def restart(self) -> None:
        """Restart Prowlarr through Pebble (never through its API, which respawns itself)."""
        self.container.restart(SERVICE_NAME)

    def is_running(self) -> bool:
        """Tell whether the Prowlarr service exists and is active."""
        service = self.container.get_services(SERVICE_NAME).get(SERVICE_NAME)
        return service is not None and service.is_running()

    def stop(self) -> None:
        """Stop Prowlarr if it exists and is running."""
        if self.is_running():
            self.container.stop(SERVICE_NAME)


# --------------------------------------------------------------------------- API models


class _ApiModel(BaseModel):
    """camelCase JSON, snake_case Python; unknown fields kept for a lossless round trip."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class SystemStatus(_ApiModel):
    """GET /api/v1/system/status (the fields the charm uses; the rest are kept as extras)."""

    version: str
    url_base: str = ""
    app_name: str = "Prowlarr"
    instance_name: str = "Prowlarr"
    branch: str | None = None
    authentication: str | None = None


class Command(_ApiModel):
    """A Prowlarr command (POST /api/v1/command, GET /api/v1/command/{id})."""

    id: int
    name: str
    status: str
    message: str | None = None
    exception: str | None = None

    @property
    def finished(self) -> bool:
        """Whether the command reached a terminal status."""
        return self.status in TERMINAL_COMMAND_STATUSES

    @property
    def succeeded(self) -> bool:
        """Whether the command completed."""
        return self.status == "completed"


class ApplicationField(_ApiModel):
    """One settings field of an application; label, order, privacy... are kept as extras."""

    name: str
    value: object = Field(default=None, repr=False)  # may be a media manager's API key


class Application(_ApiModel):
    """A Prowlarr application (a media manager Prowlarr pushes indexers to)."""

    id: int | None = None
    name: str | None = None
    implementation: str
    config_contract: str
    sync_level: str = "disabled"
    fields: list[ApplicationField] = Field(default_factory=list[ApplicationField])
    tags: list[int] = Field(default_factory=list[int])

    def field_value(self, name: str) -> object:
        """Return the value of settings field `name`, or None when there is no such field."""
        return next((f.value for f in self.fields if f.name == name), None)

    def with_field(self, name: str, value: object) -> Application:
        """Return a copy with settings field `name` set to `value` (appended when missing)."""
        fields = [
            f.model_copy(update={"value": value}) if f.name == name else f for f in self.fields
        ]
        if not any(f.name == name for f in self.fields):
            fields.append(ApplicationField(name=name, value=value))
        return self.model_copy(update={"fields": fields})

    def to_api(self) -> dict[str, object]:
        """Return the JSON body Prowlarr expects (camelCase, nulls left out, extras kept)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ValidationFailure(BaseModel):
    """One entry of a 400 answer; `attemptedValue` is dropped, as it may hold a key."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    property_name: str = ""
    error_message: str = ""
    is_warning: bool = False


_T = TypeVar("_T")
_SYSTEM_STATUS = TypeAdapter(SystemStatus)
_COMMAND = TypeAdapter(Command)
_APPLICATION = TypeAdapter(Application)
_APPLICATIONS = TypeAdapter(list[Application])
_FAILURES = TypeAdapter(list[ValidationFailure])


# --------------------------------------------------------------------------- API errors


class ProwlarrError(Exception):
    """Talking to Prowlarr failed."""


class ProwlarrConnectionError(ProwlarrError):
    """Prowlarr could not be reached (refused, reset, timed out)."""


class ProwlarrResponseError(ProwlarrError):
    """Prowlarr answered with an unexpected status or body."""

    def __init__(
        self, status_code: int, message: str, *, method: str = "", path: str = ""
    ) -> None:
        self.status_code = status_code
        self.message = message
        self.method = method
        self.path = path
        where = f"{method} {path} " if method else ""
        super().__init__(f"{where}returned {status_code}: {message}")


class ProwlarrAuthError(ProwlarrResponseError):
    """Prowlarr rejected the API key (401)."""


class ProwlarrStartingError(ProwlarrResponseError):
    """Prowlarr is still starting up (503)."""


class ProwlarrValidationError(ProwlarrResponseError):
    """Prowlarr refused a resource (400 with a list of validation failures)."""

    def __init__(
        self,
        status_code: int,
        message: str,
        failures: list[ValidationFailure],
        *,
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(status_code, message, method=method, path=path)
        self.failures = failures


class ProwlarrTimeoutError(ProwlarrError):
    """A Prowlarr command did not finish in time."""


def _json_object(response: httpx.Response) -> dict[str, object]:
    """The response body when it is a JSON object, else an empty dict."""
    try:
        data: object = response.json()
    except ValueError:
        return {}
    return cast("dict[str, object]", data) if isinstance(data, dict) else {}


def _validation_summary(error: ValidationError) -> str:
    """Describe a pydantic error by location and message only (never the input values)."""
    parts = [
        f"{'.'.join(str(p) for p in item['loc']) or 'body'}: {item['msg']}"
        for item in error.errors()[:3]
    ]
    return "unexpected response: " + "; ".join(parts)


# --------------------------------------------------------------------------- API client


class ProwlarrClient:
    """A small typed client for Prowlarr's API at `LOCAL_URL` (or `base_url`) plus the URL base.

    Use as a context manager, or call `close()`. Every call has a timeout; only a refused
    connection is retried, once, after a short pause, so a hook never hangs on a dead Prowlarr.
    """

    def __init__(
        self,
        api_key: str,
        url_base: str = "",
        *,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._api_key = api_key
        self._prefix = normalize_url_base(url_base)
        root = (base_url or LOCAL_URL).rstrip("/")
        self._client = httpx.Client(
            base_url=root + self._prefix,
            headers={_API_KEY_HEADER: api_key, "Accept": "application/json"},
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,  # localhost: a model's HTTP proxy settings must not apply
        )

    def __repr__(self) -> str:
        return f"ProwlarrClient(base_url={str(self._client.base_url)!r})"

    def __enter__(self) -> ProwlarrClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._client.close()

    # ------------------------------------------------------------------ plumbing

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: object = None,
        api_key: str | None = None,
    ) -> httpx.Response:
        headers = {_API_KEY_HEADER: api_key} if api_key is not None else None
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._client.request(
                    method, path, params=params, json=body, headers=headers
                )
            except httpx.TransportError as e:
                if isinstance(e, httpx.ConnectError) and attempt < _CONNECT_ATTEMPTS:
                    time.sleep(_CONNECT_RETRY_DELAY)
                    continue
                reason = self._scrub(str(e)) or "no answer"
                raise ProwlarrConnectionError(
                    f"{method} {self._prefix}{path}: cannot reach Prowlarr "
                    f"({type(e).__name__}: {reason[:_MAX_DETAIL]})"
                ) from None

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _error_detail(self, response: httpx.Response) -> str:
        """A short reason from an error body: its message, never the raw body."""
        data = _json_object(response)
        for key in ("message", "errorMessage", "title"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return self._scrub(value)[:_MAX_DETAIL]
        return response.reason_phrase

    def _raise_for_status(self, method: str, path: str, response: httpx.Response) -> None:
        status = response.status_code
        if response.is_success:
            return
        where = {"method": method, "path": f"{self._prefix}{path}"}
        if status == 401:
            raise ProwlarrAuthError(status, "the API key was rejected", **where)
        if status == 503:
            raise ProwlarrStartingError(status, "Prowlarr is starting up", **where)
        if status == 400:
            try:
                failures = _FAILURES.validate_json(response.content)
            except ValidationError:
                pass
            else:
                message = "; ".join(f.error_message for f in failures) or "validation failed"
                raise ProwlarrValidationError(status, self._scrub(message), failures, **where)
        if 300 <= status < 400:
            location = response.headers.get("Location", "")
            raise ProwlarrResponseError(
                status, f"redirected to {location[:_MAX_DETAIL]} (wrong URL base?)", **where
            )
        raise ProwlarrResponseError(status, self._error_detail(response), **where)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: object = None,
    ) -> httpx.Response:
        response = self._send(method, path, params=params, body=body)
        self._raise_for_status(method, path, response)
        return response

    def _parse(
        self, adapter: TypeAdapter[_T], method: str, path: str, response: httpx.Response
    ) -> _T:
        try:
            return adapter.validate_json(response.content)
        except ValidationError as e:
            raise ProwlarrResponseError(
                response.status_code,
                _validation_summary(e),
                method=method,
                path=f"{self._prefix}{path}",
            ) from None

    def _get(self, adapter: TypeAdapter[_T], path: str) -> _T:
        return self._parse(adapter, "GET", path, self._call("GET", path))

    # ------------------------------------------------------------------ API

    def ping(self) -> bool:
        """Tell whether Prowlarr is up: GET /ping answers 200 {"status": "OK"}. Never raises."""
        try:
            response = self._send("GET", "/ping")
        except ProwlarrConnectionError as e:
            logger.debug("Prowlarr ping: %s", e)
            return False
        if response.status_code != 200:
            logger.debug("Prowlarr ping: HTTP %s", response.status_code)
            return False
        return _json_object(response).get("status") == "OK"

    def wait_until_ready(self, *, timeout: float, interval: float = 1.0) -> bool:
        """Ping until Prowlarr answers or `timeout` seconds pass; return whether it answered."""
        deadline = time.monotonic() + timeout
        while not self.ping():
            if time.monotonic() + interval > deadline:
                return False
            time.sleep(interval)
        return True

    def system_status(self) -> SystemStatus:
        """GET /api/v1/system/status."""
        return self._get(_SYSTEM_STATUS, "/api/v1/system/status")

    def key_accepted(self, key: str) -> bool:
        """Tell whether Prowlarr accepts `key` (200) or rejects it (401); else raise."""
        path = "/api/v1/system/status"
        response = self._send("GET", path, api_key=key)
        if response.status_code == 401:
            return False
        self._raise_for_status("GET", path, response)
        return True

    def run_command(self, name: str, **body: object) -> Command:
        """POST /api/v1/command with `name` and extra properties (e.g. forceSync=True)."""
        path = "/api/v1/command"
        response = self._call("POST", path, body={"name": name, **body})
        return self._parse(_COMMAND, "POST", path, response)

    def get_command(self, command_id: int) -> Command:
        """GET /api/v1/command/{id}."""
        return self._get(_COMMAND, f"/api/v1/command/{command_id}")

    def wait_for_command(
        self, command_id: int, *, timeout: float = 60.0, interval: float = 0.5
    ) -> Command:
        """Poll a command until it is finished; raise ProwlarrTimeoutError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            command = self.get_command(command_id)
            if command.finished:
                return command
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProwlarrTimeoutError(
                    f"command {command_id} ({command.name}) still {command.status} "
                    f"after {timeout:g}s"
                )
            time.sleep(max(0.0, min(interval, remaining)))

    def list_applications(self) -> list[Application]:
        """GET /api/v1/applications (sorted by name; secret fields masked as "********")."""
        return self._get(_APPLICATIONS, "/api/v1/applications")

    def application_schema(self) -> list[Application]:
        """GET /api/v1/applications/schema: one template per implementation."""
        return self._get(_APPLICATIONS, "/api/v1/applications/schema")

    def create_application(self, app: Application) -> Application:
        """POST /api/v1/applications?forceSave=true (201); any `id` on `app` is left out."""
        path = "/api/v1/applications"
        body = app.to_api()
        body.pop("id", None)
        response = self._call("POST", path, params={"forceSave": "true"}, body=body)
        return self._parse(_APPLICATION, "POST", path, response)

    def update_application(self, app: Application, *, force_save: bool = True) -> Application:
        """PUT /api/v1/applications/{id}?forceSave=... (202); omitted fields reset to defaults."""
        if app.id is None:
            raise ValueError("update_application needs an application with an id")
        path = f"/api/v1/applications/{app.id}"
        params = {"forceSave": "true" if force_save else "false"}
        response = self._call("PUT", path, params=params, body=app.to_api())
        return self._parse(_APPLICATION, "PUT", path, response)

    def delete_application(self, app_id: int) -> None:
        """DELETE /api/v1/applications/{id} (200, also for an unknown id)."""
        self._call("DELETE", f"/api/v1/applications/{app_id}")
