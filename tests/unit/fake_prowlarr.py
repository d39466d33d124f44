"""A fake Prowlarr: a real HTTP server on 127.0.0.1 that follows Prowlarr's API contract.

It models what the charm relies on (Prowlarr's contract: `prowlarr/CONTRACT.md` in the shared
reference material, `../shared/` beside a checkout): config.xml read once at start and rewritten
the Prowlarr way, API-key authentication, the start-up 503 window, the URL base redirect, the
applications API (masking, defaults, validators, connection test) and the command
queue. Commands run in the background like Prowlarr's executor: `command_delay` seconds after
the POST a command is started, `command_duration` seconds later it has run and completed (or
failed), whether or not anyone polls it; every request is authenticated against the key of the
moment it arrives, so once ResetApiKey has run the old key gets 401 everywhere, its own status
URL included.

Its "database" (applications, the UI user, the host settings kept in the database) lives in
memory and is written to `prowlarr.db` (JSON, not SQLite) at every start and after every change,
with `-wal`/`-shm` files while it runs (left behind by `kill()`, removed by a clean `stop()`). The
`Backup` command zips config.xml (key included) and that database under `Backups/manual`; a
restore replaces config.xml at once and the database at the next start, as Prowlarr does.

The fake never logs, and no repr shows a key.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import http.client
import json
import os
import re
import socket
import threading
import time
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from tests.unit import fake_indexers, fake_proxies
from tests.unit.fake_indexers import IndexerStore, StoredIndexer, StoreError
from tests.unit.fake_proxies import ProxyStore

MASK = "********"
SESSION_COOKIE = "ProwlarrAuth"
STARTING_MESSAGE = "Prowlarr is starting up, please try again later"
SYNC_LEVELS = ("disabled", "addOnly", "fullSync")
TERMINAL_STATUSES = frozenset({"completed", "failed", "aborted", "cancelled", "orphaned"})

JsonDict = dict[str, object]


class FakeStartError(Exception):
    """The fake Prowlarr could not start (empty, corrupt or wrong-root config.xml)."""


# --------------------------------------------------------------------------------------------
# Public records


@dataclass(frozen=True)
class RecordedRequest:
    """One request the running fake received (key-bearing parts are left out of the repr).

    `path` is relative to the URL base (the raw path when the request missed the base);
    `query` keeps the first value of each name; `headers` names are lower-case; `json` is the
    parsed body or None; `status` is what the fake answered.
    """

    method: str
    path: str
    query: dict[str, str] = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    json: object | None = field(repr=False)
    status: int = 0


@dataclass
class StoredApplication:
    """An application as Prowlarr stores it: field values unmasked, in template order."""

    id: int
    name: str
    implementation: str
    config_contract: str
    sync_level: str
    tags: list[int]
    fields: dict[str, object] = field(repr=False)
    indexers: list[int] = field(default_factory=list[int])
    """The Prowlarr indexers synced to the media manager (its copies), by id."""

    @property
    def enable(self) -> bool:
        """Whether Prowlarr syncs this application (`syncLevel != disabled`)."""
        return self.sync_level != "disabled"

    def wants(self, indexer: StoredIndexer) -> bool:
        """Whether Prowlarr syncs `indexer` here: enabled, and no tags or a shared tag."""
        return indexer.enable and (not self.tags or not set(self.tags).isdisjoint(indexer.tags))


@dataclass
class FakeCommand:
    """A command in the fake's queue."""

    id: int
    name: str
    options: dict[str, bool]
    queued: datetime
    client_user_agent: str | None = None
    status: str = "queued"
    started: datetime | None = None
    ended: datetime | None = None
    message: str | None = None
    exception: str | None = None


@dataclass(frozen=True)
class SlowRule:
    """A slow answer: matching requests are handled only after `seconds`.

    A request matches by `method`, a path containing `path` and, when given, a body containing
    `body_contains`; the work itself then happens, whether or not the client still waits.
    """

    method: str
    path: str
    seconds: float
    body_contains: str = ""


@dataclass(frozen=True)
class Route:
    """One route the fake serves, named by its OpenAPI path template."""

    method: str
    template: str
    optional_id: bool = False

    def pattern(self) -> re.Pattern[str]:
        """The regex matching a request path (relative to the URL base) for this route."""
        regex = ""
        for segment in self.template.strip("/").split("/"):
            if segment == "{id}":
                regex += r"(?:/(?P<id>-?\d+))?" if self.optional_id else r"/(?P<id>-?\d+)"
            else:
                regex += "/" + re.escape(segment)
        return re.compile(regex, re.IGNORECASE)


ROUTES: tuple[Route, ...] = (
    Route("GET", "/ping"),
    Route("HEAD", "/ping"),
    Route("GET", "/api/v1/system/status"),
    Route("GET", "/api/v1/applications"),
    Route("POST", "/api/v1/applications"),
    Route("GET", "/api/v1/applications/schema"),
    Route("POST", "/api/v1/applications/test"),
    Route("POST", "/api/v1/applications/testall"),
    Route("GET", "/api/v1/applications/{id}"),
    Route("PUT", "/api/v1/applications/{id}", optional_id=True),
    Route("DELETE", "/api/v1/applications/{id}"),
    Route("GET", "/api/v1/command"),
    Route("POST", "/api/v1/command"),
    Route("GET", "/api/v1/command/{id}"),
    Route("DELETE", "/api/v1/command/{id}"),
    Route("GET", "/initialize.json"),
    Route("POST", "/login"),
    Route("GET", "/api/v1/config/host"),
    Route("GET", "/api/v1/config/host/{id}"),
    Route("PUT", "/api/v1/config/host/{id}"),
    Route("GET", "/api/v1/system/backup"),
    Route("DELETE", "/api/v1/system/backup/{id}"),
    Route("POST", "/api/v1/system/backup/restore/{id}"),
    Route("GET", "/{id}/api"),
    *(Route(method, template) for method, template in fake_indexers.ROUTES),
    *(Route(method, template) for method, template in fake_proxies.ROUTES),
)
_PATTERNS: tuple[tuple[Route, re.Pattern[str]], ...] = tuple((r, r.pattern()) for r in ROUTES)


# --------------------------------------------------------------------------------------------
# Database files and backups (CONTRACT §6, §9)

DATABASE = "prowlarr.db"
RESTORE_FILE = "prowlarr.restore"  # AppFolderInfo.GetDatabaseRestore()
_WAL_SUFFIXES = ("-wal", "-shm")
BACKUP_TYPES = ("scheduled", "manual", "update")


def backup_id(kind: str, name: str) -> int:
    """HashConverter.GetHashInt31($"backup-{type}-{name}"): SHA-1, first 4 bytes, 31 bits."""
    enum_name = kind[:1].upper() + kind[1:]  # BackupType.Manual
    digest = hashlib.sha1(f"backup-{enum_name}-{name}".encode()).digest()  # noqa: S324
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


# --------------------------------------------------------------------------------------------
# Application templates (CONTRACT §3)

_CATEGORIES: tuple[tuple[int, str], ...] = (
    (2000, "Movies"),
    (2010, "Movies/Foreign"),
    (2020, "Movies/Other"),
    (2030, "Movies/SD"),
    (2040, "Movies/HD"),
    (2045, "Movies/UHD"),
    (2050, "Movies/BluRay"),
    (2060, "Movies/3D"),
    (2070, "Movies/DVD"),
    (2080, "Movies/WEB-DL"),
    (2090, "Movies/x265"),
    (3000, "Audio"),
    (3010, "Audio/MP3"),
    (3030, "Audio/Audiobook"),
    (3040, "Audio/Lossless"),
    (3050, "Audio/Other"),
    (3060, "Audio/Foreign"),
    (5000, "TV"),
    (5010, "TV/WEB-DL"),
    (5020, "TV/Foreign"),
    (5030, "TV/SD"),
    (5040, "TV/HD"),
    (5045, "TV/UHD"),
    (5050, "TV/Other"),
    (5070, "TV/Anime"),
    (5090, "TV/x265"),
    (6000, "XXX"),
    (6010, "XXX/DVD"),
    (6020, "XXX/WMV"),
    (6030, "XXX/XviD"),
    (6040, "XXX/x264"),
    (6045, "XXX/UHD"),
    (6050, "XXX/Pack"),
    (6070, "XXX/Other"),
    (6080, "XXX/SD"),
    (6090, "XXX/WEB-DL"),
    (7000, "Books"),
    (7010, "Books/Mags"),
    (7020, "Books/EBook"),
    (7030, "Books/Comics"),
    (7040, "Books/Technical"),
    (7050, "Books/Other"),
    (7060, "Books/Foreign"),
)


def _select_options() -> list[JsonDict]:
    options: list[JsonDict] = []
    for value, name in _CATEGORIES:
        option: JsonDict = {"value": value, "name": name, "order": 0, "hint": f"({value})"}
        if value % 1000:
            option["parentValue"] = value - value % 1000
        options.append(option)
    return options


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    label: str
    help_text: str
    kind: str  # textbox | select | checkbox
    default: object
    privacy: str = "normal"
    advanced: bool = False
    placeholder: str | None = None


@dataclass(frozen=True)
class _Implementation:
    name: str
    port: int
    categories: tuple[int, ...]
    categories_required: bool
    anime: bool = False

    @property
    def contract(self) -> str:
        return f"{self.name}Settings"

    @property
    def info_link(self) -> str:
        return f"https://wiki.servarr.com/prowlarr/supported#{self.name.lower()}"

    @property
    def fields(self) -> tuple[_FieldSpec, ...]:
        app = self.name
        specs = [
            _FieldSpec(
                "prowlarrUrl",
                "Prowlarr Server",
                f"The URL {app} uses to reach Prowlarr, with scheme, port and URL base",
                "textbox",
                "http://localhost:9696",
                placeholder="http://localhost:9696",
            ),
            _FieldSpec(
                "baseUrl",
                f"{app} Server",
                f"The URL Prowlarr uses to reach {app}, with scheme, port and URL base",
                "textbox",
                f"http://localhost:{self.port}",
                placeholder=f"http://localhost:{self.port}",
            ),
            _FieldSpec(
                "apiKey",
                "API Key",
                f"The API key shown in {app} under Settings > General",
                "textbox",
                None,
                privacy="apiKey",
            ),
            _FieldSpec(
                "syncCategories",
                "Sync Categories",
                "Only indexers offering one of these categories are synced",
                "select",
                list(self.categories),
                advanced=True,
            ),
        ]
        if self.anime:
            specs += [
                _FieldSpec(
                    "animeSyncCategories",
                    "Anime Sync Categories",
                    "Only indexers offering one of these anime categories are synced",
                    "select",
                    [5070],
                    advanced=True,
                ),
                _FieldSpec(
                    "syncAnimeStandardFormatSearch",
                    "Sync Anime Standard Format Search",
                    "Also search anime by standard season and episode numbers",
                    "checkbox",
                    True,
                    advanced=True,
                ),
            ]
        specs.append(
            _FieldSpec(
                "syncRejectBlocklistedTorrentHashesWhileGrabbing",
                "Sync Reject Blocklisted Torrent Hashes While Grabbing",
                "Reject a torrent blocked by hash when it is grabbed, not only when searched",
                "checkbox",
                False,
                advanced=True,
            )
        )
        return tuple(specs)


IMPLEMENTATIONS: dict[str, _Implementation] = {
    impl.name: impl
    for impl in (
        _Implementation(
            "Radarr",
            7878,
            (2000, 2010, 2020, 2030, 2040, 2045, 2050, 2060, 2070, 2080, 2090),
            True,
        ),
        _Implementation(
            "Sonarr", 8989, (5000, 5010, 5020, 5030, 5040, 5045, 5050, 5090), False, anime=True
        ),
        _Implementation("Lidarr", 8686, (3000, 3010, 3030, 3040, 3050, 3060), False),
        _Implementation("Readarr", 8787, (3030, 7000, 7010, 7020, 7030, 7040, 7050, 7060), True),
        _Implementation(
            "Whisparr", 6969, (6000, 6010, 6020, 6030, 6040, 6045, 6050, 6070, 6080, 6090), True
        ),
    )
}


def _masked(spec: _FieldSpec, value: object) -> object:
    if spec.privacy in ("apiKey", "password") and isinstance(value, str) and value.strip():
        return MASK
    return value


def _field_json(spec: _FieldSpec, order: int, value: object) -> JsonDict:
    out: JsonDict = {"order": order, "name": spec.name, "label": spec.label}
    out["helpText"] = spec.help_text
    if value is not None:
        out["value"] = _masked(spec, value)
    out["type"] = spec.kind
    out["advanced"] = spec.advanced
    if spec.kind == "select":
        out["selectOptions"] = _select_options()
    out["privacy"] = spec.privacy
    if spec.placeholder is not None:
        out["placeholder"] = spec.placeholder
    out["isFloat"] = False
    return out


# --------------------------------------------------------------------------------------------
# config.xml (CONTRACT §1)

# Elements written with their default when missing, in the order Prowlarr reads them.
_PERSISTED: tuple[tuple[str, str | None], ...] = (
    ("BindAddress", "*"),
    ("Port", "9696"),
    ("SslPort", "6969"),
    ("EnableSsl", "False"),
    ("LaunchBrowser", "True"),
    ("ApiKey", None),  # generated
    ("AuthenticationMethod", "None"),
    ("AuthenticationRequired", "Enabled"),
    ("Branch", "master"),
    ("LogLevel", "debug"),
    ("SslCertPath", ""),
    ("SslCertPassword", ""),
    ("UrlBase", ""),
    ("InstanceName", "Prowlarr"),
)
# Every ConfigFileProvider property; any other element is deleted at start.
_KNOWN_ELEMENTS = frozenset(
    {name for name, _ in _PERSISTED}
    | {
        "AnalyticsEnabled",
        "ConsoleLogLevel",
        "ConsoleLogFormat",
        "Theme",
        "LogDbEnabled",
        "LogSql",
        "LogRotate",
        "LogSizeLimit",
        "FilterSentryEvents",
        "SyslogServer",
        "SyslogPort",
        "SyslogLevel",
        "UpdateAutomatically",
        "UpdateMechanism",
        "UpdateScriptPath",
        "PostgresUser",
        "PostgresPassword",
        "PostgresPort",
        "PostgresHost",
        "PostgresMainDb",
        "PostgresLogDb",
        "TrustCgnatIpAddresses",
    }
)


def _new_key() -> str:
    return uuid.uuid4().hex


def _parse_config(text: str) -> ET.Element:
    if not text.strip():
        raise FakeStartError("config.xml is empty; delete it and Prowlarr will recreate it")
    try:
        root = ET.fromstring(text)  # noqa: S314 - a file the test itself wrote
    except ET.ParseError as exc:
        raise FakeStartError(f"config.xml is corrupt: {exc}") from None
    if root.tag != "Config":
        raise FakeStartError("config.xml has no <Config> root element")
    return root


def _single(root: ET.Element, name: str) -> ET.Element | None:
    found = root.findall(name)
    return found[0] if len(found) == 1 else None


def _set_single(root: ET.Element, name: str, value: str) -> None:
    for element in root.findall(name):
        root.remove(element)
    ET.SubElement(root, name).text = value


def _text(root: ET.Element, name: str) -> str | None:
    element = _single(root, name)
    return None if element is None else (element.text or "").strip()


def _serialise(root: ET.Element) -> str:
    # XDocument.ToString(): no declaration, two-space indent, explicit end tags.
    ET.indent(root, space="  ")
    return ET.tostring(root, encoding="unicode", short_empty_elements=False)


@dataclass(frozen=True)
class _BootConfig:
    api_key: str = field(repr=False)
    url_base: str
    instance_name: str
    branch: str
    authentication: str  # none | forms | external (lower-case, as system/status shows it)
    auth_required: str = "enabled"  # enabled | disabledForLocalAddresses
    port: int = 9696


# Environment overrides (AuthOptions/ServerOptions), keyed by config.xml element. Names are
# case-insensitive; the value wins over config.xml and is never written back to it.
_ENV_ELEMENTS = {
    "PROWLARR__AUTH__APIKEY": "ApiKey",
    "PROWLARR__AUTH__METHOD": "AuthenticationMethod",
    "PROWLARR__AUTH__REQUIRED": "AuthenticationRequired",
    "PROWLARR__SERVER__URLBASE": "UrlBase",
    "PROWLARR__SERVER__PORT": "Port",
    "PROWLARR__SERVER__BINDADDRESS": "BindAddress",
}
# Enum.TryParse without ignoreCase: only the exact names bind; anything else falls back.
_ENV_ENUMS = {
    "AuthenticationMethod": ("None", "Forms", "External"),
    "AuthenticationRequired": ("Enabled", "DisabledForLocalAddresses"),
}


def _overrides(env: Mapping[str, str] | None) -> dict[str, str]:
    """config.xml element → value, for each Prowlarr environment variable that binds."""
    found: dict[str, str] = {}
    for name, value in (env or {}).items():
        element = _ENV_ELEMENTS.get(name.upper())
        if element is None:
            continue
        allowed = _ENV_ENUMS.get(element)
        if allowed is not None and value not in allowed:
            continue
        found[element] = value
    return found


def _boot(path: Path, env: Mapping[str, str] | None = None) -> _BootConfig:
    """Read, migrate and rewrite config.xml the way Prowlarr does at start."""
    root = _parse_config(path.read_text()) if path.exists() else ET.Element("Config")
    overrides = _overrides(env)
    # MigrateConfigFile
    if (_text(root, "EnableSsl") or "").lower() == "true" and not _text(root, "SslCertPath"):
        _set_single(root, "EnableSsl", "False")
    if (_text(root, "AuthenticationMethod") or "").lower() == "basic":
        _set_single(root, "AuthenticationMethod", "Forms")
    # EnsureDefaultConfigFile: every persisted getter writes its default when missing, unless
    # the environment answers for it (then the getter never reads the file).
    for name, default in _PERSISTED:
        if name in overrides:
            continue
        value = _text(root, name)
        if name == "ApiKey":
            if not value:
                _set_single(root, name, _new_key())
        elif value is None:
            _set_single(root, name, cast("str", default))
    # DeleteOldValues, then always save.
    for element in list(root):
        if element.tag not in _KNOWN_ELEMENTS:
            root.remove(element)
    path.write_text(_serialise(root))

    def effective(name: str) -> str:
        return overrides[name] if name in overrides else (_text(root, name) or "")

    stored_base = effective("UrlBase").strip().strip("/")
    instance = _text(root, "InstanceName") or ""
    method = (effective("AuthenticationMethod") or "None").lower()
    required = effective("AuthenticationRequired") or "Enabled"
    return _BootConfig(
        api_key=effective("ApiKey").strip(),
        url_base=f"/{stored_base}" if stored_base else "",
        instance_name=instance if "prowlarr" in instance.lower() else "Prowlarr",
        branch=(_text(root, "Branch") or "master").lower(),
        authentication=method if method in ("none", "forms", "external") else "none",
        auth_required=(
            "disabledForLocalAddresses"
            if required.lower() == "disabledforlocaladdresses"
            else "enabled"
        ),
        port=int(effective("Port") or 9696),
    )


# --------------------------------------------------------------------------------------------
# PostgreSQL (CONTRACT §10: PostgresOptions, ConnectionStringFactory, DbFactory)

# Environment over config.xml (PostgresOptions binds PROWLARR__POSTGRES__*), by element.
_POSTGRES_ENV = {
    "PostgresHost": "PROWLARR__POSTGRES__HOST",
    "PostgresPort": "PROWLARR__POSTGRES__PORT",
    "PostgresUser": "PROWLARR__POSTGRES__USER",
    "PostgresPassword": "PROWLARR__POSTGRES__PASSWORD",
    "PostgresMainDb": "PROWLARR__POSTGRES__MAINDB",
    "PostgresLogDb": "PROWLARR__POSTGRES__LOGDB",
    "LogDbEnabled": "PROWLARR__LOG__DBENABLED",
}


@dataclass
class FakePostgres:
    """A PostgreSQL server fakes may reach (share one between the fakes of several units).

    `users` maps a user to its password, `databases` are the databases that exist (Prowlarr
    creates none), `reachable` False plays a server that does not answer. `data` is what
    `prowlarr-main` holds (None: empty); `connections` counts the starts that connected.
    """

    host: str = "postgresql-k8s-primary.db.svc.cluster.local"
    port: int = 5432
    users: dict[str, str] = field(default_factory=dict[str, str], repr=False)
    databases: set[str] = field(default_factory=lambda: {"prowlarr-main"})
    reachable: bool = True
    data: JsonDict | None = field(default=None, repr=False)
    connections: int = 0


@dataclass(frozen=True)
class _PostgresOptions:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    main_db: str
    log_db: str
    log_db_enabled: bool


def _postgres_options(path: Path, env: Mapping[str, str] | None) -> _PostgresOptions | None:
    """What Prowlarr reads at start: the environment over config.xml; None means SQLite."""
    root = _parse_config(path.read_text()) if path.exists() else ET.Element("Config")
    upper = {name.upper(): value for name, value in (env or {}).items()}

    def value(element: str, default: str) -> str:
        from_env = upper.get(_POSTGRES_ENV[element])
        if from_env is not None:
            return from_env
        return _text(root, element) or default

    host = value("PostgresHost", "")
    if not host:
        return None
    port = value("PostgresPort", "5432")
    return _PostgresOptions(
        host=host,
        port=int(port) if port.isdigit() and int(port) else 5432,
        user=value("PostgresUser", ""),
        password=value("PostgresPassword", ""),
        main_db=value("PostgresMainDb", "prowlarr-main"),
        log_db=value("PostgresLogDb", "prowlarr-log"),
        log_db_enabled=value("LogDbEnabled", "True").lower() != "false",
    )


# --------------------------------------------------------------------------------------------
# Host config (CONTRACT §5, §9)

# HostConfigResource fields kept in config.xml: resource name → (element, default, kind).
_HOST_FILE_FIELDS: dict[str, tuple[str, object]] = {
    "bindAddress": ("BindAddress", "*"),
    "port": ("Port", 9696),
    "sslPort": ("SslPort", 6969),
    "enableSsl": ("EnableSsl", False),
    "launchBrowser": ("LaunchBrowser", True),
    "authenticationMethod": ("AuthenticationMethod", "none"),
    "authenticationRequired": ("AuthenticationRequired", "enabled"),
    "analyticsEnabled": ("AnalyticsEnabled", True),
    "logLevel": ("LogLevel", "debug"),
    "logSizeLimit": ("LogSizeLimit", 1),
    "consoleLogLevel": ("ConsoleLogLevel", ""),
    "branch": ("Branch", "master"),
    "sslCertPath": ("SslCertPath", ""),
    "sslCertPassword": ("SslCertPassword", ""),
    "urlBase": ("UrlBase", ""),
    "instanceName": ("InstanceName", "Prowlarr"),
    "updateAutomatically": ("UpdateAutomatically", False),
    "updateMechanism": ("UpdateMechanism", "docker"),
    "updateScriptPath": ("UpdateScriptPath", ""),
    "trustCgnatIpAddresses": ("TrustCgnatIpAddresses", False),
}
# HostConfigResource fields kept in the database, with their defaults.
_HOST_DB_DEFAULTS: dict[str, object] = {
    "applicationUrl": "",
    "proxyEnabled": False,
    "proxyType": "http",
    "proxyHostname": "",
    "proxyPort": 8080,
    "proxyUsername": "",
    "proxyPassword": "",
    "proxyBypassFilter": "",
    "proxyBypassLocalAddresses": True,
    "certificateValidation": "enabled",
    "backupFolder": "Backups",
    "backupInterval": 7,
    "backupRetention": 28,
    "historyCleanupDays": 365,
}
_HOST_ENUMS: dict[str, tuple[str, ...]] = {
    "authenticationMethod": ("none", "basic", "forms", "external"),
    "authenticationRequired": ("enabled", "disabledForLocalAddresses"),
    "updateMechanism": ("builtIn", "script", "external", "apt", "docker"),
    "proxyType": ("http", "socks4", "socks5"),
    "certificateValidation": ("enabled", "disabledForLocalAddresses", "disabled"),
}
_ENV_BY_FIELD = {
    "urlBase": "PROWLARR__SERVER__URLBASE",
    "port": "PROWLARR__SERVER__PORT",
    "bindAddress": "PROWLARR__SERVER__BINDADDRESS",
    "authenticationMethod": "PROWLARR__AUTH__METHOD",
    "authenticationRequired": "PROWLARR__AUTH__REQUIRED",
}


def _camel_enum(value: str) -> str:
    """An enum name as the API shows it: camelCase (Forms → forms)."""
    return value[:1].lower() + value[1:]


def _file_value(field_name: str, text: str | None) -> object:
    """A config.xml element's text as the resource field's type."""
    default = _HOST_FILE_FIELDS[field_name][1]
    if text is None or text == "":
        return default
    text = text.strip()
    if isinstance(default, bool):
        return text.lower() == "true"
    if isinstance(default, int):
        return int(text) if re.fullmatch(r"-?\d+", text) else default
    if field_name in _HOST_ENUMS:
        return _camel_enum(text)
    if field_name == "urlBase":
        return f"/{text.strip('/')}" if text.strip("/") else ""
    return text


def _to_element_text(value: object) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, str) and value in {v for vs in _HOST_ENUMS.values() for v in vs}:
        return value[:1].upper() + value[1:]
    return "" if value is None else str(value)


def _server_failures(body: Mapping[str, object], failures: list[JsonDict]) -> None:
    """Validators of the listening and instance settings."""

    def fail(prop: str, message: str, value: object, code: str) -> None:
        failures.append(_rule_failure(prop, prop, message, value, code))

    bind = body.get("bindAddress")
    if not isinstance(bind, str) or not bind.strip():
        fail("BindAddress", "Enter a valid IP address or '*' for all interfaces", bind, "Ip")
    port = body.get("port")
    if not (_is_int(port) and (port in (80, 443) or 1025 <= cast("int", port) <= 65535)):
        fail("Port", "Must be a valid Port", port, "PortValidator")
    base = body.get("urlBase")
    if isinstance(base, str) and re.match(r"^/?https?://", base, re.IGNORECASE):
        fail("UrlBase", "Must be a valid URL path (ie: '/prowlarr')", base, "UrlBase")
    name = body.get("instanceName")
    if isinstance(name, str) and name.strip() and "prowlarr" not in name.lower():
        fail("InstanceName", "Must contain 'Prowlarr'", name, "Predicate")
    branch = body.get("branch")
    if not isinstance(branch, str) or not branch.strip():
        fail("Branch", "'Branch' must not be empty.", branch, "NotEmptyValidator")
    if body.get("enableSsl") is True and not body.get("sslCertPath"):
        fail("SslCertPath", "'Ssl Cert Path' must not be empty.", None, "NotEmptyValidator")


def _bind_host_config(
    given: Mapping[str, object], current: Mapping[str, object]
) -> tuple[dict[str, object], list[str]]:
    """A HostConfigResource PUT body as bound; and the config-file strings it left out (null).

    `given` has lower-cased names; a field left out binds as null, 0 or false, but a string
    kept in the database keeps its value (ConfigService skips a null).
    """
    body: dict[str, object] = {}
    left_out: list[str] = []
    for name, default in current.items():
        value = given.get(name.lower())
        if value is None and isinstance(default, str) and name in _HOST_DB_DEFAULTS:
            value = default  # ConfigService skips a null: the stored value stays
        elif value is None:  # a field left out binds as null, 0 or false
            value = (
                0
                if isinstance(default, int) and not isinstance(default, bool)
                else False
                if isinstance(default, bool)
                else None
            )
            if name in _HOST_FILE_FIELDS and isinstance(default, str):
                left_out.append(name)
        body[name] = value
    return body, left_out


@dataclass
class FakeUser:
    """Prowlarr's single UI user: the name lower-cased, the password only as a salted hash."""

    username: str
    password_hash: str = field(repr=False)

    def matches(self, password: str) -> bool:
        salt = self.password_hash.split("$", 1)[0]
        return _hash_password(password, salt) == self.password_hash


def _hash_password(password: str, salt: str | None = None) -> str:
    salt = salt or uuid.uuid4().hex[:16]
    return f"{salt}${hashlib.sha256((salt + password).encode()).hexdigest()}"


# --------------------------------------------------------------------------------------------
# Commands (CONTRACT §4)


@dataclass(frozen=True)
class _CommandType:
    name: str
    display: str
    options: tuple[tuple[str, bool], ...] = ()
    send_updates: bool = False


_COMMAND_TYPES: dict[str, _CommandType] = {
    t.name.lower(): t
    for t in (
        _CommandType(
            "ApplicationIndexerSync",
            "Application Indexer Sync",
            (("forceSync", False),),
            send_updates=True,
        ),
        _CommandType("ResetApiKey", "Reset API Key"),
        _CommandType("CheckHealth", "Check Health"),
        _CommandType("Backup", "Backup"),
    )
}


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _timespan(delta: timedelta) -> str:
    ticks = round(delta.total_seconds() * 10_000_000)
    seconds, fraction = divmod(ticks, 10_000_000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{text}.{fraction:07d}" if fraction else text


def _command_json(cmd: FakeCommand) -> JsonDict:
    kind = _COMMAND_TYPES[cmd.name.lower()]
    body: JsonDict = dict(cmd.options)
    body.update(
        {
            "sendUpdatesToClient": kind.send_updates,
            "updateScheduledTask": True,
            "requiresDiskAccess": False,
            "isExclusive": False,
            "isTypeExclusive": False,
            "name": kind.name,
            "trigger": "manual",
            "suppressMessages": False,
        }
    )
    if cmd.client_user_agent:
        body["clientUserAgent"] = cmd.client_user_agent
    out: JsonDict = {"name": kind.name, "commandName": kind.display}
    if cmd.message is not None:
        out["message"] = cmd.message
    out.update({"body": body, "priority": "normal", "status": cmd.status})
    out["queued"] = _utc(cmd.queued)
    if cmd.started is not None:
        out["started"] = _utc(cmd.started)
    if cmd.ended is not None:
        out["ended"] = _utc(cmd.ended)
        if cmd.started is not None:
            out["duration"] = _timespan(cmd.ended - cmd.started)
    if cmd.exception is not None:
        out["exception"] = cmd.exception
    out["trigger"] = "manual"
    if cmd.client_user_agent:
        out["clientUserAgent"] = cmd.client_user_agent
    changed = cmd.ended or cmd.started
    if changed is not None:
        out["stateChangeTime"] = _utc(changed)
    out["sendUpdatesToClient"] = kind.send_updates
    out["updateScheduledTask"] = True
    out["id"] = cmd.id
    return out


# --------------------------------------------------------------------------------------------
# The media managers' side of the application test (Radarr.cs, RadarrV3Proxy.cs)

MANAGER_VERSION = "5.0.0.0"  # what a simulated manager reports in X-Application-Version
# Oldest supported version per implementation (v3 of Radarr has its own floor: 3.1.1).
_MINIMUM_VERSIONS: dict[str, tuple[int, ...]] = {
    "Radarr": (4, 0, 4),
    "Sonarr": (3, 0, 5),
    "Lidarr": (1, 0, 2),
}
_SEARCH_TYPES = ("search", "tvsearch", "music", "book", "movie")


def _netloc(url: str) -> str:
    """host:port of `url`, the host lower-cased, the port the scheme's default when missing."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    default = 443 if parts.scheme.lower() == "https" else 80
    return f"{(parts.hostname or '').lower()}:{port or default}"


def _version_failure(app: str, version: str) -> JsonDict | None:
    """RadarrV3Proxy.TestConnection's version check of the manager's answer."""
    if not version:
        return _settings_failure("", f"Failed to fetch {app} version")
    parts = tuple(int(p) for p in re.findall(r"\d+", version)[:3])
    floor = (3, 1, 1) if app == "Radarr" and parts[:1] == (3,) else _MINIMUM_VERSIONS.get(app)
    if floor is not None and parts < floor:
        shown = ".".join(str(p) for p in floor)
        message = f"{app} version should be at least {shown}. Version reported is {version}"
        return _settings_failure("", message, version)
    return None


def _http_get(address: str, target: str) -> tuple[int | None, bytes]:
    """GET `target` from `address` (host:port) as a manager would: no redirect followed."""
    host, _, port = address.rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", target, headers={"Accept": "*/*"})
        response = conn.getresponse()
        return response.status, response.read()
    except OSError:
        return None, b""
    finally:
        conn.close()


def _newznab_caps() -> bytes:
    """The caps of Prowlarr's test indexer (id 0): every standard category (NewznabController)."""
    caps = ET.Element("caps")
    ET.SubElement(caps, "server", title="Prowlarr")
    ET.SubElement(caps, "limits", default="100", max="100")
    searching = ET.SubElement(caps, "searching")
    for tag, params in (
        ("search", "q"),
        ("tv-search", "q,season,ep"),
        ("movie-search", "q"),
        ("music-search", "q"),
        ("audio-search", "q"),
        ("book-search", "q"),
    ):
        ET.SubElement(searching, tag, available="yes", supportedParams=params)
    categories = ET.SubElement(caps, "categories")
    parents: dict[int, ET.Element] = {}
    for value, name in _CATEGORIES:
        parent = parents.get(value - value % 1000)
        if parent is None:
            parents[value] = ET.SubElement(categories, "category", id=str(value), name=name)
        else:
            ET.SubElement(parent, "subcat", id=str(value), name=name)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(caps)


def _newznab_error(code: int, description: str) -> bytes:
    error = ET.Element("error", code=str(code), description=description)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(error)


def _newznab_test_release() -> bytes:
    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    item = ET.SubElement(channel, "item")
    ET.SubElement(item, "title").text = "Test Release"
    ET.SubElement(item, "guid").text = "https://prowlarr.com"
    ET.SubElement(item, "link").text = "https://prowlarr.com"
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(rss)


def _rss_response(status: int, body: bytes) -> _Response:
    return _Response(status, body, {"Content-Type": "application/rss+xml"})


# --------------------------------------------------------------------------------------------
# HTTP helpers


@dataclass
class _Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict[str, str])


class _HttpError(Exception):
    def __init__(self, response: _Response) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass(frozen=True)
class _Incoming:
    method: str
    path: str  # without the URL base
    under_base: bool
    raw_path: str
    raw_query: str
    pairs: list[tuple[str, str]] = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)

    @property
    def route_path(self) -> str:
        return self.path.rstrip("/") or "/"

    @property
    def is_api(self) -> bool:
        lowered = self.route_path.lower()
        return lowered == "/api" or lowered.startswith("/api/")

    @property
    def anonymous(self) -> bool:
        return self.route_path.lower() in ("/ping", "/login")

    @property
    def ui(self) -> bool:
        """Under the UI policy (the login), not the API key: what /initialize.json is."""
        return self.route_path.lower() == "/initialize.json"


@dataclass(frozen=True)
class _Call:
    method: str
    route_id: int | None
    query: dict[str, str]  # lower-cased names, first value
    headers: dict[str, str]  # lower-cased names
    body: bytes


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 on a decoded path, as Kestrel does before routing (PITFALLS §16).

    So a URL base with a `.` or `..` segment never matches any request: every one gets a 307.
    """
    segments = path.split("/")
    out: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment in (".", ".."):
            if segment == ".." and len(out) > 1:
                out.pop()
            if last:
                out.append("")
            continue
        out.append(segment)
    return "/".join(out) or "/"


def _json_response(
    status: int, payload: object, headers: Mapping[str, str] | None = None
) -> _Response:
    body = json.dumps(payload, indent=2).encode()
    return _Response(
        status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    )


def _error(status: int, message: str, description: str | None = None) -> _HttpError:
    payload: JsonDict = {"message": message}
    if description is not None:
        payload["description"] = description
    return _HttpError(_json_response(status, payload))


def _problem(message: str, where: str = "$") -> _HttpError:
    return _HttpError(
        _json_response(
            400,
            {
                "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
                "title": "One or more validation errors occurred.",
                "status": 400,
                "errors": {where: [message]},
            },
        )
    )


def _rule_failure(prop: str, display: str, message: str, value: object, code: str) -> JsonDict:
    """A failure of a resource validator (plain FluentValidation shape)."""
    out: JsonDict = {"propertyName": prop, "errorMessage": message}
    if value is not None:
        out["attemptedValue"] = value
    out["severity"] = "error"
    out["errorCode"] = code
    out["formattedMessagePlaceholderValues"] = {"PropertyName": display, "PropertyValue": value}
    return out


def _settings_failure(prop: str, message: str, value: object = None) -> JsonDict:
    """A failure of settings validation or of the connection test (NzbDrone shape)."""
    out: JsonDict = {"isWarning": False, "propertyName": prop, "errorMessage": message}
    if value is not None:
        out["attemptedValue"] = value
    out["severity"] = "error"
    return out


def _as_object(value: object) -> dict[str, object] | None:
    if isinstance(value, dict):
        return {str(k): v for k, v in cast("dict[object, object]", value).items()}
    return None


def _as_list(value: object) -> list[object] | None:
    if isinstance(value, list):
        return list(cast("list[object]", value))
    return None


def _lower_keys(obj: Mapping[str, object]) -> dict[str, object]:
    return {k.lower(): v for k, v in obj.items()}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _valid_url(value: object) -> bool:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        return False
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", parts.scheme)) and bool(parts.hostname)


def _accepts_json(accept: str) -> bool:
    if not accept.strip():
        return True
    media = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return bool(media & {"*/*", "application/*", "application/json", "text/json"})


def _query_bool(call: _Call, name: str) -> bool:
    return call.query.get(name.lower(), "").lower() == "true"


@dataclass(frozen=True)
class _ResourceIn:
    id: int
    name: str | None
    implementation: str | None
    config_contract: str | None
    sync_level: str
    tags: list[int]
    fields: list[tuple[str, object]] | None


def _optional_str(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key.lower())
    if value is None or isinstance(value, str):
        return value
    raise _problem(f"The JSON value could not be converted to System.String. Path: $.{key}")


def _parse_resource(payload: object) -> _ResourceIn:
    """Bind an ApplicationResource body (names case-insensitive, enums as names or ints)."""
    obj = _as_object(payload)
    if obj is None:
        raise _problem("The JSON value could not be converted to ApplicationResource.")
    data = _lower_keys(obj)
    raw_id = data.get("id")
    if raw_id is not None and not _is_int(raw_id):
        raise _problem("The JSON value could not be converted to System.Int32. Path: $.id")
    raw_level = data.get("synclevel")
    if raw_level is None:
        level = "disabled"
    elif _is_int(raw_level) and 0 <= cast("int", raw_level) < len(SYNC_LEVELS):
        level = SYNC_LEVELS[cast("int", raw_level)]
    elif isinstance(raw_level, str) and raw_level.lower() in {s.lower() for s in SYNC_LEVELS}:
        level = next(s for s in SYNC_LEVELS if s.lower() == raw_level.lower())
    else:
        raise _problem("The JSON value could not be converted to ApplicationSyncLevel.")
    raw_tags = data.get("tags")
    tags_in = [] if raw_tags is None else _as_list(raw_tags)
    if tags_in is None or not all(_is_int(t) for t in tags_in):
        raise _problem("The JSON value could not be converted to System.Int32[]. Path: $.tags")
    tags = list(dict.fromkeys(cast("list[int]", tags_in)))
    raw_fields = data.get("fields")
    fields: list[tuple[str, object]] | None = None
    if raw_fields is not None:
        items = _as_list(raw_fields)
        if items is None:
            raise _problem("The JSON value could not be converted to Field[]. Path: $.fields")
        fields = []
        for item in items:
            entry = _as_object(item)
            if entry is None:
                raise _problem("The JSON value could not be converted to Field. Path: $.fields")
            entry = _lower_keys(entry)
            name = entry.get("name")
            if isinstance(name, str):
                fields.append((name, entry.get("value")))
    return _ResourceIn(
        id=cast("int", raw_id) if raw_id is not None else 0,
        name=_optional_str(data, "name"),
        implementation=_optional_str(data, "implementation"),
        config_contract=_optional_str(data, "configContract"),
        sync_level=level,
        tags=tags,
        fields=fields,
    )


def _coerce_bool(value: object, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _problem("The value could not be converted to System.Boolean.", where)


def _coerce_ints(value: object, where: str) -> list[int]:
    if value is None:
        return []
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if all(re.fullmatch(r"-?\d+", p) for p in parts):
            return [int(p) for p in parts]
    items = _as_list(value)
    if items is not None and all(_is_int(i) for i in items):
        return cast("list[int]", items)
    raise _problem("The value could not be converted to IEnumerable<Int32>.", where)


def _coerce(spec: _FieldSpec, value: object) -> object:
    """Convert a field value the way the settings property would bind it."""
    where = f"fields.{spec.name}"
    if spec.kind == "checkbox":
        return _coerce_bool(value, where)
    if spec.kind == "select":
        return _coerce_ints(value, where)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    raise _problem("The value could not be converted to System.String.", where)


# --------------------------------------------------------------------------------------------
# The server


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeProwlarr) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay silent: dropped connections are expected, and nothing may be logged."""

    def drop_connections(self) -> None:
        """Close every open connection, as a process exit would."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls

    def log_message(self, format: str, *args: Any) -> None:
        """Never log: request lines may carry ?apikey=."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        server = self.server
        if not isinstance(server, _Server):  # pragma: no cover - wiring guard
            raise TypeError("handler used outside the fake's server")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        delay = server.fake.delay_for(self.command, self.path, body)
        if delay:
            time.sleep(delay)  # outside the fake's lock: other requests go on meanwhile
        response = server.fake._handle(self.command, self.path, headers, body)
        if response is None:
            # Not running: drop the connection without a response.
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)


class FakeProwlarr:
    """A fake Prowlarr process serving HTTP on 127.0.0.1 (ephemeral port) from a daemon thread.

    The port is bound at construction; `start()` plays the process start (reads config.xml).
    Switches tests may set at any time: `starting_requests`, `fail_status`, `failing_routes`
    ("METHOD /path" -> the status only that endpoint answers), `unreachable`,
    `failing_commands`, `stuck_commands` (started, never finished), `command_delay` and
    `command_duration` (seconds, 0 allowed), `reset_writes_config` (False: ResetApiKey changes
    the key in memory only), `slow` (SlowRule list), `drop_next` (the next N requests lose their
    connection unanswered), `restart_after` (the process restarts when the N-th request from now
    arrives, which gets no answer, re-reading config.xml), `reset_save_delay` (how long
    ResetApiKey's save of config.xml takes: the old key for half of it, then an empty file, as
    Prowlarr switches its key in memory first and truncates the file before writing it),
    `asp_unreadable` (POST /login answers 401, as when /config/asp cannot be used).

    The application test is two-way, as with a real media manager: a simulated manager calls
    Prowlarr back at `{prowlarrUrl}/0/api?t=caps&apikey=<Prowlarr's key>`, a real HTTP request to
    this fake. `hosts` maps the host:port a manager resolves (e.g. the in-cluster
    `<app>.<model>.svc.cluster.local:9696`, see `answer_at`) to the fake's own address; any other
    host is unreachable, except the fake's own 127.0.0.1 address. The manager follows no redirect,
    so a prowlarrUrl without the URL base fails, as does a stale key. `manager_versions` makes a
    manager report another version ("" for none). Inspection: `requests`, `syncs`,
    `connection_tests`, `callbacks`, `applications`, `commands`, `internal_errors` (bugs of the
    fake itself, answered with 500). Backups: `clock` (local time for backup names),
    `backup_now()` (what the Backup command writes), `backups()`, `database_dump()`, `boots`
    (starts so far, in every database written), `kill()` (a stop that leaves the -wal/-shm files).
    Indexer proxies: `proxies` (fake_proxies.ProxyStore).
    PostgreSQL: `postgres` (the FakePostgres it can reach), `database_backend` ("sqlite" or
    "postgresql", from the settings read at the last start).
    """

    def __init__(self, config_dir: Path, *, version: str = "2.3.5.5327") -> None:
        self.config_dir = Path(config_dir)
        self.version = version
        self._lock = threading.RLock()
        self._running = False
        self._boot_config: _BootConfig | None = None
        self._start_time = datetime.now(timezone.utc)
        self._apps: dict[int, StoredApplication] = {}
        self._next_app_id = 1
        self._commands: dict[int, FakeCommand] = {}
        self._next_command_id = 1
        self.starting_requests = 0
        self.fail_status: int | None = None
        self.failing_routes: dict[str, int] = {}  # "GET /api/v1/applications" -> 500
        self.unreachable: set[str] = set()
        self.failing_commands: set[str] = set()
        self.stuck_commands: set[str] = set()
        self.reset_writes_config = True
        self.env: dict[str, str] = {}
        self.slow: list[SlowRule] = []
        self._db_settings: dict[str, object] = dict(_HOST_DB_DEFAULTS)
        self.boots = 0  # starts so far; written into prowlarr.db at each start
        self.clock: Callable[[], datetime] = datetime.now  # local time, as backup names use
        self.user: FakeUser | None = None
        self._sessions: set[str] = set()  # survive restarts: data-protection keys are on disk
        self.drop_next = 0
        self.restart_after: int | None = None
        self.postgres: FakePostgres | None = None  # the server it can reach, if any
        self.database_backend = "sqlite"  # what the last start connected to
        self._sqlite_data: JsonDict | None = None  # SQLite's content while on PostgreSQL
        self.command_delay = 0.005
        self.command_duration = 0.0
        self._timers: list[threading.Timer] = []
        self.requests: list[RecordedRequest] = []
        self.syncs: list[bool] = []
        self.connection_tests: list[str] = []
        self.internal_errors: list[str] = []
        # The media managers Prowlarr tests an application against (see _connection_failures).
        self.hosts: dict[str, str] = {}  # "host:port" a manager resolves -> "127.0.0.1:port"
        self.manager_versions: dict[str, str] = {}  # baseUrl substring -> version ("" = none)
        self.callbacks: list[tuple[str, int | None]] = []  # (URL without key, status or None)
        self.reset_save_delay = 0.06  # ResetApiKey: old key, then empty file, then the new key
        self.asp_unreadable = False  # /config/asp keys unusable: POST /login answers 401
        self._pending_saves: dict[int, str | None] = {}
        self._handlers: dict[tuple[str, str], Callable[[_Call], _Response]] = {
            ("GET", "/ping"): self._ping,
            ("HEAD", "/ping"): self._ping,
            ("GET", "/api/v1/system/status"): self._system_status,
            ("GET", "/api/v1/applications"): self._list_apps,
            ("POST", "/api/v1/applications"): self._create_app,
            ("GET", "/api/v1/applications/schema"): self._schema,
            ("POST", "/api/v1/applications/test"): self._test_app,
            ("POST", "/api/v1/applications/testall"): self._test_all,
            ("GET", "/api/v1/applications/{id}"): self._get_app,
            ("PUT", "/api/v1/applications/{id}"): self._update_app,
            ("DELETE", "/api/v1/applications/{id}"): self._delete_app,
            ("GET", "/api/v1/command"): self._list_commands,
            ("POST", "/api/v1/command"): self._post_command,
            ("GET", "/api/v1/command/{id}"): self._get_command,
            ("DELETE", "/api/v1/command/{id}"): self._cancel_command,
            ("GET", "/initialize.json"): self._initialize_json,
            ("POST", "/login"): self._login,
            ("GET", "/api/v1/config/host"): self._get_host_config,
            ("GET", "/api/v1/config/host/{id}"): self._get_host_config,
            ("PUT", "/api/v1/config/host/{id}"): self._put_host_config,
            ("GET", "/api/v1/system/backup"): self._list_backups,
            ("DELETE", "/api/v1/system/backup/{id}"): self._delete_backup,
            ("POST", "/api/v1/system/backup/restore/{id}"): self._restore_backup,
            ("GET", "/{id}/api"): self._newznab,
        }
        # Tags, indexers and app profiles live in fake_indexers.py.
        self.store = IndexerStore(self._lock)
        self.store.tag_users.append(
            lambda tag_id: any(tag_id in app.tags for app in self._apps.values())
        )
        for key, handler in self.store.handlers().items():
            self._handlers[key] = self._store_route(handler)
        # Indexer proxies live in fake_proxies.py.
        self.proxies = ProxyStore(self._lock)
        self.store.tag_users.append(self.proxies.tag_in_use)
        for key, handler in self.proxies.handlers().items():
            self._handlers[key] = self._store_route(handler)
        if set(self._handlers) != {(r.method, r.template) for r in ROUTES}:  # pragma: no cover
            raise RuntimeError("route table and handlers disagree")
        self._closed = False
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},  # shutdown() waits one poll: keep close() fast
            name="fake-prowlarr",
            daemon=True,
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"FakeProwlarr(url={self.url!r}, running={self.running})"

    def __enter__(self) -> FakeProwlarr:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------- process lifecycle

    @property
    def port(self) -> int:
        """The ephemeral port the fake listens on."""
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """Scheme, host and port, without the URL base."""
        return f"http://127.0.0.1:{self.port}"

    def answer_at(self, url: str) -> None:
        """Make the simulated media managers reach this fake at `url`'s host and port.

        As cluster DNS would: `answer_at("http://prowlarr-k8s.media.svc.cluster.local:9696")`.
        """
        with self._lock:
            self.hosts[_netloc(url)] = f"127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        """Where the fake reads config.xml."""
        return self.config_dir / "config.xml"

    @property
    def running(self) -> bool:
        """Whether the fake Prowlarr process is up (answers requests)."""
        with self._lock:
            return self._running

    @property
    def api_key(self) -> str:
        """The effective key in memory (read at the last start, or set by reset_api_key)."""
        with self._lock:
            if self._boot_config is None:
                raise RuntimeError("the fake Prowlarr has never started")
            return self._boot_config.api_key

    @property
    def port_setting(self) -> int:
        """The port Prowlarr would listen on, from its environment or config.xml."""
        with self._lock:
            return self._boot_config.port if self._boot_config else 9696

    @property
    def url_base(self) -> str:
        """The URL base read at the last start ("" or "/base")."""
        with self._lock:
            return self._boot_config.url_base if self._boot_config else ""

    def start(self, env: Mapping[str, str] | None = None) -> None:
        """Start like a Prowlarr process: read and rewrite config.xml; no-op when running.

        `env` is the process environment (the Pebble service's): its PROWLARR__ variables win
        over config.xml, as in Prowlarr.

        Raises:
            FakeStartError: config.xml is empty, corrupt or has the wrong root; the fake stays
                stopped.
        """
        with self._lock:
            if self._running:
                return
            self._boot_config = _boot(self.config_path, env)
            self.env = dict(env or {})
            self._connect(_postgres_options(self.config_path, env))
            self._restore_staged_database()
            self.boots += 1
            self._start_time = datetime.now(timezone.utc)
            self._running = True
            self._save_database()
            for suffix in _WAL_SUFFIXES if self.database_backend == "sqlite" else ():
                self.config_dir.joinpath(f"{DATABASE}{suffix}").write_bytes(b"")

    def stop(self) -> None:
        """Stop the process: open connections are dropped, new ones get no response.

        Commands still queued or running die with the process (orphaned), as in Prowlarr. A
        clean stop checkpoints the database: its -wal and -shm files go (see `kill`).
        """
        with self._lock:
            was_running = self._running
        self.kill()
        with self._lock:
            for suffix in _WAL_SUFFIXES if was_running else ():
                self.config_dir.joinpath(f"{DATABASE}{suffix}").unlink(missing_ok=True)

    def kill(self) -> None:
        """Stop the process the hard way: like `stop`, but the -wal and -shm files stay."""
        with self._lock:
            self._running = False
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
            for cmd in self._commands.values():
                if cmd.status not in TERMINAL_STATUSES:
                    cmd.status = "orphaned"
                    cmd.ended = datetime.now(timezone.utc)
        self._server.drop_connections()

    def restart(self, env: Mapping[str, str] | None = None) -> None:
        """Stop, then start (config.xml is read again)."""
        self.stop()
        self.start(env)

    def close(self) -> None:
        """Shut the server down and free the port (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.stop()
        self._server.shutdown()
        self._server.drop_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    def reset_api_key(self) -> None:
        """What ResetApiKey does: a fresh key, effective at once, written into config.xml.

        All at once; the command (see `reset_save_delay`) leaves a window between the two.
        """
        with self._lock:
            self._save_config_text(self._use_new_key())

    def _use_new_key(self) -> str | None:
        """Switch to a fresh key in memory; the config.xml text that saves it (None: no save)."""
        key = _new_key()
        if self._boot_config is not None:
            self._boot_config = replace(self._boot_config, api_key=key)
        if not self.reset_writes_config:
            return None
        path = self.config_path
        root = _parse_config(path.read_text()) if path.exists() else ET.Element("Config")
        _set_single(root, "ApiKey", key)
        return _serialise(root)

    def _save_config_text(self, text: str | None) -> None:
        if text is not None:
            self.config_path.write_text(text)

    # ---------------------------------------------------------------- database and backups

    @property
    def database_path(self) -> Path:
        """Where the fake writes its database (JSON standing in for SQLite)."""
        return self.config_dir / DATABASE

    def database_dump(self) -> JsonDict:
        """What `prowlarr.db` holds now: applications, user, settings, and the start count."""
        with self._lock:
            user = self.user
            return {
                "boots": self.boots,
                "nextApplicationId": self._next_app_id,
                "applications": [dataclasses.asdict(app) for app in self._apps.values()],
                "user": None
                if user is None
                else {"username": user.username, "passwordHash": user.password_hash},
                "settings": dict(self._db_settings),
                "indexerProxies": self.proxies.dump(),
            }

    def _save_database(self) -> None:
        if not self._running:
            return
        if self.database_backend == "postgresql" and self.postgres is not None:
            self.postgres.data = json.loads(json.dumps(self.database_dump()))
        else:
            self.database_path.write_text(json.dumps(self.database_dump(), indent=1))

    def _connect(self, options: _PostgresOptions | None) -> None:
        """DbFactory at start: SQLite, or the PostgreSQL server the options name.

        A server that does not answer fails after Prowlarr's retries; a wrong password, a
        missing database (the log database too while it is enabled) fail at once. Either way
        the process exits (FakeStartError) and its data stays where it was.
        """
        if options is None:
            if self.database_backend == "postgresql":
                self._load_data(self._sqlite_data)
                self._sqlite_data = None
            self.database_backend = "sqlite"
            return
        server = self.postgres
        where = f"{options.host}:{options.port}"
        if (
            server is None
            or not server.reachable
            or (server.host, server.port)
            != (
                options.host,
                options.port,
            )
        ):
            raise FakeStartError(f"PostgreSQL at {where} does not answer (3 retries)")
        if server.users.get(options.user) != options.password or not options.user:
            raise FakeStartError(f'password authentication failed for user "{options.user}"')
        wanted = [options.main_db, *([options.log_db] if options.log_db_enabled else [])]
        for name in wanted:
            if name not in server.databases:
                raise FakeStartError(f'database "{name}" does not exist')
        if self.database_backend == "sqlite":
            self._sqlite_data = self.database_dump()
        self._load_data(server.data)
        self.database_backend = "postgresql"
        server.connections += 1

    def _load_data(self, data: JsonDict | None) -> None:
        """Hold what a database holds (None: a new, empty database)."""
        content = cast("dict[str, Any]", data or {})
        apps = [StoredApplication(**item) for item in content.get("applications", [])]
        self._apps = {app.id: app for app in apps}
        self._next_app_id = int(content.get("nextApplicationId", 1))
        user = content.get("user")
        self.user = None if user is None else FakeUser(user["username"], user["passwordHash"])
        self._db_settings = dict(content.get("settings", _HOST_DB_DEFAULTS))

    def _restore_staged_database(self) -> None:
        """DatabaseRestorationService: a staged restore replaces the database at start."""
        staged = self.config_dir / RESTORE_FILE
        if not staged.exists():
            return
        for suffix in (*_WAL_SUFFIXES, "-journal", ""):
            self.config_dir.joinpath(f"{DATABASE}{suffix}").unlink(missing_ok=True)
        staged.replace(self.database_path)
        data = cast("dict[str, Any]", json.loads(self.database_path.read_text()))
        apps = [StoredApplication(**item) for item in data["applications"]]
        self._apps = {app.id: app for app in apps}
        self._next_app_id = int(data["nextApplicationId"])
        user = data["user"]
        self.user = None if user is None else FakeUser(user["username"], user["passwordHash"])
        self._db_settings = dict(data["settings"])
        self.proxies.load(data.get("indexerProxies", []))

    @property
    def container_root(self) -> Path:
        """Where the container's paths outside /config live on this machine."""
        return self.config_dir.parent / "container-root"

    def host_path(self, container_path: str) -> Path:
        """This machine's path for a path in the container (/config is `config_dir`)."""
        relative = container_path.strip("/")
        if relative == "config" or relative.startswith("config/"):
            return self.config_dir / relative.removeprefix("config").strip("/")
        return self.container_root / relative

    @property
    def backup_root(self) -> Path:
        """Prowlarr's backup folder: `backupFolder`, relative to /config or absolute."""
        with self._lock:
            folder = str(self._db_settings.get("backupFolder") or "Backups")
        return self.host_path(folder if folder.startswith("/") else f"/config/{folder}")

    def backup_now(self, kind: str = "manual") -> Path:
        """What the Backup command writes: a zip of config.xml and the database; its path.

        The name uses `clock()` (local time, to the second: a second backup within the same
        second replaces the first), the file's modification time is that moment.
        """
        with self._lock:
            moment = self.clock()
            folder = self.backup_root / kind
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"prowlarr_backup_v{self.version}_{moment:%Y.%m.%d_%H.%M.%S}.zip"
            config = self.config_path.read_bytes() if self.config_path.exists() else b""
            with zipfile.ZipFile(path, "w") as archive:
                archive.writestr("config.xml", config)
                archive.writestr(DATABASE, json.dumps(self.database_dump()))
            os.utime(path, (moment.timestamp(), moment.timestamp()))
            return path

    def backups(self) -> list[JsonDict]:
        """GET /api/v1/system/backup: every backup zip, newest first."""
        with self._lock:
            found: list[tuple[float, JsonDict]] = []
            for kind in BACKUP_TYPES:
                folder = self.backup_root / kind
                for path in sorted(folder.glob("*.zip")) if folder.is_dir() else []:
                    stat = path.stat()
                    moment = datetime.fromtimestamp(stat.st_mtime, timezone.utc)
                    resource: JsonDict = {
                        "id": backup_id(kind, path.name),
                        "name": path.name,
                        "path": f"/backup/{kind}/{path.name}",
                        "type": kind,
                        "size": stat.st_size,
                        "time": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    }
                    found.append((stat.st_mtime, resource))
            return [resource for _, resource in sorted(found, key=lambda f: -f[0])]

    def _backup_file(self, wanted: int) -> Path:
        for resource in self.backups():
            if resource["id"] == wanted:
                return self.backup_root / str(resource["type"]) / str(resource["name"])
        raise _error(404, "Not Found")

    # ---------------------------------------------------------------- inspection and UI edits

    def delay_for(self, method: str, target: str, body: bytes) -> float:
        """How long to wait before handling a request (see `slow`)."""
        path = urlsplit(target).path
        with self._lock:
            rules = list(self.slow)
        return max(
            (
                rule.seconds
                for rule in rules
                if rule.method == method
                and rule.path in path
                and rule.body_contains.encode() in body
            ),
            default=0.0,
        )

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self.requests.clear()

    @property
    def applications(self) -> dict[int, StoredApplication]:
        """A snapshot of the stored applications by id (values unmasked)."""
        with self._lock:
            return copy.deepcopy(self._apps)

    def stored_api_key(self, app_id: int) -> str | None:
        """The stored (unmasked) apiKey field of an application.

        Raises:
            KeyError: no application has that id.
        """
        with self._lock:
            value = self._apps[app_id].fields.get("apiKey")
            return value if isinstance(value, str) else None

    @property
    def commands(self) -> list[FakeCommand]:
        """A snapshot of the command queue, oldest first."""
        with self._lock:
            return copy.deepcopy(list(self._commands.values()))

    def complete_commands(self) -> None:
        """Run every pending command to its end now, as if time passed (stuck ones too)."""
        with self._lock:
            for cmd in self._commands.values():
                if cmd.status not in TERMINAL_STATUSES:
                    self._execute(cmd)

    def add_application(
        self,
        implementation: str = "Radarr",
        *,
        name: str | None = None,
        fields: Mapping[str, object] | None = None,
        sync_level: str = "fullSync",
        tags: Iterable[int] = (),
        app_id: int | None = None,
    ) -> int:
        """Simulate an application added by hand in the UI; returns its id.

        `app_id` gives it a chosen free id, as a restored database would.

        Fields not given take the implementation's defaults; no validation or connection test.

        Raises:
            ValueError: unknown implementation, field or sync level, or a name already used.
        """
        with self._lock:
            impl = IMPLEMENTATIONS.get(implementation)
            if impl is None:
                raise ValueError(f"unknown implementation {implementation!r}")
            if sync_level not in SYNC_LEVELS:
                raise ValueError(f"unknown sync level {sync_level!r}")
            app_name = name or implementation
            if any(a.name.casefold() == app_name.casefold() for a in self._apps.values()):
                raise ValueError(f"an application named {app_name!r} exists")
            given = dict(fields or {})
            known = {spec.name for spec in impl.fields}
            unknown = sorted(set(given) - known)
            if unknown:
                raise ValueError(f"unknown fields for {implementation}: {unknown}")
            settings = {
                spec.name: copy.deepcopy(given.get(spec.name, spec.default))
                for spec in impl.fields
            }
            if app_id is not None and app_id in self._apps:
                raise ValueError(f"id {app_id} is taken")
            new_id = self._insert(impl, app_name, sync_level, list(tags), settings, app_id)
            self._save_database()
            return new_id

    def set_application_field(self, app_id: int, name: str, value: object) -> None:
        """Simulate a field edited in the UI.

        Raises:
            KeyError: unknown application id or field name.
        """
        with self._lock:
            app = self._apps[app_id]
            if name not in app.fields:
                raise KeyError(name)
            app.fields[name] = copy.deepcopy(value)
            self._save_database()

    def set_application_tags(self, app_id: int, tags: Iterable[int]) -> None:
        """Simulate an application's tags edited in the UI (KeyError for an unknown id)."""
        with self._lock:
            self._apps[app_id].tags = list(tags)
            self._save_database()

    def remove_application(self, app_id: int) -> None:
        """Simulate an application deleted in the UI (unknown ids are ignored)."""
        with self._lock:
            self._apps.pop(app_id, None)
            self._save_database()

    # ---------------------------------------------------------------- request pipeline

    def _handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> _Response | None:
        """Answer one request; None means: drop the connection (process not running)."""
        with self._lock:
            if not self._running:
                return None
            if self.drop_next > 0:
                self.drop_next -= 1
                return None
            if self.restart_after is not None:
                self.restart_after -= 1
                if self.restart_after <= 0:
                    self.restart_after = None
                    self.restart(self.env)
                    return None
            req = self._incoming(method, target, headers, body)
            try:
                response = self._pipeline(req)
            except _HttpError as exc:
                response = exc.response
            except Exception as exc:  # a bug of the fake becomes a visible 500
                self.internal_errors.append(f"{method} {req.path}: {type(exc).__name__}: {exc}")
                response = _error(500, str(exc), f"{type(exc).__name__}: {exc}").response
            if method in ("POST", "PUT", "DELETE") and 200 <= response.status < 300:
                self._save_database()
            query: dict[str, str] = {}
            for key, value in req.pairs:
                query.setdefault(key, value)
            try:
                recorded_json: object = json.loads(body) if body.strip() else None
            except ValueError:
                recorded_json = None
            self.requests.append(
                RecordedRequest(
                    method, req.path, query, dict(headers), recorded_json, response.status
                )
            )
            return response

    def _incoming(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> _Incoming:
        split = urlsplit(target)
        raw_path = _remove_dot_segments(unquote(split.path) or "/")
        path, under_base = raw_path, True
        base = self.url_base
        if base and raw_path.lower() == base.lower():
            path = "/"
        elif base and raw_path.lower().startswith(base.lower() + "/"):
            path = raw_path[len(base) :]
        elif base:
            under_base = False
        return _Incoming(
            method=method,
            path=path,
            under_base=under_base,
            raw_path=raw_path,
            raw_query=split.query,
            pairs=parse_qsl(split.query, keep_blank_values=True),
            headers=headers,
            body=body,
        )

    def _ui_authorised(self, req: _Incoming) -> bool:
        """The UI policy: who may load the UI, and with it the API key.

        Nobody is asked with None or External; Forms wants a session cookie, unless only
        non-local addresses must log in (every client of the fake is local).
        """
        boot = cast("_BootConfig", self._boot_config)
        if boot.authentication != "forms":
            return True
        if boot.auth_required == "disabledForLocalAddresses":
            return True
        cookies = SimpleCookie(req.headers.get("cookie", ""))
        session = cookies.get(SESSION_COOKIE)
        return session is not None and session.value in self._sessions

    def _authorised(self, req: _Incoming) -> bool:
        provided: str | None = None
        for key, value in req.pairs:
            if key.lower() == "apikey":
                provided = value
                break
        else:
            if "x-api-key" in req.headers:
                provided = req.headers["x-api-key"]
            elif "authorization" in req.headers:
                provided = req.headers["authorization"].replace("Bearer ", "")
        if provided is None or not provided.strip():
            return False
        return provided == self.api_key

    def _pipeline(self, req: _Incoming) -> _Response:
        """Middleware order: auth, URL base redirect, start-up 503, content negotiation."""
        if req.ui:
            if not self._ui_authorised(req):
                login = f"{self.url_base}/login?returnUrl={quote(req.raw_path)}"
                return _Response(302, b"", {"Location": login})
        elif not req.anonymous and not self._authorised(req):
            return _Response(401)  # empty body, no version header
        response = self._gates(req) or self._route(req)
        if req.is_api and response.status != 401:
            response.headers["X-Application-Version"] = self.version
        return response

    def _gates(self, req: _Incoming) -> _Response | None:
        if not req.under_base:
            query = f"?{req.raw_query}" if req.raw_query else ""
            return _Response(307, b"", {"Location": f"{self.url_base}{req.raw_path}{query}"})
        if self.starting_requests > 0:
            self.starting_requests -= 1
            if req.is_api:
                return _json_response(503, {"errorMessage": STARTING_MESSAGE})
            return _Response(
                503, STARTING_MESSAGE.encode(), {"Content-Type": "text/plain; charset=utf-8"}
            )
        if not _accepts_json(req.headers.get("accept", "")):
            return _Response(406)
        status = self.fail_status
        if status is None:  # or only this endpoint fails, the others answer
            status = self.failing_routes.get(f"{req.method} {req.path}")
        if status is not None and not req.anonymous:
            body = b"" if status == 401 else b'{"message": "fake failure"}'
            return _Response(status, body, {"Content-Type": "application/json"} if body else {})
        return None

    def _route(self, req: _Incoming) -> _Response:
        allowed: list[str] = []
        for route, pattern in _PATTERNS:
            match = pattern.fullmatch(req.route_path)
            if match is None:
                continue
            if route.method != req.method:
                allowed.append(route.method)
                continue
            raw_id = match.groupdict().get("id")
            query: dict[str, str] = {}
            for key, value in req.pairs:
                query.setdefault(key.lower(), value)
            call = _Call(req.method, int(raw_id) if raw_id else None, query, req.headers, req.body)
            return self._handlers[route.method, route.template](call)
        if allowed:
            return _Response(405, b"", {"Allow": ", ".join(sorted(set(allowed)))})
        return _Response(404)

    @staticmethod
    def _json_body(call: _Call) -> object:
        media = call.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in ("application/json", "text/json"):
            raise _HttpError(_Response(415))
        if not call.body.strip():
            raise _problem("A non-empty request body is required.")
        try:
            payload: object = json.loads(call.body)
        except ValueError:
            raise _problem("The JSON value could not be parsed.") from None
        return payload

    def _store_route(self, handler: fake_indexers.Handler) -> Callable[[_Call], _Response]:
        """Serve one of the store's handlers: JSON body in, JSON answer out."""

        def serve(call: _Call) -> _Response:
            body = self._json_body(call) if call.method in ("POST", "PUT") else None
            try:
                status, payload = handler(call.route_id, call.query, body)
            except StoreError as e:
                return _json_response(e.status, e.payload)
            return _json_response(status, payload)

        return serve

    # ---------------------------------------------------------------- ping and status

    def _ping(self, call: _Call) -> _Response:
        return _json_response(200, {"status": "OK"})

    def _system_status(self, call: _Call) -> _Response:
        boot = cast("_BootConfig", self._boot_config)
        return _json_response(
            200,
            {
                "appName": "Prowlarr",
                "instanceName": boot.instance_name,
                "version": self.version,
                "buildTime": "2026-03-30T00:00:00Z",
                "isDebug": False,
                "isProduction": True,
                "isAdmin": False,
                "isUserInteractive": True,
                "startupPath": "/app/prowlarr/bin",
                "appData": "/config",
                "osName": "alpine",
                "osVersion": "3.24.0",
                "isNetCore": True,
                "isLinux": True,
                "isOsx": False,
                "isWindows": False,
                "isDocker": False,
                "mode": "console",
                "branch": boot.branch,
                "databaseType": "sqLite",
                "databaseVersion": "3.49.2",
                "authentication": boot.authentication,
                "migrationVersion": 43,
                "urlBase": boot.url_base,
                "runtimeVersion": "8.0.22",
                "runtimeName": "netcore",
                "startTime": _utc(self._start_time),
                "packageVersion": f"{self.version}-ls1",
                "packageAuthor": "[linuxserver.io](https://www.linuxserver.io/)",
                "packageUpdateMechanism": "docker",
            },
        )

    # ---------------------------------------------------------------- UI login

    def _initialize_json(self, call: _Call) -> _Response:
        """What the UI loads first, API key included, for whoever passes the UI policy."""
        boot = cast("_BootConfig", self._boot_config)
        return _json_response(
            200,
            {
                "apiRoot": f"{boot.url_base}/api/v1",
                "apiKey": boot.api_key,
                "release": f"{self.version}-ls1",
                "version": self.version,
                "instanceName": boot.instance_name,
                "branch": boot.branch,
                "urlBase": boot.url_base,
                "isProduction": True,
            },
        )

    def _login(self, call: _Call) -> _Response:
        """POST /login (form): 302 to / with a session cookie, or back to the login page."""
        media = call.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/x-www-form-urlencoded":
            raise _HttpError(_Response(415))
        if self.asp_unreadable:  # the session cookie cannot be protected
            return _Response(401)
        form = dict(parse_qsl(call.body.decode("latin-1"), keep_blank_values=True))
        user, password = self.user, form.get("password", "")
        if cast("_BootConfig", self._boot_config).authentication == "none":
            user = None  # AuthenticationController: no Forms login while the method is None
        if user is None or user.username != form.get("username", "").lower():
            user = None
        if user is None or not user.matches(password):
            failed = f"{self.url_base}/login?returnUrl=&loginFailed=true"
            return _Response(302, b"", {"Location": failed})
        token = uuid.uuid4().hex
        self._sessions.add(token)
        cookie = f"{SESSION_COOKIE}={token}; path=/; httponly"
        return _Response(302, b"", {"Location": "/", "Set-Cookie": cookie})

    # ---------------------------------------------------------------- host config

    def _config_root(self) -> ET.Element:
        path = self.config_path
        return _parse_config(path.read_text()) if path.exists() else ET.Element("Config")

    def _host_fields(self) -> dict[str, object]:
        """The config-file fields: environment, else config.xml, else the default."""
        root = self._config_root()
        overrides = _overrides(self.env)
        values: dict[str, object] = {}
        for name, (element, _) in _HOST_FILE_FIELDS.items():
            text = overrides.get(element) if element in overrides else _text(root, element)
            values[name] = _file_value(name, text)
        return values

    def host_config(self) -> JsonDict:
        """GET /api/v1/config/host: the resource, apiKey in clear, the password as its hash."""
        values = self._host_fields()
        boot = cast("_BootConfig", self._boot_config)
        out: JsonDict = {}
        for name in (
            "bindAddress",
            "port",
            "sslPort",
            "enableSsl",
            "launchBrowser",
            "authenticationMethod",
            "authenticationRequired",
            "analyticsEnabled",
        ):
            out[name] = values[name]
        # HostConfigController: the user's name and hash, or "" with no user; never a confirmation.
        out["username"] = self.user.username if self.user else ""
        out["password"] = self.user.password_hash if self.user else ""
        out["passwordConfirmation"] = ""
        for name in ("logLevel", "logSizeLimit", "consoleLogLevel", "branch"):
            out[name] = values[name]
        out["apiKey"] = boot.api_key
        for name in ("sslCertPath", "sslCertPassword", "urlBase", "instanceName"):
            out[name] = values[name]
        out["applicationUrl"] = self._db_settings["applicationUrl"]
        for name in ("updateAutomatically", "updateMechanism", "updateScriptPath"):
            out[name] = values[name]
        for name, value in self._db_settings.items():
            if name != "applicationUrl":
                out[name] = value
        out["trustCgnatIpAddresses"] = False  # HostConfigResource never reads the setting back
        out["id"] = 1
        return out

    def _get_host_config(self, call: _Call) -> _Response:
        return _json_response(200, self.host_config())

    def _put_host_config(self, call: _Call) -> _Response:
        payload = _as_object(self._json_body(call))
        if payload is None:
            raise _problem("The JSON value could not be converted to HostConfigResource.")
        given = _lower_keys(payload)
        current = self.host_config()
        body, left_out = _bind_host_config(given, current)
        for name in ("username", "password", "passwordConfirmation"):
            body[name] = given.get(name.lower())
        for name, allowed in _HOST_ENUMS.items():
            value = body.get(name)
            if isinstance(value, str):
                match = next((a for a in allowed if a.lower() == value.lower()), None)
                if match is None:
                    raise _problem(f"The JSON value could not be converted to {name}.")
                body[name] = match
            elif value is None or value == 0:
                body[name] = allowed[0]
        failures = self._host_failures(body)
        if failures:
            raise _HttpError(_json_response(400, failures))
        strings = [n for n in left_out if n not in _HOST_ENUMS]
        if strings:  # ConfigFileProvider.SaveConfigDictionary calls ToString() on the null
            raise _error(
                500,
                "Object reference not set to an instance of an object.",
                f"System.NullReferenceException: {strings[0]} was null",
            )
        self._save_host_config(body, current)
        return _json_response(202, self.host_config())

    def _host_failures(self, body: Mapping[str, object]) -> list[JsonDict]:
        """HostConfigController's validators (the ones a charm can trip)."""
        failures: list[JsonDict] = []
        _server_failures(body, failures)
        for prop, low, high in (
            ("logSizeLimit", 1, 10),
            ("backupInterval", 1, 7),
            ("backupRetention", 1, 90),
        ):
            value = body.get(prop)
            if not (_is_int(value) and low <= cast("int", value) <= high):
                display = prop[:1].upper() + prop[1:]
                message = f"'{prop}' must be between {low} and {high}."
                failures.append(
                    _rule_failure(display, display, message, value, "InclusiveBetweenValidator")
                )
        self._auth_failures(body, failures)
        return failures

    def _auth_failures(self, body: Mapping[str, object], failures: list[JsonDict]) -> None:
        method = body.get("authenticationMethod")
        if method == "basic":
            message = "'Basic' is no longer supported, switch to 'Forms' instead."
            failures.append(
                _rule_failure(
                    "AuthenticationMethod",
                    "Authentication Method",
                    message,
                    method,
                    "NotEqualValidator",
                )
            )
        if method in ("forms", "basic"):
            for prop in ("Username", "Password"):
                value = body.get(prop.lower())
                if not isinstance(value, str) or not value.strip():
                    message = f"'{prop}' must not be empty."
                    failures.append(_rule_failure(prop, prop, message, None, "NotEmptyValidator"))
        password = body.get("password")
        stored = self.user.password_hash if self.user else None
        if password != stored and password != body.get("passwordConfirmation"):
            failures.append(
                _rule_failure(
                    "PasswordConfirmation",
                    "Password Confirmation",
                    "Must match Password",
                    None,
                    "PredicateValidator",
                )
            )

    def _save_host_config(self, body: Mapping[str, object], current: Mapping[str, object]) -> None:
        """SaveConfigDictionary: write what differs from the effective value, but never apiKey."""
        root = self._config_root()
        changed = False
        for name, (element, _) in _HOST_FILE_FIELDS.items():
            if body.get(name) != current.get(name):
                _set_single(root, element, _to_element_text(body.get(name)))
                changed = True
        if changed:
            self.config_path.write_text(_serialise(root))
        for name in _HOST_DB_DEFAULTS:
            self._db_settings[name] = body.get(name)
        username, password = body.get("username"), body.get("password")
        given = isinstance(username, str) and username.strip()
        if given and isinstance(password, str) and password:
            username = cast("str", username)
            if self.user is None or password != self.user.password_hash:
                self.user = FakeUser(username.lower(), _hash_password(password))
            else:
                self.user = FakeUser(username.lower(), self.user.password_hash)
        # The save clears the config cache: an ApiKey edited in the file takes effect now.
        boot = cast("_BootConfig", self._boot_config)
        if "ApiKey" not in _overrides(self.env):
            file_key = _text(self._config_root(), "ApiKey")
            if file_key:
                self._boot_config = replace(boot, api_key=file_key)

    def set_host_setting(self, name: str, value: object) -> None:
        """Simulate a setting saved in the UI by someone else (no validation)."""
        with self._lock:
            if name in _HOST_DB_DEFAULTS:
                self._db_settings[name] = value
                self._save_database()
                return
            element = _HOST_FILE_FIELDS[name][0]
            root = self._config_root()
            _set_single(root, element, _to_element_text(value))
            self.config_path.write_text(_serialise(root))

    # ---------------------------------------------------------------- backups

    def _list_backups(self, call: _Call) -> _Response:
        return _json_response(200, self.backups())

    def _delete_backup(self, call: _Call) -> _Response:
        self._backup_file(cast("int", call.route_id)).unlink()
        return _json_response(200, {})

    def _restore_backup(self, call: _Call) -> _Response:
        """BackupService.Restore: config.xml replaced now, the database at the next start."""
        with zipfile.ZipFile(self._backup_file(cast("int", call.route_id))) as archive:
            names = set(archive.namelist())
            if "config.xml" in names:
                self.config_path.write_bytes(archive.read("config.xml"))
            if DATABASE in names:
                (self.config_dir / RESTORE_FILE).write_bytes(archive.read(DATABASE))
        return _json_response(200, {"restartRequired": True})

    # ---------------------------------------------------------------- applications

    def _app_json(self, app: StoredApplication) -> JsonDict:
        impl = IMPLEMENTATIONS[app.implementation]
        return {
            "syncLevel": app.sync_level,
            "enable": app.enable,
            "name": app.name,
            "fields": [
                _field_json(spec, order, app.fields.get(spec.name))
                for order, spec in enumerate(impl.fields)
            ],
            "implementationName": impl.name,
            "implementation": impl.name,
            "configContract": impl.contract,
            "infoLink": impl.info_link,
            "tags": list(app.tags),
            "id": app.id,
        }

    def _insert(
        self,
        impl: _Implementation,
        name: str,
        sync_level: str,
        tags: list[int],
        settings: dict[str, object],
        app_id: int | None = None,
    ) -> int:
        if app_id is None:
            app_id = self._next_app_id
        self._next_app_id = max(self._next_app_id, app_id + 1)
        self._apps[app_id] = StoredApplication(
            app_id, name, impl.name, impl.contract, sync_level, tags, settings
        )
        return app_id

    def _not_found(self, app_id: int) -> _HttpError:
        return _error(404, f"ApplicationDefinition with ID {app_id} does not exist")

    def _sync_indexers(self, app: StoredApplication, *, remove: bool) -> None:
        """Push the indexers `app` wants to its media manager (ApplicationService.SyncIndexers).

        Only an enabled application is synced. With `remove` (every ApplicationIndexerSync,
        forced or not) indexers deleted from Prowlarr leave it, and so, for a full-sync
        application, do the ones it no longer wants (its tags changed).
        """
        if not app.enable:
            return
        indexers = self.store.indexers
        keep = [
            i
            for i in app.indexers
            if not remove
            or (i in indexers and (app.sync_level != "fullSync" or app.wants(indexers[i])))
        ]
        added = [i for i, indexer in sorted(indexers.items()) if app.wants(indexer)]
        app.indexers = list(dict.fromkeys([*keep, *added]))

    def run_application_indexer_sync(self) -> None:
        """What ApplicationIndexerSync does (the 6-hourly task, or the command)."""
        with self._lock:
            for app in self._apps.values():
                self._sync_indexers(app, remove=True)

    def synced_indexers(self, app_id: int) -> list[str]:
        """The names of the indexers Prowlarr has synced to an application (KeyError: no app)."""
        with self._lock:
            indexers = self.store.indexers
            return sorted(indexers[i].name for i in self._apps[app_id].indexers if i in indexers)

    def _shared_failures(self, res: _ResourceIn, own_id: int) -> list[JsonDict]:
        failures: list[JsonDict] = []
        if not res.name or not res.name.strip():
            failures.append(
                _rule_failure(
                    "Name", "Name", "'Name' must not be empty.", res.name, "NotEmptyValidator"
                )
            )
        elif any(
            a.name.casefold() == res.name.casefold() and a.id != own_id
            for a in self._apps.values()
        ):
            failures.append(
                _rule_failure("Name", "Name", "Should be unique", res.name, "PredicateValidator")
            )
        for prop, display, value in (
            ("Implementation", "Implementation", res.implementation),
            ("ConfigContract", "Config Contract", res.config_contract),
        ):
            if not value or not value.strip():
                failures.append(
                    _rule_failure(
                        prop,
                        display,
                        f"'{display}' must not be empty.",
                        value,
                        "NotEmptyValidator",
                    )
                )
        return failures

    @staticmethod
    def _implementation(res: _ResourceIn) -> _Implementation:
        impl = IMPLEMENTATIONS.get(res.implementation or "")
        if impl is None or impl.contract != res.config_contract:
            raise _error(
                500,
                "Sequence contains no matching element",
                f"System.InvalidOperationException: no {res.implementation!r} provider "
                f"with contract {res.config_contract!r}",
            )
        return impl

    @staticmethod
    def _read_settings(
        impl: _Implementation, res: _ResourceIn, existing: StoredApplication | None
    ) -> dict[str, object]:
        """A new settings object: given fields by exact name, every other one its default."""
        given: dict[str, object] = {}
        for name, value in res.fields or []:
            given.setdefault(name, value)
        settings: dict[str, object] = {}
        for spec in impl.fields:
            if spec.name not in given:
                settings[spec.name] = copy.deepcopy(spec.default)
                continue
            value = _coerce(spec, given[spec.name])
            if (
                value == MASK
                and spec.privacy in ("apiKey", "password")
                and existing is not None
                and spec.name in existing.fields
            ):
                value = existing.fields[spec.name]
            settings[spec.name] = value
        return settings

    @staticmethod
    def _settings_failures(
        impl: _Implementation, settings: Mapping[str, object]
    ) -> list[JsonDict]:
        failures: list[JsonDict] = []
        for prop, key in (("BaseUrl", "baseUrl"), ("ProwlarrUrl", "prowlarrUrl")):
            value = settings.get(key)
            if not _valid_url(value):
                shown = value if isinstance(value, str) else ""
                failures.append(_settings_failure(prop, f"Invalid Url: '{shown}'", value))
        api_key = settings.get("apiKey")
        if not isinstance(api_key, str) or not api_key.strip():
            failures.append(_settings_failure("ApiKey", "'Api Key' must not be empty.", api_key))
        if impl.categories_required and not settings.get("syncCategories"):
            failures.append(
                _settings_failure(
                    "SyncCategories",
                    "'Sync Categories' must not be empty.",
                    settings.get("syncCategories"),
                )
            )
        return failures

    def _connection_failures(
        self, impl: _Implementation, settings: Mapping[str, object]
    ) -> list[JsonDict]:
        """The live, two-way test (Radarr.Test, RadarrV3Proxy.TestConnection).

        Prowlarr asks the manager at baseUrl to test an indexer at `{prowlarrUrl}/0/`; the
        manager fetches that indexer's caps from Prowlarr and answers 400 when it cannot, which
        Prowlarr reports as an invalid Prowlarr URL. Then the manager's version must do.
        """
        base_url = str(settings.get("baseUrl") or "")
        self.connection_tests.append(base_url)
        if any(entry and entry in base_url for entry in self.unreachable):
            host = urlsplit(base_url).netloc or base_url
            return [
                _settings_failure(
                    "BaseUrl",
                    f"Unable to complete application test, cannot connect to {impl.name}. "
                    f"Connection refused ({host})",
                )
            ]
        if not self._manager_reaches_prowlarr(str(settings.get("prowlarrUrl") or "")):
            message = f"Prowlarr URL is invalid, {impl.name} cannot connect to Prowlarr"
            return [_settings_failure("ProwlarrUrl", message)]
        version = next(
            (v for entry, v in self.manager_versions.items() if entry and entry in base_url),
            MANAGER_VERSION,
        )
        failure = _version_failure(impl.name, version)
        return [failure] if failure else []

    def _manager_reaches_prowlarr(self, prowlarr_url: str) -> bool:
        """The manager's indexer test: GET {prowlarrUrl}/0/api?t=caps&apikey=<Prowlarr's key>.

        A real request to this fake, at the address `hosts` resolves prowlarrUrl's host to;
        `callbacks` records the URL (without the key) and the answer's status.
        """
        target = prowlarr_url.rstrip("/") + "/0/api"
        shown = f"{target}?t=caps"
        netloc = _netloc(prowlarr_url)
        own = f"127.0.0.1:{self.port}"
        address = self.hosts.get(netloc) or (own if netloc == own else None)
        if address is None:  # the name does not resolve, as in a cluster without that Service
            self.callbacks.append((shown, None))
            return False
        query = urlencode({"t": "caps", "apikey": self.api_key})
        with self._unlocked():  # the callback is served by another thread of this server
            status, body = _http_get(address, f"{urlsplit(target).path}?{query}")
        self.callbacks.append((shown, status))
        return status == 200 and b"<caps" in body

    @contextlib.contextmanager
    def _unlocked(self) -> Generator[None, None, None]:
        """Let other requests in while this one waits for its own callback.

        Only from a handler, where `_handle` holds the lock once.
        """
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()

    def _newznab(self, call: _Call) -> _Response:
        """GET /{id}/api: the Newznab API of an indexer (NewznabController).

        Id 0 is Prowlarr's built-in test indexer, the one a media manager tests when Prowlarr
        registers it: caps with every standard category, one test release for a search. The
        fake has no other indexers: any other id, or another function on id 0, is a 404.
        """
        kind = call.query.get("t", "")
        if not kind.strip():
            return _rss_response(400, _newznab_error(200, "Missing parameter (t)"))
        if call.route_id == 0 and kind == "caps":
            return _rss_response(200, _newznab_caps())
        if call.route_id == 0 and kind in _SEARCH_TYPES:
            return _rss_response(200, _newznab_test_release())
        raise _error(404, "Indexer Not Found")

    def _list_apps(self, call: _Call) -> _Response:
        apps = sorted(self._apps.values(), key=lambda a: (a.name.casefold(), a.id))
        return _json_response(200, [self._app_json(a) for a in apps])

    def _get_app(self, call: _Call) -> _Response:
        app_id = cast("int", call.route_id)
        app = self._apps.get(app_id)
        if app is None:
            raise self._not_found(app_id)
        return _json_response(200, self._app_json(app))

    def _schema(self, call: _Call) -> _Response:
        templates: list[JsonDict] = []
        for impl in sorted(IMPLEMENTATIONS.values(), key=lambda i: i.name):
            fields = [
                _field_json(spec, order, spec.default) for order, spec in enumerate(impl.fields)
            ]
            templates.append(
                {
                    "syncLevel": "fullSync",
                    "enable": True,
                    "fields": fields,
                    "implementationName": impl.name,
                    "implementation": impl.name,
                    "configContract": impl.contract,
                    "infoLink": impl.info_link,
                    "tags": [],
                    "presets": [],
                }
            )
        return _json_response(200, templates)

    def _create_app(self, call: _Call) -> _Response:
        res = _parse_resource(self._json_body(call))
        failures = self._shared_failures(res, own_id=res.id)
        if res.fields is None:
            failures.append(
                _rule_failure(
                    "Fields", "Fields", "'Fields' must not be empty.", None, "NotNullValidator"
                )
            )
        if failures:
            raise _HttpError(_json_response(400, failures))
        impl = self._implementation(res)
        settings = self._read_settings(impl, res, existing=None)
        if res.sync_level != "disabled":
            failures = self._settings_failures(impl, settings)
            if not failures:
                # forceSave only waives warnings: the connection test runs on POST regardless.
                failures = self._connection_failures(impl, settings)
            if failures:
                raise _HttpError(_json_response(400, failures))
        if res.id:
            raise _error(
                500,
                f"Can't insert model with existing ID {res.id}",
                f"System.InvalidOperationException: Can't insert model with existing ID {res.id}",
            )
        name = cast("str", res.name)
        app_id = self._insert(impl, name, res.sync_level, res.tags, settings)
        self._sync_indexers(self._apps[app_id], remove=False)  # ProviderAddedEvent<IApplication>
        location = f"{self.url_base}/api/v1/applications/{app_id}"
        return _json_response(201, self._app_json(self._apps[app_id]), {"Location": location})

    def _update_app(self, call: _Call) -> _Response:
        res = _parse_resource(self._json_body(call))
        app_id = res.id or call.route_id or 0
        if app_id <= 0:
            raise _HttpError(
                _json_response(
                    400,
                    [
                        _rule_failure(
                            "Id",
                            "Id",
                            "'Id' must be greater than '0'.",
                            app_id,
                            "GreaterThanValidator",
                        )
                    ],
                )
            )
        failures = self._shared_failures(res, own_id=app_id)
        if failures:
            raise _HttpError(_json_response(400, failures))
        existing = self._apps.get(app_id)
        if existing is None:
            raise self._not_found(app_id)
        impl = self._implementation(res)
        settings = self._read_settings(impl, res, existing=existing)
        if res.sync_level != "disabled":
            failures = self._settings_failures(impl, settings)
            if not failures and not _query_bool(call, "forceSave"):
                failures = self._connection_failures(impl, settings)
            if failures:
                raise _HttpError(_json_response(400, failures))
        self._apps[app_id] = StoredApplication(
            app_id,
            cast("str", res.name),
            impl.name,
            impl.contract,
            res.sync_level,
            res.tags,
            settings,
            existing.indexers,  # a new tag removes nothing until ApplicationIndexerSync runs
        )
        return _json_response(202, self._app_json(self._apps[app_id]))

    def _delete_app(self, call: _Call) -> _Response:
        app_id = cast("int", call.route_id)
        if app_id <= 0:
            raise _HttpError(
                _json_response(
                    400,
                    [
                        _rule_failure(
                            "Id",
                            "Id",
                            "'Id' must be greater than '0'.",
                            app_id,
                            "GreaterThanValidator",
                        )
                    ],
                )
            )
        self._apps.pop(app_id, None)
        return _json_response(200, {})

    def _test_app(self, call: _Call) -> _Response:
        res = _parse_resource(self._json_body(call))
        failures = self._shared_failures(res, own_id=res.id)
        if failures:
            raise _HttpError(_json_response(400, failures))
        impl = self._implementation(res)
        existing = self._apps.get(res.id) if res.id > 0 else None
        settings = self._read_settings(impl, res, existing=existing)
        failures = self._settings_failures(impl, settings) or self._connection_failures(
            impl, settings
        )
        if failures:
            raise _HttpError(_json_response(400, failures))
        return _json_response(200, "{}")

    def _test_all(self, call: _Call) -> _Response:
        results: list[JsonDict] = []
        for app in sorted(self._apps.values(), key=lambda a: a.id):
            impl = IMPLEMENTATIONS[app.implementation]
            failures = self._connection_failures(impl, app.fields)
            results.append({"id": app.id, "isValid": not failures, "validationFailures": failures})
        status = 200 if all(r["isValid"] for r in results) else 400
        return _json_response(status, results)

    # ---------------------------------------------------------------- commands

    def _post_command(self, call: _Call) -> _Response:
        payload = _as_object(self._json_body(call))
        if payload is None:
            raise _problem("The JSON value could not be converted to CommandResource.")
        data = _lower_keys(payload)
        raw_name = data.get("name")
        if raw_name is not None and not isinstance(raw_name, str):
            raise _problem("The JSON value could not be converted to System.String. Path: $.name")
        if not raw_name or not raw_name.strip():
            failure = _rule_failure(
                "Name", "Name", "'Name' must not be empty.", raw_name, "NotEmptyValidator"
            )
            raise _HttpError(_json_response(400, [failure]))
        kind = _COMMAND_TYPES.get(raw_name.strip().lower())
        if kind is None:
            raise _error(
                500,
                "Sequence contains no matching element",
                "System.InvalidOperationException: Sequence contains no matching element",
            )
        options: dict[str, bool] = {}
        for option, default in kind.options:
            value = data.get(option.lower(), default)
            if value is None:
                value = default
            if not isinstance(value, bool):
                raise _problem(
                    f"The JSON value could not be converted to System.Boolean: {option}"
                )
            options[option] = value
        for cmd in self._commands.values():
            if (
                cmd.name == kind.name
                and cmd.options == options
                and cmd.status in ("queued", "started")
            ):
                return _json_response(201, _command_json(cmd))
        cmd = FakeCommand(
            id=self._next_command_id,
            name=kind.name,
            options=options,
            queued=datetime.now(timezone.utc),
            client_user_agent=call.headers.get("user-agent"),
        )
        self._next_command_id += 1
        self._commands[cmd.id] = cmd
        self._schedule(self.command_delay, self._begin, cmd.id)
        location = f"{self.url_base}/api/v1/command/{cmd.id}"
        return _json_response(201, _command_json(cmd), {"Location": location})

    def _get_command(self, call: _Call) -> _Response:
        cmd = self._commands.get(cast("int", call.route_id))
        if cmd is None:
            raise _error(404, "Not Found")
        return _json_response(200, _command_json(cmd))

    def _list_commands(self, call: _Call) -> _Response:
        return _json_response(200, [_command_json(c) for c in self._commands.values()])

    def _cancel_command(self, call: _Call) -> _Response:
        cmd = self._commands.get(cast("int", call.route_id))
        if cmd is None:
            raise _error(404, "Not Found")
        if cmd.status == "queued":
            cmd.status = "cancelled"
            cmd.ended = datetime.now(timezone.utc)
        return _json_response(200, {})

    def _schedule(self, delay: float, action: Callable[[int], None], command_id: int) -> None:
        """Run `action(command_id)` on the executor `delay` seconds from now."""
        timer = threading.Timer(delay, self._on_executor, (action, command_id))
        timer.daemon = True
        self._timers = [t for t in self._timers if t.is_alive()]
        self._timers.append(timer)
        timer.start()

    def _on_executor(self, action: Callable[[int], None], command_id: int) -> None:
        with self._lock:
            if self._running:
                action(command_id)

    def _begin(self, command_id: int) -> None:
        """The executor picks the command up: started, then run after `command_duration`."""
        cmd = self._commands.get(command_id)
        if cmd is None or cmd.status != "queued":
            return
        cmd.status = "started"
        cmd.started = datetime.now(timezone.utc)
        if cmd.name not in self.stuck_commands:
            self._schedule(self.command_duration, self._finish, command_id)

    def _finish(self, command_id: int) -> None:
        cmd = self._commands.get(command_id)
        if cmd is None or cmd.status != "started":
            return
        if cmd.name == "ResetApiKey" and cmd.name not in self.failing_commands:
            self._reset_in_steps(cmd)
        else:
            self._execute(cmd)

    def _reset_in_steps(self, cmd: FakeCommand) -> None:
        """ResetApiKey as Prowlarr runs it (ConfigFileProvider.ResetApiKey, SaveConfigFile).

        The key changes in memory (the old one gets 401 at once), config.xml keeps the old key,
        then is truncated, then holds the new key; only then does the command complete.
        """
        text = self._use_new_key()
        half = self.reset_save_delay / 2
        self._pending_saves[cmd.id] = text
        self._schedule(half, self._reset_truncate, cmd.id)
        self._schedule(self.reset_save_delay, self._reset_saved, cmd.id)

    def _reset_truncate(self, command_id: int) -> None:
        if self._pending_saves.get(command_id) is not None:
            self.config_path.write_text("")  # the write truncates the file first

    def _reset_saved(self, command_id: int) -> None:
        self._save_config_text(self._pending_saves.pop(command_id, None))
        cmd = self._commands[command_id]
        cmd.status, cmd.message, cmd.ended = "completed", None, datetime.now(timezone.utc)

    def _execute(self, cmd: FakeCommand) -> None:
        """Run the command's effect and end it completed, or failed."""
        now = datetime.now(timezone.utc)
        cmd.started = cmd.started or now
        try:
            if cmd.name in self.failing_commands:
                raise RuntimeError(f"{cmd.name} failed (fake)")
            if cmd.name == "ResetApiKey":
                self.reset_api_key()
            elif cmd.name == "ApplicationIndexerSync":
                self.syncs.append(cmd.options["forceSync"])
                self.run_application_indexer_sync()
            elif cmd.name == "Backup":
                self.backup_now("manual")
        except (RuntimeError, FakeStartError, OSError, zipfile.BadZipFile) as exc:
            cmd.status = "failed"
            cmd.message = "Failed"  # CommandExecutor: SetMessage("Failed"); the text is exception
            cmd.exception = f"{type(exc).__name__}: {exc}"
        else:
            cmd.status = "completed"
            cmd.message = None  # Command.CompletionMessage is null: no message
        cmd.ended = now
