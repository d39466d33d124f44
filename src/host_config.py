"""Prowlarr's host settings that capabilities want, applied together in one GET and one PUT.

Prowlarr's `/api/v1/config/host` resource carries the UI login (auth), the application URL
(ingress) and the backup schedule (backup). Its PUT saves every field, so each change is a fresh
GET with the charm's fields set and everything else as Prowlarr just returned it. The charm
remembers a fingerprint of what it applied (the password only as its hash) and PUTs again only
when the wanted settings change.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields, replace

from prowlarr import ProwlarrClient


@dataclass(frozen=True)
class HostSettings:
    """The fields of Prowlarr's host config the charm wants; None leaves a field as it is."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    application_url: str | None = None
    backup_interval: int | None = None
    backup_retention: int | None = None

    def _set(self) -> dict[str, object]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: value for name, value in values.items() if value is not None}

    def merge(self, other: HostSettings) -> HostSettings:
        """These settings with every field `other` sets."""
        return replace(self, **other._set())

    def wanted(self) -> dict[str, object]:
        """The fields to set, as HostConfig field names (the password also confirmed)."""
        out = self._set()
        if self.password is not None:
            out["password_confirmation"] = self.password
        return out

    def fingerprint(self) -> str:
        """A digest of what is wanted; the password enters it only as its own hash."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.password is not None:
            values["password"] = hashlib.sha256(self.password.encode()).hexdigest()
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def apply(client: ProwlarrClient, settings: HostSettings) -> None:
    """GET the whole host config, set the wanted fields, PUT it back. Raises ProwlarrError."""
    current = client.get_host_config()
    client.update_host_config(current.model_copy(update=settings.wanted()))
