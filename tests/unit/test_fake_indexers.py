"""The fake Prowlarr's indexers, tags and app profiles: as unkind as Prowlarr, as documented."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.unit.fake_indexers import MASK
from tests.unit.fake_prowlarr import FakeProwlarr

OPENAPI = Path(__file__).parents[3] / "shared/prowlarr/openapi.json"
SSL = ssl.create_default_context()


@pytest.fixture
def running(fake: FakeProwlarr) -> FakeProwlarr:
    fake.start()
    return fake


@pytest.fixture
def api(running: FakeProwlarr) -> Iterator[httpx.Client]:
    headers = {"X-Api-Key": running.api_key}
    with httpx.Client(verify=SSL, base_url=running.url, headers=headers) as client:
        yield client


def template(api: httpx.Client, name: str) -> dict[str, Any]:
    return next(t for t in api.get("/api/v1/indexer/schema").json() if t["name"] == name)


def with_values(body: dict[str, Any], **values: object) -> dict[str, Any]:
    fields = [
        {**f, "value": values[f["name"]]} if f["name"] in values else f for f in body["fields"]
    ]
    return {**body, "fields": fields}


def torrentleech(
    api: httpx.Client, name: str = "TorrentLeech", **values: object
) -> dict[str, Any]:
    body = with_values(template(api, "TorrentLeech"), username="u", password="p", **values)
    return {**body, "name": name, "appProfileId": 1}


def post(api: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return api.post("/api/v1/indexer", params={"forceSave": "true"}, json=body)


def field(resource: dict[str, Any], name: str) -> object:
    return next(f.get("value") for f in resource["fields"] if f["name"] == name)


def test_cardigann_credentials_come_back_in_clear_and_a_mask_is_stored_verbatim(
    running: FakeProwlarr, api: httpx.Client
):
    created = post(api, torrentleech(api)).json()
    assert field(created, "password") == "p"

    answer = api.put(
        f"/api/v1/indexer/{created['id']}",
        params={"forceSave": "true"},
        json=with_values(created, password=MASK),
    )

    assert answer.status_code == 202
    assert running.store.by_name()["TorrentLeech"].settings["password"] == MASK


def test_a_native_api_key_is_masked_and_a_mask_sent_back_keeps_it(
    running: FakeProwlarr, api: httpx.Client
):
    body = {**with_values(template(api, "NZBgeek"), apiKey="k1"), "name": "g", "appProfileId": 1}
    created = post(api, body).json()
    assert field(created, "apiKey") == MASK

    api.put(f"/api/v1/indexer/{created['id']}", params={"forceSave": "true"}, json=created)

    assert running.store.by_name()["g"].settings["apiKey"] == "k1"


def test_names_are_unique_ignoring_case_and_validators_apply(api: httpx.Client):
    assert post(api, torrentleech(api)).status_code == 201

    again = post(api, torrentleech(api, "TORRENTLEECH"))
    bad = post(api, {**torrentleech(api, "x"), "priority": 51, "appProfileId": 7})

    assert again.status_code == 400 and "Should be unique" in again.text
    assert bad.status_code == 400
    assert "between 1 and 50" in bad.text and "App Profile does not exist" in bad.text


def test_an_unknown_cardigann_field_is_a_500_and_a_select_name_is_stored_as_0(
    running: FakeProwlarr, api: httpx.Client
):
    body = torrentleech(api)
    unknown = {**body, "fields": [*body["fields"], {"name": "freelech", "value": True}]}
    assert post(api, unknown).status_code == 500

    created = post(api, torrentleech(api, sort="seeders")).json()
    assert field(created, "sort") == 0


def test_post_tests_an_enabled_indexer_whatever_force_save(
    running: FakeProwlarr, api: httpx.Client
):
    running.store.down.add("www.torrentleech.org")

    refused = post(api, torrentleech(api))
    disabled = post(api, {**torrentleech(api), "enable": False})

    assert refused.status_code == 400 and "Unable to connect to indexer" in refused.text
    assert disabled.status_code == 201
    put = api.put(
        f"/api/v1/indexer/{disabled.json()['id']}",
        params={"forceSave": "true"},
        json={**disabled.json(), "enable": True},
    )
    assert put.status_code == 202, "forceSave skips the test on PUT"
    put = api.put(f"/api/v1/indexer/{disabled.json()['id']}", json=disabled.json())
    assert put.status_code == 202, "a disabled indexer is not tested"


def test_an_enabled_newznab_fetches_its_capabilities_even_with_force_save(
    running: FakeProwlarr, api: httpx.Client
):
    body = {**with_values(template(api, "NZBgeek"), apiKey="k"), "name": "g", "appProfileId": 1}
    created = post(api, {**body, "enable": False}).json()
    running.store.down.add("api.nzbgeek.info")

    put = api.put(
        f"/api/v1/indexer/{created['id']}",
        params={"forceSave": "true"},
        json={**created, "enable": True},
    )

    assert put.status_code == 400


def test_put_replaces_the_whole_resource_and_a_deleted_id_is_404(
    running: FakeProwlarr, api: httpx.Client
):
    created = post(api, torrentleech(api, freeleech=True)).json()
    fields = [f for f in created["fields"] if f["name"] != "freeleech"]

    api.put(
        f"/api/v1/indexer/{created['id']}",
        params={"forceSave": "true"},
        json={**created, "fields": fields},
    )

    assert running.store.by_name()["TorrentLeech"].settings["freeleech"] is False
    assert api.delete(f"/api/v1/indexer/{created['id']}").status_code == 200
    assert api.get(f"/api/v1/indexer/{created['id']}").status_code == 404
    assert api.delete(f"/api/v1/indexer/{created['id']}").status_code == 404


def test_a_tag_used_by_an_indexer_cannot_be_deleted(running: FakeProwlarr, api: httpx.Client):
    tag = api.post("/api/v1/tag", json={"label": "uhd"}).json()
    post(api, {**torrentleech(api), "tags": [tag["id"]]})

    assert api.delete(f"/api/v1/tag/{tag['id']}").status_code == 409


def test_the_key_is_checked_on_every_route(running: FakeProwlarr):
    with httpx.Client(verify=SSL, base_url=running.url) as anonymous:
        assert anonymous.get("/api/v1/indexer").status_code == 401
        assert anonymous.get("/api/v1/tag").status_code == 401


def _openapi() -> dict[str, Any]:
    if not OPENAPI.exists():
        pytest.skip("Prowlarr's OpenAPI document is not at ../shared/prowlarr/openapi.json")
    return json.loads(OPENAPI.read_text())


def test_indexer_tag_and_profile_answers_match_the_openapi_document(
    running: FakeProwlarr, api: httpx.Client
):
    spec = _openapi()
    schemas = spec["components"]["schemas"]

    def props(name: str) -> set[str]:
        return set(schemas[name]["properties"])

    post(api, torrentleech(api))
    api.post("/api/v1/tag", json={"label": "uhd"})
    resources = api.get("/api/v1/indexer").json() + api.get("/api/v1/indexer/schema").json()
    for resource in resources:
        assert set(resource) <= props("IndexerResource")
        assert resource["protocol"] in schemas["DownloadProtocol"]["enum"]
        assert resource["privacy"] in schemas["IndexerPrivacy"]["enum"]
        assert set(resource["capabilities"]) <= props("IndexerCapabilityResource")
        for item in resource["fields"]:
            assert set(item) <= props("Field")
            assert item["privacy"] in schemas["PrivacyLevel"]["enum"]
            for option in item.get("selectOptions", []):
                assert set(option) <= props("SelectOption")
    for tag in api.get("/api/v1/tag").json():
        assert set(tag) == props("TagResource")
    for profile in api.get("/api/v1/appprofile").json():
        assert set(profile) <= props("AppProfileResource")
