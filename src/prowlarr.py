"""Prowlarr's HTTP API: a typed client, its pydantic models and its errors.

Nothing here knows about Juju or Pebble. `ProwlarrClient` talks to Prowlarr on localhost (the
charm and the workload share the pod's network). API keys never reach a log record, an exception
message or a repr.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import TypeVar, cast

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

logger = logging.getLogger(__name__)

LOCAL_URL = "http://localhost:9696"
DEFAULT_TIMEOUT = 10.0
TERMINAL_COMMAND_STATUSES = frozenset({"completed", "failed", "aborted", "cancelled", "orphaned"})

_API_KEY_HEADER = "X-Api-Key"
_CONNECT_ATTEMPTS = 2  # one retry, only when the connection could not be opened at all
_CONNECT_RETRY_DELAY = 0.1
_MAX_DETAIL = 200
_VERSION_HEADER = "X-Application-Version"
# After a command changed the key, Prowlarr saves config.xml: the file holds the old key, then
# nothing (the save truncates it), then the new key. The new key is read again meanwhile.
RELOAD_ATTEMPTS = 5
RELOAD_DELAY = 0.1


def header_safe(value: str) -> bool:
    """Whether `value` can be sent in an HTTP header: printable ASCII only, so not a newline."""
    return bool(value) and all(" " <= char <= "~" for char in value)


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

    @property
    def detail(self) -> str:
        """Why it ended as it did: the first line of its exception, else its message, else "".

        A failed command's message is only "Failed"; the exception says what went wrong (the
        client scrubs the keys it knows from it).
        """
        first = next((line.strip() for line in (self.exception or "").splitlines()), "")
        return first[:_MAX_DETAIL] or (self.message or "")


class ApplicationField(_ApiModel):
    """One settings field of an application; label, order, privacy... are kept as extras."""

    name: str
    value: object = Field(default=None, repr=False)  # may be a media manager's API key


_Provider = TypeVar("_Provider", bound="_ProviderModel")


class _ProviderModel(_ApiModel):
    """A provider resource of Prowlarr's (an application, an indexer proxy): settings fields."""

    id: int | None = None
    name: str | None = None
    implementation: str
    config_contract: str
    fields: list[ApplicationField] = Field(default_factory=list[ApplicationField])
    tags: list[int] = Field(default_factory=list[int])

    def field_value(self, name: str) -> object:
        """Return the value of settings field `name`, or None when there is no such field."""
        return next((f.value for f in self.fields if f.name == name), None)

    def with_field(self: _Provider, name: str, value: object) -> _Provider:
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


class Application(_ProviderModel):
    """A Prowlarr application (a media manager Prowlarr pushes indexers to)."""

    sync_level: str = "disabled"


class IndexerProxy(_ProviderModel):
    """A Prowlarr indexer proxy (FlareSolverr, HTTP, SOCKS); used by indexers sharing a tag."""


class ValidationFailure(BaseModel):
    """One entry of a 400 answer; `attemptedValue` is dropped, as it may hold a key."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    property_name: str = ""
    error_message: str = ""
    is_warning: bool = False


class HostConfig(_ApiModel):
    """GET/PUT /api/v1/config/host: the whole resource, every field kept for the PUT.

    Prowlarr saves every field of a PUT but `apiKey`, and a value from an older GET rolls a newer
    setting back. A field left out binds as null, 0 or false: a number or a flag then fails
    validation or is saved as 0/false, a string kept in the database (applicationUrl,
    backupFolder, the proxy's) keeps its value, and a string kept in config.xml (urlBase,
    instanceName...) makes the PUT fail with 500. So a PUT carries what a GET has just returned,
    with only the charm's fields changed. The repr shows none of the values (the GET holds the
    API key in clear, the password hash and proxy/certificate passwords).
    """

    id: int = 1
    username: str | None = None
    password: str | None = None
    password_confirmation: str | None = None
    application_url: str | None = None
    backup_folder: str | None = None  # relative to Prowlarr's data directory, or absolute
    backup_interval: int | None = None
    backup_retention: int | None = None

    def __repr__(self) -> str:
        return f"HostConfig(id={self.id})"

    __str__ = __repr__

    def to_api(self) -> dict[str, object]:
        """The JSON body of the PUT: what the GET returned, plus the fields set since."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class Backup(_ApiModel):
    """One of Prowlarr's backups (GET /api/v1/system/backup); never its content.

    `id` is derived from a hash of the type and the name (e.g. 1597773633), `path` is the URL
    path Prowlarr serves the zip under, `type` is scheduled, manual or update (others kept).
    """

    id: int
    name: str
    path: str = ""
    type: str = ""
    size: int = 0
    time: datetime


class RestoreAnswer(_ApiModel):
    """POST /api/v1/system/backup/restore/{id}."""

    restart_required: bool = False


class Tag(_ApiModel):
    """A Prowlarr tag (GET/POST /api/v1/tag): labels are lower case, `^[a-z0-9-]+$`."""

    id: int
    label: str


class SelectOption(_ApiModel):
    """One option of a select field: Prowlarr stores its `value` (an index for Cardigann)."""

    value: int
    name: str = ""


class IndexerField(_ApiModel):
    """One field of an indexer; its value may be a tracker credential: never in a repr."""

    name: str
    value: object = Field(default=None, repr=False)
    label: str | None = None
    type: str | None = None
    privacy: str | None = None
    hidden: str | None = None
    help_text: str | None = Field(default=None, repr=False)
    select_options: list[SelectOption] | None = Field(default=None, repr=False)


class Indexer(_ApiModel):
    """An indexer resource (GET/POST/PUT /api/v1/indexer, or a schema template).

    Every body is secret material: Cardigann credentials come back in clear. The repr shows
    the id, the name and the definition only; unknown properties are kept for the PUT.
    """

    id: int | None = None
    name: str | None = None
    definition_name: str | None = None
    implementation: str
    config_contract: str
    enable: bool = True
    priority: int = 25
    app_profile_id: int = 0
    protocol: str | None = None
    privacy: str | None = None
    description: str | None = None
    fields: list[IndexerField] = Field(default_factory=list[IndexerField])
    tags: list[int] = Field(default_factory=list[int])

    def __repr__(self) -> str:
        return f"Indexer(id={self.id}, name={self.name!r}, definition={self.definition_name!r})"

    __str__ = __repr__

    def get_field(self, name: str) -> IndexerField | None:
        """The field called `name`, or None."""
        return next((f for f in self.fields if f.name == name), None)

    def with_fields(self, values: Mapping[str, object]) -> Indexer:
        """A copy with these field values set (appended when missing), the others unchanged."""
        fields = [
            f.model_copy(update={"value": values[f.name]}) if f.name in values else f
            for f in self.fields
        ]
        known = {f.name for f in self.fields}
        fields += [IndexerField(name=n, value=v) for n, v in values.items() if n not in known]
        return self.model_copy(update={"fields": fields})

    def to_api(self) -> dict[str, object]:
        """The JSON body Prowlarr expects (camelCase, nulls left out, extras kept)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class AppProfile(_ApiModel):
    """A sync profile (GET /api/v1/appprofile); "Standard" exists after the first start."""

    id: int
    name: str


_T = TypeVar("_T")
_SYSTEM_STATUS = TypeAdapter(SystemStatus)
_COMMAND = TypeAdapter(Command)
_APPLICATION = TypeAdapter(Application)
_APPLICATIONS = TypeAdapter(list[Application])
_FAILURES = TypeAdapter(list[ValidationFailure])
_INDEXER_PROXY = TypeAdapter(IndexerProxy)
_INDEXER_PROXIES = TypeAdapter(list[IndexerProxy])
_HOST_CONFIG = TypeAdapter(HostConfig)
_BACKUPS = TypeAdapter(list[Backup])
_RESTORE_ANSWER = TypeAdapter(RestoreAnswer)
_TAG = TypeAdapter(Tag)
_TAGS = TypeAdapter(list[Tag])
_INDEXER = TypeAdapter(Indexer)
_INDEXERS = TypeAdapter(list[Indexer])
_APP_PROFILES = TypeAdapter(list[AppProfile])


# --------------------------------------------------------------------------- API errors


class ProwlarrError(Exception):
    """Talking to Prowlarr failed."""


class ProwlarrConnectionError(ProwlarrError):
    """Prowlarr could not be reached (refused, reset, timed out)."""


class ProwlarrReadTimeoutError(ProwlarrError):
    """Prowlarr took the request but did not answer in time (it may still carry it out)."""


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


class ProwlarrLoginUnavailableError(ProwlarrResponseError):
    """POST /login answered 401: Prowlarr cannot use its data-protection keys (/config/asp).

    The login form needs no API key, so a 401 there never means a rejected key: Prowlarr could
    not read or write the keys it signs its session cookie with.
    """


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

    `url_base` is Prowlarr's URL base as it reports it: "" or "/base".

    Use as a context manager, or call `close()`. Every call has a timeout; only a refused
    connection is retried, once, after a short pause, so a hook never hangs on a dead Prowlarr.
    """

    def __init__(
        self,
        api_key: str,
        url_base: str = "",
        *,
        base_url: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self._api_key = api_key
        self._keys = {api_key}  # every key and password it sent, scrubbed from error texts
        self._prefix = url_base.rstrip("/")
        root = (base_url or LOCAL_URL).rstrip("/")
        self.version: str | None = None  # X-Application-Version of the last API answer
        self._client = httpx.Client(
            base_url=root + self._prefix,
            headers={_API_KEY_HEADER: api_key, "Accept": "application/json"},
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            follow_redirects=False,
            trust_env=False,  # localhost: a model's HTTP proxy settings must not apply
            # Plain http on localhost: a context without trust roots spares the ~25 ms of CPU
            # that loading the CA bundle costs, and would refuse any https URL.
            verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
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

    def use_api_key(self, api_key: str) -> None:
        """Send `api_key` from now on (after Prowlarr changed its key)."""
        self._api_key = api_key
        self._keys.add(api_key)
        self._client.headers[_API_KEY_HEADER] = api_key

    # ------------------------------------------------------------------ plumbing

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: object = None,
        form: dict[str, str] | None = None,
        api_key: str | None = None,
    ) -> httpx.Response:
        headers = {_API_KEY_HEADER: api_key} if api_key is not None else None
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._client.request(
                    method, path, params=params, json=body, data=form, headers=headers
                )
            except httpx.TransportError as e:
                if isinstance(e, httpx.ConnectError) and attempt < _CONNECT_ATTEMPTS:
                    time.sleep(_CONNECT_RETRY_DELAY)
                    continue
                reason = self._scrub(str(e)) or "no answer"
                where = f"{method} {self._prefix}{path}"
                if isinstance(e, (httpx.ReadTimeout, httpx.WriteTimeout)):
                    raise ProwlarrReadTimeoutError(
                        f"{where}: no answer within {self._client.timeout.read}s"
                    ) from None
                raise ProwlarrConnectionError(
                    f"{where}: cannot reach Prowlarr ({type(e).__name__}: {reason[:_MAX_DETAIL]})"
                ) from None
            self.version = response.headers.get(_VERSION_HEADER) or self.version
            return response

    def _scrub(self, text: str) -> str:
        for key in self._keys:
            if key:
                text = text.replace(key, "***")
        return text

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
        except (ProwlarrConnectionError, ProwlarrReadTimeoutError) as e:
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
        self._keys.add(key)
        response = self._send("GET", path, api_key=key)
        if response.status_code == 401:
            return False
        self._raise_for_status("GET", path, response)
        return True

    def get_host_config(self) -> HostConfig:
        """GET /api/v1/config/host: the whole resource (it holds secrets: never log it)."""
        return self._get(_HOST_CONFIG, "/api/v1/config/host")

    def update_host_config(self, config: HostConfig) -> None:
        """PUT /api/v1/config/host/{id} (202) with a resource from a fresh GET."""
        self._keys.update(v for v in (config.password, config.password_confirmation) if v)
        self._call("PUT", f"/api/v1/config/host/{config.id}", body=config.to_api())

    def login(self, username: str, password: str) -> bool:
        """POST {base}/login as the UI does; whether Prowlarr accepted the credentials.

        Prowlarr answers 302 either way: to `login?...loginFailed=true` when it refuses them.
        A 401 raises ProwlarrLoginUnavailableError (the form takes no API key: Prowlarr cannot
        use its data-protection keys under /config/asp); a 307 (outside the URL base) or any
        other answer raises ProwlarrResponseError.
        """
        path = "/login"
        self._keys.add(password)  # scrubbed from any error text, like the keys
        response = self._send("POST", path, form={"username": username, "password": password})
        if response.status_code in (302, 303):
            return "loginFailed=true" not in response.headers.get("Location", "")
        if response.status_code == 401:
            raise ProwlarrLoginUnavailableError(
                401,
                "Prowlarr cannot use its data-protection keys under /config/asp (unreadable or "
                "not owned by its user), so no login can work; not an API key problem",
                method="POST",
                path=f"{self._prefix}{path}",
            )
        self._raise_for_status("POST", path, response)
        raise ProwlarrResponseError(
            response.status_code, "expected a redirect", method="POST", path=path
        )

    def run_command(self, name: str, **body: object) -> Command:
        """POST /api/v1/command with `name` and extra properties (e.g. forceSync=True)."""
        path = "/api/v1/command"
        response = self._call("POST", path, body={"name": name, **body})
        return self._parse(_COMMAND, "POST", path, response)

    def get_command(self, command_id: int) -> Command:
        """GET /api/v1/command/{id} (keys scrubbed from its exception text)."""
        command = self._get(_COMMAND, f"/api/v1/command/{command_id}")
        if command.exception:
            command.exception = self._scrub(command.exception)
        return command

    def run_and_wait(
        self,
        name: str,
        *,
        timeout: float,
        interval: float = 0.5,
        reload_key: Callable[[], str | None] | None = None,
        options: Mapping[str, object] | None = None,
    ) -> Command:
        """Run a command (with its `options`, e.g. forceSync) and follow it until it ends.

        See `wait_for_command` for `timeout`, `interval` and `reload_key`.
        """
        command = self.run_command(name, **(options or {}))
        return self.wait_for_command(
            command.id, timeout=timeout, interval=interval, reload_key=reload_key
        )

    def wait_for_command(
        self,
        command_id: int,
        *,
        timeout: float = 60.0,
        interval: float = 0.5,
        reload_key: Callable[[], str | None] | None = None,
    ) -> Command:
        """Poll a command until it is finished; raise ProwlarrTimeoutError after `timeout` s.

        Prowlarr runs a command in the background and checks the key of every request against
        its key of that moment, so a command that changes the key (ResetApiKey) makes its own
        status URL answer 401 to the old key. With `reload_key`, a 401 asks it for the key
        Prowlarr now holds (config.xml's); a different key is used from then on. Prowlarr
        switches keys before it saves the file, so while `reload_key` gives the same key or
        none it is asked again, up to RELOAD_ATTEMPTS times RELOAD_DELAY apart; then the
        ProwlarrAuthError is raised again.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                command = self.get_command(command_id)
            except ProwlarrAuthError:
                current = self._reload(reload_key) if reload_key is not None else None
                if not current or current == self._api_key:
                    raise
                logger.info("Prowlarr's API key changed while command %d ran", command_id)
                self.use_api_key(current)
                if time.monotonic() > deadline:
                    raise ProwlarrTimeoutError(
                        f"command {command_id} not followed within {timeout:g}s"
                    ) from None
                continue
            if command.finished:
                return command
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProwlarrTimeoutError(
                    f"command {command_id} ({command.name}) still {command.status} "
                    f"after {timeout:g}s"
                )
            time.sleep(max(0.0, min(interval, remaining)))

    def _reload(self, reload_key: Callable[[], str | None]) -> str | None:
        """`reload_key()`, asked again briefly while it gives no key or the one in use."""
        current = reload_key()
        for _ in range(RELOAD_ATTEMPTS - 1):
            if current and current != self._api_key:
                break
            time.sleep(RELOAD_DELAY)
            current = reload_key()
        return current

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
        """PUT /api/v1/applications/{id}?forceSave=... (202).

        The whole resource: a settings field left out takes its default, not the stored value.
        Without forceSave, Prowlarr tests the application (its manager calls Prowlarr back).
        """
        if app.id is None:
            raise ValueError("update_application needs an application with an id")
        path = f"/api/v1/applications/{app.id}"
        params = {"forceSave": "true" if force_save else "false"}
        response = self._call("PUT", path, params=params, body=app.to_api())
        return self._parse(_APPLICATION, "PUT", path, response)

    def delete_application(self, app_id: int) -> None:
        """DELETE /api/v1/applications/{id} (200, also for an unknown id)."""
        self._call("DELETE", f"/api/v1/applications/{app_id}")

    def list_indexer_proxies(self) -> list[IndexerProxy]:
        """GET /api/v1/indexerproxy: every proxy, the ones added by hand included."""
        return self._get(_INDEXER_PROXIES, "/api/v1/indexerproxy")

    def create_indexer_proxy(self, proxy: IndexerProxy) -> IndexerProxy:
        """POST /api/v1/indexerproxy?forceSave=true (201); any `id` on `proxy` is left out.

        Prowlarr tests an enabled proxy (one with a tag) even with forceSave: create it untagged,
        then tag it with `update_indexer_proxy`, which does not test.
        """
        path = "/api/v1/indexerproxy"
        body = proxy.to_api()
        body.pop("id", None)
        response = self._call("POST", path, params={"forceSave": "true"}, body=body)
        return self._parse(_INDEXER_PROXY, "POST", path, response)

    def update_indexer_proxy(self, proxy: IndexerProxy) -> IndexerProxy:
        """PUT /api/v1/indexerproxy/{id}?forceSave=true (202): saved without a test."""
        if proxy.id is None:
            raise ValueError("update_indexer_proxy needs a proxy with an id")
        path = f"/api/v1/indexerproxy/{proxy.id}"
        response = self._call("PUT", path, params={"forceSave": "true"}, body=proxy.to_api())
        return self._parse(_INDEXER_PROXY, "PUT", path, response)

    def delete_indexer_proxy(self, proxy_id: int) -> None:
        """DELETE /api/v1/indexerproxy/{id}."""
        self._call("DELETE", f"/api/v1/indexerproxy/{proxy_id}")

    def list_backups(self) -> list[Backup]:
        """GET /api/v1/system/backup: every backup (manual, scheduled, update), newest first."""
        return self._get(_BACKUPS, "/api/v1/system/backup")

    def delete_backup(self, backup_id: int) -> None:
        """DELETE /api/v1/system/backup/{id} (404 for an unknown id)."""
        self._call("DELETE", f"/api/v1/system/backup/{backup_id}")

    def restore_backup(self, backup_id: int) -> bool:
        """POST /api/v1/system/backup/restore/{id}; whether Prowlarr says a restart is needed.

        Prowlarr replaces config.xml at once (it keeps serving the key it has cached) and the
        database at its next start: restart it through Pebble.
        """
        path = f"/api/v1/system/backup/restore/{backup_id}"
        response = self._call("POST", path)
        return self._parse(_RESTORE_ANSWER, "POST", path, response).restart_required

    # ------------------------------------------------------------------ tags

    def list_tags(self) -> list[Tag]:
        """GET /api/v1/tag: every tag."""
        return self._get(_TAGS, "/api/v1/tag")

    def create_tag(self, label: str) -> Tag:
        """POST /api/v1/tag (201): the new tag, or the existing one of exactly that label.

        A label that differs from an existing one only by case is refused (409): use
        lower-case labels.
        """
        path = "/api/v1/tag"
        response = self._call("POST", path, body={"label": label})
        return self._parse(_TAG, "POST", path, response)

    # ------------------------------------------------------------------ indexers

    def list_indexers(self) -> list[Indexer]:
        """GET /api/v1/indexer: every indexer (secret material: Cardigann fields in clear)."""
        return self._get(_INDEXERS, "/api/v1/indexer")

    def indexer_schema(self) -> list[Indexer]:
        """GET /api/v1/indexer/schema: one template per definition (megabytes: never steady)."""
        return self._get(_INDEXERS, "/api/v1/indexer/schema")

    def list_app_profiles(self) -> list[AppProfile]:
        """GET /api/v1/appprofile: the sync profiles."""
        return self._get(_APP_PROFILES, "/api/v1/appprofile")

    def create_indexer(self, indexer: Indexer) -> Indexer:
        """POST /api/v1/indexer?forceSave=true (201); an enabled indexer is tested all the same.

        A tracker that does not answer, or refuses the credentials, fails it with a
        ProwlarrValidationError carrying Prowlarr's message.
        """
        path = "/api/v1/indexer"
        body = indexer.to_api()
        body.pop("id", None)
        response = self._call("POST", path, params={"forceSave": "true"}, body=body)
        return self._parse(_INDEXER, "POST", path, response)

    def update_indexer(self, indexer: Indexer, *, force_save: bool) -> Indexer:
        """PUT /api/v1/indexer/{id} (202): the whole resource; without force_save, tested."""
        if indexer.id is None:
            raise ValueError("update_indexer needs an indexer with an id")
        path = f"/api/v1/indexer/{indexer.id}"
        params = {"forceSave": "true" if force_save else "false"}
        response = self._call("PUT", path, params=params, body=indexer.to_api())
        return self._parse(_INDEXER, "PUT", path, response)

    def delete_indexer(self, indexer_id: int) -> None:
        """DELETE /api/v1/indexer/{id}; an indexer already gone (404) counts as deleted."""
        path = f"/api/v1/indexer/{indexer_id}"
        response = self._send("DELETE", path)
        if response.status_code != 404:
            self._raise_for_status("DELETE", path, response)

    def test_indexer(self, indexer: Indexer) -> None:
        """POST /api/v1/indexer/test: Prowlarr's live test; ProwlarrValidationError on failure."""
        self._call("POST", "/api/v1/indexer/test", body=indexer.to_api())
