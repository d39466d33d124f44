"""Optional runbook step: Prowlarr observed by COS Lite (`tox -e integration -- --with-cos`).

COS Lite (Prometheus, Loki, Grafana, Alertmanager, traefik, catalogue) needs about 8 GB of free
memory, so this module runs only with ``--with-cos``. It deploys Prowlarr and the ``cos-lite``
bundle into its own model, integrates the three COS endpoints, and checks what an operator would
look for: Prometheus scrapes exportarr and holds Prowlarr's alert rules, Grafana has the Prowlarr
dashboard, Loki has Prowlarr's log lines under the labels COS dashboards select on.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from pytest_operator.plugin import OpsTest

from tests.integration.helpers import (
    PROWLARR,
    as_dict,
    as_list,
    http_body_from_prowlarr,
    juju,
    model_name,
    model_of,
    run_action,
    wait_until,
)

TIMEOUT = 1800


@pytest.fixture(autouse=True)
def only_with_cos(request: pytest.FixtureRequest) -> None:
    """Skip unless `--with-cos` was given."""
    if not request.config.getoption("--with-cos"):
        pytest.skip("the COS Lite step needs about 8 GB of free memory: pass --with-cos")


def pod_url(ops_test: OpsTest, app: str, port: int, path: str) -> str:
    """`path` on unit 0 of `app`, through its headless Service (any port the pod listens on)."""
    return f"http://{app}-0.{app}-endpoints.{model_name(ops_test)}.svc.cluster.local:{port}{path}"


async def get_json(ops_test: OpsTest, url: str) -> dict[str, object]:
    """GET `url` from inside Prowlarr's container; its JSON object."""
    return as_dict(json.loads(await http_body_from_prowlarr(ops_test, url)), url)


@pytest.mark.abort_on_fail
async def test_deploy_prowlarr_with_cos_lite(
    ops_test: OpsTest, prowlarr_charm: Path, charm_resources: list[str]
) -> None:
    """`juju deploy cos-lite --trust`, then integrate Prowlarr's metrics, dashboard and logs."""
    await juju(ops_test, "deploy", str(prowlarr_charm), PROWLARR, *charm_resources)
    await juju(ops_test, "deploy", "cos-lite", "--trust")
    for endpoint, target in (
        ("metrics-endpoint", "prometheus:metrics-endpoint"),
        ("grafana-dashboard", "grafana:grafana-dashboard"),
        ("logging", "loki:logging"),
    ):
        await juju(ops_test, "integrate", f"{PROWLARR}:{endpoint}", target)
    await model_of(ops_test).wait_for_idle(
        apps=[PROWLARR, "prometheus", "grafana", "loki"], status="active", timeout=TIMEOUT
    )


async def test_prometheus_scrapes_exportarr_and_holds_the_rules(ops_test: OpsTest) -> None:
    """Prometheus' targets show exportarr up; its rules hold Prowlarr's alerts."""

    async def scraped() -> bool:
        data = as_dict(
            (
                await get_json(ops_test, pod_url(ops_test, "prometheus", 9090, "/api/v1/targets"))
            ).get("data")
        )
        for target in as_list(data.get("activeTargets", [])):
            labels = as_dict(as_dict(target).get("labels", {}))
            if (
                labels.get("juju_application") == PROWLARR
                and as_dict(target).get("health") == "up"
            ):
                return True
        return False

    await wait_until(scraped, what="Prometheus to scrape Prowlarr's exporter", timeout=600)
    rules = await get_json(ops_test, pod_url(ops_test, "prometheus", 9090, "/api/v1/rules"))
    names = {
        str(as_dict(rule).get("name"))
        for group in as_list(as_dict(rules.get("data")).get("groups", []))
        for rule in as_list(as_dict(group).get("rules", []))
    }
    assert {"ProwlarrDown", "ProwlarrExporterScrapeFailed", "ProwlarrHealthIssue"} <= names


async def test_grafana_has_the_prowlarr_dashboard(ops_test: OpsTest) -> None:
    """Grafana lists a dashboard titled Prowlarr (admin password from its action)."""
    outcome = await run_action(ops_test, "grafana/0", "get-admin-password")
    password = outcome.results.get("admin-password", "")
    assert password, f"grafana's get-admin-password gave no password: {outcome.message}"

    async def listed() -> bool:
        url = pod_url(ops_test, "grafana", 3000, "/api/search?query=Prowlarr")
        url = url.replace("http://", f"http://admin:{quote(password, safe='')}@", 1)
        found = json.loads(await http_body_from_prowlarr(ops_test, url))
        return any(as_dict(d).get("title") == "Prowlarr" for d in as_list(found))

    await wait_until(listed, what="Grafana to list the Prowlarr dashboard", timeout=600)


async def test_loki_has_prowlarrs_log_lines_with_the_cos_labels(ops_test: OpsTest) -> None:
    """A Prowlarr log line reached Loki, labelled with job and product as COS expects."""
    query = quote(f'{{juju_application="{PROWLARR}",product="Juju"}}', safe="")
    url = pod_url(ops_test, "loki", 3100, f"/loki/api/v1/query_range?query={query}&limit=5")

    async def arrived() -> bool:
        data = as_dict((await get_json(ops_test, url)).get("data"))
        for stream in as_list(data.get("result", [])):
            labels = as_dict(as_dict(stream).get("stream", {}))
            if labels.get("job", "").startswith("juju_") and as_list(
                as_dict(stream).get("values", [])
            ):
                return True
        return False

    await wait_until(arrived, what="a Prowlarr log line in Loki", timeout=600)
