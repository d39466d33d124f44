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
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace

from capability import Report
from memory import HOST_CONFIG, Memory
from prowlarr import ProwlarrClient, ProwlarrError

logger = logging.getLogger(__name__)


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


LOGIN = "auth"  # the part that sets Prowlarr's UI user


@dataclass(frozen=True)
class Want:
    """One capability's part of the host settings, and the fingerprint that says it is applied.

    `assumed` is the fingerprint taken as applied when none is remembered (a part whose
    default Prowlarr already holds); `forget` drops the part from memory once applied (back to
    "not set by the charm"); `verify` checks the part after the PUT (the login) and returns
    what is wrong, or None.
    """

    part: str
    settings: HostSettings
    fingerprint: str
    assumed: str = ""
    forget: bool = False
    verify: Callable[[ProwlarrClient], str | None] | None = None


def reconcile(client: ProwlarrClient, memory: Memory, wants: Sequence[Want]) -> Report:
    """Apply every part whose fingerprint differs from the one remembered, in one GET and PUT.

    Prowlarr refuses every host-config PUT until its login has a user, so the other parts wait
    for the login part to be applied.
    """
    report = Report("host-config")
    applied = memory.mapping(HOST_CONFIG)
    has_user = LOGIN in applied or any(want.part == LOGIN for want in wants)
    due = [
        want
        for want in wants
        if want.fingerprint != applied.get(want.part, want.assumed)
        and (has_user or want.part == LOGIN)
    ]
    if not due:
        return report
    settings = HostSettings()
    for want in due:
        settings = settings.merge(want.settings)
    done = list(due)
    try:
        apply(client, settings)
        for want in due:
            problem = want.verify(client) if want.verify is not None else None
            if problem:
                report.block(problem)
                done.remove(want)
    except ProwlarrError as e:
        report.wait(f"cannot update Prowlarr's host config: {e}")
        return report
    logger.info("Prowlarr's host config: applied %s", ", ".join(sorted(w.part for w in done)))
    for want in done:
        if want.forget:
            applied.pop(want.part, None)
        else:
            applied[want.part] = want.fingerprint
    memory.put_mapping(HOST_CONFIG, applied)
    return report
