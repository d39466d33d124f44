"""The charm's configuration options, typed and validated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

import ops

from workload import LogLevel, parse_url_base


class SyncLevel(str, Enum):
    """The `sync-level` option; `.prowlarr` is the value of Prowlarr's `syncLevel` field."""

    FULL_SYNC = "full-sync"
    ADD_REMOVE_ONLY = "add-remove-only"
    DISABLED = "disabled"

    @property
    def prowlarr(self) -> str:
        """Prowlarr's own name for this level."""
        return {
            SyncLevel.FULL_SYNC: "fullSync",
            SyncLevel.ADD_REMOVE_ONLY: "addOnly",
            SyncLevel.DISABLED: "disabled",
        }[self]


class KeyRotation(str, Enum):
    """The `api-key-rotation` option: the Juju rotation policy of the API-key secret."""

    DISABLED = "disabled"
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"

    @property
    def policy(self) -> ops.SecretRotate:
        """The ops rotation policy (NEVER for disabled)."""
        if self is KeyRotation.DISABLED:
            return ops.SecretRotate.NEVER
        return ops.SecretRotate(self.value)


@dataclass(frozen=True)
class CharmConfig:
    """Validated charm configuration."""

    log_level: LogLevel
    sync_level: SyncLevel
    api_key_rotation: KeyRotation
    url_base: str = ""  # "" or "/base"
    ui_credentials: str = ""  # ID of the user secret holding the UI login, or ""
    backup_interval: int = 7  # days between Prowlarr's scheduled backups
    backup_retention: int = 28  # days Prowlarr keeps its scheduled backups


class InvalidConfigError(Exception):
    """One or more options have a value outside their allowed set; the message names them."""


def _parse(options: Mapping[str, object], name: str, enum: type[Enum], default: str) -> object:
    raw = options.get(name, default)
    value = str(raw).strip().lower()
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(str(member.value) for member in enum)
        raise InvalidConfigError(f"invalid {name} {raw!r}: use one of {allowed}") from None


def _days(options: Mapping[str, object], name: str, default: int, most: int) -> int:
    """A whole number of days from 1 to `most`; InvalidConfigError naming the option."""
    raw = options.get(name, default)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= most:
        raise InvalidConfigError(f"invalid {name} {raw!r}: use a number of days from 1 to {most}")
    return raw


def load_config(options: Mapping[str, object]) -> CharmConfig:
    """Validate the charm's config; raise InvalidConfigError naming every bad option."""
    errors: list[str] = []
    values: dict[str, object] = {}
    for name, enum, default in (
        ("log-level", LogLevel, "info"),
        ("sync-level", SyncLevel, "full-sync"),
        ("api-key-rotation", KeyRotation, "disabled"),
    ):
        try:
            values[name] = _parse(options, name, enum, default)
        except InvalidConfigError as e:
            errors.append(str(e))
    raw_base = str(options.get("url-base") or "")
    try:
        url_base = parse_url_base(raw_base)
    except ValueError as e:
        errors.append(f"invalid url-base {raw_base[:60]!r}: {e}")
        url_base = ""
    ui_credentials = str(options.get("ui-credentials") or "").strip()
    days: dict[str, int] = {}
    for name, default, most in (("backup-interval", 7, 7), ("backup-retention", 28, 90)):
        try:
            days[name] = _days(options, name, default, most)
        except InvalidConfigError as e:
            errors.append(str(e))
    if errors:
        raise InvalidConfigError("; ".join(errors))
    return CharmConfig(
        log_level=LogLevel(values["log-level"]),
        sync_level=SyncLevel(values["sync-level"]),
        api_key_rotation=KeyRotation(values["api-key-rotation"]),
        url_base=url_base,
        ui_credentials=ui_credentials,
        backup_interval=days["backup-interval"],
        backup_retention=days["backup-retention"],
    )
