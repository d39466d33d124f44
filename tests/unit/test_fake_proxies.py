"""The fake's indexer proxies behave like Prowlarr's (CONTRACT §10)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.unit.fake_prowlarr import FakeProwlarr

SSL = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
BASE = "/api/v1/indexerproxy"


@pytest.fixture
def api(fake: FakeProwlarr) -> Iterator[httpx.Client]:
    fake.start()
    headers = {"X-Api-Key": fake.api_key}
    with httpx.Client(verify=SSL, base_url=fake.url, headers=headers) as client:
        yield client


def flaresolverr(name: str = "cf", tags: list[int] | None = None, **fields: Any) -> dict[str, Any]:
    values = {"host": "http://flaresolverr:8191", "requestTimeout": 60, **fields}
    return {
        "name": name,
        "implementation": "FlareSolverr",
        "configContract": "FlareSolverrSettings",
        "fields": [{"name": k, "value": v} for k, v in values.items()],
        "tags": tags or [],
    }


def test_a_tagged_proxy_is_tested_on_post_even_with_force_save(
    api: httpx.Client, fake: FakeProwlarr
):
    answer = api.post(BASE, params={"forceSave": "true"}, json=flaresolverr(tags=[1]))

    assert answer.status_code == 400
    assert fake.proxies.tests == ["http://flaresolverr:8191"]
    assert fake.proxies.stored == {}


def test_an_untagged_proxy_is_saved_untested_and_put_with_force_save_is_not_tested(
    api: httpx.Client, fake: FakeProwlarr
):
    created = api.post(BASE, params={"forceSave": "true"}, json=flaresolverr())
    assert created.status_code == 201
    proxy_id = created.json()["id"]

    refused = api.put(f"{BASE}/{proxy_id}", json={**created.json(), "tags": [1]})
    saved = api.put(
        f"{BASE}/{proxy_id}", params={"forceSave": "true"}, json={**created.json(), "tags": [1]}
    )

    assert refused.status_code == 400
    assert saved.status_code == 202
    assert fake.proxies.stored[proxy_id].tags == [1]
    assert fake.proxies.tests == ["http://flaresolverr:8191"], "only the PUT without forceSave"


def test_with_internet_the_test_passes(api: httpx.Client, fake: FakeProwlarr):
    fake.proxies.internet = True
    assert api.post(BASE, json=flaresolverr(tags=[1])).status_code == 201


def test_names_are_unique_ignoring_case_and_settings_are_validated(
    api: httpx.Client, fake: FakeProwlarr
):
    assert api.post(BASE, json=flaresolverr("CF")).status_code == 201
    duplicate = api.post(BASE, json=flaresolverr("cf"))
    slow = api.post(BASE, json=flaresolverr("slow", requestTimeout=181))
    no_host = api.post(BASE, json=flaresolverr("nohost", host=""))

    assert duplicate.status_code == 400
    assert duplicate.json()[0]["errorMessage"] == "Should be unique"
    assert slow.status_code == 400
    assert slow.json()[0]["propertyName"] == "RequestTimeout"
    assert no_host.status_code == 400
    assert len(fake.proxies.stored) == 1


def test_a_put_is_the_whole_resource_missing_fields_take_defaults(
    api: httpx.Client, fake: FakeProwlarr
):
    created = api.post(BASE, json=flaresolverr(requestTimeout=120)).json()
    body = {**created, "fields": [{"name": "host", "value": "http://other:8191"}]}

    api.put(f"{BASE}/{created['id']}", json=body)

    stored = fake.proxies.stored[created["id"]]
    assert stored.fields["requestTimeout"] == 60
    assert stored.fields["host"] == "http://other:8191"


def test_get_and_delete(api: httpx.Client, fake: FakeProwlarr):
    created = api.post(BASE, json=flaresolverr()).json()
    assert api.get(f"{BASE}/{created['id']}").json()["name"] == "cf"
    assert api.get(BASE).json()[0]["implementation"] == "FlareSolverr"

    assert api.delete(f"{BASE}/{created['id']}").status_code == 200
    assert api.get(f"{BASE}/{created['id']}").status_code == 404
    assert api.get(BASE).json() == []


def test_proxy_resources_match_the_openapi_document(api: httpx.Client):
    from tests.unit.test_fake_prowlarr import _openapi, _properties

    spec = _openapi()
    api.post(BASE, json=flaresolverr())
    for resource in api.get(BASE).json():
        assert set(resource) <= _properties(spec, "IndexerProxyResource")
        for item in resource["fields"]:
            assert set(item) <= _properties(spec, "Field")


def test_a_tag_a_proxy_carries_cannot_be_deleted(api: httpx.Client, fake: FakeProwlarr):
    tag = api.post("/api/v1/tag", json={"label": "flaresolverr"}).json()["id"]
    proxy = api.post(BASE, json=flaresolverr()).json()
    api.put(f"{BASE}/{proxy['id']}", params={"forceSave": "true"}, json={**proxy, "tags": [tag]})

    assert api.delete(f"/api/v1/tag/{tag}").status_code == 409
    api.delete(f"{BASE}/{proxy['id']}")
    assert api.delete(f"/api/v1/tag/{tag}").status_code == 200
