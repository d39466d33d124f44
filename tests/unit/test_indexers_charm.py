"""Indexers as code through the charm itself: its events, its actions, its status and report."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest
import yaml
from ops import testing

from charm import ProwlarrCharm
from tests.unit.conftest import MODEL_UUID
from tests.unit.fake_prowlarr import FakeProwlarr
from tests.unit.test_charm import started
from tests.unit.test_indexers import (
    CREDENTIALS,
    GEEK_SECRET,
    THREE,
    TL_PASSWORD_2,
    TL_SECRET_ID,
    tl_secret,
)
from tests.unit.test_registration import deployment
from workload import CONTAINER_NAME

Ctx = testing.Context[ProwlarrCharm]


@pytest.fixture
def running(config_dir: Path, prowlarr: FakeProwlarr) -> FakeProwlarr:
    started(prowlarr, config_dir)  # with the charm's environment: the Forms login is on
    return prowlarr


def declared(config_dir: Path, **kwargs: object) -> testing.State:
    return deployment(
        config_dir,
        config={"indexers": yaml.safe_dump(THREE)},
        secrets=[tl_secret(), GEEK_SECRET],
        **kwargs,  # type: ignore[arg-type]
    )


def no_credentials(ctx: Ctx, out: testing.State, caplog: pytest.LogCaptureFixture) -> None:
    plan = json.dumps(out.get_container(CONTAINER_NAME).plan.to_dict())
    texts = [
        caplog.text,
        " ".join(log.message for log in ctx.juju_log),
        out.unit_status.message,
        json.dumps([dict(r.local_app_data) for r in out.relations]),
        json.dumps(ctx.action_results or {}),
        plan,
    ]
    for text in texts:
        for credential in CREDENTIALS:
            assert credential not in text


def test_the_charm_creates_the_declared_indexers_and_a_steady_hook_only_lists_them(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)

    first = ctx.run(ctx.on.config_changed(), declared(config_dir))

    assert set(running.store.by_name()) == {"1337x", "TorrentLeech", "NZBgeek"}
    assert first.unit_status == testing.ActiveStatus("0 applications synced · 3 indexers")
    running.clear_requests()

    second = ctx.run(ctx.on.update_status(), first)

    assert [(r.method, r.path) for r in running.requests] == [
        ("GET", "/api/v1/applications"),
        ("GET", "/api/v1/indexer"),
    ]
    assert second.unit_status == first.unit_status
    no_credentials(ctx, second, caplog)


def test_a_secret_changed_of_an_indexer_secret_is_applied(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, caplog: pytest.LogCaptureFixture
):
    first = ctx.run(ctx.on.config_changed(), declared(config_dir))
    rotated = tl_secret(latest=TL_PASSWORD_2)
    state = dataclasses.replace(
        first, secrets={s for s in first.secrets if s.id != TL_SECRET_ID} | {rotated}
    )
    running.clear_requests()

    out = ctx.run(ctx.on.secret_changed(rotated), state)

    puts = [r for r in running.requests if r.method == "PUT"]
    assert [(r.path, r.query.get("forceSave")) for r in puts] == [
        (f"/api/v1/indexer/{running.store.by_name()['TorrentLeech'].id}", "false")
    ]
    assert running.store.by_name()["TorrentLeech"].settings["password"] == TL_PASSWORD_2
    no_credentials(ctx, out, caplog)


def test_indexer_schema_action(ctx: Ctx, config_dir: Path, running: FakeProwlarr):
    ctx.run(
        ctx.on.action("indexer-schema", params={"definition": "torrentleech"}),
        declared(config_dir),
    )

    results = ctx.action_results or {}
    assert "password (password) | Password | credential" in results["fields"]
    assert results["definition"] == "torrentleech"


def test_list_definitions_and_test_indexers_actions(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, caplog: pytest.LogCaptureFixture
):
    first = ctx.run(ctx.on.config_changed(), declared(config_dir))

    ctx.run(ctx.on.action("list-definitions", params={"filter": "nzb"}), first)
    assert (ctx.action_results or {})["count"] == "2"

    out = ctx.run(ctx.on.action("test-indexers"), first)
    assert (ctx.action_results or {})["failed"] == "0"
    no_credentials(ctx, out, caplog)


def test_indexer_actions_fail_with_a_message(ctx: Ctx, config_dir: Path, running: FakeProwlarr):
    with pytest.raises(testing.ActionFailed, match="indexer-schema: no definition 'nope'"):
        ctx.run(
            ctx.on.action("indexer-schema", params={"definition": "nope"}), declared(config_dir)
        )
    with pytest.raises(testing.ActionFailed, match="leader"):
        ctx.run(
            ctx.on.action("list-definitions"),
            dataclasses.replace(declared(config_dir), leader=False),
        )


def test_report_has_an_indexers_line_and_names_each_problem(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    state = deployment(
        config_dir,
        config={"indexers": yaml.safe_dump(THREE)},
        secrets=[GEEK_SECRET],  # the TorrentLeech secret is not granted
    )

    out = ctx.run(ctx.on.action("report"), state)

    results = ctx.action_results or {}
    assert results["indexers"].startswith("3 declared, 2 applied")
    assert "TorrentLeech" in results["problems"] and "juju grant-secret" in results["problems"]
    assert out.unit_status.name == "blocked"


def test_a_secret_changed_of_another_secret_reconciles_nothing(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    first = ctx.run(ctx.on.config_changed(), declared(config_dir))
    other = testing.Secret(
        {"token": "x" * 8}, id="secret://" + MODEL_UUID + "/d4other0000000000001"
    )
    running.clear_requests()

    ctx.run(
        ctx.on.secret_changed(other), dataclasses.replace(first, secrets={*first.secrets, other})
    )

    assert running.requests == []
