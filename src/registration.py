"""Register related media managers as Prowlarr applications, idempotently.

The charm manages only the applications it created, or adopted: a hand-added application of the
same kind pointing at the same media manager. It remembers them as `ManagedRecord`s — relation
id, Prowlarr application id, the kind and URL it set, and a fingerprint of what it last applied.
A record is believed only while the application it names is still that kind at that URL (after a
backup restore or on new storage, ids can name other applications). The fingerprint covers the
media manager's API key only as a hash, so records can live in a databag without leaking the key.

An application's tags (the `application-tags` option) are managed like its other fields. The
record keeps the tag ids last applied, so a steady hook compares them with the listing, without
a request for the tags; a change resolves the labels afresh, and a change of an application's
tags is followed by one ApplicationIndexerSync, which removes the indexers that no longer match.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from pydantic import BaseModel, ConfigDict, ValidationError

from capability import ActionError
from prowlarr import (
    Application,
    ProwlarrClient,
    ProwlarrConnectionError,
    ProwlarrError,
    ProwlarrReadTimeoutError,
    ProwlarrValidationError,
)
from tags import ensure_tags

logger = logging.getLogger(__name__)

# Prowlarr implementation and settings contract for each media manager of the interface.
IMPLEMENTATIONS: dict[str, tuple[str, str]] = {
    "radarr": ("Radarr", "RadarrSettings"),
    "sonarr": ("Sonarr", "SonarrSettings"),
    "lidarr": ("Lidarr", "LidarrSettings"),
    "readarr": ("Readarr", "ReadarrSettings"),
    "whisparr": ("Whisparr", "WhisparrSettings"),
}

_MAX_MESSAGE = 110


@dataclass(frozen=True)
class DesiredApplication:
    """What one media-indexer relation asks Prowlarr to hold."""

    relation_id: int
    remote_app: str
    name: str
    implementation: str
    config_contract: str
    prowlarr_url: str
    base_url: str
    sync_level: str
    api_key: str = field(repr=False)
    secret: str = ""  # unique id of the secret the key came from
    tags: tuple[str, ...] = ()  # tag labels (sorted): only the indexers sharing one are synced

    @cached_property
    def fingerprint(self) -> str:
        """A digest of every managed value; the key enters it only as its own hash."""
        managed = {
            "name": self.name,
            "implementation": self.implementation,
            "prowlarrUrl": self.prowlarr_url,
            "baseUrl": self.base_url,
            "syncLevel": self.sync_level,
            "apiKey": hashlib.sha256(self.api_key.encode()).hexdigest(),
        }
        if self.tags:  # no tags: the digest records written before tags were managed
            managed["tags"] = ",".join(self.tags)
        return hashlib.sha256(json.dumps(managed, sort_keys=True).encode()).hexdigest()


class ManagedRecord(BaseModel):
    """An application the charm registered, as kept in the peer databag."""

    model_config = ConfigDict(frozen=True)

    relation_id: int
    app_id: int
    fingerprint: str
    implementation: str = ""  # empty in records written before identities were kept
    base_url: str = ""
    secret: str = ""  # unique id of the secret its key came from
    tag_ids: tuple[int, ...] = ()  # the tags last applied (sorted ids)

    def names(self, app: Application, desired: DesiredApplication | None) -> bool:
        """Whether `app` is still the application this record was made for.

        Same implementation and the base URL last applied; a record from before identities
        were kept is checked against what the relation wants now.
        """
        implementation = self.implementation or (desired.implementation if desired else "")
        base_url = self.base_url or (desired.base_url if desired else "")
        return (
            app.implementation == implementation and _text(app.field_value("baseUrl")) == base_url
        )


def load_records(raw: str | None) -> dict[int, ManagedRecord]:
    """Parse the records kept in the peer databag; unreadable data counts as none."""
    if not raw:
        return {}
    try:
        items = json.loads(raw)
        records = [ManagedRecord.model_validate(item) for item in items]
    except (ValueError, TypeError, ValidationError):
        logger.warning("ignoring unreadable application records in the peer databag")
        return {}
    return {record.relation_id: record for record in records}


def dump_records(records: dict[int, ManagedRecord]) -> str:
    """Serialise records deterministically, so an unchanged set writes the same string."""
    items = [records[rid] for rid in sorted(records)]
    # Without tags a record reads as it did before tags were managed: no rewrite on upgrade.
    dumped = [r.model_dump(exclude={"tag_ids"} if not r.tag_ids else None) for r in items]
    return json.dumps(dumped, separators=(",", ":"))


@dataclass(frozen=True)
class Problem:
    """Why one application could not be synced; `waiting` when it should fix itself."""

    name: str
    message: str
    waiting: bool = True

    def __str__(self) -> str:
        text = f"{self.name}: {self.message}"
        return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


@dataclass
class SyncReport:
    """The outcome of one sync: records to keep, what changed, and problems to show."""

    records: dict[int, ManagedRecord]
    problems: list[Problem] = field(default_factory=list[Problem])
    created: int = 0
    updated: int = 0
    deleted: int = 0
    synced: int = 0
    retagged: int = 0  # applications whose tags changed (then ApplicationIndexerSync runs)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _differs(app: Application, desired: DesiredApplication, tag_ids: Sequence[int]) -> bool:
    return (
        sorted(app.tags) != sorted(tag_ids)
        or app.name != desired.name
        or app.implementation != desired.implementation
        or app.sync_level != desired.sync_level
        or _text(app.field_value("prowlarrUrl")) != desired.prowlarr_url
        or _text(app.field_value("baseUrl")) != desired.base_url
    )


def _apply(app: Application, desired: DesiredApplication, tag_ids: Sequence[int]) -> Application:
    """Set the managed values on a full resource; every other field stays as it is."""
    updated = app.model_copy(
        update={
            "name": desired.name,
            "implementation": desired.implementation,
            "config_contract": desired.config_contract,
            "sync_level": desired.sync_level,
            "tags": list(tag_ids),
        }
    )
    updated = updated.with_field("prowlarrUrl", desired.prowlarr_url)
    updated = updated.with_field("baseUrl", desired.base_url)
    return updated.with_field("apiKey", desired.api_key)


def _failure_message(error: ProwlarrError) -> str:
    if isinstance(error, ProwlarrValidationError) and error.failures:
        return "; ".join(failure.error_message for failure in error.failures)
    return str(error)


class _Sync:
    """One pass over Prowlarr's applications (see `sync_applications`)."""

    def __init__(
        self,
        client: ProwlarrClient,
        apps: Iterable[Application],
        records: dict[int, ManagedRecord],
        desired: dict[int, DesiredApplication],
    ) -> None:
        self.client = client
        self.apps = {app.id: app for app in apps if app.id is not None}
        self.report = SyncReport(records=self._believed(records, desired))
        self._templates: dict[str, Application] | None = None

    def _believed(
        self, records: dict[int, ManagedRecord], desired: dict[int, DesiredApplication]
    ) -> dict[int, ManagedRecord]:
        """The records whose application is still the one the charm made; others are dropped."""
        kept: dict[int, ManagedRecord] = {}
        for rid, record in records.items():
            app = self.apps.get(record.app_id)
            if app is None or record.names(app, desired.get(rid)):
                kept[rid] = record  # a missing app is re-created for a live relation
            else:
                logger.warning(
                    "Prowlarr application %s is no longer the one registered for relation %s "
                    "(restored or replaced): not touching it",
                    record.app_id,
                    rid,
                )
        return kept

    def template(self, implementation: str) -> Application:
        if self._templates is None:
            self._templates = {app.implementation: app for app in self.client.application_schema()}
        template = self._templates.get(implementation)
        if template is None:
            raise ProwlarrError(f"this Prowlarr has no {implementation} application template")
        return template

    def managed_app_ids(self) -> set[int]:
        return {record.app_id for record in self.report.records.values()}

    def remove_stale(self, live_relation_ids: set[int]) -> None:
        for rid, record in sorted(self.report.records.items()):
            if rid in live_relation_ids:
                continue
            if record.app_id in self.apps:
                self.client.delete_application(record.app_id)
                self.apps.pop(record.app_id)
                self.report.deleted += 1
                logger.info(
                    "deleted Prowlarr application %s of removed relation %s", record.app_id, rid
                )
            del self.report.records[rid]

    def claim_names(self, desired: Sequence[DesiredApplication]) -> list[DesiredApplication]:
        """Keep one relation per name: the one already registered, else the oldest relation."""
        order = sorted(
            desired, key=lambda d: (d.relation_id not in self.report.records, d.relation_id)
        )
        owners: dict[str, DesiredApplication] = {}
        for wanted in order:
            owner = owners.setdefault(wanted.name.casefold(), wanted)
            if owner is not wanted:
                message = f"instance name {wanted.name!r} is already used by {owner.remote_app}"
                self.report.problems.append(Problem(wanted.remote_app, message, waiting=False))
        return list(owners.values())

    def ensure(self, wanted: DesiredApplication) -> None:
        record = self.report.records.get(wanted.relation_id)
        current = self.apps.get(record.app_id) if record else None
        if current is None:
            current = self._hand_added(wanted)
            if current is None and self._name_taken(wanted.name):
                return
        # The tag ids last applied stand for the labels while nothing else changed.
        tag_ids = record.tag_ids if record and record.fingerprint == wanted.fingerprint else None
        if current is None or current.id is None:
            tag_ids = self.tag_ids(wanted.tags)
            created = self.client.create_application(
                _apply(self.template(wanted.implementation), wanted, tag_ids)
            )
            self.report.created += 1
            app_id = created.id if created.id is not None else 0
            self.apps[app_id] = created
        elif tag_ids is None or _differs(current, wanted, tag_ids):
            tag_ids = self.tag_ids(wanted.tags)
            updated = self.client.update_application(_apply(current, wanted, tag_ids))
            self.report.updated += 1
            if sorted(current.tags) != list(tag_ids):
                self.report.retagged += 1
            app_id = current.id
            self.apps[app_id] = updated
        else:
            app_id = current.id
        self.report.records[wanted.relation_id] = ManagedRecord(
            relation_id=wanted.relation_id,
            app_id=app_id,
            fingerprint=wanted.fingerprint,
            implementation=wanted.implementation,
            base_url=wanted.base_url,
            secret=wanted.secret,
            tag_ids=tag_ids,
        )

    def tag_ids(self, labels: Sequence[str]) -> tuple[int, ...]:
        """The ids of `labels` (sorted), the missing tags created; no request for none."""
        return tuple(sorted(ensure_tags(self.client, labels).values()))

    def _unmanaged(self) -> list[Application]:
        managed = self.managed_app_ids()
        return [app for app_id, app in sorted(self.apps.items()) if app_id not in managed]

    def _hand_added(self, wanted: DesiredApplication) -> Application | None:
        """The same media manager registered by hand (same kind, same URL), same name first."""
        same = [
            app
            for app in self._unmanaged()
            if app.implementation == wanted.implementation
            and _text(app.field_value("baseUrl")).rstrip("/") == wanted.base_url.rstrip("/")
        ]
        same.sort(key=lambda app: (app.name or "").casefold() != wanted.name.casefold())
        if same:
            logger.info("adopting Prowlarr application %r added by hand", same[0].name)
            return same[0]
        return None

    def _name_taken(self, name: str) -> bool:
        """Report a name used by another hand-added application; it stays untouched."""
        if not any((app.name or "").casefold() == name.casefold() for app in self._unmanaged()):
            return False
        message = f"instance name {name!r} is used by an application added by hand"
        self.report.problems.append(Problem(name, message, waiting=False))
        return True


def sync_applications(
    client: ProwlarrClient,
    apps: Iterable[Application],
    desired: Iterable[DesiredApplication],
    records: dict[int, ManagedRecord],
    live_relation_ids: set[int],
) -> SyncReport:
    """Bring Prowlarr's applications (`apps`, just listed) in line with the media managers.

    Creates what is missing, updates only what differs (or whose key changed), deletes the
    application of a relation that is gone, and never touches applications added by hand.
    A failure on one application (Prowlarr refusing it, or not answering in time while it
    tests the media manager) is reported and the others go on; only a Prowlarr that cannot
    be reached at all ends the pass.
    """
    wanted = {d.relation_id: d for d in desired}
    sync = _Sync(client, apps, records, wanted)
    try:
        sync.remove_stale(live_relation_ids)
    except ProwlarrError as e:
        sync.report.problems.append(Problem("prowlarr", f"cannot remove an application: {e}"))
        return sync.report
    for each in sync.claim_names(list(wanted.values())):
        try:
            sync.ensure(each)
        except ProwlarrConnectionError as e:
            sync.report.problems.append(Problem(each.name, f"Prowlarr unreachable: {e}"))
            break
        except ProwlarrReadTimeoutError:
            logger.warning("Prowlarr did not answer in time while registering %r", each.name)
            message = "Prowlarr did not answer in time (is the media manager reachable?)"
            sync.report.problems.append(Problem(each.name, message))
        except ProwlarrError as e:
            logger.warning("cannot register %r in Prowlarr: %s", each.name, _failure_message(e))
            sync.report.problems.append(Problem(each.name, _failure_message(e)))
    sync.report.synced = sum(
        1 for record in sync.report.records.values() if record.app_id in sync.apps
    )
    if sync.report.retagged:
        _resync(client, sync.report)
    return sync.report


def _resync(client: ProwlarrClient, report: SyncReport) -> None:
    """Run ApplicationIndexerSync once, so indexers that no longer match leave now."""
    try:
        client.run_command(SYNC_COMMAND)
    except ProwlarrError as e:
        report.problems.append(Problem("prowlarr", f"cannot start {SYNC_COMMAND}: {e}"))
    else:
        logger.info("ApplicationIndexerSync started: %d application(s) retagged", report.retagged)


SYNC_COMMAND = "ApplicationIndexerSync"
SYNC_TIMEOUT = 60.0


class SyncError(ActionError):
    """Prowlarr's forced indexer sync did not complete; the message says how it ended."""


def sync_indexers(client: ProwlarrClient) -> dict[str, object]:
    """The sync-indexers action: a forced ApplicationIndexerSync, followed to its end.

    Returns the action's results; raises SyncError or ProwlarrError.
    """
    done = client.run_and_wait(SYNC_COMMAND, timeout=SYNC_TIMEOUT, options={"forceSync": True})
    applications = len(client.list_applications())
    if not done.succeeded:
        raise SyncError(f"{SYNC_COMMAND} ended {done.status}: {done.message or ''}")
    return {"status": done.status, "message": done.message or "", "applications": applications}
