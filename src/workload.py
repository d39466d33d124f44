"""Prowlarr's container through Pebble: the layer, config.xml and the files under /config.

Nothing here knows about Juju models or HTTP (Prowlarr's API is `prowlarr.py`). API keys never
reach a log record, an exception message, a repr or the layer.
"""

from __future__ import annotations

import logging
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

import ops
from ops import pebble

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
