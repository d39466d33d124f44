"""One status line from every capability's report, and the `report` action that lists them all."""

from __future__ import annotations

import json
from pathlib import Path

import ops
import pytest
from ops import testing

import prowlarr as prowlarr_api
import status
from capability import Report
from charm import ProwlarrCharm
from problem import Problem
from tests.unit.conftest import make_state
from tests.unit.fake_prowlarr import FakeProwlarr, SlowRule
from tests.unit.test_charm import USER_KEY, started
from tests.unit.test_hardening import seen_text
from tests.unit.test_ingress import traefik, with_relation
from tests.unit.test_registration import RADARR, RADARR_KEY, SONARR, apps_by_name, deployment

Ctx = testing.Context[ProwlarrCharm]
MORE = "(+{n} more: juju run prowlarr-k8s/leader report)"


@pytest.fixture
def running(config_dir: Path, prowlarr: FakeProwlarr) -> FakeProwlarr:
    started(prowlarr, config_dir)
    return prowlarr


# ------------------------------------------------------------------ the line Juju shows


def test_the_most_severe_problem_is_shown_with_how_many_more():
    reports = [
        Report("ingress", problems=[Problem("ingress: waiting", waiting=True)]),
        Report("login", problems=[Problem("login: blocked one", waiting=False)]),
        Report("applications", problems=[Problem("radarr: blocked two", waiting=False)]),
    ]

    shown = status.unit_status(reports, "prowlarr")

    assert shown == ops.BlockedStatus(
        "login: blocked one (+2 more: juju run prowlarr/leader report)"
    )


def test_without_problems_the_summaries_read_applications_first():
    reports = [
        Report("ingress", summary="http://home.example/media-prowlarr"),
        Report("workload", summary="pre-refresh copy 20261205T080000Z"),
        Report("applications", summary="2 applications synced"),
    ]

    shown = status.unit_status(reports, "prowlarr")

    assert shown == ops.ActiveStatus(
        "2 applications synced · http://home.example/media-prowlarr · "
        "pre-refresh copy 20261205T080000Z"
    )


def test_a_long_problem_is_cut_but_keeps_the_count():
    long = Problem("x" * 1000, waiting=False)
    shown = status.unit_status([Report("a", problems=[long, Problem("other")])], "prowlarr")

    assert len(shown.message) == status.MAX_STATUS
    assert shown.message.endswith("… " + MORE.format(n=1).replace("prowlarr-k8s", "prowlarr"))
    assert "\n" not in status.shorten("one\ntwo", 100)


# ------------------------------------------------------------------ the charm


def test_a_hung_media_manager_and_an_ingress_error_show_the_worse_and_report_both(
    ctx: Ctx,
    config_dir: Path,
    running: FakeProwlarr,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    monkeypatch.setattr(prowlarr_api, "DEFAULT_TIMEOUT", 0.3)
    running.slow.append(
        SlowRule("POST", "/api/v1/applications", 1.0, body_contains="radarr.media.svc")
    )
    state = with_relation(deployment(config_dir, RADARR, SONARR), traefik("not a url"))

    out = ctx.run(ctx.on.relation_changed(RADARR.relation, remote_unit=0), state)

    assert out.unit_status == testing.BlockedStatus(
        "ingress: the provider's URL is not an http(s) URL with a host " + MORE.format(n=1)
    )
    assert "sonarr" in apps_by_name(running), "the other manager was registered"

    reported = ctx.run(ctx.on.action("report"), out)

    results = ctx.action_results
    assert results is not None
    assert results["problems"] == (
        "blocked: ingress: the provider's URL is not an http(s) URL with a host\n"
        "waiting: radarr: Prowlarr did not answer in time (is the media manager reachable?)"
    )
    assert results["status"] == reported.unit_status.message
    assert results["applications"] == "1 registered in Prowlarr for 2 media-indexer relation(s)"
    text = seen_text(ctx, reported, caplog)
    assert USER_KEY not in text and RADARR_KEY not in text


def test_report_on_a_healthy_unit_lists_every_capability_and_no_secret(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, caplog: pytest.LogCaptureFixture
):
    url = "http://home.example/media-prowlarr-k8s"
    state = with_relation(deployment(config_dir, RADARR), traefik(url))
    first = ctx.run(ctx.on.update_status(), state)
    running.clear_requests()

    out = ctx.run(ctx.on.action("report"), first)

    results = ctx.action_results
    assert results is not None
    assert results["problems"] == "none"
    assert results["status"] == f"1 application synced · {url}"
    assert results["ingress"] == url
    assert results["applications"].startswith("1 registered")
    assert results["login"].startswith("Forms login, required everywhere")
    assert results["backups"].startswith("scheduled every 7 day(s), kept 28 days")
    assert results["cos"] == "no COS relation"
    assert results["api-key"].startswith("prowlarr-api-key: secret:")
    assert results["workload"].startswith("Prowlarr 2.3.5.5327 runs here, serving /media-")
    assert not [r for r in running.requests if r.method != "GET"], "a steady report writes nothing"
    password = out.get_secret(label="prowlarr-ui-credentials").latest_content["password"]
    text = seen_text(ctx, out, caplog) + json.dumps(results)
    for secret in (USER_KEY, RADARR_KEY, password):
        assert secret not in text


def test_report_on_a_standby_unit_says_it_stands_by(ctx: Ctx, config_dir: Path):
    state = make_state(config_dir, leader=False)

    ctx.run(ctx.on.action("report"), state)

    results = ctx.action_results
    assert results is not None
    assert results["workload"] == "standby: Prowlarr does not run on this unit"
    assert results["problems"].startswith("blocked: standby: Prowlarr runs on the leader only")


def test_a_huge_ingress_url_makes_a_short_status(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    path = "/" + "a" * 3000
    url = f"http://home.example{path}"
    state = with_relation(deployment(config_dir), traefik(url))

    out = ctx.run(ctx.on.update_status(), state)

    assert out.unit_status.name == "active"
    assert len(out.unit_status.message) <= status.MAX_URL + len("0 applications synced · ")
    assert out.unit_status.message.startswith("0 applications synced · http://home.example/aaa")
