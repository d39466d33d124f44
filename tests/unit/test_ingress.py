"""Prowlarr behind an ingress: the requirer data traefik parses, and the URL base that follows."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from charms.prowlarr_k8s.v0.media_indexer import MediaIndexerProviderData
from ops import testing

from charm import ProwlarrCharm
from tests.unit.conftest import make_state
from tests.unit.fake_prowlarr import FakeProwlarr
from tests.unit.recorder import CallRecorder
from tests.unit.test_charm import USER_KEY, started, steady_state
from tests.unit.test_registration import RADARR, SONARR, apps_by_name, deployment, writes

Ctx = testing.Context[ProwlarrCharm]
PATH_URL = "http://home.example/media-prowlarr-k8s"
HOST_URL = "https://media-prowlarr-k8s.home.example/"
PROWLARR_SERVICE = "http://prowlarr-k8s.media.svc.cluster.local:9696"


def traefik(url: str | None = None, **kwargs: Any) -> testing.Relation:
    """The ingress relation, with traefik's answer once it has given one."""
    data = {"ingress": json.dumps({"url": url})} if url else {}
    kwargs.setdefault("id", 20)
    return testing.Relation("ingress", remote_app_name="traefik", remote_app_data=data, **kwargs)


# What traefik-k8s's IngressRequirerAppData/IngressRequirerUnitData accept, decoded the way its
# DatabagModel.load does: every known key is JSON, unknown keys are ignored.
APP_FIELDS = {
    "model",
    "name",
    "port",
    "strip-prefix",
    "redirect-https",
    "scheme",
    "healthcheck_params",
}


def traefik_reads_app(databag: dict[str, str]) -> dict[str, Any]:
    data = {key: json.loads(value) for key, value in databag.items() if key in APP_FIELDS}
    assert isinstance(data["model"], str) and isinstance(data["name"], str)
    assert isinstance(data["port"], int) and 0 < data["port"] < 65535
    assert data.get("scheme", "http") in {"http", "https", "h2c"}
    assert isinstance(data.get("strip-prefix", False), bool)
    assert isinstance(data.get("redirect-https", False), bool)
    check = data.get("healthcheck_params")
    if check is not None:
        assert isinstance(check["path"], str)
        assert isinstance(check.get("interval", "30s"), str)
        assert isinstance(check.get("timeout", "5s"), str)
    return data


def traefik_reads_unit(databag: dict[str, str]) -> dict[str, Any]:
    data = {key: json.loads(value) for key, value in databag.items() if key in {"host", "ip"}}
    assert isinstance(data["host"], str) and data["host"]
    if data.get("ip") is not None:
        ipaddress.ip_address(data["ip"])
    return data


def with_relation(state: testing.State, relation: testing.Relation) -> testing.State:
    others = {r for r in state.relations if r.endpoint != relation.endpoint}
    return dataclasses.replace(state, relations={*others, relation})


def media_indexer_data(out: testing.State) -> MediaIndexerProviderData:
    rel = next(r for r in out.relations if r.endpoint == "media-indexer")
    return MediaIndexerProviderData.model_validate_json(rel.local_app_data["config"])


def test_joined_publishes_what_traefik_parses(ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr):
    started(prowlarr, config_dir)
    rel = traefik()

    state = steady_state(config_dir, relations=[rel])

    out = ctx.run(ctx.on.relation_joined(rel, remote_unit=0), state)

    relation = out.get_relation(rel.id)
    app = traefik_reads_app(dict(relation.local_app_data))
    assert app == {
        "model": "media",
        "name": "prowlarr-k8s",
        "port": 9696,
        "strip-prefix": False,
        "redirect-https": False,
        "scheme": "http",
        "healthcheck_params": {"path": "/ping", "interval": "30s", "timeout": "5s"},
    }
    assert traefik_reads_unit(dict(relation.local_unit_data))["host"]
    assert out.unit_status == testing.ActiveStatus("0 applications synced"), "no URL yet"


def test_a_path_url_becomes_the_url_base_and_everything_follows(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, calls: CallRecorder
):
    started(prowlarr, config_dir)
    first = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0),
        deployment(config_dir, RADARR, SONARR),
    )
    rel = traefik(PATH_URL)
    prowlarr.clear_requests()
    calls.reset()

    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=0), with_relation(first, rel))

    container = out.get_container("prowlarr")
    env = container.plan.services["prowlarr"].environment
    assert env["PROWLARR__SERVER__URLBASE"] == "/media-prowlarr-k8s"
    assert container.plan.checks["ready"].http == {
        "url": "http://localhost:9696/media-prowlarr-k8s/ping"
    }
    assert calls.calls["pebble-replan"] == 1, "one restart"
    assert prowlarr.url_base == "/media-prowlarr-k8s"
    for name in ("radarr", "sonarr"):
        app = apps_by_name(prowlarr)[name]
        assert app.fields["prowlarrUrl"] == f"{PROWLARR_SERVICE}/media-prowlarr-k8s"
    assert sorted(m for m, _ in writes(prowlarr)) == ["PUT", "PUT"], "no app re-created"
    assert media_indexer_data(out).base_path == "/media-prowlarr-k8s"
    assert prowlarr.host_config()["applicationUrl"] == PATH_URL
    app_data = traefik_reads_app(dict(out.get_relation(rel.id).local_app_data))
    assert app_data["healthcheck_params"]["path"] == "/media-prowlarr-k8s/ping"
    assert out.unit_status == testing.ActiveStatus(f"2 applications synced · {PATH_URL}")

    prowlarr.clear_requests()
    calls.reset()
    steady = ctx.run(ctx.on.update_status(), out)
    assert calls.writes() == {}, "the next steady hook writes nothing"
    assert [r.method for r in prowlarr.requests] == ["GET"]
    assert steady.unit_status == out.unit_status


@pytest.mark.parametrize(("option", "base"), [("", ""), ("/by-option", "/by-option")])
def test_ingress_removed_goes_back_to_the_option(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, option: str, base: str
):
    started(prowlarr, config_dir)
    rel = traefik(PATH_URL)
    state = deployment(config_dir, RADARR, relations=[rel], config={"url-base": option})
    exposed = ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state)
    assert prowlarr.url_base == "/media-prowlarr-k8s"
    apps = set(prowlarr.applications)

    out = ctx.run(
        ctx.on.relation_broken(exposed.get_relation(rel.id)),
        exposed,
    )

    assert prowlarr.url_base == base
    env = out.get_container("prowlarr").plan.services["prowlarr"].environment
    assert env.get("PROWLARR__SERVER__URLBASE", "") == base
    assert set(prowlarr.applications) == apps, "no app deleted"
    radarr = apps_by_name(prowlarr)["radarr"]
    assert radarr.fields["prowlarrUrl"] == PROWLARR_SERVICE + base
    assert media_indexer_data(out).base_path == (base or None)
    assert prowlarr.host_config()["applicationUrl"] == ""
    assert out.unit_status == testing.ActiveStatus("1 application synced")


def test_a_host_url_means_no_url_base(ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr):
    started(prowlarr, config_dir)
    rel = traefik(HOST_URL)

    out = ctx.run(
        ctx.on.relation_changed(rel, remote_unit=0),
        steady_state(config_dir, relations=[rel], config={"url-base": "/ignored"}),
    )

    assert prowlarr.url_base == ""
    assert out.unit_status == testing.ActiveStatus(
        "0 applications synced · https://media-prowlarr-k8s.home.example"
    )


@pytest.mark.parametrize(
    "answer",
    [
        json.dumps({"url": "ftp://host/x"}),
        json.dumps({"url": "http://host/a b"}),
        json.dumps({"link": "http://host/x"}),
        "not json",
    ],
)
def test_an_unusable_answer_blocks_and_keeps_the_option(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, answer: str
):
    started(prowlarr, config_dir)
    rel = testing.Relation(
        "ingress", id=20, remote_app_name="traefik", remote_app_data={"ingress": answer}
    )
    state = steady_state(config_dir, relations=[rel])

    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state)

    assert out.unit_status.name == "blocked"
    assert out.unit_status.message.startswith("ingress: ")
    assert prowlarr.url_base == ""


def test_a_requirer_reaches_prowlarrs_api_with_what_it_reads(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr
):
    started(prowlarr, config_dir)
    rel = traefik(PATH_URL)
    state = deployment(config_dir, RADARR, relations=[rel])

    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state)

    data = media_indexer_data(out)
    # The requirer's URL is api_url + base_path; only the host differs in this test (the fake
    # listens on 127.0.0.1, not on the Kubernetes Service).
    assert data.api_url == PROWLARR_SERVICE
    url = f"{prowlarr.url}{data.base_path or ''}/api/v1/system/status"
    assert httpx.get(url, headers={"X-Api-Key": USER_KEY}).status_code == 200
    outside = httpx.get(f"{prowlarr.url}/api/v1/system/status", headers={"X-Api-Key": USER_KEY})
    assert outside.status_code == 307, "without the base Prowlarr redirects"


def test_a_standby_unit_publishes_its_host_only(ctx: Ctx, config_dir: Path):
    rel = traefik(PATH_URL)

    state = make_state(config_dir, leader=False, relations=[rel])

    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state)

    relation = out.get_relation(rel.id)
    assert dict(relation.local_app_data) == {}
    assert traefik_reads_unit(dict(relation.local_unit_data))["host"]


def test_the_url_waits_for_the_login_before_any_host_config_put(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr
):
    """Prowlarr refuses a host-config PUT while its Forms login has no user (400)."""
    started(prowlarr, config_dir)
    rel = traefik(HOST_URL)
    user_secret = "secret:d4uicreds00000000001"
    state = steady_state(config_dir, relations=[rel], config={"ui-credentials": user_secret})

    out = ctx.run(ctx.on.relation_changed(rel, remote_unit=0), state)

    assert out.unit_status.name == "blocked"
    assert out.unit_status.message.startswith(f"ui-credentials: secret {user_secret}")
    assert [r for r in prowlarr.requests if r.method == "PUT"] == [], "nothing Prowlarr refuses"
    assert prowlarr.host_config()["applicationUrl"] in ("", None)

    login = {"username": "Operator", "password": "pw of the operator"}
    granted = testing.Secret(login, id=user_secret)
    later = ctx.run(
        ctx.on.update_status(), dataclasses.replace(out, secrets={*out.secrets, granted})
    )

    puts = [r for r in prowlarr.requests if r.method == "PUT" and "/config/host" in r.path]
    assert len(puts) == 1, "the login and the URL in one PUT"
    assert prowlarr.host_config()["applicationUrl"] == HOST_URL.rstrip("/")
    assert later.unit_status.name == "active"
