"""Backups: Prowlarr's own backups from juju, its schedule, and a copy before every refresh.

Prowlarr writes a backup (a zip of config.xml, which holds the API key, and the SQLite database)
when its `Backup` command runs, in the background like every command; it lists, deletes and
restores them through `/api/v1/system/backup`. A restore replaces config.xml at once and the
database at the next start, so the charm restarts Prowlarr through Pebble, then forgets what the
restored database made stale (`forget_after_restore`) and lets the reconcile apply it again.

Prowlarr's retention (`backup-retention` days) removes old scheduled and update backups, never
manual ones: the charm deletes the oldest of the backups `create-backup` made beyond
`KEEP_CREATED`, and nothing else. Backups lie under the host config's `backupFolder`, which a user
can move (relative to /config, or absolute): `create-backup` reports the path it has now.

On Kubernetes a refresh recreates the pod: Prowlarr starts on the new image, and migrates its
database, only when the charm adds its layer to the new container's empty plan.
`PreRefreshCopy.make` runs at that moment (the `before_first_start` seam of `Workload.ensure`)
and copies the database and config.xml under `PRE_REFRESH_DIR`; the newest `KEEP_PRE_REFRESH`
copies are kept. Nothing here ever reads, logs or returns a key or a backup's content.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

import flaresolverr
from api_key import SECRET_LABEL
from capability import ActionError, Report
from host_config import HostSettings, Want
from memory import APPLICATIONS, BACKUPS, DATABASE_CHOICE, HOST_CONFIG, Memory
from problem import Problem
from prowlarr import Backup, ProwlarrClient, ProwlarrError, ProwlarrTimeoutError, header_safe
from registration import dump_records, load_records
from workload import (
    CONFIG_DIR,
    CONTAINER_NAME,
    PebbleUnreachableError,
    Workload,
    WorkloadError,
    WorkloadSpec,
)

logger = logging.getLogger(__name__)

ACTIONS = ("create-backup", "list-backups", "restore-backup")
BACKUP_COMMAND = "Backup"
SYNC_COMMAND = "ApplicationIndexerSync"
MANUAL = "manual"
KEEP_CREATED = 5  # backups made by create-backup; older ones the charm made are deleted
BACKUP_TIMEOUT = 300.0  # seconds for Prowlarr's Backup command (a large database takes time)
SYNC_TIMEOUT = 60.0
RESTART_TIMEOUT = 60.0
NOT_WITH_POSTGRESQL = (
    "Prowlarr's data is in PostgreSQL: restore it with postgresql-k8s's backups "
    "(Prowlarr's own backups are of its SQLite data)"
)

BACKUPS_DIR = f"{CONFIG_DIR}/Backups"  # Prowlarr's default backupFolder; the charm's own copies
PRE_REFRESH_DIR = f"{BACKUPS_DIR}/pre-refresh"
KEEP_PRE_REFRESH = 3
DATABASE = "prowlarr.db"
# The database with its write-ahead log and shared-memory index (present after an unclean
# stop), then config.xml. Only the database is required: without it there is nothing to keep.
PRE_REFRESH_FILES = (DATABASE, f"{DATABASE}-wal", f"{DATABASE}-shm", "config.xml")
MANIFEST = "manifest.json"
_COPY_NAME = re.compile(r"(?P<time>\d{8}T\d{6}Z)(?:-(?P<n>\d+))?")


class BackupError(ActionError):
    """A backup action could not complete; the message says which step (never a key)."""


# --------------------------------------------------------------------------- schedule


def schedule(interval_days: int, retention_days: int) -> HostSettings:
    """Prowlarr's scheduled backups: every `interval_days`, kept `retention_days`."""
    return HostSettings(backup_interval=interval_days, backup_retention=retention_days)


def wanted(interval_days: int, retention_days: int) -> tuple[Want, Report]:
    """The backup part of Prowlarr's host settings, and the backups line of `report`."""
    settings = schedule(interval_days, retention_days)
    state = (
        f"scheduled every {interval_days} day(s), kept {retention_days} days "
        "(list-backups lists them)"
    )
    return Want("backup", settings, settings.fingerprint()), Report("backups", state=state)


# --------------------------------------------------------------------------- presentation


def utc_text(moment: datetime) -> str:
    """`moment` in UTC, to the second: 2026-05-01T12:00:00Z."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def human_size(size: int) -> str:
    """`size` bytes for a reader: 512 B, 3.4 MiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def backup_folder(setting: str | None) -> str:
    """Where Prowlarr writes its backups in the container, from the host config's backupFolder.

    Prowlarr (BackupService) takes a relative folder under its data directory (/config) and an
    absolute one as it is; unset means its default, /config/Backups.
    """
    folder = (setting or "").strip()
    if not folder:
        return BACKUPS_DIR
    if folder.startswith("/"):
        return folder.rstrip("/") or "/"
    return f"{CONFIG_DIR}/{folder.strip('/')}"


def file_path(backup: Backup, folder: str = BACKUPS_DIR) -> str:
    """Where a backup lies in the container, under Prowlarr's backup `folder`."""
    return f"{folder.rstrip('/')}/{backup.type}/{backup.name}"


def copy_command(unit: str, path: str) -> str:
    """The command that copies `path` off the pod to the current directory."""
    return f"juju scp --container {CONTAINER_NAME} {unit}:{path} ."


def table(backups: list[Backup]) -> str:
    """The backups as a text table, newest first."""
    rows = [("ID", "TYPE", "SIZE", "TIME (UTC)", "NAME")]
    ordered = sorted(backups, key=lambda b: b.time, reverse=True)
    rows += [(str(b.id), b.type, human_size(b.size), utc_text(b.time), b.name) for b in ordered]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
        + "  "
        + row[4]
        for row in rows
    )


# --------------------------------------------------------------------------- create, list


def _run(client: ProwlarrClient, name: str, timeout: float, **body: object) -> None:
    """Run a Prowlarr command and wait for it to complete; BackupError saying how it ended."""
    try:
        done = client.run_and_wait(name, timeout=timeout, options=body)
    except ProwlarrTimeoutError:
        message = f"Prowlarr's {name} command did not finish within {timeout:g}s"
        raise BackupError(message) from None
    if not done.succeeded:
        detail = f": {done.detail}" if done.detail else ""
        raise BackupError(f"Prowlarr's {name} command ended {done.status}{detail}")


def create(client: ProwlarrClient, memory: Memory, unit: str) -> dict[str, object]:
    """Make a manual backup, wait for it, prune the charm's old ones; the action's results.

    Raises BackupError or ProwlarrError.
    """
    before = {(b.id, b.time) for b in client.list_backups()}
    _run(client, BACKUP_COMMAND, BACKUP_TIMEOUT)
    listed = client.list_backups()
    new = [b for b in listed if b.type == MANUAL and (b.id, b.time) not in before]
    if not new:
        raise BackupError(
            f"Prowlarr's {BACKUP_COMMAND} command completed but listed no new backup"
        )
    made = max(new, key=lambda b: b.time)
    logger.info("Prowlarr made backup %s (%s)", made.name, human_size(made.size))
    created = memory.mapping(BACKUPS)
    created[str(made.id)] = made.name
    pruned = _prune(client, listed, created)
    memory.put_mapping(BACKUPS, created)
    path = file_path(made, backup_folder(client.get_host_config().backup_folder))
    results: dict[str, object] = {
        "id": made.id,
        "name": made.name,
        "type": made.type,
        "size": made.size,
        "size-human": human_size(made.size),
        "time": utc_text(made.time),
        "path": path,
        "copy-command": copy_command(unit, path),
    }
    if pruned:
        results["pruned"] = ", ".join(pruned)
    return results


def _prune(client: ProwlarrClient, listed: list[Backup], created: dict[str, str]) -> list[str]:
    """Delete the backups the charm made beyond the newest KEEP_CREATED; update `created`.

    Only a listed manual backup whose id and name the charm remembers counts as its own; one
    no longer listed is forgotten. A failed delete is retried at the next create-backup.
    """
    own = [b for b in listed if b.type == MANUAL and created.get(str(b.id)) == b.name]
    created.clear()
    created.update({str(b.id): b.name for b in own})
    pruned: list[str] = []
    for old in sorted(own, key=lambda b: b.time, reverse=True)[KEEP_CREATED:]:
        try:
            client.delete_backup(old.id)
        except ProwlarrError as e:
            logger.warning("cannot delete the old backup %s: %s", old.name, e)
            continue
        logger.info("deleted backup %s: create-backup keeps its newest %d", old.name, KEEP_CREATED)
        del created[str(old.id)]
        pruned.append(old.name)
    return pruned


def listing(client: ProwlarrClient, workload: Workload) -> dict[str, object]:
    """Every backup Prowlarr lists, and the pre-refresh copies; the action's results."""
    backups = client.list_backups()
    try:
        copies = sorted(pre_refresh_copies(workload), key=_copy_order, reverse=True)
        found = "\n".join(f"{PRE_REFRESH_DIR}/{name}" for name in copies) or "none"
    except WorkloadError as e:
        found = f"cannot list them: {e}"
    return {
        "count": len(backups),
        "backups": table(backups) if backups else "none",
        "pre-refresh": found,
    }


# --------------------------------------------------------------------------- restore


@dataclass(frozen=True)
class Restored:
    """The backup Prowlarr restored, and how many charm-owned applications to check again."""

    backup: Backup
    applications: int


def restore(
    client: ProwlarrClient, workload: Workload, spec: WorkloadSpec, backup_id: int, memory: Memory
) -> Restored:
    """Restore backup `backup_id`, restart Prowlarr through Pebble and wait for it.

    Prowlarr takes the restored config.xml at once and the database at its start. The charm's
    settings go back into config.xml (the URL base), what the restore made stale is forgotten,
    and the caller's reconcile then applies it again. Raises BackupError or ProwlarrError.
    """
    found = next((b for b in client.list_backups() if b.id == backup_id), None)
    if found is None:
        raise BackupError(f"Prowlarr has no backup with id {backup_id} (see list-backups)")
    if not client.restore_backup(backup_id):
        logger.info("Prowlarr did not ask for a restart after the restore; restarting anyway")
    logger.info("Prowlarr staged the restore of %s; restarting it to load it", found.name)
    applications = forget_after_restore(memory)
    try:
        workload.ensure(spec)
        workload.restart()
    except WorkloadError as e:
        raise BackupError(
            f"the restore of {found.name} is staged, but {e}; it takes effect when Prowlarr "
            "next starts"
        ) from None
    if not client.wait_until_ready(timeout=RESTART_TIMEOUT):
        raise BackupError(
            f"Prowlarr did not answer within {RESTART_TIMEOUT:g}s of its restart with "
            f"{found.name}; the charm goes on at the next hook"
        )
    return Restored(found, applications)


def forget_after_restore(memory: Memory) -> int:
    """Forget what a restored database makes stale; return how many applications to re-check.

    The restored database holds the applications, the UI user and the host settings of the
    backup's time: each charm-owned application keeps its identity (relation, id, kind, URL)
    but loses its fingerprint, so the next registration sends it one full PUT with the media
    manager's current key; the host-config memory goes, so the login and the backup schedule
    are applied again, and so is the FlareSolverr proxy (its id kept, its fingerprint gone).
    Prowlarr's own key needs nothing here: config.xml is the source of truth, and the reconcile
    turns a restored key into a new secret revision.
    """
    records = load_records(memory.raw(APPLICATIONS))
    stale = {rid: record.model_copy(update={"fingerprint": ""}) for rid, record in records.items()}
    memory.put_raw(APPLICATIONS, dump_records(stale) if stale else "")
    memory.put_raw(HOST_CONFIG, "")
    flaresolverr.forget_applied(memory)
    logger.info(
        "after the restore: %d charm-owned application(s) and the host settings are applied again",
        len(stale),
    )
    return len(stale)


def after_restore(
    workload: Workload, spec: WorkloadSpec, restored: Restored, key_before: str
) -> dict[str, object]:
    """After the reconcile: push Prowlarr's key and indexers to every media manager.

    Prowlarr pushes a changed key of its own only with a forced sync (a restore raises no
    "key changed" event), so the media managers' indexers would keep the key from before the
    restore. Returns the action's results; a failed sync is reported there, never raised.
    """
    try:
        now = workload.read_config()
    except WorkloadError as e:
        now, sync = None, f"not done ({e}): run sync-indexers"
    else:
        sync = "not done (config.xml holds no usable key): run sync-indexers"
    if now is not None and header_safe(now.api_key):
        with ProwlarrClient(now.api_key, spec.url_base) as client:
            try:
                _run(client, SYNC_COMMAND, SYNC_TIMEOUT, forceSync=True)
            except (BackupError, ProwlarrError) as e:
                logger.warning("the indexer sync after the restore failed: %s", e)
                sync = f"not done ({e}): run sync-indexers"
            else:
                sync = "completed"
    changed = now is not None and now.api_key != key_before
    return {
        "restored": restored.backup.name,
        "backup-time": utc_text(restored.backup.time),
        "api-key": (
            f"the restored config.xml holds another key: {SECRET_LABEL} has a new revision"
            if changed
            else "unchanged"
        ),
        "applications-rechecked": restored.applications,
        "indexer-sync": sync,
    }


# --------------------------------------------------------------------------- pre-refresh copy


class PreRefreshCopyError(WorkloadError):
    """The copy before Prowlarr's first start failed: Prowlarr is not started."""

    blocked = True


def pre_refresh_copies(workload: Workload) -> list[str]:
    """The names of the copies under PRE_REFRESH_DIR (others found there are not the charm's)."""
    return [name for name in workload.list_dir(PRE_REFRESH_DIR) if _COPY_NAME.fullmatch(name)]


def _copy_order(name: str) -> tuple[str, int]:
    match = _COPY_NAME.fullmatch(name)
    assert match is not None  # noqa: S101 - pre_refresh_copies keeps matching names only
    return match["time"], int(match["n"] or 1)


class PreRefreshCopy:
    """Copies the database and config.xml before Prowlarr first starts in a new container.

    `make` is the `before_first_start` of `Workload.ensure`; `made` then names the copy.
    """

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self.made = ""

    def make(self) -> None:
        """Copy, then keep the newest copies; PreRefreshCopyError (nothing starts) on failure.

        Pebble not answering is no failure of the copy: the container is (re)starting, nothing
        starts meanwhile and the next hook tries again (Waiting).
        """
        try:
            self._make()
        except PebbleUnreachableError:
            raise
        except WorkloadError as e:
            raise PreRefreshCopyError(
                f"no pre-refresh copy ({e}), so Prowlarr is not started: fix it, or run "
                "skip-pre-refresh-backup to start without one"
            ) from None

    def _make(self) -> None:
        present = set(self.workload.list_dir(CONFIG_DIR))
        if DATABASE not in present:
            logger.info("no %s in %s yet: no pre-refresh copy needed", DATABASE, CONFIG_DIR)
            return
        now = datetime.now(timezone.utc)
        name = self._new_name(now)
        target = f"{PRE_REFRESH_DIR}/{name}"
        try:
            self._copy(target, [f for f in PRE_REFRESH_FILES if f in present], now)
        except WorkloadError:
            self._discard(target)
            raise
        self.made = name
        logger.info(
            "pre-refresh copy of Prowlarr's database and config.xml: %s (the newest %d are kept)",
            target,
            KEEP_PRE_REFRESH,
        )
        self._prune()

    def _new_name(self, now: datetime) -> str:
        """The UTC time to the second; -2, -3... when that name is taken."""
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        taken = set(self.workload.list_dir(PRE_REFRESH_DIR))
        name, n = stamp, 1
        while name in taken:
            n += 1
            name = f"{stamp}-{n}"
        return name

    def _copy(self, target: str, files: list[str], now: datetime) -> None:
        for directory in (BACKUPS_DIR, PRE_REFRESH_DIR, target):
            self.workload.make_private_dir(directory)
        copied = {
            name: self.workload.copy_file(f"{CONFIG_DIR}/{name}", f"{target}/{name}")
            for name in files
        }
        manifest = {
            "made": utc_text(now),
            "why": "before Prowlarr's first start in a new container (a refresh or a new pod)",
            "files": {name: {"size": c.size, "sha256": c.sha256} for name, c in copied.items()},
        }
        # Written last: a copy without its manifest is incomplete.
        self.workload.write_private_file(f"{target}/{MANIFEST}", json.dumps(manifest, indent=2))

    def _discard(self, target: str) -> None:
        try:
            self.workload.remove_tree(target)
        except WorkloadError as e:
            logger.warning("cannot remove the incomplete copy %s: %s", target, e)

    def _prune(self) -> None:
        """Keep the newest KEEP_PRE_REFRESH complete copies; an incomplete one goes too."""
        try:
            names = sorted(pre_refresh_copies(self.workload), key=_copy_order, reverse=True)
            complete = [n for n in names if self._complete(n)]
            for name in names:
                if name not in complete[:KEEP_PRE_REFRESH]:
                    self.workload.remove_tree(f"{PRE_REFRESH_DIR}/{name}")
                    logger.info("removed the old pre-refresh copy %s", name)
        except WorkloadError as e:
            logger.warning("cannot remove old pre-refresh copies: %s", e)

    def _complete(self, name: str) -> bool:
        return MANIFEST in self.workload.list_dir(f"{PRE_REFRESH_DIR}/{name}")


def skip_copy(workload: Workload, start: Callable[[], list[Problem]]) -> dict[str, object]:
    """The skip-pre-refresh-backup action: start Prowlarr in a new container without a copy.

    `start` reconciles without the copy and returns the problems found. Raises BackupError
    (or WorkloadError) saying why Prowlarr was not started.
    """
    if not workload.can_connect():
        raise BackupError("the prowlarr container is not reachable")
    if workload.is_planned():
        raise BackupError("nothing to skip: Prowlarr has already started in this container")
    logger.warning("starting Prowlarr without a pre-refresh copy, as asked")
    problems = start()
    if not workload.is_running():
        reasons = "; ".join(p.message for p in problems) or "see juju status"
        raise BackupError(f"Prowlarr did not start: {reasons}")
    return {"started": "Prowlarr, without a pre-refresh copy"}


@dataclass(frozen=True)
class Ask:
    """What a backup action is given: its parameters, the memory, the unit, the key before."""

    params: Mapping[str, object]
    memory: Memory
    unit: str
    key_before: str = field(repr=False)  # Prowlarr's key before a restore
    reconcile: Callable[[], None] = lambda: None  # the charm's, between a restore and its sync


def run(
    action: str,
    client: ProwlarrClient,
    workload: Workload,
    spec: WorkloadSpec,
    ask: Ask,
) -> dict[str, object]:
    """create-backup, list-backups or restore-backup; the action's results.

    `ask.reconcile` runs between a restore and the sync that follows it, so that the restored key,
    applications and host settings are the charm's again; `ask.key_before` is the key Prowlarr
    had (to tell whether the restore brought another). Raises BackupError or ProwlarrError.
    """
    memory, params = ask.memory, ask.params
    if action == "create-backup":
        return create(client, memory, ask.unit)
    if action == "list-backups":
        return listing(client, workload)
    if memory.raw(DATABASE_CHOICE) == "postgresql":  # database.py: the data is in PostgreSQL
        raise BackupError(NOT_WITH_POSTGRESQL)
    backup_id = params.get("id")
    if not isinstance(backup_id, int):
        raise BackupError("give the backup's id (see list-backups)")
    restored = restore(client, workload, spec, backup_id, memory)
    ask.reconcile()
    return after_restore(workload, spec, restored, ask.key_before)
