"""Application tags: the option, and the tags registration keeps on each application."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from ops import testing

from application_tags import ApplicationTagsError, load, unknown, unmatched
from charm import ProwlarrCharm
from prowlarr import ProwlarrClient
from registration import DesiredApplication, ManagedRecord, sync_applications
from tests.unit.conftest import CLUSTER_URL, service_environment
from tests.unit.fake_prowlarr import FakeProwlarr
from tests.unit.test_charm import USER_KEY, write_config_xml
from tests.unit.test_registration import RADARR, WRITES, deployment, manager
from workload import render_config_xml

# ------------------------------------------------------------------ the option


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", {}),
        ("{}", {}),
        ("{radarr-4k: [uhd]}", {"radarr-4k": ("uhd",)}),
        (
            "radarr-4k: [uhd, hdr, uhd]\nsonarr-anime: [anime]\n",
            {
                "radarr-4k": ("hdr", "uhd"),
                "sonarr-anime": ("anime",),
            },
        ),
        ("radarr: []\nsonarr:\n", {"radarr": (), "sonarr": ()}),
    ],
)
def test_the_option_maps_applications_to_labels(raw: str, expected: dict[str, tuple[str, ...]]):
    assert load({"application-tags": raw}) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "{radarr-4k: [UHD]}",
        "{radarr-4k: [ultra hd]}",
        "{radarr-4k: [4k_uhd]}",
        "{radarr-4k: uhd}",
        "[radarr-4k]",
        "{radarr-4k: [uhd]",
        "{radarr-4k: [[uhd]]}",
        "{1: [uhd]}",
    ],
)
def test_invalid_values_name_the_option(raw: str):
    with pytest.raises(ApplicationTagsError, match=r"^invalid application-tags: "):
        load({"application-tags": raw})


def test_unknown_names_and_tags_no_indexer_carries():
    tags = {"radarr-4k": ("uhd",), "radarr": (), "sonar": ("tv",)}
    assert unknown(tags, ["radarr", "radarr-4k", "sonarr"]) == ["sonar"]
    indexers = {"tracker": frozenset({"uhd", "flaresolverr"}), "other": frozenset[str]()}
    assert unmatched(tags, indexers) == ["sonar"]
    assert unmatched(tags, {}) == ["radarr-4k", "sonar"]


# ------------------------------------------------------------------ registration keeps the tags


@pytest.fixture
def client(fake: FakeProwlarr, config_dir: Path) -> Iterator[ProwlarrClient]:
    (config_dir / "config.xml").write_text(render_config_xml(None, USER_KEY))
    fake.start()
    with ProwlarrClient(USER_KEY, base_url=fake.url) as c:
        yield c


def wanted(name: str, rel_id: int, tags: tuple[str, ...] = ()) -> DesiredApplication:
    return DesiredApplication(
        relation_id=rel_id,
        remote_app=name,
        name=name,
        implementation="Radarr",
        config_contract="RadarrSettings",
        prowlarr_url=CLUSTER_URL,  # the fake answers the managers' call back there
        base_url=f"http://{name}:7878",
        sync_level="fullSync",
        api_key=f"{rel_id:032d}",
        tags=tags,
    )


def sync(
    client: ProwlarrClient, records: dict[int, ManagedRecord], *desired: DesiredApplication
) -> dict[int, ManagedRecord]:
    live = {d.relation_id for d in desired}
    report = sync_applications(client, client.list_applications(), desired, records, live)
    assert report.problems == []
    return report.records


def labels(fake: FakeProwlarr, name: str) -> list[str]:
    (app,) = [a for a in fake.applications.values() if a.name == name]
    return sorted(fake.store.tags[tag].label for tag in app.tags)


def app_writes(fake: FakeProwlarr) -> list[tuple[str, str]]:
    return [
        (r.method, r.path)
        for r in fake.requests
        if r.method in ("POST", "PUT", "DELETE") and not r.path.startswith("/api/v1/command")
    ]


def index_syncs(fake: FakeProwlarr) -> list[str]:
    return [c.name for c in fake.commands if c.name == "ApplicationIndexerSync"]


def test_a_new_application_gets_its_tags_created_and_no_sync_is_needed(
    client: ProwlarrClient, fake: FakeProwlarr
):
    sync(client, {}, wanted("radarr-4k", 1, ("uhd",)), wanted("radarr", 2))

    assert labels(fake, "radarr-4k") == ["uhd"]
    assert labels(fake, "radarr") == []
    assert index_syncs(fake) == [], "Prowlarr syncs a new application's indexers itself"


def test_a_tag_change_is_one_put_then_one_indexer_sync_and_the_other_app_is_untouched(
    client: ProwlarrClient, fake: FakeProwlarr
):
    records = sync(client, {}, wanted("radarr-4k", 1), wanted("radarr", 2))
    fake.clear_requests()

    sync(client, records, wanted("radarr-4k", 1, ("uhd",)), wanted("radarr", 2))

    app_id = records[1].app_id
    assert app_writes(fake) == [("POST", "/api/v1/tag"), ("PUT", f"/api/v1/applications/{app_id}")]
    assert labels(fake, "radarr-4k") == ["uhd"]
    assert labels(fake, "radarr") == []
    assert index_syncs(fake) == ["ApplicationIndexerSync"]


def test_steady_tags_cost_no_request_beyond_the_listing(
    client: ProwlarrClient, fake: FakeProwlarr
):
    records = sync(client, {}, wanted("radarr-4k", 1, ("uhd",)))
    fake.clear_requests()

    again = sync(client, records, wanted("radarr-4k", 1, ("uhd",)))

    assert [(r.method, r.path) for r in fake.requests] == [("GET", "/api/v1/applications")]
    assert again == records


def test_a_tag_edited_in_the_ui_is_put_back(client: ProwlarrClient, fake: FakeProwlarr):
    records = sync(client, {}, wanted("radarr-4k", 1, ("uhd",)))
    hd = fake.store.add_tag("hd")
    app = fake.applications[records[1].app_id]
    fake.set_application_tags(app.id, [hd])

    sync(client, records, wanted("radarr-4k", 1, ("uhd",)))

    assert labels(fake, "radarr-4k") == ["uhd"]
    assert index_syncs(fake) == ["ApplicationIndexerSync"]


def test_tags_removed_from_the_option_leave_the_application(
    client: ProwlarrClient, fake: FakeProwlarr
):
    records = sync(client, {}, wanted("radarr-4k", 1, ("uhd",)))

    sync(client, records, wanted("radarr-4k", 1))

    assert labels(fake, "radarr-4k") == []
    assert index_syncs(fake) == ["ApplicationIndexerSync"]
    assert [t.label for t in fake.store.tags.values()] == ["uhd"], "the tag itself stays"


# ------------------------------------------------------------------ which indexers each app gets


def wait_for_syncs(fake: FakeProwlarr) -> None:
    fake.complete_commands()


def test_only_matching_indexers_reach_a_tagged_application_and_a_retag_removes_now(
    client: ProwlarrClient, fake: FakeProwlarr
):
    uhd = fake.store.add_tag("uhd")
    fake.store.add_indexer("1337x", name="public")
    fake.store.add_indexer("1337x", name="4k-tracker", tags=[uhd])
    records = sync(client, {}, wanted("radarr-4k", 1), wanted("radarr", 2))
    four_k, plain = records[1].app_id, records[2].app_id
    assert fake.synced_indexers(four_k) == ["4k-tracker", "public"], "no tags: every indexer"

    sync(client, records, wanted("radarr-4k", 1, ("uhd",)), wanted("radarr", 2))
    wait_for_syncs(fake)

    assert fake.synced_indexers(four_k) == ["4k-tracker"]
    assert fake.synced_indexers(plain) == ["4k-tracker", "public"]


def test_a_new_tag_removes_nothing_until_the_indexer_sync_runs(fake: FakeProwlarr):
    fake.start()
    uhd = fake.store.add_tag("uhd")
    fake.store.add_indexer("1337x", name="public")
    radarr = fake.add_application("Radarr", name="radarr-4k", fields={"apiKey": "k"})
    fake.run_application_indexer_sync()
    fake.set_application_tags(radarr, [uhd])
    assert fake.synced_indexers(radarr) == ["public"]

    fake.run_application_indexer_sync()

    assert fake.synced_indexers(radarr) == []


def test_add_only_applications_keep_indexers_they_no_longer_match(fake: FakeProwlarr):
    fake.start()
    uhd = fake.store.add_tag("uhd")
    public = fake.store.add_indexer("1337x", name="public")
    fake.store.add_indexer("1337x", name="other")
    radarr = fake.add_application(
        "Radarr", name="radarr-4k", fields={"apiKey": "k"}, sync_level="addOnly"
    )
    fake.run_application_indexer_sync()
    fake.set_application_tags(radarr, [uhd])
    fake.store.remove_indexer(public)

    fake.run_application_indexer_sync()

    assert fake.synced_indexers(radarr) == ["other"], "deleted ones leave, unmatched ones stay"


# ------------------------------------------------------------------ through the charm

Ctx = testing.Context[ProwlarrCharm]
RADARR_4K = manager("radarr-4k", 5, "c" * 32, kind="radarr", instance_name="radarr-4k")


@pytest.fixture
def running(config_dir: Path, prowlarr: FakeProwlarr) -> FakeProwlarr:
    write_config_xml(config_dir, ApiKey=USER_KEY, Port="9696", UrlBase="")
    prowlarr.start(service_environment())
    return prowlarr


def with_option(state: testing.State, value: str) -> testing.State:
    return dataclasses.replace(state, config={**state.config, "application-tags": value})


def test_application_tags_reach_one_application_then_a_ui_edit_is_reverted(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    first = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0),
        deployment(config_dir, RADARR, RADARR_4K),
    )
    ids = {app.name: app.id for app in running.applications.values()}
    running.clear_requests()

    out = ctx.run(ctx.on.config_changed(), with_option(first, "{radarr-4k: [uhd]}"))

    assert labels(running, "radarr-4k") == ["uhd"]
    assert labels(running, "radarr") == []
    puts = [r.path for r in running.requests if r.method == "PUT"]
    assert puts == [f"/api/v1/applications/{ids['radarr-4k']}"], "the other one is untouched"
    assert index_syncs(running) == ["ApplicationIndexerSync"]
    assert out.unit_status == testing.ActiveStatus(
        "2 applications synced · radarr-4k gets no indexer: no declared indexer has tag uhd"
    )

    running.clear_requests()
    steady = ctx.run(ctx.on.update_status(), out)
    assert [(r.method, r.path) for r in running.requests] == [("GET", "/api/v1/applications")]

    running.complete_commands()  # Prowlarr merges a sync asked while the same one is queued
    running.set_application_tags(ids["radarr-4k"], [])
    ctx.run(ctx.on.update_status(), steady)

    assert labels(running, "radarr-4k") == ["uhd"]
    assert index_syncs(running) == ["ApplicationIndexerSync", "ApplicationIndexerSync"]


def test_an_invalid_option_blocks_and_changes_no_application(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    first = ctx.run(
        ctx.on.relation_changed(RADARR.relation, remote_unit=0), deployment(config_dir, RADARR)
    )
    running.clear_requests()

    out = ctx.run(ctx.on.config_changed(), with_option(first, "{radarr: [UHD]}"))

    assert isinstance(out.unit_status, testing.BlockedStatus)
    assert out.unit_status.message.startswith("invalid application-tags: tag labels are")
    assert [r for r in running.requests if r.method in WRITES] == []


def test_a_name_no_related_manager_has_blocks_naming_it(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    state = with_option(deployment(config_dir, RADARR), "{radarr: [hd], sonar: [tv]}")

    out = ctx.run(ctx.on.relation_changed(RADARR.relation, remote_unit=0), state)

    assert out.unit_status == testing.BlockedStatus(
        "invalid application-tags: 'sonar' is not a related media manager"
    )
    assert labels(running, "radarr") == ["hd"], "the known names are applied"


def test_a_4k_radarr_gets_only_the_uhd_indexers_and_the_other_gets_all(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    declared = {
        "UHD-Tracker": {"definition": "1337x", "tags": ["uhd"]},
        "public": {"definition": "1337x"},
    }
    state = with_option(deployment(config_dir, RADARR, RADARR_4K), "{radarr-4k: [uhd]}")
    state = dataclasses.replace(
        state, config={**state.config, "indexers": yaml.safe_dump(declared)}
    )

    out = ctx.run(ctx.on.relation_changed(RADARR.relation, remote_unit=0), state)

    ids = {app.name: app.id for app in running.applications.values()}
    assert running.synced_indexers(ids["radarr-4k"]) == ["UHD-Tracker"]
    assert running.synced_indexers(ids["radarr"]) == ["UHD-Tracker", "public"]
    assert out.unit_status == testing.ActiveStatus("2 applications synced · 2 indexers")
