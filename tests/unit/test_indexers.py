"""Indexers as code (indexers.py) against the fake Prowlarr, driven through ops.testing.

`IndexersCharm` stands in for charm.py's table of contents: on config-changed, update-status and
secret-changed it builds a `Hook` and calls `indexers.reconcile`, and sets the status from the
report as status.py does. Every test that handles a credential checks it is nowhere but in
the bodies sent to Prowlarr.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, cast

import ops
import pytest
import yaml
from charms.prowlarr_k8s.v0.media_indexer import secret_unique_id
from ops import testing

import indexers
import prowlarr as prowlarr_api
import status
from capability import Facts, Hook, Report
from charm_config import load_config
from memory import INDEXERS, Memory
from prowlarr import ProwlarrClient
from tests.unit.conftest import ACTIONS, CONFIG, LEADER_SECRET_ID, META, MODEL_UUID
from tests.unit.fake_indexers import MASK
from tests.unit.fake_prowlarr import FakeProwlarr
from tests.unit.test_charm import USER_KEY, write_config_xml

TL_USER = "leech-user"
TL_PASSWORD = "tl-Pa55-word-0001"
TL_PASSWORD_2 = "tl-Pa55-word-0002"
GEEK_KEY = "geekkey0123456789abcdef00000001"
TL_SECRET_ID = f"secret://{MODEL_UUID}/d4tlsecret0000000001"
GEEK_SECRET_ID = f"secret://{MODEL_UUID}/d4geeksecret00000001"
CREDENTIALS = (TL_USER, TL_PASSWORD, TL_PASSWORD_2, GEEK_KEY)
WRITES = ("POST", "PUT", "DELETE")


class IndexersCharm(ops.CharmBase):
    """The indexers capability alone, wired as charm.py wires every capability."""

    reports: ClassVar[list[Report]] = []
    facts: ClassVar[list[Facts]] = []  # what later capabilities (issue 20) read

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        for event in (self.on.config_changed, self.on.update_status, self.on.secret_changed):
            framework.observe(event, self._reconcile)

    def _reconcile(self, event: ops.EventBase) -> None:
        changed = ""
        if isinstance(event, ops.SecretChangedEvent):
            changed = secret_unique_id(event.secret.id or "")
        with ProwlarrClient(USER_KEY, base_url=prowlarr_api.LOCAL_URL) as client:
            hook = Hook(
                model=self.model,
                config=load_config(self.config),
                options=self.config,
                memory=Memory.of(self.model, "prowlarr-peers"),
                client=client,
                workload=cast("Any", None),
                url_base="",
                external_url="",
                prowlarr_url="",
                own_secret_id=LEADER_SECRET_ID,
                changed_secret=changed,
                started=False,
            )
            report = indexers.reconcile(hook)
        IndexersCharm.reports.append(report)
        IndexersCharm.facts.append(hook.facts)
        self.unit.status = status.unit_status([report], self.app.name)


Ctx = testing.Context[IndexersCharm]


@pytest.fixture
def ctx() -> Ctx:
    IndexersCharm.reports.clear()
    IndexersCharm.facts.clear()
    return testing.Context(IndexersCharm, meta=META, config=CONFIG, actions=ACTIONS)


@pytest.fixture
def running(config_dir: Path, prowlarr: FakeProwlarr) -> FakeProwlarr:
    write_config_xml(config_dir, ApiKey=USER_KEY, Port="9696", UrlBase="")
    prowlarr.start()
    return prowlarr


@pytest.fixture
def client(running: FakeProwlarr) -> Iterator[ProwlarrClient]:
    with ProwlarrClient(USER_KEY, base_url=running.url) as c:
        yield c


def tl_secret(password: str = TL_PASSWORD, latest: str | None = None) -> testing.Secret:
    latest_content = {"username": TL_USER, "password": latest} if latest else None
    return testing.Secret(
        {"username": TL_USER, "password": password},
        latest_content=latest_content,
        id=TL_SECRET_ID,
    )


GEEK_SECRET = testing.Secret({"api-key": GEEK_KEY}, id=GEEK_SECRET_ID)

THREE: dict[str, Any] = {
    "1337x": {"definition": "1337x", "fields": {"sort": "seeders"}},
    "TorrentLeech": {
        "definition": "torrentleech",
        "priority": 10,
        "tags": ["uhd"],
        "fields": {"freeleech": True},
        "secret": "secret:d4tlsecret0000000001",
    },
    "NZBgeek": {"definition": "NZBgeek", "secret": GEEK_SECRET_ID},
}


def state(
    declared: dict[str, Any] | str,
    *,
    secrets: tuple[testing.Secret, ...] = (tl_secret(), GEEK_SECRET),
    base: testing.State | None = None,
) -> testing.State:
    text = declared if isinstance(declared, str) else yaml.safe_dump(declared)
    if base is not None:
        return dataclasses.replace(base, config={"indexers": text})
    return testing.State(
        leader=True,
        config={"indexers": text},
        relations={testing.PeerRelation("prowlarr-peers", id=900)},
        secrets=set(secrets),
        model=testing.Model(name="media", uuid=MODEL_UUID),
    )


def writes(fake: FakeProwlarr) -> list[tuple[str, str]]:
    return [
        (r.method, r.path)
        for r in fake.requests
        if r.method in WRITES
        and r.path.startswith("/api/v1/indexer")
        and r.path != "/api/v1/indexer/test"
    ]


def ledger(out: testing.State) -> dict[str, Any]:
    return json.loads(out.get_relations("prowlarr-peers")[0].local_app_data.get(INDEXERS, "{}"))


def assert_no_credential_leaks(
    ctx: Ctx, out: testing.State, fake: FakeProwlarr, caplog: pytest.LogCaptureFixture
) -> None:
    """The credentials are in no log, status, databag, report; sent only in indexer writes."""
    places = {
        "logs": caplog.text,
        "juju-log": " ".join(log.message for log in ctx.juju_log),
        "status": out.unit_status.message,
        "databags": json.dumps([dict(r.local_app_data) for r in out.relations]),
        "reports": repr([dataclasses.asdict(r) for r in IndexersCharm.reports]),
        "other requests": json.dumps(
            [
                r.json
                for r in fake.requests
                if not (r.method in ("POST", "PUT") and r.path.startswith("/api/v1/indexer"))
            ]
        ),
    }
    for where, text in places.items():
        for credential in CREDENTIALS:
            assert credential not in text, f"a credential in {where}"


def stored(fake: FakeProwlarr, name: str) -> dict[str, object]:
    return fake.store.by_name()[name].settings


# ------------------------------------------------------------------ create, then steady


def test_three_declared_indexers_are_created_once_then_nothing_is_written(
    ctx: Ctx, running: FakeProwlarr, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)

    first = ctx.run(ctx.on.config_changed(), state(THREE))

    found = running.store.by_name()
    assert set(found) == {"1337x", "TorrentLeech", "NZBgeek"}, first.unit_status
    tl, geek, public = found["TorrentLeech"], found["NZBgeek"], found["1337x"]
    assert (tl.settings["username"], tl.settings["password"]) == (TL_USER, TL_PASSWORD)
    assert tl.settings["freeleech"] is True
    assert tl.priority == 10 and public.priority == 25
    assert tl.tags == running.store.tag_ids(["uhd"])
    assert public.settings["sort"] == 1, "a select option by name is sent as its index"
    assert geek.settings["apiKey"] == GEEK_KEY
    assert geek.settings["baseUrl"] == "https://api.nzbgeek.info", "the preset's template"
    assert {i.app_profile_id for i in found.values()} == {1}
    assert first.unit_status == testing.ActiveStatus("3 indexers")
    assert [m for m, _ in writes(running)] == ["POST", "POST", "POST"]
    assert IndexersCharm.facts[-1].indexer_tags == {
        "1337x": frozenset(),
        "TorrentLeech": frozenset({"uhd"}),
        "NZBgeek": frozenset(),
    }
    assert_no_credential_leaks(ctx, first, running, caplog)

    running.clear_requests()
    second = ctx.run(ctx.on.update_status(), first)

    assert [(r.method, r.path) for r in running.requests] == [("GET", "/api/v1/indexer")]
    assert second.unit_status == testing.ActiveStatus("3 indexers")
    assert ledger(second) == ledger(first)
    assert_no_credential_leaks(ctx, second, running, caplog)


def test_nothing_declared_costs_no_request(ctx: Ctx, running: FakeProwlarr):
    out = ctx.run(ctx.on.update_status(), state(""))

    assert running.requests == []
    assert out.unit_status == testing.ActiveStatus("")


# ------------------------------------------------------------------ drift


def test_a_declared_field_edited_in_the_ui_is_reverted_by_one_put(
    ctx: Ctx, running: FakeProwlarr, caplog: pytest.LogCaptureFixture
):
    first = ctx.run(ctx.on.config_changed(), state(THREE))
    tl = running.store.by_name()["TorrentLeech"]
    geek = running.store.by_name()["NZBgeek"]
    running.store.edit_indexer(tl.id, freeleech=False, priority=40, name="TL")
    running.store.edit_indexer(geek.id, enable=False)
    running.clear_requests()
    tests_before = len(running.store.indexer_tests)

    out = ctx.run(ctx.on.update_status(), first)

    puts = [r for r in running.requests if r.method == "PUT"]
    assert sorted(r.path for r in puts) == sorted(
        [f"/api/v1/indexer/{tl.id}", f"/api/v1/indexer/{geek.id}"]
    )
    assert all(r.query.get("forceSave") == "true" for r in puts)
    assert len(running.store.indexer_tests) == tests_before, "no live test for drift"
    now = running.store.by_name()
    assert now["TorrentLeech"].settings["freeleech"] is True
    assert now["TorrentLeech"].priority == 10
    assert now["TorrentLeech"].settings["password"] == TL_PASSWORD, "clear value sent back"
    assert now["NZBgeek"].enable is True
    assert now["NZBgeek"].settings["apiKey"] == GEEK_KEY, "the mask sent back keeps the key"
    assert out.unit_status == testing.ActiveStatus("3 indexers")
    assert_no_credential_leaks(ctx, out, running, caplog)


def test_an_undeclared_field_edited_in_the_ui_is_kept(ctx: Ctx, running: FakeProwlarr):
    first = ctx.run(ctx.on.config_changed(), state(THREE))
    tl = running.store.by_name()["TorrentLeech"]
    running.store.edit_indexer(tl.id, sort=3)  # not declared for TorrentLeech
    running.store.edit_indexer(tl.id, tags=[*tl.tags])
    running.clear_requests()

    ctx.run(ctx.on.update_status(), first)

    assert writes(running) == []
    assert stored(running, "TorrentLeech")["sort"] == 3


def test_ui_tags_are_kept_when_an_entry_declares_none(ctx: Ctx, running: FakeProwlarr):
    first = ctx.run(ctx.on.config_changed(), state(THREE))
    mine = running.store.add_tag("mine")
    public = running.store.by_name()["1337x"]
    running.store.edit_indexer(public.id, tags=[mine])
    running.clear_requests()

    ctx.run(ctx.on.update_status(), first)

    assert writes(running) == []
    assert running.store.by_name()["1337x"].tags == [mine]


def test_an_indexer_deleted_in_the_ui_is_created_again(ctx: Ctx, running: FakeProwlarr):
    first = ctx.run(ctx.on.config_changed(), state(THREE))
    running.store.remove_indexer(running.store.by_name()["1337x"].id)
    running.clear_requests()

    out = ctx.run(ctx.on.update_status(), first)

    assert writes(running) == [("POST", "/api/v1/indexer")]
    assert "1337x" in running.store.by_name()
    assert out.unit_status == testing.ActiveStatus("3 indexers")


def test_an_indexer_added_by_hand_is_never_touched(ctx: Ctx, running: FakeProwlarr):
    own = running.store.add_indexer("abNZB", name="My abNZB", fields={"apiKey": "k"})
    before = running.store.indexers[own]

    first = ctx.run(ctx.on.config_changed(), state(THREE))
    ctx.run(ctx.on.config_changed(), state({}, base=first))

    assert running.store.indexers == {own: before}


# ------------------------------------------------------------------ secrets


def test_a_new_secret_revision_is_put_once_and_tested(
    ctx: Ctx, running: FakeProwlarr, caplog: pytest.LogCaptureFixture
):
    first = ctx.run(ctx.on.config_changed(), state(THREE))
    tl_id = running.store.by_name()["TorrentLeech"].id
    rotated = tl_secret(latest=TL_PASSWORD_2)
    base = dataclasses.replace(
        first, secrets={s for s in first.secrets if s.id != TL_SECRET_ID} | {rotated}
    )
    running.clear_requests()
    running.store.indexer_tests.clear()

    out = ctx.run(ctx.on.secret_changed(rotated), base)

    assert writes(running) == [("PUT", f"/api/v1/indexer/{tl_id}")]
    put = next(r for r in running.requests if r.method == "PUT")
    assert put.query.get("forceSave") == "false"
    assert running.store.indexer_tests == ["TorrentLeech"], "Prowlarr tested the new login"
    assert stored(running, "TorrentLeech")["password"] == TL_PASSWORD_2
    assert out.unit_status == testing.ActiveStatus("3 indexers")
    assert_no_credential_leaks(ctx, out, running, caplog)

    running.clear_requests()
    ctx.run(ctx.on.update_status(), out)
    assert writes(running) == [], "applied once"


def test_new_credentials_the_tracker_refuses_are_reported_and_retried(
    ctx: Ctx, running: FakeProwlarr, caplog: pytest.LogCaptureFixture
):
    first = ctx.run(ctx.on.config_changed(), state(THREE))
    running.store.accounts["torrentleech"] = (TL_USER, TL_PASSWORD)  # the tracker's truth
    rotated = tl_secret(latest=TL_PASSWORD_2)
    base = dataclasses.replace(
        first, secrets={s for s in first.secrets if s.id != TL_SECRET_ID} | {rotated}
    )

    out = ctx.run(ctx.on.secret_changed(rotated), base)

    assert out.unit_status.name == "waiting"
    assert "TorrentLeech" in out.unit_status.message
    assert "Invalid username or password" in out.unit_status.message
    assert stored(running, "TorrentLeech")["password"] == TL_PASSWORD
    assert_no_credential_leaks(ctx, out, running, caplog)

    running.store.accounts["torrentleech"] = (TL_USER, TL_PASSWORD_2)  # changed on the site
    later = ctx.run(ctx.on.update_status(), out)
    assert stored(running, "TorrentLeech")["password"] == TL_PASSWORD_2
    assert later.unit_status == testing.ActiveStatus("3 indexers")


def test_a_secret_not_granted_blocks_that_indexer_only(
    ctx: Ctx, running: FakeProwlarr, caplog: pytest.LogCaptureFixture
):
    out = ctx.run(ctx.on.config_changed(), state(THREE, secrets=(GEEK_SECRET,)))

    assert set(running.store.by_name()) == {"1337x", "NZBgeek"}
    assert out.unit_status.name == "blocked"
    assert "TorrentLeech" in out.unit_status.message
    assert "juju grant-secret" in out.unit_status.message
    assert_no_credential_leaks(ctx, out, running, caplog)


def test_a_secret_without_a_mapped_key_is_named(ctx: Ctx, running: FakeProwlarr):
    declared = {
        "TorrentLeech": {
            **THREE["TorrentLeech"],
            "secret-fields": {"username": "username", "pass-word": "password"},
        }
    }

    out = ctx.run(ctx.on.config_changed(), state(declared))

    assert running.store.by_name() == {}
    assert out.unit_status.name == "blocked"
    assert "has no key pass-word" in out.unit_status.message


# ------------------------------------------------------------------ ownership


def test_a_removed_entry_deletes_what_the_charm_created_and_releases_what_it_adopted(
    ctx: Ctx, running: FakeProwlarr
):
    adopted = running.store.add_indexer("1337x", name="1337x", priority=30)
    first = ctx.run(ctx.on.config_changed(), state(THREE))
    assert running.store.indexers[adopted].priority == 25, "adopted, then set as declared"
    assert len(running.store.indexers) == 3
    tl_id = running.store.by_name()["TorrentLeech"].id

    out = ctx.run(ctx.on.config_changed(), state({"NZBgeek": THREE["NZBgeek"]}, base=first))

    assert set(running.store.by_name()) == {"1337x", "NZBgeek"}
    assert tl_id not in running.store.indexers
    assert adopted in running.store.indexers, "an adopted indexer is left as it is"
    assert set(ledger(out)) == {"NZBgeek"}
    assert out.unit_status == testing.ActiveStatus("1 indexer")


def test_the_same_name_with_another_definition_is_that_entrys_problem(
    ctx: Ctx, running: FakeProwlarr
):
    theirs = running.store.add_indexer("1337x", name="torrentleech")
    before = running.store.indexers[theirs]

    out = ctx.run(ctx.on.config_changed(), state({"TorrentLeech": THREE["TorrentLeech"]}))

    assert running.store.indexers == {theirs: before}
    assert out.unit_status.name == "blocked"
    assert "TorrentLeech" in out.unit_status.message and "1337x" in out.unit_status.message


# ------------------------------------------------------------------ tracker down


def test_a_tracker_down_on_create_is_its_problem_and_is_retried(
    ctx: Ctx, running: FakeProwlarr, caplog: pytest.LogCaptureFixture
):
    running.store.down.add("www.torrentleech.org")

    out = ctx.run(ctx.on.config_changed(), state(THREE))

    assert set(running.store.by_name()) == {"1337x", "NZBgeek"}
    assert out.unit_status.name == "waiting"
    assert "TorrentLeech" in out.unit_status.message
    assert "Unable to connect to indexer" in out.unit_status.message
    assert "TorrentLeech" not in ledger(out)
    assert_no_credential_leaks(ctx, out, running, caplog)

    running.store.down.clear()
    later = ctx.run(ctx.on.update_status(), out)
    assert "TorrentLeech" in running.store.by_name()
    assert later.unit_status == testing.ActiveStatus("3 indexers")


def test_a_disabled_entry_is_created_without_the_test(ctx: Ctx, running: FakeProwlarr):
    running.store.down.add("www.torrentleech.org")
    declared = {"TorrentLeech": {**THREE["TorrentLeech"], "enable": False}}

    out = ctx.run(ctx.on.config_changed(), state(declared))

    assert running.store.by_name()["TorrentLeech"].enable is False
    assert running.store.indexer_tests == []
    assert out.unit_status == testing.ActiveStatus("1 indexer")


# ------------------------------------------------------------------ the option


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"definition": "1337x", "flaresolver": True}, "unknown key 'flaresolver'"),
        ({"definition": "1337x", "priority": 51}, "priority must be 1-50"),
        ({"definition": "1337x", "tags": ["UHD"]}, "lower case"),
        (
            {
                "definition": "NZBgeek",
                "secret": GEEK_SECRET_ID,
                "secret-fields": {"apiKey": "apiKey"},
            },
            "secret keys must be lower case, 3+ characters",
        ),
        ({"definition": "1337x", "secret-fields": {"api-key": "apiKey"}}, "needs a secret"),
        (
            {"definition": "TorrentLeech", "fields": {"password": "p"}, "secret": TL_SECRET_ID},
            "is a credential: put it in the secret",
        ),
        ({"priority": 3}, "definition"),
        ({"definition": "1337x", "fields": {"nosuchfield": 1}}, "no field 'nosuchfield'"),
        ({"definition": "1337x", "fields": {"info_flaresolverr": "x"}}, "no field"),
        ({"definition": "1337x", "fields": {"sort": "newest"}}, "takes one of"),
        ({"definition": "nosuchtracker"}, "list-definitions"),
        ({"definition": "1337x", "app-profile": "Nope"}, "sync profile"),
    ],
)
def test_a_bad_entry_blocks_naming_it_and_the_others_go_on(
    ctx: Ctx, running: FakeProwlarr, entry: dict[str, Any], reason: str
):
    declared = {"Broken": entry, "NZBgeek": THREE["NZBgeek"]}

    out = ctx.run(ctx.on.config_changed(), state(declared))

    assert set(running.store.by_name()) == {"NZBgeek"}
    assert out.unit_status.name == "blocked"
    assert "Broken" in out.unit_status.message
    assert reason in out.unit_status.message


@pytest.mark.parametrize("text", ["TorrentLeech: [unclosed", "- a list", "just text"])
def test_an_unreadable_option_blocks_and_changes_nothing(
    ctx: Ctx, running: FakeProwlarr, text: str
):
    first = ctx.run(ctx.on.config_changed(), state(THREE))
    running.clear_requests()

    out = ctx.run(ctx.on.config_changed(), state(text, base=first))

    assert running.requests == []
    assert len(running.store.indexers) == 3
    assert out.unit_status.name == "blocked"
    assert "indexers" in out.unit_status.message
    assert ledger(out) == ledger(first), "the ledger is kept for when the option is fixed"


def test_an_invalid_entry_keeps_its_indexer(ctx: Ctx, running: FakeProwlarr):
    first = ctx.run(ctx.on.config_changed(), state(THREE))
    broken = {**THREE, "1337x": {"definition": "1337x", "priority": 0}}

    out = ctx.run(ctx.on.config_changed(), state(broken, base=first))

    assert "1337x" in running.store.by_name(), "not deleted while its entry is invalid"
    assert out.unit_status.name == "blocked"


# ------------------------------------------------------------------ discovery actions


def test_indexer_schema_lists_fields_and_flags_credentials(client: ProwlarrClient):
    results = indexers.indexer_schema(client, "torrentleech")

    lines = {line.split(" ")[0]: line for line in results["fields"].splitlines()}
    assert "credential" in lines["password"] and "credential" in lines["username"]
    assert "credential" not in lines["freeleech"]
    assert "0=created, 1=seeders" in lines["sort"]
    assert "definitionFile" not in lines, "hidden fields are the charm's"
    assert results["definition"] == "torrentleech"
    assert "username=... password=..." in results["secret"]
    example = yaml.safe_load(results["example"])
    assert example["TorrentLeech"]["secret-fields"] == {
        "username": "username",
        "password": "password",
    }


def test_indexer_schema_leaves_out_help_text_fields(client: ProwlarrClient):
    fields = indexers.indexer_schema(client, "1337x")["fields"]

    assert "info_flaresolverr" not in fields
    assert "sort (select)" in fields


def test_indexer_schema_of_a_newznab_preset_maps_the_api_key(client: ProwlarrClient):
    results = indexers.indexer_schema(client, "nzbgeek")

    example = yaml.safe_load(results["example"])
    assert example["NZBgeek"] == {
        "definition": "NZBgeek",
        "secret": "secret:<id>",
        "secret-fields": {"api-key": "apiKey"},
    }


def test_indexer_schema_of_an_unknown_definition_says_where_to_look(client: ProwlarrClient):
    with pytest.raises(indexers.IndexerActionError, match="list-definitions"):
        indexers.indexer_schema(client, "nope")


def test_list_definitions_filters(client: ProwlarrClient):
    every = indexers.list_definitions(client)
    some = indexers.list_definitions(client, "leech")

    assert every["count"] == "4"
    assert some["count"] == "1"
    assert "torrentleech | TorrentLeech | torrent | private" in some["definitions"]
    assert "NZBgeek | NZBgeek | usenet" in every["definitions"]
    with pytest.raises(indexers.IndexerActionError):
        indexers.list_definitions(client, "zzz")


def test_test_indexers_reports_each_result_without_credentials(
    ctx: Ctx, running: FakeProwlarr, client: ProwlarrClient
):
    first = ctx.run(ctx.on.config_changed(), state(THREE))
    running.store.down.add("1337x.to")
    memory = Memory(dict(first.get_relations("prowlarr-peers")[0].local_app_data))

    results = indexers.test_indexers(client, memory)
    one = indexers.test_indexers(client, memory, "torrentleech")

    lines = results["results"].splitlines()
    assert "TorrentLeech: ok" in lines and "NZBgeek: ok" in lines
    assert any(line.startswith("1337x: failed: Unable to connect") for line in lines)
    assert results["failed"] == "1"
    assert one["results"] == "TorrentLeech: ok"
    assert not any(c in json.dumps(results) for c in CREDENTIALS)
    assert writes(running) == [("POST", "/api/v1/indexer")] * 3, "tests write nothing"
    with pytest.raises(indexers.IndexerActionError):
        indexers.test_indexers(client, memory, "unknown")


# ------------------------------------------------------------------ the fake is unkind


def test_the_fake_stores_a_mask_sent_for_a_cardigann_password(
    ctx: Ctx, running: FakeProwlarr, client: ProwlarrClient
):
    ctx.run(ctx.on.config_changed(), state(THREE))
    tl = next(i for i in client.list_indexers() if i.name == "TorrentLeech")
    geek = next(i for i in client.list_indexers() if i.name == "NZBgeek")
    assert tl.get_field("password").value == TL_PASSWORD, "Cardigann: clear on GET"  # type: ignore[union-attr]
    assert geek.get_field("apiKey").value == MASK  # type: ignore[union-attr]

    client.update_indexer(tl.with_fields({"password": MASK}), force_save=True)
    client.update_indexer(geek, force_save=True)

    assert stored(running, "TorrentLeech")["password"] == MASK
    assert stored(running, "NZBgeek")["apiKey"] == GEEK_KEY


# ------------------------------------------------------------------ more ownership and drift


def test_an_adopted_tracker_gets_the_secrets_credentials_tested(
    ctx: Ctx, running: FakeProwlarr, caplog: pytest.LogCaptureFixture
):
    old = running.store.add_indexer(
        "TorrentLeech", name="TorrentLeech", fields={"username": TL_USER, "password": "old"}
    )

    out = ctx.run(ctx.on.config_changed(), state({"TorrentLeech": THREE["TorrentLeech"]}))

    assert list(running.store.indexers) == [old], "adopted, not duplicated"
    assert writes(running) == [("PUT", f"/api/v1/indexer/{old}")]
    assert running.store.indexer_tests == ["TorrentLeech"]
    assert stored(running, "TorrentLeech")["password"] == TL_PASSWORD
    assert out.unit_status == testing.ActiveStatus("1 indexer")
    assert_no_credential_leaks(ctx, out, running, caplog)


def test_a_drift_prowlarr_refuses_is_retried_without_reapplying_credentials(
    ctx: Ctx, running: FakeProwlarr
):
    first = ctx.run(ctx.on.config_changed(), state(THREE))
    geek = running.store.by_name()["NZBgeek"]
    running.store.edit_indexer(geek.id, enable=False)
    running.store.down.add("api.nzbgeek.info")  # an enabled Newznab fetches its capabilities

    out = ctx.run(ctx.on.update_status(), first)

    assert out.unit_status.name == "waiting"
    assert "NZBgeek" in out.unit_status.message
    assert running.store.by_name()["NZBgeek"].enable is False

    running.store.down.clear()
    running.clear_requests()
    later = ctx.run(ctx.on.update_status(), out)
    puts = [r for r in running.requests if r.method == "PUT"]
    assert [(r.path, r.query.get("forceSave")) for r in puts] == [
        (f"/api/v1/indexer/{geek.id}", "true")
    ]
    assert running.store.by_name()["NZBgeek"].enable is True
    assert stored(running, "NZBgeek")["apiKey"] == GEEK_KEY
    assert later.unit_status == testing.ActiveStatus("3 indexers")


def test_an_entry_given_another_definition_replaces_the_indexer_the_charm_created(
    ctx: Ctx, running: FakeProwlarr
):
    first = ctx.run(ctx.on.config_changed(), state({"Usenet": THREE["NZBgeek"]}))
    before = running.store.by_name()["Usenet"].id
    declared = {"Usenet": {"definition": "abNZB", "secret": GEEK_SECRET_ID}}

    out = ctx.run(ctx.on.config_changed(), state(declared, base=first))

    after = running.store.by_name()["Usenet"]
    assert after.id != before and after.definition.name == "abNZB"
    assert out.unit_status == testing.ActiveStatus("1 indexer")


def test_two_entries_whose_names_differ_only_by_case_block_the_second(
    ctx: Ctx, running: FakeProwlarr
):
    out = ctx.run(
        ctx.on.config_changed(),
        state("NZBgeek: {definition: 1337x}\nnzbgeek: {definition: 1337x}\n"),
    )

    assert set(running.store.by_name()) == {"NZBgeek"}
    assert out.unit_status.name == "blocked"
    assert "nzbgeek: same name as NZBgeek" in out.unit_status.message


def test_an_unreadable_ledger_counts_as_none_and_adopts_again(ctx: Ctx, running: FakeProwlarr):
    first = ctx.run(ctx.on.config_changed(), state(THREE))
    peers = first.get_relations("prowlarr-peers")[0]
    broken = dataclasses.replace(peers, local_app_data={INDEXERS: "not json"})
    base = dataclasses.replace(first, relations={broken})
    running.clear_requests()

    out = ctx.run(ctx.on.update_status(), base)

    assert len(running.store.indexers) == 3, "no duplicate: the same names are adopted"
    assert set(ledger(out)) == set(THREE)
    assert out.unit_status == testing.ActiveStatus("3 indexers")
