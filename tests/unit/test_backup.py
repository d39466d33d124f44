"""Backups (issue 14): create, list and restore from juju, the schedule, a copy before a refresh.

Everything runs the real charm against the fake Prowlarr, which runs its Backup command in the
background, writes real zips (config.xml with the key, and its database) and restores the way
Prowlarr does: config.xml at once, the database at the next start.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import stat
import zipfile
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import ops
import pytest
from ops import pebble, testing

import backup
from charm import ProwlarrCharm
from tests.unit.conftest import make_state, prowlarr_container
from tests.unit.fake_prowlarr import FakeProwlarr
from tests.unit.recorder import CallRecorder
from tests.unit.test_auth import host_config_puts
from tests.unit.test_charm import USER_KEY, started, steady_state, write_config_xml
from tests.unit.test_hardening import change_error, seen_text
from tests.unit.test_registration import RADARR, RADARR_KEY, RADARR_KEY_2, deployment

Ctx = testing.Context[ProwlarrCharm]
PRE_REFRESH = Path("Backups/pre-refresh")
COPY_NAME = re.compile(r"\d{8}T\d{6}Z(-\d+)?")


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.fixture
def running(config_dir: Path, prowlarr: FakeProwlarr) -> FakeProwlarr:
    started(prowlarr, config_dir)
    prowlarr.command_delay = 0.02  # like Prowlarr: the command runs a moment after the POST
    return prowlarr


def ticking(start: datetime) -> Callable[[], datetime]:
    """A clock that moves one minute per call (backup names are to the second)."""
    moments = (start + timedelta(minutes=i) for i in range(1000))
    return lambda: next(moments)


# ------------------------------------------------------------------ create and list


def test_create_backup_then_list_backups_shows_it(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, logged: pytest.LogCaptureFixture
):
    state = steady_state(config_dir)

    out = ctx.run(ctx.on.action("create-backup"), state)

    created = dict(ctx.action_results or {})
    assert created["type"] == "manual"
    assert re.fullmatch(r"prowlarr_backup_v[\d.]+_[\d.]+_[\d.]+\.zip", created["name"])
    assert created["path"] == f"/config/Backups/manual/{created['name']}"
    assert created["copy-command"] == (
        f"juju scp --container prowlarr prowlarr-k8s/0:{created['path']} ."
    )
    zipped = config_dir / "Backups" / "manual" / created["name"]
    assert created["size"] == zipped.stat().st_size > 0
    with zipfile.ZipFile(zipped) as archive:
        assert USER_KEY in archive.read("config.xml").decode(), "the zip holds the key..."
    assert [c.name for c in running.commands] == ["Backup"], "run as a command, in the background"

    listed_out = ctx.run(ctx.on.action("list-backups"), out)

    listed = dict(ctx.action_results or {})
    assert listed["count"] == 1
    header, row = listed["backups"].splitlines()
    assert header.split() == ["ID", "TYPE", "SIZE", "TIME", "(UTC)", "NAME"]
    assert row.split()[0] == str(created["id"]) and row.split()[-1] == created["name"]
    assert created["id"] > 1000, "Prowlarr's ids are hash-derived, not 1, 2, 3"
    assert listed["pre-refresh"] == "none"
    assert USER_KEY not in seen_text(ctx, listed_out, logged) + json.dumps(created), "...never"


@pytest.mark.parametrize(
    ("folder", "inside"),
    [("Saved", "/config/Saved"), ("/srv/prowlarr-backups", "/srv/prowlarr-backups")],
)
def test_create_backup_reports_the_folder_prowlarr_writes_to(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, folder: str, inside: str
):
    running.set_host_setting("backupFolder", folder)  # moved in the UI, even out of /config

    ctx.run(ctx.on.action("create-backup"), steady_state(config_dir))

    created = dict(ctx.action_results or {})
    assert created["path"] == f"{inside}/manual/{created['name']}"
    assert running.host_path(str(created["path"])).is_file(), "where Prowlarr wrote it"
    assert created["copy-command"] == (
        f"juju scp --container prowlarr prowlarr-k8s/0:{created['path']} ."
    )


def test_create_backup_keeps_the_newest_five_it_made_and_no_other(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    running.clock = ticking(datetime(2026, 5, 1, 12, 0))
    by_hand = running.backup_now("manual").name  # made in Prowlarr's UI
    scheduled = running.backup_now("scheduled").name
    state = steady_state(config_dir)
    made: list[str] = []
    pruned: list[str] = []

    for _ in range(7):
        state = ctx.run(ctx.on.action("create-backup"), state)
        made.append(ctx.action_results["name"] if ctx.action_results else "")
        pruned.append((ctx.action_results or {}).get("pruned", ""))

    assert {b["name"] for b in running.backups()} == {by_hand, scheduled, *made[2:]}
    assert pruned == ["", "", "", "", "", made[0], made[1]]
    peers = state.get_relation(900)
    remembered = json.loads(peers.local_app_data["backups"])
    assert sorted(remembered.values()) == sorted(made[2:]), "ids and names only"


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        # Prowlarr's message is only "Failed": the first line of its exception says why.
        (
            "failing",
            "create-backup: Prowlarr's Backup command ended failed: "
            "RuntimeError: Backup failed (fake)",
        ),
        ("stuck", "create-backup: Prowlarr's Backup command did not finish within 0.3s"),
    ],
)
def test_a_backup_prowlarr_does_not_complete_fails_saying_so(
    ctx: Ctx,
    config_dir: Path,
    running: FakeProwlarr,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
    message: str,
):
    monkeypatch.setattr(backup, "BACKUP_TIMEOUT", 0.3)
    getattr(running, f"{fault}_commands").add("Backup")

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("create-backup"), steady_state(config_dir))

    assert failure.value.message == message


# ------------------------------------------------------------------ failures every action shares


ACTIONS: list[tuple[str, dict[str, Any]]] = [
    ("create-backup", {}),
    ("list-backups", {}),
    ("restore-backup", {"id": 1597773633}),
    ("skip-pre-refresh-backup", {}),
]


@pytest.mark.parametrize(("action", "params"), ACTIONS)
def test_every_backup_action_fails_clearly_on_a_non_leader(
    ctx: Ctx, config_dir: Path, action: str, params: dict[str, Any]
):
    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action(action, params=params), make_state(config_dir, leader=False))
    assert failure.value.message == (
        f"{action} runs on the leader unit only (the one marked * in juju status)"
    )


@pytest.mark.parametrize(("action", "params"), ACTIONS[:3])
def test_every_backup_action_fails_clearly_with_prowlarr_down(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, action: str, params: dict[str, Any]
):
    write_config_xml(config_dir, ApiKey=USER_KEY)  # Prowlarr is not running

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action(action, params=params), steady_state(config_dir))

    assert failure.value.message.startswith(f"{action}: Prowlarr: GET /api/v1/system/backup: ")
    assert "cannot reach Prowlarr" in failure.value.message
    assert USER_KEY not in failure.value.message


@pytest.mark.parametrize(("action", "params"), ACTIONS[:3])
def test_every_backup_action_fails_clearly_without_a_container(
    ctx: Ctx, config_dir: Path, action: str, params: dict[str, Any]
):
    state = make_state(config_dir, container=prowlarr_container(config_dir, can_connect=False))
    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action(action, params=params), state)
    assert failure.value.message == f"{action}: the prowlarr container is not reachable"


def test_restoring_an_unknown_id_fails_and_changes_nothing(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    before = (config_dir / "config.xml").read_text()

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("restore-backup", params={"id": 42}), steady_state(config_dir))

    assert failure.value.message == (
        "restore-backup: Prowlarr has no backup with id 42 (see list-backups)"
    )
    assert (config_dir / "config.xml").read_text() == before
    assert not [r for r in running.requests if "/restore/" in r.path]


# ------------------------------------------------------------------ restore


def test_restoring_an_older_backup_brings_its_key_back_as_a_new_secret_revision(
    ctx: Ctx,
    config_dir: Path,
    running: FakeProwlarr,
    calls: CallRecorder,
    logged: pytest.LogCaptureFixture,
):
    out = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0), deployment(config_dir, RADARR)
    )
    out = ctx.run(ctx.on.action("create-backup"), out)
    backup_id = (ctx.action_results or {})["id"]
    # Since the backup, Prowlarr's key was rotated and Radarr moved to a new key of its own.
    out = ctx.run(ctx.on.action("rotate-api-key"), out)
    rotated_key = running.api_key
    radarr_secret = dataclasses.replace(
        out.get_secret(id=RADARR.secret.id), latest_content={"api-key": RADARR_KEY_2}
    )
    out = dataclasses.replace(
        out, secrets={s for s in out.secrets if s.id != RADARR.secret.id} | {radarr_secret}
    )
    out = ctx.run(ctx.on.secret_changed(radarr_secret), out)
    [app_id] = running.applications
    assert running.stored_api_key(app_id) == RADARR_KEY_2
    running.clear_requests()
    calls.reset()

    out = ctx.run(ctx.on.action("restore-backup", params={"id": backup_id}), out)

    restored = dict(ctx.action_results or {})
    assert running.api_key == USER_KEY, "Prowlarr restarted with the restored config.xml"
    assert out.get_secret(label="prowlarr-api-key").latest_content == {"api-key": USER_KEY}
    assert calls.calls["secret-set-content"] == 1, "exactly one new revision"
    assert running.stored_api_key(app_id) == RADARR_KEY_2, "Radarr's current key, not the old"
    app_writes = [
        (r.method, r.path) for r in running.requests if r.path.startswith("/api/v1/applications/")
    ]
    assert app_writes == [("PUT", f"/api/v1/applications/{app_id}")], "one PUT per charm app"
    assert len(host_config_puts(running)) == 1, "login and schedule applied again, together"
    assert running.syncs[-1] is True, "a forced sync pushes the restored key to the managers"
    assert restored == {
        "restored": restored["restored"],
        "backup-time": restored["backup-time"],
        "api-key": (
            "the restored config.xml holds another key: prowlarr-api-key has a new revision"
        ),
        "applications-rechecked": 1,
        "indexer-sync": "completed",
    }
    assert out.unit_status == testing.ActiveStatus("1 application synced")
    keys = (USER_KEY, rotated_key, RADARR_KEY, RADARR_KEY_2)
    text = seen_text(ctx, out, logged)
    assert [key for key in keys if key in text] == []

    calls.reset()
    running.clear_requests()
    ctx.run(ctx.on.update_status(), out)
    assert calls.writes() == {}, "steady again"
    assert [r.method for r in running.requests] == ["GET"]


def test_a_restore_keeps_the_charms_url_base_and_its_restart_failure_is_reported(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, monkeypatch: pytest.MonkeyPatch
):
    state = steady_state(config_dir)
    state = ctx.run(ctx.on.action("create-backup"), state)
    backup_id = (ctx.action_results or {})["id"]

    def failing_restart(self: ops.Container, *args: Any, **kwargs: Any) -> None:
        raise change_error("cannot start service: exited quickly with code 1")

    monkeypatch.setattr(ops.Container, "restart", failing_restart)
    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("restore-backup", params={"id": backup_id}), state)

    assert failure.value.message.startswith("restore-backup: the restore of prowlarr_backup_v")
    assert "restarting Prowlarr failed: cannot start service: exited quickly" in (
        failure.value.message
    )
    assert (config_dir / "prowlarr.restore").exists(), "staged: it loads at the next start"


# ------------------------------------------------------------------ schedule options


def test_the_backup_schedule_is_applied_once_and_again_only_when_an_option_changes(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    first = ctx.run(ctx.on.update_status(), steady_state(config_dir))
    host = running.host_config()
    assert (host["backupInterval"], host["backupRetention"]) == (7, 28)
    assert len(host_config_puts(running)) == 1, "with the login, in the same PUT"

    running.clear_requests()
    steady = ctx.run(ctx.on.update_status(), first)
    assert host_config_puts(running) == []

    changed = dataclasses.replace(steady, config={"backup-interval": 2, "backup-retention": 90})
    out = ctx.run(ctx.on.config_changed(), changed)
    host = running.host_config()
    assert (host["backupInterval"], host["backupRetention"]) == (2, 90)
    assert len(host_config_puts(running)) == 1

    running.clear_requests()
    ctx.run(ctx.on.config_changed(), out)
    assert host_config_puts(running) == [], "a steady hook makes no host-config PUT"


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("backup-interval", 0, "invalid backup-interval 0: use a number of days from 1 to 7"),
        ("backup-interval", 8, "invalid backup-interval 8: use a number of days from 1 to 7"),
        ("backup-retention", 91, "invalid backup-retention 91: use a number of days from 1 to 90"),
    ],
)
def test_an_invalid_schedule_blocks_naming_the_option(
    ctx: Ctx, config_dir: Path, calls: CallRecorder, option: str, value: int, message: str
):
    out = ctx.run(ctx.on.config_changed(), make_state(config_dir, config={option: value}))

    assert out.unit_status == testing.BlockedStatus(message)
    assert calls.writes() == {}


# ------------------------------------------------------------------ the copy before a refresh


@pytest.fixture
def order(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the charm did in the prowlarr container, in order: pushes (by path) and replans."""
    seen_calls: list[str] = []
    for method in ("push", "replan", "start"):
        original = getattr(ops.Container, method)

        def wrapper(
            self: ops.Container,
            *args: Any,
            _original: Callable[..., Any] = original,
            _method: str = method,
            **kwargs: Any,
        ) -> Any:
            seen_calls.append(f"{_method} {args[0]}" if _method == "push" else _method)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(ops.Container, method, wrapper)
    return seen_calls


def new_pod(state: testing.State, config_dir: Path, *, can_connect: bool = True) -> testing.State:
    """The state Juju gives a refreshed unit: a new container (empty plan), fresh StoredState."""
    return dataclasses.replace(
        state,
        containers={prowlarr_container(config_dir, can_connect=can_connect)},
        stored_states=set(),
    )


def refresh(ctx: Ctx, state: testing.State, config_dir: Path, events: str) -> testing.State:
    """Run the new pod's first hooks, in the order given ("upgrade,ready" and so on)."""
    out = new_pod(state, config_dir, can_connect=not events.startswith("upgrade-early"))
    for name in events.split(","):
        if name in ("upgrade", "upgrade-early"):
            out = ctx.run(ctx.on.upgrade_charm(), out)
        else:
            connected = dataclasses.replace(out.get_container("prowlarr"), can_connect=True)
            out = dataclasses.replace(out, containers={connected})
            out = ctx.run(ctx.on.pebble_ready(out.get_container("prowlarr")), out)
    return out


def copies(config_dir: Path) -> list[str]:
    folder = config_dir / PRE_REFRESH
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.fixture
def deployed(ctx: Ctx, config_dir: Path, running: FakeProwlarr) -> testing.State:
    """A running deployment whose pod is then replaced: Prowlarr (the old image) is gone."""
    out = ctx.run(ctx.on.update_status(), steady_state(config_dir))
    running.stop()
    return out


@pytest.mark.parametrize(
    "events",
    [
        "upgrade-early,ready",  # upgrade-charm before Pebble answers, then pebble-ready
        "upgrade,ready",  # Pebble already answers at upgrade-charm
        "ready,upgrade",  # pebble-ready first
    ],
)
def test_a_refresh_copies_the_database_before_prowlarr_first_starts(
    ctx: Ctx,
    config_dir: Path,
    running: FakeProwlarr,
    deployed: testing.State,
    order: list[str],
    logged: pytest.LogCaptureFixture,
    events: str,
):
    boots_before = running.boots
    before = {name: (config_dir / name).read_bytes() for name in ("prowlarr.db", "config.xml")}

    out = refresh(ctx, deployed, config_dir, events)

    [name] = copies(config_dir)
    assert COPY_NAME.fullmatch(name)
    copy = config_dir / PRE_REFRESH / name
    assert sorted(p.name for p in copy.iterdir()) == ["config.xml", "manifest.json", "prowlarr.db"]
    assert {n: (copy / n).read_bytes() for n in before} == before, "the files as the pod left them"
    assert json.loads((copy / "prowlarr.db").read_text())["boots"] == boots_before
    assert running.boots == boots_before + 1, "Prowlarr started once, after the copy"
    copied = [i for i, call in enumerate(order) if f"/{PRE_REFRESH}/" in call]
    first_start = min(i for i, call in enumerate(order) if call in ("replan", "start"))
    assert copied and max(copied) < first_start, order
    for path in copy.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(copy.stat().st_mode) == 0o700
    manifest = json.loads((copy / "manifest.json").read_text())
    assert set(manifest["files"]) == {"prowlarr.db", "config.xml"}
    assert manifest["files"]["prowlarr.db"]["size"] == len(before["prowlarr.db"])
    statuses = [str(s) for s in ctx.unit_status_history] + [str(out.unit_status)]
    assert any(f"pre-refresh copy {name}" in s for s in statuses), statuses
    assert any(f"/config/Backups/pre-refresh/{name}" in r.getMessage() for r in logged.records)
    assert out.unit_status.name == "active"
    assert USER_KEY not in seen_text(ctx, out, logged)


def test_a_copy_after_a_hard_stop_takes_the_write_ahead_log_too(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    deployed = ctx.run(ctx.on.update_status(), steady_state(config_dir))
    running.kill()  # the old pod died without a checkpoint
    wal = (config_dir / "prowlarr.db-wal").read_bytes()

    refresh(ctx, deployed, config_dir, "ready")

    [name] = copies(config_dir)
    copy = config_dir / PRE_REFRESH / name
    assert {p.name for p in copy.iterdir()} == {
        "prowlarr.db",
        "prowlarr.db-wal",
        "prowlarr.db-shm",
        "config.xml",
        "manifest.json",
    }
    assert (copy / "prowlarr.db-wal").read_bytes() == wal


def test_only_the_newest_three_copies_are_kept(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, deployed: testing.State
):
    foreign = config_dir / PRE_REFRESH / "kept-by-hand"
    foreign.mkdir(parents=True)
    made: list[str] = []
    out = deployed
    for _ in range(4):
        out = refresh(ctx, out, config_dir, "ready")
        made.append(out.unit_status.message.rsplit(" ", 1)[-1])
        running.stop()

    assert copies(config_dir) == sorted([*made[1:], "kept-by-hand"]), made
    assert all(COPY_NAME.fullmatch(name) for name in made)


def test_a_fresh_deployment_has_nothing_to_copy(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr
):
    state = make_state(config_dir)

    out = ctx.run(ctx.on.pebble_ready(state.get_container("prowlarr")), state)

    assert out.unit_status == testing.ActiveStatus("0 applications synced")
    assert not (config_dir / "Backups").exists()


def test_a_steady_hook_copies_nothing(
    ctx: Ctx, owned_config_dir: Path, prowlarr: FakeProwlarr, calls: CallRecorder
):
    started(prowlarr, owned_config_dir)
    first = ctx.run(ctx.on.update_status(), steady_state(owned_config_dir))
    calls.reset()

    ctx.run(ctx.on.update_status(), first)

    assert calls.writes() == {}
    assert calls.calls["pebble-list-files"] == 0, "the gate costs nothing on a steady hook"
    assert not (owned_config_dir / "Backups").exists()


PRE_REFRESH_TARGET = f"/config/{PRE_REFRESH}/"


@pytest.fixture
def failing_copy(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[[str, Exception | None], None]]:
    """Make ops.Container.<method> raise `error` for the copy's files only, as ops raises it."""
    active: dict[str, Exception | None] = {}

    def wrap(method: str) -> None:
        original = getattr(ops.Container, method)

        def maybe_raising(self: ops.Container, path: Any, *args: Any, **kwargs: Any) -> Any:
            error = active.get(method)
            aimed = PRE_REFRESH_TARGET in str(path) or (
                method == "pull" and str(path) == "/config/prowlarr.db"
            )
            if error is not None and aimed:
                raise error
            return original(self, path, *args, **kwargs)

        monkeypatch.setattr(ops.Container, method, maybe_raising)

    for method in ("push", "pull"):
        wrap(method)

    def fail(method: str, error: Exception | None) -> None:
        active[method] = error

    yield fail
    active.clear()


@pytest.mark.parametrize(
    ("method", "error", "reason"),
    [
        (
            "push",
            pebble.PathError("generic-file-error", "write prowlarr.db: no space left on device"),
            "cannot copy /config/prowlarr.db to /config/Backups/pre-refresh/",
        ),
        (
            "pull",
            pebble.PathError("permission-denied", "open /config/prowlarr.db: permission denied"),
            "cannot copy /config/prowlarr.db to /config/Backups/pre-refresh/",
        ),
    ],
)
def test_a_failing_copy_blocks_the_start_until_it_works_or_is_skipped(
    ctx: Ctx,
    config_dir: Path,
    running: FakeProwlarr,
    deployed: testing.State,
    failing_copy: Callable[[str, Exception | None], None],
    method: str,
    error: Exception,
    reason: str,
):
    failing_copy(method, error)

    out = refresh(ctx, deployed, config_dir, "upgrade")

    assert out.unit_status.name == "blocked"
    message = out.unit_status.message
    assert message.startswith(f"no pre-refresh copy ({reason}")
    assert message.endswith(
        "so Prowlarr is not started: fix it, or run skip-pre-refresh-backup to start without one"
    )
    assert not running.running
    assert "prowlarr" not in out.get_container("prowlarr").plan.services
    assert copies(config_dir) == [], "the incomplete copy is removed"

    again = ctx.run(ctx.on.update_status(), out)
    assert again.unit_status.message.startswith(f"no pre-refresh copy ({reason}"), "tried again"
    assert not running.running

    skipped = ctx.run(ctx.on.action("skip-pre-refresh-backup"), again)

    assert ctx.action_results == {"started": "Prowlarr, without a pre-refresh copy"}
    assert running.running
    assert skipped.unit_status == testing.ActiveStatus("0 applications synced")
    assert copies(config_dir) == []

    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("skip-pre-refresh-backup"), skipped)
    assert failure.value.message == (
        "nothing to skip: Prowlarr has already started in this container"
    )


def test_a_copy_that_works_on_the_next_hook_lets_prowlarr_start(
    ctx: Ctx,
    config_dir: Path,
    running: FakeProwlarr,
    deployed: testing.State,
    failing_copy: Callable[[str, Exception | None], None],
):
    failing_copy("push", pebble.PathError("generic-file-error", "no space left on device"))
    blocked = refresh(ctx, deployed, config_dir, "ready")
    assert blocked.unit_status.name == "blocked"
    failing_copy("push", None)  # space was freed

    out = ctx.run(ctx.on.update_status(), blocked)

    assert running.running
    [name] = copies(config_dir)
    expected = f"0 applications synced · pre-refresh copy {name}"
    assert out.unit_status == testing.ActiveStatus(expected)


def test_list_backups_names_the_pre_refresh_copies(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, deployed: testing.State
):
    out = refresh(ctx, deployed, config_dir, "ready")
    [name] = copies(config_dir)

    ctx.run(ctx.on.action("list-backups"), out)

    assert (ctx.action_results or {})["pre-refresh"] == f"/config/Backups/pre-refresh/{name}"


def test_skip_without_a_reachable_container_fails_clearly(ctx: Ctx, config_dir: Path):
    state = make_state(config_dir, container=prowlarr_container(config_dir, can_connect=False))
    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("skip-pre-refresh-backup"), state)
    assert failure.value.message == "the prowlarr container is not reachable"


def test_an_application_registered_after_the_backup_is_registered_again(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    out = ctx.run(ctx.on.update_status(), deployment(config_dir))
    out = ctx.run(ctx.on.action("create-backup"), out)
    backup_id = (ctx.action_results or {})["id"]
    out = dataclasses.replace(
        out,
        relations={*out.relations, RADARR.relation},
        secrets={*out.secrets, RADARR.secret},
    )
    out = ctx.run(ctx.on.relation_changed(RADARR.relation, remote_unit=0), out)
    assert [a.name for a in running.applications.values()] == ["radarr"]

    out = ctx.run(ctx.on.action("restore-backup", params={"id": backup_id}), out)

    [app] = running.applications.values()
    assert (app.name, app.fields["apiKey"]) == ("radarr", RADARR_KEY)
    assert (ctx.action_results or {})["applications-rechecked"] == 1
    assert out.unit_status == testing.ActiveStatus("1 application synced")


def test_pebble_going_away_during_the_copy_is_a_wait_and_starts_nothing(
    ctx: Ctx,
    config_dir: Path,
    running: FakeProwlarr,
    deployed: testing.State,
    failing_copy: Callable[[str, Exception | None], None],
):
    failing_copy("pull", pebble.ConnectionError("cannot connect to Pebble"))

    out = refresh(ctx, deployed, config_dir, "ready")

    assert out.unit_status == testing.WaitingStatus(
        "waiting for Pebble in the prowlarr container (copying /config/prowlarr.db to "
        f"/config/Backups/pre-refresh/{out.unit_status.message.split('/')[-2]}/prowlarr.db "
        "failed: cannot connect to Pebble)"
    )
    assert not running.running
    assert copies(config_dir) == []
