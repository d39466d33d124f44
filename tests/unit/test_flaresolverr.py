"""FlareSolverr: Charmarr's databag, the options, and the proxy the charm keeps in Prowlarr."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from ops import testing

import flaresolverr
from charm import ProwlarrCharm
from flaresolverr import (
    PROXY_NAME,
    DesiredProxy,
    FlareSolverrDataError,
    Ledger,
    ProxyNameTakenError,
    load_options,
    provider_data,
)
from prowlarr import ProwlarrClient
from tests.unit.conftest import ACTIONS, CONFIG, META, service_environment
from tests.unit.fake_prowlarr import FakeProwlarr
from tests.unit.fake_proxies import StoredProxy
from tests.unit.recorder import CallRecorder
from tests.unit.test_charm import USER_KEY, write_config_xml
from tests.unit.test_indexers import IndexersCharm, state
from tests.unit.test_registration import deployment
from workload import render_config_xml

URL = "http://flaresolverr.media.svc.cluster.local:8191"


def charmarr(url: str = URL) -> dict[str, str]:
    """What flaresolverr-k8s writes in its application databag."""
    return {"config": json.dumps({"url": url})}


# ------------------------------------------------------------------ the provider's databag


def test_charmarrs_databag_gives_the_url():
    data = provider_data(charmarr())
    assert data is not None
    assert data.url == URL


def test_nothing_published_yet_is_not_an_error():
    assert provider_data({}) is None


@pytest.mark.parametrize(
    ("databag", "reason"),
    [
        ({"config": "{not json"}, "not JSON"),
        ({"config": json.dumps({"host": URL})}, "no `url`"),
        ({"config": json.dumps(["url"])}, "no `url`"),
        (charmarr("ftp://flaresolverr:8191"), "not an http(s) URL"),
        (charmarr("flaresolverr:8191"), "not an http(s) URL"),
        (charmarr("http://"), "not an http(s) URL"),
        (charmarr("http://flaresolverr:port"), "not an http(s) URL"),
        (charmarr(" http://flaresolverr:8191"), "not an http(s) URL"),
        ({"config": json.dumps({"url": 8191})}, "not an http(s) URL"),
    ],
)
def test_bad_data_says_what_is_wrong(databag: dict[str, str], reason: str):
    with pytest.raises(
        FlareSolverrDataError, match=reason.replace("(", r"\(").replace(")", r"\)")
    ):
        provider_data(databag)


# ------------------------------------------------------------------ options


def test_options_default_to_60_seconds_and_the_flaresolverr_tag():
    options, errors = load_options({})
    assert (options.timeout, options.tag, errors) == (60, "flaresolverr", [])
    options, errors = load_options({"flaresolverr-timeout": 180, "flaresolverr-tag": "cf-2"})
    assert (options.timeout, options.tag, errors) == (180, "cf-2", [])


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"flaresolverr-timeout": 0}, "flaresolverr-timeout"),
        ({"flaresolverr-timeout": 181}, "flaresolverr-timeout"),
        ({"flaresolverr-timeout": True}, "flaresolverr-timeout"),
        ({"flaresolverr-tag": "CloudFlare"}, "flaresolverr-tag"),
        ({"flaresolverr-tag": "cloud flare"}, "flaresolverr-tag"),
        ({"flaresolverr-tag": ""}, "flaresolverr-tag"),
    ],
)
def test_invalid_options_are_named(options: dict[str, object], named: str):
    _, errors = load_options(options)
    assert len(errors) == 1
    assert errors[0].startswith(f"invalid {named} ")


# ------------------------------------------------------------------ the proxy in Prowlarr


@pytest.fixture
def client(fake: FakeProwlarr, config_dir: Path) -> Iterator[ProwlarrClient]:
    (config_dir / "config.xml").write_text(render_config_xml(None, USER_KEY))
    fake.start()
    with ProwlarrClient(USER_KEY, base_url=fake.url) as c:
        yield c


def labels(fake: FakeProwlarr, proxy: StoredProxy) -> list[str]:
    return [fake.store.tags[tag].label for tag in proxy.tags]


def ours(fake: FakeProwlarr) -> StoredProxy:
    (proxy,) = [p for p in fake.proxies.stored.values() if p.name == PROXY_NAME]
    return proxy


def proxy_writes(fake: FakeProwlarr) -> list[tuple[str, str, object]]:
    return [
        (r.method, r.path, r.query.get("forceSave"))
        for r in fake.requests
        if r.method in ("POST", "PUT", "DELETE") and "indexerproxy" in r.path
    ]


WANTED = DesiredProxy(host=URL, timeout=60, tag="flaresolverr")


def test_the_proxy_is_made_untagged_then_tagged_so_prowlarr_does_not_test_it(
    client: ProwlarrClient, fake: FakeProwlarr
):
    ledger = flaresolverr.apply(client, WANTED, Ledger())

    proxy = ours(fake)
    assert proxy.implementation == "FlareSolverr"
    assert proxy.fields["host"] == URL
    assert proxy.fields["requestTimeout"] == 60
    assert labels(fake, proxy) == ["flaresolverr"]
    assert fake.proxies.tests == [], "a test through FlareSolverr to the Internet may fail"
    writes = proxy_writes(fake)
    assert writes == [("POST", "/api/v1/indexerproxy", "true"), ("PUT", writes[1][1], "true")]
    assert ledger == Ledger(proxy.id, WANTED.fingerprint)


def test_a_change_is_one_put_and_a_proxy_added_by_hand_stays(
    client: ProwlarrClient, fake: FakeProwlarr
):
    theirs = fake.proxies.add("FlareSolverr", name="my flaresolverr", tags=[3])
    ledger = flaresolverr.apply(client, WANTED, Ledger())
    before = fake.proxies.stored[theirs]
    fake.clear_requests()

    changed = DesiredProxy(host=URL, timeout=120, tag="cf")
    flaresolverr.apply(client, changed, ledger)

    assert [w[0] for w in proxy_writes(fake)] == ["PUT"]
    assert ours(fake).fields["requestTimeout"] == 120
    assert labels(fake, ours(fake)) == ["cf"]
    assert fake.proxies.stored[theirs] == before


def test_a_proxy_edited_in_the_ui_is_put_back_when_applied(
    client: ProwlarrClient, fake: FakeProwlarr
):
    ledger = flaresolverr.apply(client, WANTED, Ledger())
    fake.proxies.edit(ours(fake).id, tags=[], host="http://elsewhere:8191")

    flaresolverr.apply(client, WANTED, ledger)

    assert ours(fake).fields["host"] == URL
    assert labels(fake, ours(fake)) == ["flaresolverr"]
    assert len(fake.proxies.stored) == 1


def test_the_proxy_is_found_again_by_its_name_when_the_ledger_is_lost(
    client: ProwlarrClient, fake: FakeProwlarr
):
    flaresolverr.apply(client, WANTED, Ledger())
    fake.clear_requests()

    flaresolverr.apply(client, WANTED, Ledger())

    assert proxy_writes(fake) == [], "same name, same values: nothing to write"
    assert len(fake.proxies.stored) == 1


def test_another_kind_of_proxy_under_the_charms_name_is_not_taken_over(
    client: ProwlarrClient, fake: FakeProwlarr
):
    fake.proxies.add("Http", name=PROXY_NAME, fields={"host": "squid"})

    with pytest.raises(ProxyNameTakenError, match="Http proxy is named"):
        flaresolverr.apply(client, WANTED, Ledger())

    assert [p.implementation for p in fake.proxies.stored.values()] == ["Http"]


def test_remove_deletes_only_the_charms_proxy(client: ProwlarrClient, fake: FakeProwlarr):
    theirs = fake.proxies.add("FlareSolverr", name="my flaresolverr")
    ledger = flaresolverr.apply(client, WANTED, Ledger())

    flaresolverr.remove(client, ledger)

    assert list(fake.proxies.stored) == [theirs]


def test_remove_finds_the_charms_proxy_by_name_when_the_ledger_is_stale(
    client: ProwlarrClient, fake: FakeProwlarr
):
    theirs = fake.proxies.add("FlareSolverr", name="my flaresolverr")
    flaresolverr.apply(client, WANTED, Ledger())

    flaresolverr.remove(client, Ledger(proxy_id=99, fingerprint=WANTED.fingerprint))

    assert list(fake.proxies.stored) == [theirs]


# ------------------------------------------------------------------ flaresolverr: true


def test_an_indexer_declared_with_flaresolverr_carries_the_tag(
    config_dir: Path, prowlarr: FakeProwlarr
):
    write_config_xml(config_dir, ApiKey=USER_KEY, Port="9696", UrlBase="")
    prowlarr.start()
    ctx = testing.Context(IndexersCharm, meta=META, config=CONFIG, actions=ACTIONS)
    declared = {
        "1337x": {"definition": "1337x", "flaresolverr": True},
        "other": {"definition": "1337x", "tags": ["uhd"], "flaresolverr": True},
        "direct": {"definition": "1337x"},
    }
    first = ctx.run(ctx.on.config_changed(), state(declared, secrets=()))

    found = prowlarr.store.by_name()
    label = {tag.id: tag.label for tag in prowlarr.store.tags.values()}
    assert [label[t] for t in found["1337x"].tags] == ["flaresolverr"]
    assert sorted(label[t] for t in found["other"].tags) == ["flaresolverr", "uhd"]
    assert found["direct"].tags == []

    retagged = dataclasses.replace(first, config={**first.config, "flaresolverr-tag": "cf"})
    ctx.run(ctx.on.config_changed(), retagged)

    label = {tag.id: tag.label for tag in prowlarr.store.tags.values()}
    assert [label[t] for t in prowlarr.store.by_name()["1337x"].tags] == ["cf"]


# ------------------------------------------------------------------ through the charm

Ctx = testing.Context[ProwlarrCharm]


def flaresolverr_relation(databag: dict[str, str] | None = None) -> testing.Relation:
    return testing.Relation(
        "flaresolverr",
        id=30,
        remote_app_name="flaresolverr-k8s",
        remote_app_data=charmarr() if databag is None else databag,
    )


@pytest.fixture
def running(config_dir: Path, prowlarr: FakeProwlarr) -> FakeProwlarr:
    write_config_xml(config_dir, ApiKey=USER_KEY, Port="9696", UrlBase="")
    prowlarr.start(service_environment())
    return prowlarr


def related(config_dir: Path, relation: testing.Relation, **config: str | int) -> testing.State:
    return deployment(config_dir, relations=[relation], config=dict(config))


def test_relating_flaresolverr_makes_one_proxy_then_a_steady_hook_writes_nothing(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, calls: CallRecorder
):
    theirs = running.proxies.add(name="my flaresolverr", fields={"host": "http://mine:8191"})
    before = running.proxies.stored[theirs]
    relation = flaresolverr_relation()

    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), related(config_dir, relation))

    proxy = ours(running)
    assert (proxy.fields["host"], proxy.fields["requestTimeout"]) == (URL, 60)
    assert labels(running, proxy) == ["flaresolverr"]
    assert running.proxies.stored[theirs] == before, "a proxy the user added is not ours"
    assert running.proxies.tests == []
    assert out.unit_status == testing.ActiveStatus(
        "0 applications synced · FlareSolverr unused: no declared indexer has tag flaresolverr"
    )
    peers = out.get_relations("prowlarr-peers")[0]
    assert json.loads(peers.local_app_data["flaresolverr"])["id"] == str(proxy.id)

    running.clear_requests()
    calls.reset()
    again = ctx.run(ctx.on.update_status(), out)

    assert [(r.method, r.path) for r in running.requests] == [("GET", "/api/v1/applications")]
    assert calls.calls["relation-write"] == 0
    assert again.unit_status == out.unit_status


def test_an_option_change_is_one_put(ctx: Ctx, config_dir: Path, running: FakeProwlarr):
    relation = flaresolverr_relation()
    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), related(config_dir, relation))
    running.clear_requests()

    changed = dataclasses.replace(out, config={"flaresolverr-timeout": 120})
    ctx.run(ctx.on.config_changed(), changed)

    assert [w[0] for w in proxy_writes(running)] == ["PUT"]
    assert ours(running).fields["requestTimeout"] == 120


def test_removing_the_relation_deletes_the_proxy_and_keeps_the_tag(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    theirs = running.proxies.add(name="my flaresolverr")
    relation = flaresolverr_relation()
    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), related(config_dir, relation))

    gone = ctx.run(ctx.on.relation_broken(relation), out)

    assert list(running.proxies.stored) == [theirs]
    assert [t.label for t in running.store.tags.values()] == ["flaresolverr"]
    assert "flaresolverr" not in gone.get_relations("prowlarr-peers")[0].local_app_data
    assert gone.unit_status == testing.ActiveStatus("0 applications synced")


@pytest.mark.parametrize(
    ("databag", "reason"),
    [
        ({"config": "{not json"}, "its `config` is not JSON"),
        ({"config": json.dumps({"host": URL})}, "its `config` has no `url`"),
        (charmarr("flaresolverr:8191"), "its `url` is not an http(s) URL"),
    ],
)
def test_bad_provider_data_blocks_and_writes_nothing(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr, databag: dict[str, str], reason: str
):
    relation = flaresolverr_relation(databag)

    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), related(config_dir, relation))

    assert out.unit_status == testing.BlockedStatus(
        f"flaresolverr relation: flaresolverr-k8s: {reason}"
    )
    assert proxy_writes(running) == []
    assert "flaresolverr" not in out.get_relations("prowlarr-peers")[0].local_app_data


def test_nothing_published_yet_waits(ctx: Ctx, config_dir: Path, running: FakeProwlarr):
    relation = flaresolverr_relation({})

    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), related(config_dir, relation))

    assert out.unit_status == testing.WaitingStatus(
        "waiting for flaresolverr-k8s to publish FlareSolverr's URL"
    )
    assert proxy_writes(running) == []


def test_a_proxy_of_another_kind_under_the_charms_name_blocks(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    running.proxies.add("Http", name=PROXY_NAME, fields={"host": "squid"})
    relation = flaresolverr_relation()

    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), related(config_dir, relation))

    assert out.unit_status == testing.BlockedStatus(
        "flaresolverr: a Http proxy is named 'FlareSolverr (Juju)': rename it in Prowlarr"
    )
    assert proxy_writes(running) == []


def test_an_invalid_option_blocks_naming_it(ctx: Ctx, config_dir: Path, running: FakeProwlarr):
    relation = flaresolverr_relation()
    state = related(config_dir, relation, **{"flaresolverr-tag": "Cloud Flare"})

    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), state)

    assert isinstance(out.unit_status, testing.BlockedStatus)
    assert out.unit_status.message.startswith("invalid flaresolverr-tag 'Cloud Flare'")
    assert proxy_writes(running) == []


def test_an_indexer_with_flaresolverr_true_shares_the_proxys_tag_and_the_hint_goes(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    relation = flaresolverr_relation()
    declared = yaml.safe_dump({"1337x": {"definition": "1337x", "flaresolverr": True}})
    state = related(config_dir, relation, indexers=declared)

    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), state)

    indexer = running.store.by_name()["1337x"]
    assert indexer.tags == ours(running).tags, "Prowlarr sends it through the proxy"
    assert labels(running, ours(running)) == ["flaresolverr"]
    assert out.unit_status == testing.ActiveStatus("0 applications synced · 1 indexer")


def test_a_restored_database_without_the_proxy_gets_it_again(
    ctx: Ctx, config_dir: Path, running: FakeProwlarr
):
    relation = flaresolverr_relation()
    out = ctx.run(ctx.on.update_status(), deployment(config_dir))
    out = ctx.run(ctx.on.action("create-backup"), out)
    backup_id = (ctx.action_results or {})["id"]
    out = dataclasses.replace(out, relations={*out.relations, relation})
    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), out)
    made = ours(running).id

    ctx.run(ctx.on.action("restore-backup", params={"id": backup_id}), out)

    proxy = ours(running)
    assert proxy.id != made, "the backup had no proxy: it is made again"
    assert (proxy.fields["host"], labels(running, proxy)) == (URL, ["flaresolverr"])
