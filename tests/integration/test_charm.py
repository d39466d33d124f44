"""The operator's journey with prowlarr-k8s on MicroK8s, step by step, on a real Juju.

Each test is one step of the runbook and runs the commands an operator types (``juju deploy``,
``juju integrate``, ``juju run prowlarr/leader rotate-api-key``...). The media manager is the
tester charm (tests/integration/tester): a Radarr stand-in that shares its key as a secret, serves
the Radarr API Prowlarr's connection test calls, and reports on Prowlarr's key without returning
it.

Prowlarr's own view comes from inside its container (``juju ssh --container prowlarr``: the key
is read from config.xml there and never leaves it); the requirer's view from the tester's actions;
where the key lives from ``juju secrets``, ``juju show-secret --reveal`` (admin) and Kubernetes.

Steps depend on the ones before: run the module as a whole, in order.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lightkube import Client
from lightkube.resources.core_v1 import Pod
from lightkube.resources.discovery_v1 import EndpointSlice
from pytest_operator.plugin import OpsTest

from tests.integration.helpers import (
    ENDPOINT,
    INSTANCE_NAME,
    MANUAL_BACKUPS,
    POSTGRESQL,
    POSTGRESQL_CHANNEL,
    PRE_REFRESH_COPIES,
    PROWLARR,
    PROWLARR_PORT,
    PROWLARR_UNIT,
    SECRET_LABEL,
    SQLITE_COPIES,
    STANDBY_STATUS,
    TESTER,
    TESTER_PORT,
    TESTER_SECRET_LABEL,
    TESTER_UNIT,
    TRAEFIK,
    TRAEFIK_HOSTNAME,
    UI_SECRET_LABEL,
    charm_revision,
    check_prowlarr_key,
    config_xml_has,
    container_ls,
    database_password,
    fake_radarr_stats,
    grant_targets,
    http_status_from_prowlarr,
    juju,
    kubernetes_secret_key,
    listed_backups,
    media_indexer_configs,
    model_name,
    model_of,
    pebble_plan,
    pebble_services,
    pod_name,
    prowlarr_applications,
    prowlarr_ui_status,
    registered_tester,
    reveal,
    reveal_fields,
    run_action,
    secret_unique_id,
    secrets_labelled,
    service_url,
    show_unit,
    the_secret,
    unit_statuses,
    wait_for_synced,
    wait_until,
)

DEPLOY_TIMEOUT = 1800  # first pull of the Prowlarr image included
TIMEOUT = 900


@pytest.mark.abort_on_fail
async def test_deploy_prowlarr_and_a_media_manager(
    ops_test: OpsTest, prowlarr_charm: Path, tester_charm: Path, charm_resources: list[str]
) -> None:
    """Step 1: deploy Prowlarr with the pinned image, and the tester; both become active."""
    await juju(ops_test, "deploy", str(prowlarr_charm), PROWLARR, *charm_resources)
    await juju(ops_test, "deploy", str(tester_charm), TESTER)
    await model_of(ops_test).wait_for_idle(
        apps=[PROWLARR, TESTER], status="active", timeout=DEPLOY_TIMEOUT
    )

    prowlarr = (await unit_statuses(ops_test, PROWLARR))[PROWLARR_UNIT]
    assert prowlarr.leader, "the only Prowlarr unit is the leader, the one that runs Prowlarr"
    assert prowlarr.synced == 0, (
        f"unrelated, Prowlarr is active with nothing synced; status says {prowlarr.message!r}"
    )
    assert len(await secrets_labelled(ops_test, SECRET_LABEL)) == 1, (
        "the leader created exactly one prowlarr-api-key secret on its own, before any relation"
    )


@pytest.mark.abort_on_fail
async def test_the_ui_hands_out_no_key_without_the_charms_login(ops_test: OpsTest) -> None:
    """Step 1b: the UI is locked; `get-ui-credentials` says where the login is; it works."""
    status, location = await prowlarr_ui_status(ops_test, "/initialize.json")
    assert status in (302, 401), (
        f"an anonymous /initialize.json (which carries the API key) is refused, got {status}"
    )
    assert status == 401 or "/login" in location, "the refusal sends the browser to /login"

    outcome = await run_action(ops_test, PROWLARR_UNIT, "get-ui-credentials")
    assert outcome.status == "completed", f"get-ui-credentials failed: {outcome.message}"
    secret = await the_secret(ops_test, UI_SECRET_LABEL)
    assert secret_unique_id(outcome.results["secret-id"]) == secret_unique_id(secret.id)
    assert outcome.results["show-command"].startswith("juju show-secret --reveal ")
    creds = await reveal_fields(ops_test, secret.id)
    assert "password" not in outcome.results and creds["password"] not in str(outcome.results)

    status, location = await prowlarr_ui_status(
        ops_test, "/login", f"username={creds['username']}", f"password={creds['password']}"
    )
    assert status == 302 and "loginFailed" not in location, "the generated login works"
    status, location = await prowlarr_ui_status(
        ops_test, "/login", f"username={creds['username']}", "password=not-the-password"
    )
    assert status == 302 and "loginFailed=true" in location, "a wrong password does not"


@pytest.mark.abort_on_fail
async def test_integrate_gives_the_tester_a_key_prowlarr_accepts(ops_test: OpsTest) -> None:
    """Step 2: `juju integrate prowlarr tester`: the tester reads Prowlarr's key; it works."""
    await juju(ops_test, "integrate", f"{PROWLARR}:{ENDPOINT}", f"{TESTER}:{ENDPOINT}")
    async with ops_test.fast_forward():  # retries of a not-yet-visible grant come sooner
        await wait_for_synced(ops_test, 1, timeout=TIMEOUT)
        await model_of(ops_test).wait_for_idle(
            apps=[PROWLARR, TESTER], status="active", timeout=TIMEOUT
        )

    check = await check_prowlarr_key(ops_test)
    secret = await the_secret(ops_test, SECRET_LABEL)
    latest = await reveal(ops_test, secret.id)
    assert check["has-key"] == "true", (
        f"the tester read Prowlarr's key through the secret granted over the relation "
        f"(read error: {check.get('read-error')})"
    )
    assert check["key-sha256-prefix"] == latest.fingerprint, (
        "the key the tester holds is the latest revision of prowlarr-api-key"
    )
    assert check["accepted"] == "true", (
        "Prowlarr's API accepts the key the tester read: "
        "GET {api_url}{base_path}/api/v1/system/status answers 200"
    )


async def test_prowlarr_registers_the_tester_as_an_application(ops_test: OpsTest) -> None:
    """Step 3: the tester shows up in Prowlarr, registered with its own key."""
    app = await registered_tester(ops_test)
    assert app is not None, f"Prowlarr lists an application named {INSTANCE_NAME!r}"
    assert app.implementation == "Radarr", "manager radarr is registered as a Radarr application"
    assert app.sync_level == "fullSync", "sync-level full-sync (the default) maps to fullSync"
    assert app.base_url == service_url(ops_test, TESTER, TESTER_PORT), (
        "Prowlarr reaches the tester at the api_url the tester published (its Kubernetes Service)"
    )
    assert app.prowlarr_url == service_url(ops_test, PROWLARR, PROWLARR_PORT), (
        "the media manager is told to reach Prowlarr through Prowlarr's Kubernetes Service"
    )

    stats = await fake_radarr_stats(ops_test)
    assert stats.get("indexer-test", 0) >= 1, (
        "Prowlarr ran its live connection test against the tester (POST /api/v3/indexer/test) "
        "with the key it read from the tester's secret"
    )
    assert stats.get("unauthorized", 0) == 0, "Prowlarr never presented a wrong key to the tester"
    assert stats.get("indexer-test-failed", 0) == 0, (
        "the tester called Prowlarr back at prowlarrUrl (its test indexer's caps) and got them"
    )


async def test_report_lists_every_capability_and_no_key(ops_test: OpsTest) -> None:
    """Step 3b: `juju run prowlarr/leader report` says what `juju status` has no room for."""
    outcome = await run_action(ops_test, PROWLARR_UNIT, "report")
    assert outcome.status == "completed", outcome.message
    results = outcome.results
    assert results["problems"] == "none", "a healthy deployment reports no problem"
    assert results["applications"].startswith("1 registered"), "the tester is registered"
    for capability in ("workload", "api-key", "login", "backups", "cos", "ingress", "status"):
        assert results.get(capability), f"report has a line for {capability}"
    key = await reveal(ops_test, (await the_secret(ops_test, SECRET_LABEL)).id)
    assert key.value not in str(results), "no key in the action's results"


async def test_relation_data_carries_secret_ids_never_keys(ops_test: OpsTest) -> None:
    """Step 4: `juju show-unit` on both sides shows the secret IDs and never a key."""
    prowlarr_secret = await the_secret(ops_test, SECRET_LABEL)
    tester_secret = await the_secret(ops_test, TESTER_SECRET_LABEL)
    keys = [await reveal(ops_test, prowlarr_secret.id), await reveal(ops_test, tester_secret.id)]

    configs: list[dict[str, object]] = []
    for unit in (PROWLARR_UNIT, TESTER_UNIT):
        raw, parsed = await show_unit(ops_test, unit)
        leaked = any(key.found_in(raw) for key in keys)
        assert not leaked, f"`juju show-unit {unit}` contains no API key, of either side"
        configs.extend(media_indexer_configs(parsed))

    published = {
        secret_unique_id(str(config.get("api_key_secret_id", ""))): config for config in configs
    }
    assert prowlarr_secret.id in published, (
        "Prowlarr's relation data carries the ID of prowlarr-api-key (api_key_secret_id)"
    )
    assert published[prowlarr_secret.id].get("indexer") == "prowlarr", (
        "the ID of prowlarr-api-key is published by the provider (indexer: prowlarr)"
    )
    assert tester_secret.id in published, "the tester's relation data carries its own secret's ID"
    assert published[tester_secret.id].get("manager") == "radarr", (
        "the tester's ID is published with the requirer fields (manager: radarr)"
    )


async def test_juju_secrets_lists_the_key_owned_by_prowlarr(ops_test: OpsTest) -> None:
    """Step 5: `juju secrets` lists prowlarr-api-key, owned by the prowlarr application."""
    secret = await the_secret(ops_test, SECRET_LABEL)
    assert secret.owner == PROWLARR, (
        f"prowlarr-api-key is an application secret of prowlarr (owner {secret.owner!r})"
    )
    owned = await juju(ops_test, "secrets", "--owner", f"application-{PROWLARR}")
    assert secret.id in owned, "`juju secrets --owner application-prowlarr` lists it too"
    granted = await grant_targets(ops_test, secret.id)
    assert f"application-{TESTER}" in granted, (
        "prowlarr-api-key is granted to the tester application (the relation's grant)"
    )


async def test_kubernetes_secret_backend_holds_the_key(ops_test: OpsTest, kube: Client) -> None:
    """Step 6: the key is stored as Kubernetes Secret `<id>-<revision>` in the model namespace."""
    secret = await the_secret(ops_test, SECRET_LABEL)
    in_juju = await reveal(ops_test, secret.id)
    name = f"{secret.id}-{secret.revision}"
    in_kubernetes = kubernetes_secret_key(kube, model_name(ops_test), name)
    same = in_kubernetes.value == in_juju.value
    assert same, (
        f"Kubernetes Secret {name} in namespace {model_name(ops_test)} holds the key of "
        f"revision {secret.revision}: the model's kubernetes secret backend stores it"
    )


async def test_rotate_api_key_reaches_the_tester_through_secret_changed(
    ops_test: OpsTest, kube: Client
) -> None:
    """Step 7: `juju run prowlarr/leader rotate-api-key`: a new revision; the tester follows."""
    secret = await the_secret(ops_test, SECRET_LABEL)
    old_key = await reveal(ops_test, secret.id)
    before = await check_prowlarr_key(ops_test)

    outcome = await run_action(ops_test, PROWLARR_UNIT, "rotate-api-key")
    assert outcome.status == "completed", f"rotate-api-key completes ({outcome.message})"

    async def committed() -> bool:
        return (await the_secret(ops_test, SECRET_LABEL)).revision > secret.revision

    await wait_until(committed, what="the new revision in `juju secrets`", timeout=120)
    new_key = await reveal(ops_test, secret.id)
    leaked = any(k.found_in(v) for v in outcome.results.values() for k in (old_key, new_key))
    assert not leaked, "the action result carries the secret ID and revision, never a key"
    assert secret_unique_id(outcome.results.get("secret-id", "")) == secret.id, (
        "the result names the prowlarr-api-key secret"
    )
    assert outcome.results.get("revision") == str(secret.revision + 1), (
        "the rotation made exactly one new revision, and the result says which"
    )
    assert new_key.fingerprint != old_key.fingerprint, "the new revision holds a different key"
    stored = kubernetes_secret_key(
        kube, model_name(ops_test), f"{secret.id}-{secret.revision + 1}"
    )
    assert stored.fingerprint == new_key.fingerprint, (
        "the new revision is stored in the kubernetes backend as <id>-<revision>"
    )

    async def tester_followed() -> bool:
        now = await check_prowlarr_key(ops_test)
        return int(now["secret-changed"]) > int(before["secret-changed"])

    await wait_until(tester_followed, what="the tester's secret-changed", timeout=TIMEOUT)
    after = await check_prowlarr_key(ops_test)
    assert after["key-sha256-prefix"] == new_key.fingerprint, (
        "secret-changed moved the tester to the new revision: it now holds the new key"
    )
    assert after["revision"] == str(int(before["revision"]) + 1), (
        "the tester was given exactly one new key"
    )
    assert after["previous-key-sha256-prefix"] == old_key.fingerprint, (
        "the key the tester held before is the one the rotation replaced"
    )
    assert after["previous-key-status"] == "401", (
        "Prowlarr rejected the old key (401) by the time the tester was told of the new one"
    )
    assert after["accepted"] == "true", "Prowlarr accepts the new key the tester holds"


async def test_sync_indexers_completes_and_prowlarr_still_reaches_the_tester(
    ops_test: OpsTest,
) -> None:
    """Step 8: `juju run prowlarr/leader sync-indexers` completes; the application still syncs."""
    before = await fake_radarr_stats(ops_test)
    outcome = await run_action(ops_test, PROWLARR_UNIT, "sync-indexers")
    assert outcome.status == "completed", f"sync-indexers completes ({outcome.message})"
    assert outcome.results.get("status") == "completed", (
        "Prowlarr's ApplicationIndexerSync command finished as completed"
    )
    assert outcome.results.get("applications") == "1", "one application (the tester) was synced"
    after = await fake_radarr_stats(ops_test)
    assert after.get("indexer-list", 0) > before.get("indexer-list", 0), (
        "the sync made Prowlarr read the tester's indexers (GET /api/v3/indexer)"
    )
    assert after.get("unauthorized", 0) == before.get("unauthorized", 0), (
        "Prowlarr still presents the tester's valid key after rotating its own"
    )


async def test_a_rotated_media_manager_key_reaches_prowlarr(ops_test: OpsTest) -> None:
    """Step 9: the media manager rotates its key; Prowlarr follows through secret-changed."""
    tester_secret = await the_secret(ops_test, TESTER_SECRET_LABEL)
    outcome = await run_action(ops_test, TESTER_UNIT, "rotate-own-key")
    assert outcome.status == "completed", f"the tester rotated its key ({outcome.message})"

    async def new_revision() -> bool:
        return (await the_secret(ops_test, TESTER_SECRET_LABEL)).revision > tester_secret.revision

    await wait_until(new_revision, what="a new revision of tester-api-key", timeout=TIMEOUT)
    await model_of(ops_test).wait_for_idle(apps=[PROWLARR, TESTER], timeout=TIMEOUT)

    before = await fake_radarr_stats(ops_test)
    synced = await run_action(ops_test, PROWLARR_UNIT, "sync-indexers")
    assert synced.results.get("status") == "completed", "the sync after the rotation completes"
    after = await fake_radarr_stats(ops_test)
    assert after.get("indexer-list", 0) > before.get("indexer-list", 0), (
        "Prowlarr called the tester again after its key rotation"
    )
    assert after.get("unauthorized", 0) == before.get("unauthorized", 0), (
        "Prowlarr uses the tester's new key: the charm updated the application on secret-changed"
    )


@pytest.mark.abort_on_fail
async def test_remove_relation_unregisters_and_revokes(ops_test: OpsTest) -> None:
    """Step 10: `juju remove-relation`: the application leaves Prowlarr; the grant goes."""
    secret = await the_secret(ops_test, SECRET_LABEL)
    await juju(ops_test, "remove-relation", f"{PROWLARR}:{ENDPOINT}", f"{TESTER}:{ENDPOINT}")

    async def unregistered() -> bool:
        return await registered_tester(ops_test) is None

    await wait_until(unregistered, what="the tester to leave Prowlarr", timeout=TIMEOUT)
    await wait_for_synced(ops_test, 0, timeout=TIMEOUT)

    assert f"application-{TESTER}" not in await grant_targets(ops_test, secret.id), (
        "the relation's grant of prowlarr-api-key went with the relation"
    )
    check = await check_prowlarr_key(ops_test)
    assert check["related"] == "false", "the tester knows it is no longer related"
    assert check["has-key"] == "false", (
        f"the tester can no longer read Prowlarr's key (read error: {check.get('read-error')})"
    )
    assert len(await secrets_labelled(ops_test, SECRET_LABEL)) == 1, (
        "the secret itself stays with Prowlarr for the next relation"
    )


@pytest.mark.abort_on_fail
async def test_integrate_again_registers_again(ops_test: OpsTest) -> None:
    """Step 11: integrate again: registered again, with a key Prowlarr accepts."""
    await juju(ops_test, "integrate", f"{PROWLARR}:{ENDPOINT}", f"{TESTER}:{ENDPOINT}")
    async with ops_test.fast_forward():
        await wait_for_synced(ops_test, 1, timeout=TIMEOUT)
        await model_of(ops_test).wait_for_idle(
            apps=[PROWLARR, TESTER], status="active", timeout=TIMEOUT
        )
    assert await registered_tester(ops_test) is not None, "Prowlarr lists the tester again"
    check = await check_prowlarr_key(ops_test)
    assert check["has-key"] == "true", "the new relation grants the key again"
    assert check["accepted"] == "true", "and Prowlarr accepts it"


@pytest.mark.abort_on_fail
async def test_an_ingress_by_path_becomes_the_url_base_everywhere(ops_test: OpsTest) -> None:
    """Step 11b: `juju integrate prowlarr traefik`: UI and API under the path traefik routes."""
    await juju(
        ops_test,
        "deploy",
        "traefik-k8s",
        TRAEFIK,
        "--channel",
        "latest/stable",
        "--trust",
        "--config",
        f"external_hostname={TRAEFIK_HOSTNAME}",
    )
    await juju(ops_test, "integrate", f"{PROWLARR}:ingress", f"{TRAEFIK}:ingress")
    base = f"/{model_name(ops_test)}-{PROWLARR}"
    url = f"http://{TRAEFIK_HOSTNAME}{base}"

    async def exposed() -> bool:
        status = (await unit_statuses(ops_test, PROWLARR))[PROWLARR_UNIT]
        return status.workload == "active" and status.message.endswith(url)

    async with ops_test.fast_forward():
        await wait_until(exposed, what=f"Prowlarr's status to show {url}", timeout=TIMEOUT)
        await model_of(ops_test).wait_for_idle(
            apps=[PROWLARR, TESTER], status="active", timeout=TIMEOUT
        )
        # Not "active": traefik waits for its LoadBalancer's address, which only a cluster with
        # a load balancer (MetalLB: scripts/deploy-local.sh enables it) gives. Routing works
        # without it.
        await model_of(ops_test).wait_for_idle(apps=[TRAEFIK], timeout=TIMEOUT)

    local = f"http://localhost:{PROWLARR_PORT}"
    assert await http_status_from_prowlarr(ops_test, f"{local}{base}/ping") == 200
    assert await http_status_from_prowlarr(ops_test, f"{local}/ping") == 307, (
        "Prowlarr serves only under its URL base now"
    )
    # traefik-k8s (since its PR #356) serves on its own LoadBalancer Service, <app>-lb, and opens
    # no port on the Service Juju made for it.
    through_traefik = f"http://{TRAEFIK}-lb.{model_name(ops_test)}.svc.cluster.local{base}/ping"
    host = f"Host: {TRAEFIK_HOSTNAME}"
    assert await http_status_from_prowlarr(ops_test, through_traefik, host) == 200, (
        "traefik routes the path, unstripped, to Prowlarr"
    )
    app = await registered_tester(ops_test)
    service = service_url(ops_test, PROWLARR, PROWLARR_PORT)
    assert app is not None and app.prowlarr_url == service + base, (
        "the tester is told to call Prowlarr back under the URL base"
    )
    _, tester = await show_unit(ops_test, TESTER_UNIT)
    bases = [c.get("base_path") for c in media_indexer_configs(tester) if "indexer" in c]
    assert bases == [base], "media-indexer carries the URL base to the media manager"
    check = await check_prowlarr_key(ops_test)
    assert check["accepted"] == "true", "the tester reaches Prowlarr's API at api_url + base_path"


@pytest.mark.abort_on_fail
async def test_removing_the_ingress_goes_back_to_no_url_base(ops_test: OpsTest) -> None:
    """Step 11c: `juju remove-relation prowlarr traefik`: back to no URL base; nothing lost."""
    await juju(ops_test, "remove-relation", f"{PROWLARR}:ingress", f"{TRAEFIK}:ingress")

    async def unexposed() -> bool:
        app = await registered_tester(ops_test)
        expected = service_url(ops_test, PROWLARR, PROWLARR_PORT)
        return app is not None and app.prowlarr_url == expected

    await wait_until(unexposed, what="the application to lose the URL base", timeout=TIMEOUT)
    await wait_for_synced(ops_test, 1, timeout=TIMEOUT)
    local = f"http://localhost:{PROWLARR_PORT}"
    assert await http_status_from_prowlarr(ops_test, f"{local}/ping") == 200
    assert (await check_prowlarr_key(ops_test))["accepted"] == "true"


@pytest.mark.abort_on_fail
async def test_metrics_endpoint_serves_prowlarrs_metrics_without_the_key_in_a_plan(
    ops_test: OpsTest,
) -> None:
    """Step 11d: `juju integrate prowlarr <prometheus>`: exportarr runs; its target is scraped."""
    await juju(ops_test, "integrate", f"{PROWLARR}:metrics-endpoint", f"{TESTER}:metrics-endpoint")
    async with ops_test.fast_forward():
        await model_of(ops_test).wait_for_idle(
            apps=[PROWLARR, TESTER], status="active", timeout=TIMEOUT
        )

    async def scraped() -> bool:
        outcome = await run_action(ops_test, TESTER_UNIT, "scrape-prowlarr")
        return outcome.status == "completed" and outcome.results.get("scrape-status") == "200"

    await wait_until(scraped, what="exportarr to answer its scrape target", timeout=TIMEOUT)
    report = (await run_action(ops_test, TESTER_UNIT, "scrape-prowlarr")).results
    assert int(report["metric-lines"]) > 0, "exportarr serves prowlarr_* metrics"
    assert report["system-status"] == "1", "exportarr reads Prowlarr's API with the key file"
    assert int(report["alert-groups"]) >= 1, "the alert rules travel with the scrape job"
    assert report["targets"].endswith(":9707/metrics"), "only the unit running Prowlarr"

    key = await reveal(ops_test, (await the_secret(ops_test, SECRET_LABEL)).id)
    for container in ("prowlarr", "exportarr"):
        plan = await pebble_plan(ops_test, container)
        assert "services:" in plan, f"read the plan of the {container} container"
        assert not key.found_in(plan), f"the key is in no Pebble plan ({container})"


@pytest.mark.abort_on_fail
async def test_a_second_unit_stays_idle_and_says_why(ops_test: OpsTest) -> None:
    """Step 12: `juju scale-application prowlarr 2`: the new unit idles and asks for 1 unit."""
    secret = await the_secret(ops_test, SECRET_LABEL)
    await juju(ops_test, "scale-application", PROWLARR, "2")
    await model_of(ops_test).wait_for_idle(
        apps=[PROWLARR], timeout=DEPLOY_TIMEOUT, wait_for_exact_units=2
    )

    units = await unit_statuses(ops_test, PROWLARR)
    leaders = [unit for unit in units.values() if unit.leader]
    others = [unit for unit in units.values() if not unit.leader]
    assert len(leaders) == 1, "one leader among the two units"
    assert len(others) == 1, "and one non-leader"
    assert "scale" in others[0].message.lower(), (
        f"the non-leader tells the operator to scale back to 1 (says {others[0].message!r})"
    )
    assert leaders[0].workload == "active", "the leader keeps running Prowlarr"
    assert leaders[0].synced == 1, "and keeps the tester registered"
    after = await the_secret(ops_test, SECRET_LABEL)
    assert after.revision == secret.revision, "the idle unit touched no secret: no new revision"


@pytest.mark.abort_on_fail
async def test_scale_back_to_one(ops_test: OpsTest) -> None:
    """Step 13: `juju scale-application prowlarr 1`: back to a single active unit."""
    await juju(ops_test, "scale-application", PROWLARR, "1")
    await model_of(ops_test).wait_for_idle(
        apps=[PROWLARR], status="active", timeout=TIMEOUT, wait_for_exact_units=1
    )
    units = await unit_statuses(ops_test, PROWLARR)
    assert list(units) == [PROWLARR_UNIT], "the first unit is the one that stays"
    assert units[PROWLARR_UNIT].leader, "and it leads"
    assert units[PROWLARR_UNIT].synced == 1, "with the tester still registered"


@pytest.mark.abort_on_fail
async def test_create_backup_then_list_backups_shows_it(ops_test: OpsTest) -> None:
    """Step 13b: `create-backup` makes a manual backup; `list-backups` shows it; no key."""
    key = await reveal(ops_test, (await the_secret(ops_test, SECRET_LABEL)).id)

    created = await run_action(ops_test, PROWLARR_UNIT, "create-backup")

    assert created.status == "completed", f"create-backup completes ({created.message})"
    name = created.results.get("name", "")
    assert name.startswith("prowlarr_backup_v") and name.endswith(".zip"), (
        f"Prowlarr named the backup as it does ({name!r})"
    )
    assert created.results.get("path") == f"{MANUAL_BACKUPS}/{name}"
    assert created.results.get("copy-command", "").startswith("juju scp --container prowlarr ")
    assert not any(key.found_in(value) for value in created.results.values()), (
        "the result names the backup, never the key it holds"
    )
    assert name in await container_ls(ops_test, MANUAL_BACKUPS), "the zip is on the storage"

    listed = await run_action(ops_test, PROWLARR_UNIT, "list-backups")

    assert listed.status == "completed", f"list-backups completes ({listed.message})"
    rows = listed_backups(listed.results.get("backups", ""))
    mine = [row for row in rows if row.name == name]
    assert len(mine) == 1, f"list-backups shows the new backup: {listed.results.get('backups')}"
    assert mine[0].id == created.results.get("id"), "with the id create-backup returned"
    assert mine[0].type == "manual"
    assert not any(key.found_in(value) for value in listed.results.values())


async def test_refresh_keeps_the_key_and_the_application(
    ops_test: OpsTest, prowlarr_charm: Path, charm_resources: list[str]
) -> None:
    """Step 14: `juju refresh prowlarr --path <same build>`: key and application survive.

    The refresh gives the unit a new pod; before Prowlarr first starts in it, the charm copies
    the database and config.xml to /config/Backups/pre-refresh/<UTC time>/.
    """
    secret = await the_secret(ops_test, SECRET_LABEL)
    key = await reveal(ops_test, secret.id)
    app = await registered_tester(ops_test)
    assert app is not None, "precondition: the tester is registered before the upgrade"
    revision = await charm_revision(ops_test, PROWLARR)
    copies_before = set(await container_ls(ops_test, PRE_REFRESH_COPIES))

    await juju(ops_test, "refresh", PROWLARR, "--path", str(prowlarr_charm), *charm_resources)

    async def upgraded() -> bool:
        return await charm_revision(ops_test, PROWLARR) != revision

    await wait_until(upgraded, what="the refresh to a new charm revision", timeout=TIMEOUT)
    async with ops_test.fast_forward():
        await wait_for_synced(ops_test, 1, timeout=TIMEOUT)
        await model_of(ops_test).wait_for_idle(
            apps=[PROWLARR, TESTER], status="active", timeout=TIMEOUT
        )

    after = await the_secret(ops_test, SECRET_LABEL)
    assert after.revision == secret.revision, "the upgrade made no new revision of the secret"
    kept = await reveal(ops_test, secret.id)
    assert kept.fingerprint == key.fingerprint, (
        "Prowlarr's key survived the upgrade (storage kept)"
    )
    again = await registered_tester(ops_test)
    assert again is not None, "the tester is still registered after the upgrade"
    assert again.id == app.id, "the very same application: Prowlarr's database survived"
    check = await check_prowlarr_key(ops_test)
    assert check["key-sha256-prefix"] == key.fingerprint, "the tester still holds the same key"
    assert check["accepted"] == "true", "and Prowlarr still accepts it"

    new_copies = set(await container_ls(ops_test, PRE_REFRESH_COPIES)) - copies_before
    assert new_copies, f"the refresh left a copy in {PRE_REFRESH_COPIES} (`ls` shows none new)"
    newest = max(new_copies)
    copied = await container_ls(ops_test, f"{PRE_REFRESH_COPIES}/{newest}")
    assert {"prowlarr.db", "config.xml", "manifest.json"} <= set(copied), (
        f"the copy holds the database, config.xml and its manifest ({copied})"
    )


async def test_restore_backup_brings_back_the_backup_and_keeps_everything_working(
    ops_test: OpsTest,
) -> None:
    """Step 15: `restore-backup id=<step 13b's>`: Prowlarr restarts on it; all is active again."""
    secret = await the_secret(ops_test, SECRET_LABEL)
    listed = await run_action(ops_test, PROWLARR_UNIT, "list-backups")
    manual = [
        row for row in listed_backups(listed.results.get("backups", "")) if row.type == "manual"
    ]
    assert manual, "precondition: step 13b's backup is listed"
    newest = manual[0]  # the table is newest first

    restored = await run_action(ops_test, PROWLARR_UNIT, "restore-backup", f"id={newest.id}")

    assert restored.status == "completed", f"restore-backup completes ({restored.message})"
    assert restored.results.get("restored") == newest.name
    assert restored.results.get("api-key") == "unchanged", (
        "no rotation since the backup: the restored config.xml holds the same key"
    )
    assert restored.results.get("indexer-sync") == "completed"
    async with ops_test.fast_forward():
        await wait_for_synced(ops_test, 1, timeout=TIMEOUT)
        await model_of(ops_test).wait_for_idle(
            apps=[PROWLARR, TESTER], status="active", timeout=TIMEOUT
        )
    assert (await the_secret(ops_test, SECRET_LABEL)).revision == secret.revision
    assert await registered_tester(ops_test) is not None, "the tester is registered"
    check = await check_prowlarr_key(ops_test)
    assert check["accepted"] == "true", "Prowlarr still accepts the key the tester holds"


# -- PostgreSQL and a standby (issue 21) ----------------------------------------------------------


@pytest.mark.abort_on_fail
async def test_integrate_postgresql_waits_for_use_postgresql(ops_test: OpsTest) -> None:
    """Step 16: deploy postgresql-k8s, integrate: Prowlarr's SQLite data is not moved silently."""
    await juju(ops_test, "deploy", POSTGRESQL, "--channel", POSTGRESQL_CHANNEL, "--trust")
    await model_of(ops_test).wait_for_idle(
        apps=[POSTGRESQL], status="active", timeout=DEPLOY_TIMEOUT
    )

    await juju(ops_test, "integrate", f"{PROWLARR}:database", f"{POSTGRESQL}:database")

    async def asks_for_the_action() -> bool:
        unit = (await unit_statuses(ops_test, PROWLARR))[PROWLARR_UNIT]
        return unit.workload == "blocked" and "use-postgresql" in unit.message

    await wait_until(
        asks_for_the_action, what="Blocked asking for use-postgresql", timeout=TIMEOUT
    )
    assert await registered_tester(ops_test) is not None, "Prowlarr keeps running on SQLite"
    assert not await config_xml_has(ops_test, "PostgresHost"), "nothing switched yet"


@pytest.mark.abort_on_fail
async def test_use_postgresql_moves_prowlarr_and_registers_the_tester_again(
    ops_test: OpsTest,
) -> None:
    """Step 17: `use-postgresql`: Prowlarr on PostgreSQL, the tester registered again, no leak."""
    secret = await the_secret(ops_test, SECRET_LABEL)

    switched = await run_action(ops_test, PROWLARR_UNIT, "use-postgresql")

    assert switched.status == "completed", f"use-postgresql completes ({switched.message})"
    assert switched.results.get("database", "").startswith("PostgreSQL prowlarr-main at ")
    copy = switched.results.get("sqlite-copy", "")
    assert copy.startswith(f"{SQLITE_COPIES}/"), f"the SQLite files were copied ({copy!r})"
    assert "prowlarr.db" in await container_ls(ops_test, copy)
    assert "prowlarr.db" in await container_ls(ops_test, "/config"), "the originals stay"
    async with ops_test.fast_forward():
        await wait_for_synced(ops_test, 1, timeout=TIMEOUT)
        await model_of(ops_test).wait_for_idle(
            apps=[PROWLARR, TESTER, POSTGRESQL], status="active", timeout=TIMEOUT
        )
    assert await registered_tester(ops_test) is not None, "the charm registered the tester again"
    check = await check_prowlarr_key(ops_test)
    assert check["accepted"] == "true", "the key did not change with the database"
    assert (await the_secret(ops_test, SECRET_LABEL)).revision == secret.revision
    assert await config_xml_has(ops_test, "PostgresHost")
    assert await config_xml_has(ops_test, "PostgresPassword")

    password = await database_password(ops_test)
    raw_unit, _ = await show_unit(ops_test, PROWLARR_UNIT)
    places = {
        "the Pebble plan": await pebble_plan(ops_test, "prowlarr"),
        "show-unit": raw_unit,
        "juju status": await juju(ops_test, "status", "--format=json"),
        "the action results": str(switched.results),
    }
    leaked = sorted(where for where, text in places.items() if password.found_in(text))
    assert leaked == [], f"the database password is in {leaked}"


@pytest.mark.abort_on_fail
async def test_a_second_unit_is_a_standby_out_of_the_service(
    ops_test: OpsTest, kube: Client
) -> None:
    """Step 18: `juju scale-application prowlarr 2`: the new unit stands by, Prowlarr stopped."""
    await juju(ops_test, "scale-application", PROWLARR, "2")
    await model_of(ops_test).wait_for_idle(
        apps=[PROWLARR], status="active", timeout=DEPLOY_TIMEOUT, wait_for_exact_units=2
    )

    units = await unit_statuses(ops_test, PROWLARR)
    leader = next(unit for unit in units.values() if unit.leader)
    standby = next(unit for unit in units.values() if not unit.leader)
    assert standby.message == STANDBY_STATUS, f"the standby says so ({standby.message!r})"
    assert leader.synced == 1, "the leader keeps running Prowlarr with the tester registered"
    plan = await pebble_plan(ops_test, "prowlarr", unit=standby.name)
    assert "startup: disabled" in plan, "Prowlarr is planned on the standby, not started"
    services = await pebble_services(ops_test, standby.name)
    assert "inactive" in services, f"and stopped there ({services!r})"
    assert await config_xml_has(ops_test, "PostgresHost", unit=standby.name)
    await assert_service_routes_to(ops_test, kube, leader.name)


async def assert_service_routes_to(ops_test: OpsTest, kube: Client, unit: str) -> None:
    """The Service's ready endpoints are the pod of `unit` only (the standby is not Ready)."""

    async def only_that_pod() -> bool:
        slices = kube.list(
            EndpointSlice,
            namespace=model_name(ops_test),
            labels={"kubernetes.io/service-name": PROWLARR},
        )
        ready = {
            endpoint.targetRef.name
            for found in slices
            for endpoint in found.endpoints or []
            if endpoint.targetRef is not None
            and endpoint.conditions is not None
            and endpoint.conditions.ready
        }
        return ready == {pod_name(unit)}

    await wait_until(
        only_that_pod, what=f"the {PROWLARR} Service to route to {unit} only", timeout=TIMEOUT
    )


@pytest.mark.abort_on_fail
async def test_the_standby_takes_over_when_the_leader_pod_goes(
    ops_test: OpsTest, kube: Client
) -> None:
    """Step 19: delete the leader's pod: one unit runs Prowlarr with the same key, one stands by.

    Juju moves leadership only once the old leader's lease has run out; whether that happens
    before the pod is back decides which unit leads afterwards. Either way exactly one runs
    Prowlarr, with the same key and the tester registered, and the Service routes to it.
    """
    secret = await the_secret(ops_test, SECRET_LABEL)
    key = await reveal(ops_test, secret.id)
    units = await unit_statuses(ops_test, PROWLARR)
    leader = next(unit.name for unit in units.values() if unit.leader)

    kube.delete(Pod, name=pod_name(leader), namespace=model_name(ops_test))

    async with ops_test.fast_forward():
        await model_of(ops_test).wait_for_idle(
            apps=[PROWLARR, TESTER], status="active", timeout=TIMEOUT, wait_for_exact_units=2
        )
        await wait_for_synced(ops_test, 1, timeout=TIMEOUT)
    units = await unit_statuses(ops_test, PROWLARR)
    running = [unit for unit in units.values() if unit.synced is not None]
    standing_by = [unit for unit in units.values() if unit.message == STANDBY_STATUS]
    assert len(running) == 1 and running[0].leader, "the leader, and only it, runs Prowlarr"
    assert len(standing_by) == 1, "the other unit stands by"
    assert (await reveal(ops_test, secret.id)).fingerprint == key.fingerprint, "the same key"
    check = await check_prowlarr_key(ops_test)
    assert check["accepted"] == "true", "the tester's copy of the key still works"
    names = [app.name for app in await prowlarr_applications(ops_test, unit=running[0].name)]
    assert INSTANCE_NAME in names, "the data is the same: the tester is still registered"
    await assert_service_routes_to(ops_test, kube, running[0].name)


@pytest.mark.abort_on_fail
async def test_scale_back_to_one_unit_on_postgresql(ops_test: OpsTest) -> None:
    """Step 20: `juju scale-application prowlarr 1`: the remaining unit runs Prowlarr."""
    await juju(ops_test, "scale-application", PROWLARR, "1")
    async with ops_test.fast_forward():
        await model_of(ops_test).wait_for_idle(
            apps=[PROWLARR], status="active", timeout=TIMEOUT, wait_for_exact_units=1
        )
        await wait_for_synced(ops_test, 1, timeout=TIMEOUT)
    units = await unit_statuses(ops_test, PROWLARR)
    assert list(units) == [PROWLARR_UNIT] and units[PROWLARR_UNIT].leader


@pytest.mark.abort_on_fail
async def test_removing_the_database_blocks_until_use_sqlite(ops_test: OpsTest) -> None:
    """Step 21: remove the relation: Blocked, Prowlarr stopped; `use-sqlite` goes back."""
    await juju(ops_test, "remove-relation", f"{PROWLARR}:database", POSTGRESQL)

    async def blocked() -> bool:
        unit = (await unit_statuses(ops_test, PROWLARR))[PROWLARR_UNIT]
        return unit.workload == "blocked" and "use-sqlite" in unit.message

    await wait_until(blocked, what="Blocked naming use-sqlite", timeout=TIMEOUT)
    assert "inactive" in await pebble_services(ops_test, PROWLARR_UNIT), "Prowlarr is stopped"

    back = await run_action(ops_test, PROWLARR_UNIT, "use-sqlite")

    assert back.status == "completed", f"use-sqlite completes ({back.message})"
    async with ops_test.fast_forward():
        await wait_for_synced(ops_test, 1, timeout=TIMEOUT)
        await model_of(ops_test).wait_for_idle(
            apps=[PROWLARR, TESTER], status="active", timeout=TIMEOUT
        )
    assert not await config_xml_has(ops_test, "PostgresHost")
    assert await registered_tester(ops_test) is not None
