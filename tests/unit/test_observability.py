"""COS: exportarr with its key file, scrape jobs and alert rules, log targets, the dashboard.

Each relation's databag is decoded here with the rules of the Charmhub library that reads it
(prometheus_scrape's consumer, grafana_dashboard's consumer, loki_push_api's provider data), so a
test passes only if Prometheus, Grafana and Loki would accept what the charm wrote.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import shutil
import stat
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import ops
import pytest
import yaml
from cosl import DashboardPath40UID, JujuTopology, LZMABase64
from ops import pebble, testing

import observability
from charm import ProwlarrCharm
from observability import (
    EXPORTARR_CONTAINER,
    KEY_FILE,
    Applied,
    log_target_changes,
    loki_endpoints,
)
from tests.unit.conftest import (
    LEADER_SECRET_ID,
    MODEL_UUID,
    make_state,
    prowlarr_container,
    running_layer,
    service_environment,
)
from tests.unit.fake_prowlarr import FakeProwlarr
from tests.unit.recorder import CallRecorder

Ctx = testing.Context[ProwlarrCharm]
KEY = "0123456789abcdef0123456789abcdef"
APP = "prowlarr-k8s"
UNIT = "prowlarr-k8s/0"
LOKI_0 = "http://loki-0.loki-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push"
LOKI_1 = "http://loki-1.loki-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push"
PROMTOOL = shutil.which("promtool")
RULES_FILE = observability.ALERT_RULES_DIR / "prowlarr.rules"

# Keys prometheus_scrape's consumer keeps from a job (PrometheusConfig.sanitize_scrape_config).
ALLOWED_JOB_KEYS = {
    "job_name",
    "metrics_path",
    "static_configs",
    "scrape_interval",
    "scrape_timeout",
    "proxy_url",
    "relabel_configs",
    "metrics_relabel_configs",
    "sample_limit",
    "label_limit",
    "label_name_length_limit",
    "label_value_length_limit",
    "scheme",
    "basic_auth",
    "tls_config",
}
# What exportarr v2.3.0 serves for `prowlarr` (internal/arr/collector: prowlarr.go, status.go,
# health.go with its unavailable-indexer emitter), plus Prometheus' own `up`.
EXPORTARR_METRICS = {
    "up",
    "prowlarr_system_status",
    "prowlarr_system_health_issues",
    "prowlarr_indexer_unavailable",
    "prowlarr_indexer_total",
    "prowlarr_indexer_enabled_total",
    "prowlarr_indexer_average_response_time_ms",
    "prowlarr_indexer_queries_total",
    "prowlarr_indexer_grabs_total",
    "prowlarr_indexer_rss_queries_total",
    "prowlarr_indexer_auth_queries_total",
    "prowlarr_indexer_failed_queries_total",
    "prowlarr_indexer_failed_grabs_total",
    "prowlarr_indexer_failed_rss_queries_total",
    "prowlarr_indexer_failed_auth_queries_total",
    "prowlarr_indexer_vip_expires_in_seconds",
    "prowlarr_user_agent_total",
    "prowlarr_user_agent_queries_total",
    "prowlarr_user_agent_grabs_total",
}
TOPOLOGY_VARIABLES = ("$juju_model", "$juju_model_uuid", "$juju_application", "$juju_unit")


# ------------------------------------------------------------------ state builders


def write_config_xml(config_dir: Path, key: str = KEY) -> None:
    (config_dir / "config.xml").write_text(
        f"<Config>\n  <ApiKey>{key}</ApiKey>\n  <Port>9696</Port>\n  <UrlBase></UrlBase>\n"
        "</Config>\n"
    )


def running(prowlarr: FakeProwlarr, config_dir: Path, key: str = KEY) -> None:
    """Prowlarr already running with `key`, as in an existing deployment."""
    write_config_xml(config_dir, key)
    prowlarr.start(service_environment())  # as the layer runs it: Forms login, so /login works


def metrics_relation() -> testing.Relation:
    return testing.Relation("metrics-endpoint", remote_app_name="prometheus", id=20)


def dashboard_relation() -> testing.Relation:
    return testing.Relation("grafana-dashboard", remote_app_name="grafana", id=21)


def logging_relation(*urls: str) -> testing.Relation:
    units = {i: {"endpoint": json.dumps({"url": url})} for i, url in enumerate(urls)}
    return testing.Relation("logging", remote_app_name="loki", id=22, remote_units_data=units)


def cos_state(
    config_dir: Path,
    *,
    relations: Iterable[testing.RelationBase] = (),
    exportarr: testing.Container | None = None,
    **kwargs: Any,
) -> testing.State:
    """A running deployment (Prowlarr's layer in the plan, secret created) with both containers."""
    prowlarr = prowlarr_container(
        config_dir,
        layers=running_layer(),
        service_statuses={"prowlarr": ops.pebble.ServiceStatus.ACTIVE},
    )
    secret = testing.Secret(
        {"api-key": KEY}, owner="app", label="prowlarr-api-key", id=LEADER_SECRET_ID
    )
    state = make_state(
        config_dir, container=prowlarr, relations=relations, secrets=[secret], **kwargs
    )
    exportarr = exportarr or exportarr_container(config_dir)
    return dataclasses.replace(state, containers={*state.containers, exportarr})


def exportarr_ready(ctx: Ctx, state: testing.State) -> testing.State:
    return ctx.run(ctx.on.pebble_ready(state.get_container(EXPORTARR_CONTAINER)), state)


def exportarr_etc(config_dir: Path) -> Path:
    """The directory mounted at /etc/exportarr in the exportarr container (outlives a run)."""
    path = config_dir.parent / "exportarr-etc"
    path.mkdir(exist_ok=True)
    return path


def exportarr_container(config_dir: Path, *, can_connect: bool = True) -> testing.Container:
    """A new exportarr container: empty plan, and whatever the mounted directory holds."""
    mount = testing.Mount(location=str(Path(KEY_FILE).parent), source=exportarr_etc(config_dir))
    return testing.Container(EXPORTARR_CONTAINER, can_connect=can_connect, mounts={"etc": mount})


def key_file(config_dir: Path) -> Path:
    return exportarr_etc(config_dir) / Path(KEY_FILE).name


def key_pushes(pushes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in pushes if p["path"] == KEY_FILE]


def everything_visible(ctx: Ctx, out: testing.State, caplog: pytest.LogCaptureFixture) -> str:
    """Every place a key must never reach, as one text."""
    seen = [record.getMessage() for record in caplog.records]
    seen += [str(status) for status in ctx.unit_status_history] + [str(out.unit_status)]
    seen.append(json.dumps(ctx.action_results))
    for rel in out.relations:
        seen.append(json.dumps(dict(rel.local_app_data)))
        seen.append(json.dumps(dict(rel.local_unit_data)))
    seen += [json.dumps(c.plan.to_dict()) for c in out.containers]
    seen += [json.dumps(stored.content) for stored in out.stored_states]
    return "\n".join(seen)


# ------------------------------------------------------------------ consumer-side decoding


def prometheus_jobs(
    app_data: Mapping[str, str], units: Mapping[str, Mapping[str, str]]
) -> list[dict[str, Any]]:
    """The scrape jobs Prometheus builds from the databags, with prometheus_scrape's rules.

    Job names are prefixed with the topology identifier, each "*" target becomes one job per
    unit that published an address, and topology labels (with the unit) are attached.
    """
    topology = JujuTopology.from_dict(json.loads(app_data["scrape_metadata"]))
    hosts = {
        data.get("prometheus_scrape_unit_name") or name: (
            data["prometheus_scrape_unit_address"],
            data.get("prometheus_scrape_unit_path", ""),
        )
        for name, data in units.items()
        if data.get("prometheus_scrape_unit_address")
    }
    jobs: list[dict[str, Any]] = []
    for job in json.loads(app_data["scrape_jobs"]):
        assert set(job) <= ALLOWED_JOB_KEYS
        name = f"juju_{topology.identifier}_prometheus_scrape_{job['job_name']}"
        for static in job["static_configs"]:
            for target in static["targets"]:
                assert re.fullmatch(r"\*:\d+", target), "a wildcard target, expanded per unit"
                for unit_name, (address, path) in hosts.items():
                    jobs.append(
                        {
                            "job_name": f"{name}-{unit_name.split('/')[-1]}",
                            "metrics_path": path + job.get("metrics_path", "/metrics"),
                            "targets": [target.replace("*", address)],
                            "labels": {**topology.label_matcher_dict, "juju_unit": unit_name},
                        }
                    )
    return jobs


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\b(prowlarr_[a-z_]+|up)\b", expr))


def decoded_dashboard(app_data: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The template entry and the dashboard JSON, decoded as grafana_dashboard's consumer does."""
    data = json.loads(app_data["dashboards"])
    assert data["uuid"], "a value that changes with the templates"
    assert list(data["templates"]) == ["file:prowlarr"]
    template = data["templates"]["file:prowlarr"]
    return template, json.loads(LZMABase64.decompress(template["content"]))


# ------------------------------------------------------------------ without COS


def test_without_cos_relations_nothing_runs_and_the_status_is_unchanged(
    ctx: Ctx,
    owned_config_dir: Path,
    prowlarr: FakeProwlarr,
    calls: CallRecorder,
    pushes: list[dict[str, Any]],
):
    running(prowlarr, owned_config_dir)
    state = cos_state(owned_config_dir)

    out = exportarr_ready(ctx, state)
    out = ctx.run(ctx.on.update_status(), out)

    assert out.unit_status == testing.ActiveStatus("0 applications synced")
    assert out.get_container(EXPORTARR_CONTAINER).plan.to_dict() == {}
    assert "log-targets" not in out.get_container("prowlarr").plan.to_dict()
    assert key_pushes(pushes) == []
    assert not key_file(owned_config_dir).exists()
    assert calls.calls["pebble-add-layer"] == 0


# ------------------------------------------------------------------ metrics-endpoint


def test_metrics_relation_publishes_what_prometheus_parses_and_starts_exportarr(
    ctx: Ctx,
    owned_config_dir: Path,
    prowlarr: FakeProwlarr,
    pushes: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    running(prowlarr, owned_config_dir)
    metrics = metrics_relation()
    state = cos_state(owned_config_dir, relations=[metrics])

    out = ctx.run(ctx.on.relation_joined(metrics, remote_unit=0), state)

    rel = out.get_relation(metrics.id)
    jobs = prometheus_jobs(rel.local_app_data, {UNIT: rel.local_unit_data})
    assert jobs == [
        {
            "job_name": f"juju_media_{MODEL_UUID[:8]}_{APP}_prometheus_scrape_exportarr-0",
            "metrics_path": "/metrics",
            "targets": ["192.0.2.0:9707"],
            "labels": {
                "juju_model": "media",
                "juju_model_uuid": MODEL_UUID,
                "juju_application": APP,
                "juju_charm": APP,
                "juju_unit": UNIT,
            },
        }
    ]

    exporter = out.get_container(EXPORTARR_CONTAINER)
    service = exporter.plan.services["exportarr"]
    assert service.command == "/exportarr prowlarr"
    assert service.environment == {
        "PORT": "9707",
        "URL": "http://localhost:9696",
        "API_KEY_FILE": KEY_FILE,
    }
    assert (service.user_id, service.group_id) == (65532, 65532)
    assert exporter.plan.checks["exportarr-ready"].http == {"url": "http://localhost:9707/healthz"}
    assert exporter.services["exportarr"].current == pebble.ServiceStatus.ACTIVE

    assert key_file(owned_config_dir).read_text() == KEY
    assert stat.S_IMODE(key_file(owned_config_dir).stat().st_mode) == 0o400
    [push] = key_pushes(pushes)
    assert push["permissions"] == 0o400
    assert (push["user_id"], push["group_id"]) == (65532, 65532)
    assert KEY not in everything_visible(ctx, out, caplog)
    assert out.unit_status == testing.ActiveStatus("0 applications synced")


def test_alert_rules_in_the_databag_carry_the_topology_and_every_rule_is_documented(
    ctx: Ctx, owned_config_dir: Path, prowlarr: FakeProwlarr
):
    running(prowlarr, owned_config_dir)
    metrics = metrics_relation()

    out = ctx.run(
        ctx.on.relation_joined(metrics, remote_unit=0),
        cos_state(owned_config_dir, relations=[metrics]),
    )

    app_data = out.get_relation(metrics.id).local_app_data
    topology = JujuTopology.from_dict(json.loads(app_data["scrape_metadata"]))
    assert topology.as_dict() == {
        "model": "media",
        "model_uuid": MODEL_UUID,
        "application": APP,
        "unit": UNIT,
        "charm_name": APP,
    }
    rules = json.loads(app_data["alert_rules"])
    [group] = rules["groups"]
    assert group["name"].startswith(topology.identifier.replace("-", "_"))
    names = [rule["alert"] for rule in group["rules"]]
    assert names == [
        "ProwlarrExporterScrapeFailed",
        "ProwlarrDown",
        "ProwlarrHealthIssue",
        "ProwlarrIndexerFailingQueries",
        "ProwlarrIndexerVipExpiring",
    ]
    for rule in group["rules"]:
        assert topology.label_matcher_dict.items() <= rule["labels"].items(), rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert "%%juju_topology%%" not in rule["expr"]
        assert metric_names(rule["expr"]) <= EXPORTARR_METRICS, rule["alert"]


def test_rule_files_are_structurally_valid_and_each_rule_has_a_comment():
    files = sorted(observability.ALERT_RULES_DIR.iterdir())
    assert [f.name for f in files] == ["prowlarr.rules"]
    text = RULES_FILE.read_text()
    groups = yaml.safe_load(text)["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == 5
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}
        assert re.fullmatch(r"\d+[smh]", rule["for"])
        assert set(rule["annotations"]) == {"summary", "description"}
        # The line above `- alert: <name>` is a comment explaining the rule.
        before = text.split(f"- alert: {rule['alert']}")[0].rstrip().splitlines()[-1]
        assert before.strip().startswith("#"), rule["alert"]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
def test_promtool_accepts_the_rule_file_and_the_rules_the_charm_sends(
    ctx: Ctx, owned_config_dir: Path, prowlarr: FakeProwlarr, tmp_path: Path
):
    assert PROMTOOL is not None
    running(prowlarr, owned_config_dir)
    metrics = metrics_relation()
    out = ctx.run(
        ctx.on.relation_joined(metrics, remote_unit=0),
        cos_state(owned_config_dir, relations=[metrics]),
    )
    sent = tmp_path / "sent.rules"
    rules = json.loads(out.get_relation(metrics.id).local_app_data["alert_rules"])
    sent.write_text(yaml.safe_dump(rules))

    for path in (RULES_FILE, sent):
        result = subprocess.run(  # noqa: S603 - our own rule files
            [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS: 5 rules found" in result.stdout


def series(metric: str, values: str, **labels: str) -> dict[str, str]:
    """An input series of `promtool test rules`."""
    matchers = ",".join(f'{name}="{value}"' for name, value in labels.items())
    return {"series": f"{metric}{{{matchers}}}", "values": values}


def _alert(name: str, labels: dict[str, str], summary: str, description: str) -> dict[str, Any]:
    return {
        "eval_time": "",
        "alertname": name,
        "exp_alerts": [
            {
                "exp_labels": labels,
                "exp_annotations": {"summary": summary, "description": description},
            }
        ],
    }


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
def test_promtool_fires_each_alert_on_exportarr_series(tmp_path: Path):
    """Synthetic exportarr series through `promtool test rules`: each alert fires when it must."""
    assert PROMTOOL is not None
    shutil.copy(RULES_FILE, tmp_path / "prowlarr.rules")
    unit = {"juju_unit": UNIT}
    scrape_failed = _alert(
        "ProwlarrExporterScrapeFailed",
        {"severity": "critical", "job": "juju_x_prometheus_scrape_exportarr-0", **unit},
        f"Prometheus cannot scrape exportarr on {UNIT}",
        f"The scrape of exportarr on {UNIT} () has failed for 5 minutes. exportarr is down, or "
        "it fails because Prowlarr's API does not answer. Check `juju status`, and the prowlarr "
        "and exportarr logs in Loki.",
    )
    down = _alert(
        "ProwlarrDown",
        {"severity": "critical", **unit},
        f"Prowlarr does not answer its status API on {UNIT}",
        f"exportarr on {UNIT} has reported for 5 minutes that Prowlarr's system status API "
        "fails. Media managers get no indexer updates meanwhile.",
    )
    health_labels = {
        "source": "IndexerStatusCheck",
        "type": "warning",
        "message": "Indexers unavailable due to failures: Foo",
        "wikiurl": "https://wiki.servarr.com/prowlarr/system#indexers-are-unavailable",
    }
    health = _alert(
        "ProwlarrHealthIssue",
        {"severity": "warning", **health_labels},
        f"Prowlarr health issue (IndexerStatusCheck): {health_labels['message']}",
        "Prowlarr has reported a warning health issue from IndexerStatusCheck for 15 minutes: "
        f"{health_labels['message']} See {health_labels['wikiurl']}",
    )
    failing = _alert(
        "ProwlarrIndexerFailingQueries",
        {"severity": "warning", "indexer": "Broken"},
        "Indexer Broken fails most of its queries",
        "Prowlarr's indexer Broken has failed more than half of its queries over the last hour "
        "(60 failed). Check the indexer in Prowlarr (credentials, site changes, rate limits, "
        "Cloudflare).",
    )
    vip = _alert(
        "ProwlarrIndexerVipExpiring",
        {"severity": "warning", "indexer": "Vip"},
        "VIP of indexer Vip expires within 7 days",
        "The VIP subscription of indexer Vip expires in 5d 0h 0m 0s (negative: expired). Renew "
        "it on the indexer's site and update its expiration date in Prowlarr.",
    )
    for case, time in ((scrape_failed, "6m"), (down, "6m"), (health, "16m"), (vip, "11m")):
        case["eval_time"] = time
    failing["eval_time"] = "95m"  # an hour of data for increase(), then 30 minutes of `for`
    quiet: dict[str, Any] = {
        "eval_time": "95m",
        "alertname": "ProwlarrIndexerVipExpiring",
        "exp_alerts": [],
    }
    job = "juju_x_prometheus_scrape_exportarr-0"
    queries, failed = "prowlarr_indexer_queries_total", "prowlarr_indexer_failed_queries_total"
    vip_left = "prowlarr_indexer_vip_expires_in_seconds"
    firing = [
        series("up", "0x20", job=job, **unit),
        series("prowlarr_system_status", "0x20", **unit),
        series("prowlarr_system_health_issues", "1x20", **health_labels),
        # Broken: every query fails; Fine: none does; Quiet: fails, but once in the hour.
        series(queries, "0+1x120", indexer="Broken"),
        series(failed, "0+1x120", indexer="Broken"),
        series(queries, "0+1x120", indexer="Fine"),
        series(failed, "0x120", indexer="Fine"),
        series(queries, "0x59 1x60", indexer="Quiet"),
        series(failed, "0x59 1x60", indexer="Quiet"),
        # 5 days left on one VIP (the gauge counts down), 30 days on another.
        series(vip_left, "432660-60x20", indexer="Vip"),
        series(vip_left, "2592000x20", indexer="Later"),
    ]
    tests = {
        "rule_files": ["prowlarr.rules"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": firing,
                "alert_rule_test": [scrape_failed, down, health, failing, vip],
            },
            {
                "interval": "1m",
                "input_series": [series(vip_left, "2592000x100", indexer="Later")],
                "alert_rule_test": [quiet],
            },
        ],
    }
    test_file = tmp_path / "test.yaml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))

    result = subprocess.run(  # noqa: S603 - our own test file
        [PROMTOOL, "test", "rules", str(test_file)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------------------ exportarr's key file


def deployed_with_metrics(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, **kwargs: Any
) -> testing.State:
    """A deployment whose exportarr already runs, as a previous hook left it."""
    running(prowlarr, config_dir)
    state = cos_state(config_dir, relations=[metrics_relation()], **kwargs)
    return exportarr_ready(ctx, state)


def test_a_steady_hook_pushes_restarts_and_writes_nothing(
    ctx: Ctx,
    owned_config_dir: Path,
    prowlarr: FakeProwlarr,
    calls: CallRecorder,
    pushes: list[dict[str, Any]],
):
    first = deployed_with_metrics(ctx, owned_config_dir, prowlarr)
    assert len(key_pushes(pushes)) == 1
    calls.reset()

    out = ctx.run(ctx.on.update_status(), first)

    assert calls.writes() == {}, "no push, restart, replan, layer or databag write"
    assert key_file(owned_config_dir).read_text() == KEY
    assert out.unit_status == testing.ActiveStatus("0 applications synced")


def test_rotate_api_key_pushes_the_key_file_once_and_restarts_exportarr_once(
    ctx: Ctx,
    owned_config_dir: Path,
    prowlarr: FakeProwlarr,
    calls: CallRecorder,
    pushes: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    first = deployed_with_metrics(ctx, owned_config_dir, prowlarr)
    pushes.clear()
    calls.reset()

    out = ctx.run(ctx.on.action("rotate-api-key"), first)

    new_key = prowlarr.api_key
    assert new_key != KEY
    assert key_file(owned_config_dir).read_text() == new_key
    assert len(key_pushes(pushes)) == 1
    assert calls.calls["pebble-restart"] == 1, "exportarr only; Prowlarr applied the key itself"
    assert calls.calls["pebble-replan"] == 0
    assert out.get_container(EXPORTARR_CONTAINER).services["exportarr"].is_running()
    text = everything_visible(ctx, out, caplog)
    assert KEY not in text and new_key not in text
    assert "secret-id" in text, "sanity: the action results are in the text"

    calls.reset()
    again = ctx.run(ctx.on.update_status(), out)
    assert calls.writes() == {}
    assert again.unit_status.name == "active"


def test_a_key_reset_in_prowlarr_reaches_exportarr_on_the_next_hook(
    ctx: Ctx,
    owned_config_dir: Path,
    prowlarr: FakeProwlarr,
    calls: CallRecorder,
    pushes: list[dict[str, Any]],
):
    first = deployed_with_metrics(ctx, owned_config_dir, prowlarr)
    prowlarr.reset_api_key()  # the UI's "Reset API key": Prowlarr writes config.xml itself
    pushes.clear()
    calls.reset()

    ctx.run(ctx.on.update_status(), first)

    assert key_file(owned_config_dir).read_text() == prowlarr.api_key
    assert len(key_pushes(pushes)) == 1
    assert calls.calls["pebble-restart"] == 1


@pytest.mark.parametrize("charm_state_survives", [True, False], ids=["container", "pod"])
def test_a_recreated_exportarr_container_gets_the_key_file_again(
    ctx: Ctx,
    owned_config_dir: Path,
    prowlarr: FakeProwlarr,
    pushes: list[dict[str, Any]],
    charm_state_survives: bool,
):
    first = deployed_with_metrics(ctx, owned_config_dir, prowlarr)
    key_file(owned_config_dir).unlink()  # the new container's filesystem has no key file
    fresh = exportarr_container(owned_config_dir)
    recreated = dataclasses.replace(
        first,
        containers={first.get_container("prowlarr"), fresh},
        stored_states=first.stored_states if charm_state_survives else frozenset(),
    )
    pushes.clear()

    out = exportarr_ready(ctx, recreated)

    assert key_file(owned_config_dir).read_text() == KEY
    assert len(key_pushes(pushes)) == 1
    assert out.get_container(EXPORTARR_CONTAINER).services["exportarr"].is_running()


def test_a_new_url_base_changes_the_layer_without_pushing_the_key(
    ctx: Ctx,
    owned_config_dir: Path,
    prowlarr: FakeProwlarr,
    calls: CallRecorder,
    pushes: list[dict[str, Any]],
):
    first = deployed_with_metrics(ctx, owned_config_dir, prowlarr)
    pushes.clear()
    calls.reset()

    out = ctx.run(
        ctx.on.config_changed(), dataclasses.replace(first, config={"url-base": "prowlarr"})
    )

    env = out.get_container(EXPORTARR_CONTAINER).plan.services["exportarr"].environment
    assert env["URL"] == "http://localhost:9696/prowlarr"
    assert key_pushes(pushes) == []


def test_removing_the_metrics_relation_stops_exportarr_and_deletes_its_key_file(
    ctx: Ctx,
    owned_config_dir: Path,
    prowlarr: FakeProwlarr,
    calls: CallRecorder,
):
    first = deployed_with_metrics(ctx, owned_config_dir, prowlarr)
    metrics = first.get_relation(20)

    out = ctx.run(ctx.on.relation_broken(metrics), first)

    assert not out.get_container(EXPORTARR_CONTAINER).services["exportarr"].is_running()
    assert not key_file(owned_config_dir).exists()
    assert out.unit_status == testing.ActiveStatus("0 applications synced")

    gone = dataclasses.replace(out, relations={r for r in out.relations if r.id != metrics.id})
    calls.reset()
    ctx.run(ctx.on.update_status(), gone)
    assert calls.writes() == {}


def test_a_standby_unit_is_not_scraped_and_stops_the_exportarr_it_ran(
    ctx: Ctx, owned_config_dir: Path, prowlarr: FakeProwlarr
):
    first = deployed_with_metrics(ctx, owned_config_dir, prowlarr)
    assert first.get_relation(20).local_unit_data["prometheus_scrape_unit_address"]

    out = ctx.run(ctx.on.update_status(), dataclasses.replace(first, leader=False))

    unit_data = out.get_relation(20).local_unit_data
    assert not {k for k in unit_data if k.startswith("prometheus_scrape_")}
    assert prometheus_jobs(first.get_relation(20).local_app_data, {UNIT: unit_data}) == []
    assert not out.get_container(EXPORTARR_CONTAINER).services["exportarr"].is_running()
    assert not key_file(owned_config_dir).exists()
    assert out.unit_status == testing.BlockedStatus(
        "standby: Prowlarr runs on the leader only; scale back to 1 unit"
    )


def test_a_standby_unit_never_publishes_app_data_nor_touches_exportarr(
    ctx: Ctx, owned_config_dir: Path, calls: CallRecorder, pushes: list[dict[str, Any]]
):
    metrics = metrics_relation()
    state = cos_state(owned_config_dir, relations=[metrics], leader=False)

    out = ctx.run(ctx.on.relation_joined(metrics, remote_unit=0), state)

    rel = out.get_relation(metrics.id)
    assert dict(rel.local_app_data) == {}
    assert not {k for k in rel.local_unit_data if k.startswith("prometheus_scrape_")}
    assert out.get_container(EXPORTARR_CONTAINER).plan.to_dict() == {}
    assert key_pushes(pushes) == []


def test_exportarr_not_reachable_waits_and_pushes_nothing(
    ctx: Ctx, owned_config_dir: Path, prowlarr: FakeProwlarr, pushes: list[dict[str, Any]]
):
    running(prowlarr, owned_config_dir)
    state = cos_state(
        owned_config_dir,
        relations=[metrics_relation()],
        exportarr=exportarr_container(owned_config_dir, can_connect=False),
    )

    out = ctx.run(ctx.on.update_status(), state)

    assert out.unit_status == testing.WaitingStatus(
        "waiting for Pebble in the exportarr container"
    )
    assert key_pushes(pushes) == []


def test_a_failed_push_waits_and_is_retried_on_the_next_hook(
    ctx: Ctx,
    owned_config_dir: Path,
    prowlarr: FakeProwlarr,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    running(prowlarr, owned_config_dir)
    state = cos_state(owned_config_dir, relations=[metrics_relation()])
    original = ops.Container.push

    def failing_push(self: ops.Container, path: str, source: Any, **kwargs: Any) -> None:
        if path == KEY_FILE:
            raise pebble.APIError({}, 500, "Internal Server Error", "disk full")
        original(self, path, source, **kwargs)

    monkeypatch.setattr(ops.Container, "push", failing_push)
    out = ctx.run(ctx.on.update_status(), state)
    assert out.unit_status == testing.WaitingStatus(
        "waiting for Pebble in the exportarr container"
    )
    assert KEY not in "\n".join(r.getMessage() for r in caplog.records)

    monkeypatch.setattr(ops.Container, "push", original)
    again = ctx.run(ctx.on.update_status(), out)
    assert key_file(owned_config_dir).read_text() == KEY
    assert again.unit_status.name == "active"


# ------------------------------------------------------------------ grafana-dashboard


def test_dashboard_decodes_to_json_filtered_by_the_topology_variables(
    ctx: Ctx, owned_config_dir: Path, prowlarr: FakeProwlarr, calls: CallRecorder
):
    running(prowlarr, owned_config_dir)
    grafana = dashboard_relation()

    out = ctx.run(
        ctx.on.relation_joined(grafana, remote_unit=0),
        cos_state(owned_config_dir, relations=[grafana]),
    )

    template, dashboard = decoded_dashboard(out.get_relation(grafana.id).local_app_data)
    assert template["charm"] == APP
    assert template["inject_dropdowns"] is True
    assert template["juju_topology"] == {
        "model": "media",
        "model_uuid": MODEL_UUID,
        "application": APP,
        "unit": UNIT,
    }
    expected_alt = hashlib.shake_256(f"{APP}-file:prowlarr".encode()).hexdigest(8)
    assert template["dashboard_alt_uid"] == expected_alt
    assert DashboardPath40UID.is_valid(dashboard["uid"])
    assert f"charm: {APP}" in dashboard["tags"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["prometheusds"]["type"] == "datasource"
    assert {"juju_model", "juju_model_uuid", "juju_application", "juju_unit"} <= set(variables)
    exprs: list[str] = []
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${prometheusds}"}
        for target in panel["targets"]:
            exprs.append(target["expr"])
            for variable in TOPOLOGY_VARIABLES:
                assert f'=~"{variable}"' in target["expr"], (panel["title"], variable)
    used = set[str]().union(*(metric_names(e) for e in exprs))
    assert used <= EXPORTARR_METRICS
    assert {
        "prowlarr_indexer_queries_total",
        "prowlarr_indexer_grabs_total",
        "prowlarr_indexer_failed_queries_total",
        "prowlarr_indexer_average_response_time_ms",
        "prowlarr_system_health_issues",
        "prowlarr_indexer_total",
    } <= used

    calls.reset()
    ctx.run(ctx.on.update_status(), out)
    assert calls.calls["relation-write"] == 0, "unchanged templates are not rewritten"


def test_the_dashboard_file_is_valid_json_with_unique_panel_ids():
    dashboard = json.loads((observability.DASHBOARDS_DIR / "prowlarr.json").read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["title"] == "Prowlarr"


# ------------------------------------------------------------------ logging


def log_targets(state: testing.State, container: str) -> dict[str, dict[str, Any]]:
    targets = state.get_container(container).plan.to_dict().get("log-targets", {})
    return {name: dict(target) for name, target in targets.items()}


def test_logs_of_both_containers_go_to_every_loki_unit_with_topology_labels(
    ctx: Ctx, owned_config_dir: Path, prowlarr: FakeProwlarr, calls: CallRecorder
):
    running(prowlarr, owned_config_dir)
    loki = logging_relation(LOKI_0, LOKI_1)

    out = ctx.run(
        ctx.on.relation_changed(loki, remote_unit=0), cos_state(owned_config_dir, relations=[loki])
    )

    labels = {  # what loki_push_api's LogForwarder sets: COS dashboards select job and product
        "product": "Juju",
        "charm": APP,
        "juju_model": "media",
        "juju_model_uuid": MODEL_UUID,
        "juju_application": APP,
        "juju_unit": UNIT,
        "job": f"juju_media_{MODEL_UUID[:8]}_{APP}",
    }
    for container in ("prowlarr", EXPORTARR_CONTAINER):
        targets = log_targets(out, container)
        assert set(targets) == {"loki/0", "loki/1"}
        for name, url in (("loki/0", LOKI_0), ("loki/1", LOKI_1)):
            assert targets[name]["type"] == "loki"
            assert targets[name]["location"] == url
            assert targets[name]["services"] == ["all"]
            assert targets[name]["labels"] == labels
    assert calls.calls["pebble-replan"] == 0, "log targets need no replan"
    assert calls.calls["pebble-restart"] == 0
    assert out.get_container("prowlarr").services["prowlarr"].is_running()

    calls.reset()
    ctx.run(ctx.on.update_status(), out)
    assert calls.writes() == {}


def test_a_departed_loki_unit_and_a_removed_relation_disable_their_targets(
    ctx: Ctx, owned_config_dir: Path, prowlarr: FakeProwlarr, calls: CallRecorder
):
    running(prowlarr, owned_config_dir)
    loki = logging_relation(LOKI_0, LOKI_1)
    out = ctx.run(
        ctx.on.relation_changed(loki, remote_unit=0), cos_state(owned_config_dir, relations=[loki])
    )

    departed = dataclasses.replace(
        out.get_relation(loki.id), remote_units_data={0: {"endpoint": json.dumps({"url": LOKI_0})}}
    )
    out = dataclasses.replace(
        out, relations={*(r for r in out.relations if r.id != loki.id), departed}
    )
    out = ctx.run(ctx.on.relation_departed(departed, remote_unit=1, departing_unit=1), out)
    for container in ("prowlarr", EXPORTARR_CONTAINER):
        targets = log_targets(out, container)
        assert targets["loki/0"]["services"] == ["all"]
        assert targets["loki/1"]["services"] == ["-all"], "disabled: Pebble cannot delete it"

    out = ctx.run(ctx.on.relation_broken(out.get_relation(loki.id)), out)
    for container in ("prowlarr", EXPORTARR_CONTAINER):
        assert all(t["services"] == ["-all"] for t in log_targets(out, container).values())

    gone = dataclasses.replace(out, relations={r for r in out.relations if r.id != loki.id})
    calls.reset()
    ctx.run(ctx.on.update_status(), gone)
    assert calls.writes() == {}
    assert calls.calls["pebble-get-plan"] == 1, "Prowlarr's own layer check only"


def test_an_invalid_loki_endpoint_is_reported_and_skipped(
    ctx: Ctx, owned_config_dir: Path, prowlarr: FakeProwlarr
):
    running(prowlarr, owned_config_dir)
    loki = testing.Relation(
        "logging",
        remote_app_name="loki",
        remote_units_data={
            0: {"endpoint": "not json"},
            1: {"endpoint": json.dumps({"url": LOKI_1})},
        },
    )

    out = ctx.run(
        ctx.on.relation_changed(loki, remote_unit=0), cos_state(owned_config_dir, relations=[loki])
    )

    assert out.unit_status == testing.BlockedStatus("invalid logging endpoint from loki/0")
    assert set(log_targets(out, "prowlarr")) == {"loki/1"}


# ------------------------------------------------------------------ everything at once


def test_the_key_reaches_only_the_key_file_with_every_relation(
    ctx: Ctx,
    owned_config_dir: Path,
    prowlarr: FakeProwlarr,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.DEBUG)
    running(prowlarr, owned_config_dir)
    relations = [metrics_relation(), dashboard_relation(), logging_relation(LOKI_0)]
    state = cos_state(owned_config_dir, relations=relations)

    out = exportarr_ready(ctx, state)
    out = ctx.run(ctx.on.update_status(), out)
    out = ctx.run(ctx.on.action("rotate-api-key"), out)
    keys = {KEY, prowlarr.api_key}

    assert key_file(owned_config_dir).read_text() == prowlarr.api_key
    text = everything_visible(ctx, out, caplog)
    assert "scrape_jobs" in text and "dashboards" in text, "sanity: the databags are there"
    for key in keys:
        assert key not in text
    for container in out.containers:
        plan = json.dumps(container.plan.to_dict())
        assert all(key not in plan for key in keys), container.name
    assert out.unit_status == testing.ActiveStatus("0 applications synced")


# ------------------------------------------------------------------ pure parts


def test_log_target_changes_is_empty_when_the_plan_matches():
    labels = {"juju_unit": UNIT}
    changes = log_target_changes({}, {"loki/0": LOKI_0}, labels)
    plan = {name: pebble.LogTarget(name, target) for name, target in changes.items()}
    assert log_target_changes(plan, {"loki/0": LOKI_0}, labels) == {}
    assert log_target_changes(plan, {"loki/0": LOKI_1}, labels)["loki/0"].get("location") == LOKI_1
    disabled = log_target_changes(plan, {}, labels)
    assert disabled == {
        "loki/0": {"override": "replace", "type": "loki", "location": LOKI_0, "services": ["-all"]}
    }
    plan = {name: pebble.LogTarget(name, target) for name, target in disabled.items()}
    assert log_target_changes(plan, {}, labels) == {}


@pytest.mark.parametrize("text", ["", "garbage", "[1]", '{"key": 3, "logs": "yes"}'])
def test_applied_loads_anything_else_as_nothing_applied(text: str):
    assert Applied.load(text) == Applied()


def test_applied_round_trips():
    applied = Applied(key_fingerprint="ab" * 32, log_targets=True)
    assert Applied.load(applied.dump()) == applied


def test_loki_endpoints_skips_units_that_have_not_published_yet(ctx: Ctx):
    class Probe(ops.CharmBase):
        seen: tuple[dict[str, str], list[str]] = ({}, [])

        def __init__(self, framework: ops.Framework):
            super().__init__(framework)
            framework.observe(self.on.update_status, self._probe)

        def _probe(self, _: ops.EventBase) -> None:
            Probe.seen = loki_endpoints(self.model.relations["logging"])

    loki = testing.Relation(
        "logging",
        remote_units_data={
            0: {},
            1: {"endpoint": json.dumps({"url": "ftp://nope"})},
            2: {"endpoint": json.dumps({"url": LOKI_0})},
        },
    )
    probe = testing.Context(
        Probe, meta={"name": "probe", "requires": {"logging": {"interface": "loki_push_api"}}}
    )
    probe.run(probe.on.update_status(), testing.State(relations={loki}))
    assert Probe.seen == ({"remote/2": LOKI_0}, ["remote/1"])
