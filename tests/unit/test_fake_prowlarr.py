"""Tests of the fake Prowlarr itself: a wrong fake would make every charm test worthless."""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.unit.fake_prowlarr import (
    MASK,
    ROUTES,
    FakeProwlarr,
    FakeStartError,
    SlowRule,
    backup_id,
)

OPENAPI = Path(__file__).parents[3] / "shared/prowlarr/openapi.json"
RADARR_KEY = "radarr-key-0123456789"
KEY = "<the fake's key>"  # placeholder replaced by the effective key in parametrised cases
# Building an SSL context costs ~25 ms per httpx client; the fake is plain HTTP, so build one.
SSL = ssl.create_default_context()
PERSISTED = {
    "BindAddress": "*",
    "Port": "9696",
    "SslPort": "6969",
    "EnableSsl": "False",
    "LaunchBrowser": "True",
    "AuthenticationMethod": "None",
    "AuthenticationRequired": "Enabled",
    "Branch": "master",
    "LogLevel": "debug",
    "SslCertPath": "",
    "SslCertPassword": "",
    "UrlBase": "",
    "InstanceName": "Prowlarr",
}


@pytest.fixture
def running(fake: FakeProwlarr) -> FakeProwlarr:
    fake.start()
    return fake


@pytest.fixture
def api(running: FakeProwlarr) -> Iterator[httpx.Client]:
    headers = {"X-Api-Key": running.api_key}
    with httpx.Client(verify=SSL, base_url=running.url, headers=headers) as client:
        yield client


def http_request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, url, verify=SSL, timeout=5, **kwargs)


def http_get(url: str, **kwargs: Any) -> httpx.Response:
    return http_request("GET", url, **kwargs)


def http_head(url: str, **kwargs: Any) -> httpx.Response:
    return http_request("HEAD", url, **kwargs)


def http_post(url: str, **kwargs: Any) -> httpx.Response:
    return http_request("POST", url, **kwargs)


def write_config(fake: FakeProwlarr, *elements: str, declaration: bool = False) -> None:
    head = '<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n' if declaration else ""
    fake.config_path.write_text(head + "<Config>\n" + "\n".join(elements) + "\n</Config>\n")


def config_values(fake: FakeProwlarr) -> dict[str, str]:
    root = ET.fromstring(fake.config_path.read_text())  # noqa: S314 - the test's own file
    return {child.tag: (child.text or "") for child in root}


def radarr(
    name: str = "Radarr",
    *,
    base_url: str = "http://radarr:7878",
    api_key: str | None = RADARR_KEY,
    sync_level: object = "fullSync",
    **extra: object,
) -> dict[str, Any]:
    fields: list[dict[str, object]] = [
        {"name": "prowlarrUrl", "value": "http://prowlarr:9696"},
        {"name": "baseUrl", "value": base_url},
    ]
    if api_key is not None:
        fields.append({"name": "apiKey", "value": api_key})
    body: dict[str, Any] = {
        "name": name,
        "implementation": "Radarr",
        "configContract": "RadarrSettings",
        "syncLevel": sync_level,
        "fields": fields,
        "tags": [],
    }
    body.update(extra)
    return body


def field_value(resource: dict[str, Any], name: str) -> object:
    for item in resource["fields"]:
        if item["name"] == name:
            return item.get("value")
    raise KeyError(name)


def create(api: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/api/v1/applications", params={"forceSave": "true"}, json=body)
    assert response.status_code == 201, response.text
    return response.json()


# ------------------------------------------------------------------------------ lifecycle


def test_not_running_drops_the_connection_without_a_response(fake: FakeProwlarr) -> None:
    with pytest.raises(httpx.TransportError):
        http_get(f"{fake.url}/ping")
    fake.start()
    assert http_get(f"{fake.url}/ping").status_code == 200
    fake.stop()
    with pytest.raises(httpx.TransportError):
        http_get(f"{fake.url}/ping")
    assert [r.status for r in fake.requests] == [200]


def test_stop_drops_open_connections_and_start_serves_again(running: FakeProwlarr) -> None:
    with httpx.Client(verify=SSL, base_url=running.url) as client:
        assert client.get("/ping").status_code == 200
        running.stop()
        with pytest.raises(httpx.TransportError):
            client.get("/ping")
        running.start()
        assert client.get("/ping").status_code == 200


def test_close_frees_the_port_even_with_a_client_still_connected(tmp_path: Path) -> None:
    fake = FakeProwlarr(tmp_path)
    fake.start()
    port = fake.port
    with httpx.Client(verify=SSL, base_url=fake.url) as client:
        assert client.get("/ping").status_code == 200
        fake.close()
        fake.close()  # idempotent
        with pytest.raises(httpx.TransportError):
            client.get("/ping")
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


# ------------------------------------------------------------------------------ config.xml


def test_start_creates_a_missing_config_with_defaults_and_a_fresh_key(
    fake: FakeProwlarr,
) -> None:
    fake.start()
    text = fake.config_path.read_text()
    assert not text.startswith("<?xml")
    values = config_values(fake)
    assert re.fullmatch(r"[0-9a-f]{32}", values["ApiKey"])
    assert values.pop("ApiKey") == fake.api_key
    assert values == PERSISTED
    assert fake.url_base == ""


def test_start_rewrites_config_the_prowlarr_way(fake: FakeProwlarr) -> None:
    write_config(
        fake,
        "<ApiKey>  pre-seeded-key-0123456789  </ApiKey>",
        "<AuthenticationEnabled>True</AuthenticationEnabled>",
        "<apikey>lower-case-is-unknown</apikey>",
        "<LogLevel>info</LogLevel>",
        "<AnalyticsEnabled>False</AnalyticsEnabled>",
        "<EnableSsl>True</EnableSsl>",
        "<AuthenticationMethod>Basic</AuthenticationMethod>",
        "<Port>9696</Port>",
        declaration=True,
    )
    fake.start()
    assert fake.api_key == "pre-seeded-key-0123456789"
    assert not fake.config_path.read_text().startswith("<?xml")
    values = config_values(fake)
    assert "AuthenticationEnabled" not in values
    assert "apikey" not in values
    assert values["LogLevel"] == "info"
    assert values["AnalyticsEnabled"] == "False"  # known, not persisted: kept as is
    assert values["EnableSsl"] == "False"  # no certificate path
    assert values["AuthenticationMethod"] == "Forms"  # Basic is migrated
    assert set(PERSISTED) <= set(values)


@pytest.mark.parametrize("element", ["", "<ApiKey></ApiKey>", "<ApiKey>   </ApiKey>"])
def test_start_generates_and_writes_a_missing_or_blank_key(
    fake: FakeProwlarr, element: str
) -> None:
    write_config(fake, element, "<Port>9696</Port>")
    fake.start()
    assert re.fullmatch(r"[0-9a-f]{32}", fake.api_key)
    assert config_values(fake)["ApiKey"] == fake.api_key


@pytest.mark.parametrize(
    "text",
    ["", "  \n", "<Config><ApiKey>abc</ApiKey>", "not xml at all", "<Settings></Settings>"],
    ids=["empty", "blank", "truncated", "garbage", "wrong-root"],
)
def test_start_fails_on_a_broken_config_and_stays_stopped(fake: FakeProwlarr, text: str) -> None:
    fake.config_path.write_text(text)
    with pytest.raises(FakeStartError):
        fake.start()
    assert not fake.running
    assert fake.config_path.read_text() == text  # not repaired
    with pytest.raises(httpx.TransportError):
        http_get(f"{fake.url}/ping")


def test_an_edited_key_is_not_read_until_restart(running: FakeProwlarr) -> None:
    old = running.api_key
    new = "edited-key-0123456789abcdef"
    running.config_path.write_text(
        running.config_path.read_text().replace(
            f"<ApiKey>{old}</ApiKey>", f"<ApiKey>{new}</ApiKey>"
        )
    )
    status = f"{running.url}/api/v1/system/status"
    assert http_get(status, headers={"X-Api-Key": old}).status_code == 200
    assert http_get(status, headers={"X-Api-Key": new}).status_code == 401
    running.restart()
    assert running.api_key == new
    assert http_get(status, headers={"X-Api-Key": new}).status_code == 200
    assert http_get(status, headers={"X-Api-Key": old}).status_code == 401


def test_reset_api_key_takes_effect_at_once_and_keeps_other_elements(
    running: FakeProwlarr,
) -> None:
    old = running.api_key
    # An external edit of another element after start: SetValue re-reads the file, so it stays.
    running.config_path.write_text(
        running.config_path.read_text().replace(
            "<LogLevel>debug</LogLevel>", "<LogLevel>info</LogLevel>"
        )
    )
    running.reset_api_key()
    assert running.api_key != old
    assert re.fullmatch(r"[0-9a-f]{32}", running.api_key)
    values = config_values(running)
    assert values["ApiKey"] == running.api_key
    assert values["LogLevel"] == "info"
    status = f"{running.url}/api/v1/system/status"
    assert http_get(status, headers={"X-Api-Key": old}).status_code == 401
    assert http_get(status, headers={"X-Api-Key": running.api_key}).status_code == 200


def test_system_status_reflects_config(fake: FakeProwlarr) -> None:
    write_config(
        fake,
        "<ApiKey>status-key-0123456789</ApiKey>",
        "<UrlBase>/prowlarr/</UrlBase>",
        "<InstanceName>Sonarr</InstanceName>",
        "<Branch>Develop</Branch>",
    )
    fake.start()
    response = http_get(
        f"{fake.url}/prowlarr/api/v1/system/status", headers={"X-Api-Key": fake.api_key}
    )
    assert response.status_code == 200
    status = response.json()
    assert status["urlBase"] == fake.url_base == "/prowlarr"
    assert status["instanceName"] == "Prowlarr"  # a name without "Prowlarr" is ignored
    assert status["branch"] == "develop"
    assert status["version"] == fake.version
    assert status["appName"] == "Prowlarr"
    assert status["authentication"] == "none"
    assert {"startupPath", "appData"} <= set(status)


# ------------------------------------------------------------------------------ HTTP pipeline


@pytest.mark.parametrize(
    ("query", "headers", "expected"),
    [
        ({"apikey": KEY}, {}, 200),
        ({"ApiKey": KEY}, {}, 200),
        ({}, {"X-Api-Key": KEY}, 200),
        ({}, {"Authorization": f"Bearer {KEY}"}, 200),
        ({}, {"Authorization": KEY}, 200),
        ({"apikey": "wrong"}, {"X-Api-Key": KEY}, 401),
        ({"apikey": ""}, {"X-Api-Key": KEY}, 401),
        ({}, {"X-Api-Key": "wrong", "Authorization": KEY}, 401),
        ({}, {"X-Api-Key": "upper"}, 401),
        ({}, {}, 401),
    ],
)
def test_api_key_sources_in_order(
    running: FakeProwlarr, query: dict[str, str], headers: dict[str, str], expected: int
) -> None:
    key = running.api_key
    swap = {"upper": key.upper(), KEY: key}
    query = {k: swap.get(v, v) for k, v in query.items()}
    headers = {k: v.replace(KEY, key) for k, v in headers.items()}
    headers = {k: swap.get(v, v) for k, v in headers.items()}
    response = http_get(f"{running.url}/api/v1/system/status", params=query, headers=headers)
    assert response.status_code == expected
    if expected == 401:
        assert response.content == b""
        assert "x-application-version" not in response.headers
        assert "www-authenticate" not in response.headers
    else:
        assert response.headers["x-application-version"] == running.version


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/applications"),
        ("GET", "/api/v1/applications/schema"),
        ("POST", "/api/v1/applications"),
        ("GET", "/api/v1/command"),
        ("POST", "/api/v1/command"),
        ("GET", "/api/v1/system/backup"),
        ("DELETE", "/api/v1/system/backup/1597773633"),
        ("POST", "/api/v1/system/backup/restore/1597773633"),
    ],
)
def test_every_api_route_needs_the_key(running: FakeProwlarr, method: str, path: str) -> None:
    response = http_request(method, f"{running.url}{path}", json={"name": "x"})
    assert (response.status_code, response.content) == (401, b"")


def test_ping_is_anonymous_for_get_and_head(running: FakeProwlarr) -> None:
    response = http_get(f"{running.url}/ping", headers={"X-Api-Key": "wrong"})
    assert response.status_code == 200
    assert response.json() == {"status": "OK"}
    assert response.headers["content-type"].startswith("application/json")
    head = http_head(f"{running.url}/ping")
    assert (head.status_code, head.content) == (200, b"")


def test_starting_window_answers_503_after_auth(running: FakeProwlarr) -> None:
    running.starting_requests = 2
    key = {"X-Api-Key": running.api_key}
    unauthenticated = http_get(f"{running.url}/api/v1/system/status")
    assert unauthenticated.status_code == 401  # auth first: does not use up the window
    ping = http_get(f"{running.url}/ping")
    assert ping.status_code == 503
    assert ping.headers["content-type"].startswith("text/plain")
    assert ping.text == "Prowlarr is starting up, please try again later"
    status = http_get(f"{running.url}/api/v1/system/status", headers=key)
    assert status.status_code == 503
    assert status.json() == {"errorMessage": "Prowlarr is starting up, please try again later"}
    assert http_get(f"{running.url}/ping").status_code == 200
    assert running.starting_requests == 0


def test_url_base_redirects_requests_without_it(fake: FakeProwlarr) -> None:
    write_config(fake, "<UrlBase>prowlarr</UrlBase>")
    fake.start()
    assert fake.url_base == "/prowlarr"
    assert http_get(f"{fake.url}/prowlarr/ping").status_code == 200
    ping = http_get(f"{fake.url}/ping")
    assert (ping.status_code, ping.headers["location"]) == (307, "/prowlarr/ping")
    status_path = "/api/v1/system/status?foo=bar"
    assert http_get(f"{fake.url}{status_path}").status_code == 401  # auth before redirect
    redirect = http_get(f"{fake.url}{status_path}", headers={"X-Api-Key": fake.api_key})
    assert redirect.status_code == 307
    assert redirect.headers["location"] == f"/prowlarr{status_path}"
    followed = http_get(
        f"{fake.url}{status_path}", headers={"X-Api-Key": fake.api_key}, follow_redirects=True
    )
    assert followed.status_code == 200


@pytest.mark.parametrize("base", ["media/../prowlarr", "./prowlarr", "media/%2e%2e/prowlarr"])
def test_a_url_base_with_dot_segments_matches_no_request(fake: FakeProwlarr, base: str) -> None:
    write_config(fake, f"<UrlBase>{base}</UrlBase>")
    fake.start()
    key = {"X-Api-Key": fake.api_key}
    path = f"/{base}/api/v1/system/status"
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    try:  # the path as written, not normalised by a client: Kestrel normalises it itself
        connection.request("GET", path, headers=key)
        status = connection.getresponse().status
    finally:
        connection.close()

    assert status == 307
    assert http_get(f"{fake.url}{path}", headers=key).status_code == 307, "a normalising client"
    assert http_get(f"{fake.url}/ping").status_code == 307


def test_one_failing_route_fails_alone(running: FakeProwlarr) -> None:
    running.failing_routes["GET /api/v1/applications"] = 500
    key = {"X-Api-Key": running.api_key}

    assert http_get(f"{running.url}/api/v1/applications", headers=key).status_code == 500
    assert http_get(f"{running.url}/api/v1/system/status", headers=key).status_code == 200
    assert http_get(f"{running.url}/ping").status_code == 200
    assert http_get(f"{running.url}/api/v1/applications").status_code == 401, "auth first"


def test_url_base_change_needs_a_restart(running: FakeProwlarr) -> None:
    running.config_path.write_text(
        running.config_path.read_text().replace("<UrlBase></UrlBase>", "<UrlBase>/p</UrlBase>")
    )
    assert http_get(f"{running.url}/ping").status_code == 200
    running.restart()
    assert http_get(f"{running.url}/ping").status_code == 307
    assert http_get(f"{running.url}/p/ping").status_code == 200


@pytest.mark.parametrize(
    ("accept", "expected"),
    [("text/html", 406), ("application/xml", 406), ("*/*", 200), ("application/json", 200)],
)
def test_content_negotiation(api: httpx.Client, accept: str, expected: int) -> None:
    assert api.get("/api/v1/system/status", headers={"Accept": accept}).status_code == expected


def test_non_json_bodies_are_unsupported(api: httpx.Client) -> None:
    response = api.post(
        "/api/v1/applications",
        content=json.dumps(radarr()),
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    malformed = api.post(
        "/api/v1/applications", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["title"] == "One or more validation errors occurred."


def test_unknown_route_and_method(api: httpx.Client) -> None:
    assert api.get("/api/v1/nothing").status_code == 404
    assert api.patch("/api/v1/applications/1").status_code == 405
    assert api.delete("/api/v1/applications").status_code == 405


def test_fail_status_applies_to_authenticated_requests_only(running: FakeProwlarr) -> None:
    running.fail_status = 500
    status = f"{running.url}/api/v1/system/status"
    assert http_get(status, headers={"X-Api-Key": running.api_key}).status_code == 500
    assert http_get(status, headers={"X-Api-Key": "wrong"}).status_code == 401
    assert http_get(f"{running.url}/ping").status_code == 200
    running.fail_status = None
    assert http_get(status, headers={"X-Api-Key": running.api_key}).status_code == 200


# ------------------------------------------------------------------------------ applications


def test_create_get_list_and_delete(running: FakeProwlarr, api: httpx.Client) -> None:
    created = create(api, radarr("b-radarr"))
    assert created["id"] == 1
    assert created["enable"] is True
    assert created["syncLevel"] == "fullSync"
    assert created["implementationName"] == "Radarr"
    assert created["infoLink"] == "https://wiki.servarr.com/prowlarr/supported#radarr"
    assert field_value(created, "apiKey") == MASK
    assert field_value(created, "baseUrl") == "http://radarr:7878"
    assert running.stored_api_key(1) == RADARR_KEY
    create(api, radarr("A-radarr"))
    create(api, radarr("c-radarr"))

    got = api.get("/api/v1/applications/1")
    assert got.status_code == 200
    assert got.json() == created
    listed = api.get("/api/v1/applications").json()
    assert [a["name"] for a in listed] == ["A-radarr", "b-radarr", "c-radarr"]

    deleted = api.delete("/api/v1/applications/1")
    assert (deleted.status_code, deleted.json()) == (200, {})
    assert api.delete("/api/v1/applications/99").status_code == 200
    assert api.delete("/api/v1/applications/0").status_code == 400
    missing = api.get("/api/v1/applications/1")
    assert missing.status_code == 404
    assert missing.json()["message"] == "ApplicationDefinition with ID 1 does not exist"


def test_create_answers_201_with_location(running: FakeProwlarr, api: httpx.Client) -> None:
    response = api.post("/api/v1/applications", json=radarr())
    assert response.status_code == 201
    assert response.headers["location"] == "/api/v1/applications/1"


def test_create_with_an_id_or_an_unknown_implementation_is_a_500(api: httpx.Client) -> None:
    assert api.post("/api/v1/applications", json=radarr(id=5)).status_code == 500
    body = radarr(implementation="Nzbget", configContract="NzbgetSettings")
    assert api.post("/api/v1/applications", json=body).status_code == 500
    assert api.post("/api/v1/applications", json=radarr(configContract="X")).status_code == 500
    assert api.get("/api/v1/applications").json() == []


def test_update_answers_202_and_the_body_id_wins(running: FakeProwlarr, api: httpx.Client) -> None:
    create(api, radarr("one"))
    create(api, radarr("two"))
    response = api.put(
        "/api/v1/applications/1", params={"forceSave": "true"}, json=radarr("renamed", id=2)
    )
    assert response.status_code == 202
    assert response.json()["id"] == 2
    assert running.applications[2].name == "renamed"
    assert running.applications[1].name == "one"
    by_route = api.put("/api/v1/applications/1", json=radarr("first", sync_level="disabled"))
    assert (by_route.status_code, by_route.json()["name"]) == (202, "first")
    assert by_route.json()["enable"] is False
    assert api.put("/api/v1/applications", json=radarr("first", id=1)).status_code == 202
    no_id = api.put("/api/v1/applications", json=radarr("first"))
    assert no_id.status_code == 400
    assert no_id.json()[0]["errorMessage"] == "'Id' must be greater than '0'."
    assert api.put("/api/v1/applications/9", json=radarr("nine")).status_code == 404


def test_masked_key_is_kept_on_put_and_stored_literally_on_post(
    running: FakeProwlarr, api: httpx.Client
) -> None:
    created = create(api, radarr())
    assert "radarr-key" not in api.get("/api/v1/applications").text
    # The client sends back what it read: "********" keeps the stored key.
    created["fields"] = [dict(f) for f in created["fields"]]
    created["name"] = "Radarr 4K"
    response = api.put(f"/api/v1/applications/{created['id']}", json=created)
    assert response.status_code == 202
    assert running.stored_api_key(1) == RADARR_KEY
    assert field_value(response.json(), "apiKey") == MASK
    # A new plaintext key replaces it.
    api.put("/api/v1/applications/1", json=radarr(api_key="rotated-radarr-key", id=1))
    assert running.stored_api_key(1) == "rotated-radarr-key"
    # On POST the mask is stored as typed.
    create(api, radarr("literal", api_key=MASK))
    assert running.stored_api_key(2) == MASK


def test_fields_left_out_of_a_put_reset_to_defaults(
    running: FakeProwlarr, api: httpx.Client
) -> None:
    body = radarr()
    body["fields"] += [
        {"name": "syncCategories", "value": [2000]},
        {"name": "syncRejectBlocklistedTorrentHashesWhileGrabbing", "value": True},
    ]
    create(api, body)
    assert running.applications[1].fields["syncCategories"] == [2000]
    partial = radarr(id=1)
    partial["fields"] = [
        {"name": "baseUrl", "value": "http://radarr:7878"},
        {"name": "apiKey", "value": MASK},
        {"name": "BaseUrl", "value": "http://ignored:1"},  # names match case-sensitively
        {"name": "unknownField", "value": 1},
    ]
    assert api.put("/api/v1/applications/1", json=partial).status_code == 202
    fields = running.applications[1].fields
    assert fields["prowlarrUrl"] == "http://localhost:9696"
    assert fields["syncCategories"] == [
        2000,
        2010,
        2020,
        2030,
        2040,
        2045,
        2050,
        2060,
        2070,
        2080,
        2090,
    ]
    assert fields["syncRejectBlocklistedTorrentHashesWhileGrabbing"] is False
    assert fields["apiKey"] == RADARR_KEY
    assert list(fields) == [
        "prowlarrUrl",
        "baseUrl",
        "apiKey",
        "syncCategories",
        "syncRejectBlocklistedTorrentHashesWhileGrabbing",
    ]


@pytest.mark.parametrize(
    ("sync_level", "expected"),
    [(None, "disabled"), (2, "fullSync"), (1, "addOnly"), ("FULLSYNC", "fullSync")],
)
def test_sync_level_binding(
    running: FakeProwlarr, api: httpx.Client, sync_level: object, expected: str
) -> None:
    body = radarr()
    if sync_level is None:
        del body["syncLevel"]
    else:
        body["syncLevel"] = sync_level
    created = create(api, body)
    assert created["syncLevel"] == expected
    assert created["enable"] is (expected != "disabled")


def test_invalid_sync_level_is_a_bad_request(api: httpx.Client) -> None:
    assert api.post("/api/v1/applications", json=radarr(sync_level="sometimes")).status_code == 400


def test_names_are_unique_case_insensitively(api: httpx.Client) -> None:
    create(api, radarr("Radarr"))
    create(api, radarr("Other"))
    clash = api.post("/api/v1/applications", json=radarr("radarr"))
    assert clash.status_code == 400
    failure = clash.json()[0]
    assert (failure["propertyName"], failure["errorMessage"]) == ("Name", "Should be unique")
    rename = api.put("/api/v1/applications/2", json=radarr("RADARR", id=2))
    assert rename.status_code == 400
    assert api.put("/api/v1/applications/1", json=radarr("Radarr", id=1)).status_code == 202


def test_resource_validators(api: httpx.Client) -> None:
    empty = api.post("/api/v1/applications", json=radarr(""))
    assert empty.status_code == 400
    assert empty.json()[0]["errorMessage"] == "'Name' must not be empty."
    no_fields = radarr()
    del no_fields["fields"]
    missing = api.post("/api/v1/applications", json=no_fields)
    assert missing.status_code == 400
    assert [f["propertyName"] for f in missing.json()] == ["Fields"]
    no_impl = api.post("/api/v1/applications", json=radarr(implementation="", configContract=""))
    assert [f["propertyName"] for f in no_impl.json()] == ["Implementation", "ConfigContract"]


@pytest.mark.parametrize(
    ("body", "prop", "message"),
    [
        (radarr(base_url="radarr"), "BaseUrl", "Invalid Url: 'radarr'"),
        (radarr(base_url=" http://radarr:7878"), "BaseUrl", "Invalid Url: ' http://radarr:7878'"),
        (radarr(api_key=""), "ApiKey", "'Api Key' must not be empty."),
        (radarr(api_key=None), "ApiKey", "'Api Key' must not be empty."),
        (
            radarr(
                fields=[{"name": "apiKey", "value": "k"}, {"name": "prowlarrUrl", "value": "x"}]
            ),
            "ProwlarrUrl",
            "Invalid Url: 'x'",
        ),
        (
            radarr(
                fields=[
                    {"name": "baseUrl", "value": "http://radarr:7878"},
                    {"name": "apiKey", "value": "k"},
                    {"name": "syncCategories", "value": list[int]()},
                ]
            ),
            "SyncCategories",
            "'Sync Categories' must not be empty.",
        ),
    ],
    ids=["bare-host", "leading-space", "empty-key", "no-key", "prowlarr-url", "no-categories"],
)
def test_settings_validators_when_enabled(
    running: FakeProwlarr, api: httpx.Client, body: dict[str, Any], prop: str, message: str
) -> None:
    response = api.post("/api/v1/applications", params={"forceSave": "true"}, json=body)
    assert response.status_code == 400
    failures = response.json()
    assert {"propertyName": prop, "errorMessage": message} in [
        {"propertyName": f["propertyName"], "errorMessage": f["errorMessage"]} for f in failures
    ]
    assert all(f["isWarning"] is False and f["severity"] == "error" for f in failures)
    # The same settings on a PUT with forceSave still fail validation.
    create(api, radarr("existing"))
    body = {**body, "id": 1}
    put = api.put("/api/v1/applications/1", params={"forceSave": "true"}, json=body)
    assert put.status_code == 400
    # Disabled applications skip settings validation.
    assert create(api, {**body, "id": None, "syncLevel": "disabled"})["enable"] is False
    assert running.connection_tests == ["http://radarr:7878"]  # only the valid "existing" one


def test_sonarr_does_not_require_categories_and_has_anime_fields(
    running: FakeProwlarr, api: httpx.Client
) -> None:
    body: dict[str, Any] = {
        "name": "Sonarr",
        "implementation": "Sonarr",
        "configContract": "SonarrSettings",
        "syncLevel": "fullSync",
        "fields": [
            {"name": "baseUrl", "value": "http://sonarr:8989"},
            {"name": "apiKey", "value": "sonarr-key"},
            {"name": "syncCategories", "value": "5000, 5040"},  # comma-separated is accepted
        ],
    }
    created = create(api, body)
    assert field_value(created, "syncCategories") == [5000, 5040]
    assert field_value(created, "animeSyncCategories") == [5070]
    assert field_value(created, "syncAnimeStandardFormatSearch") is True
    body["name"] = "Sonarr 2"
    body["fields"][2]["value"] = []
    assert api.post("/api/v1/applications", json=body).status_code == 201


def test_connection_test_runs_on_post_even_with_force_save(
    running: FakeProwlarr, api: httpx.Client
) -> None:
    running.unreachable.add("radarr:7878")
    response = api.post("/api/v1/applications", params={"forceSave": "true"}, json=radarr())
    assert response.status_code == 400
    [failure] = response.json()
    assert failure["propertyName"] == "BaseUrl"
    assert failure["isWarning"] is False
    assert failure["errorMessage"].startswith(
        "Unable to complete application test, cannot connect to Radarr. "
    )
    assert running.connection_tests == ["http://radarr:7878"]
    assert running.applications == {}
    running.unreachable.clear()
    create(api, radarr())


def test_connection_test_is_skipped_on_put_with_force_save_and_when_disabled(
    running: FakeProwlarr, api: httpx.Client
) -> None:
    running.unreachable.add("http://radarr:7878")
    created = create(api, radarr(sync_level="disabled"))
    assert running.connection_tests == []
    enabled = {**created, "syncLevel": "fullSync"}
    forced = api.put("/api/v1/applications/1", params={"forceSave": "true"}, json=enabled)
    assert forced.status_code == 202
    assert running.connection_tests == []
    tested = api.put("/api/v1/applications/1", params={"forceSave": "false"}, json=enabled)
    assert tested.status_code == 400
    assert tested.json()[0]["propertyName"] == "BaseUrl"
    assert running.connection_tests == ["http://radarr:7878"]
    # The stored key is used for the test when the client sends the mask.
    assert running.applications[1].fields["apiKey"] == RADARR_KEY


def test_test_endpoints(running: FakeProwlarr, api: httpx.Client) -> None:
    ok = api.post("/api/v1/applications/test", json=radarr())
    assert (ok.status_code, ok.json()) == (200, "{}")
    running.unreachable.add("radarr")
    failed = api.post("/api/v1/applications/test", json=radarr(sync_level="disabled"))
    assert failed.status_code == 400
    running.add_application(name="hand-made", fields={"baseUrl": "http://radarr:7878"})
    testall = api.post("/api/v1/applications/testall", json={})
    assert testall.status_code == 400
    assert testall.json()[0]["id"] == 1
    assert testall.json()[0]["isValid"] is False


def test_schema_has_the_five_templates(api: httpx.Client) -> None:
    response = api.get("/api/v1/applications/schema")
    assert response.status_code == 200
    templates = response.json()
    assert [t["implementation"] for t in templates] == [
        "Lidarr",
        "Radarr",
        "Readarr",
        "Sonarr",
        "Whisparr",
    ]
    expected_defaults = {
        "Radarr": ("http://localhost:7878", 11),
        "Sonarr": ("http://localhost:8989", 8),
        "Lidarr": ("http://localhost:8686", 6),
        "Readarr": ("http://localhost:8787", 8),
        "Whisparr": ("http://localhost:6969", 10),
    }
    for template in templates:
        impl = template["implementation"]
        assert "id" not in template
        assert "name" not in template
        assert template["configContract"] == f"{impl}Settings"
        assert (template["syncLevel"], template["enable"]) == ("fullSync", True)
        assert (template["tags"], template["presets"]) == ([], [])
        names = [f["name"] for f in template["fields"]]
        assert names[:4] == ["prowlarrUrl", "baseUrl", "apiKey", "syncCategories"]
        assert names[-1] == "syncRejectBlocklistedTorrentHashesWhileGrabbing"
        assert [f["order"] for f in template["fields"]] == list(range(len(names)))
        api_key = template["fields"][2]
        assert "value" not in api_key
        assert api_key["privacy"] == "apiKey"
        base_url, categories = expected_defaults[impl]
        assert field_value(template, "baseUrl") == base_url
        assert field_value(template, "prowlarrUrl") == "http://localhost:9696"
        assert len(field_value(template, "syncCategories")) == categories  # type: ignore[arg-type]
    sonarr = templates[3]
    assert [f["name"] for f in sonarr["fields"]][4:6] == [
        "animeSyncCategories",
        "syncAnimeStandardFormatSearch",
    ]


def test_hand_added_applications_and_ui_edits(running: FakeProwlarr, api: httpx.Client) -> None:
    app_id = running.add_application(
        "Sonarr", name="Sonarr (manual)", fields={"apiKey": "manual-key"}
    )
    got = api.get(f"/api/v1/applications/{app_id}").json()
    assert got["name"] == "Sonarr (manual)"
    assert field_value(got, "apiKey") == MASK
    assert field_value(got, "baseUrl") == "http://localhost:8989"
    running.set_application_field(app_id, "baseUrl", "http://sonarr:8989")
    assert field_value(api.get(f"/api/v1/applications/{app_id}").json(), "baseUrl") == (
        "http://sonarr:8989"
    )
    snapshot = running.applications
    snapshot[app_id].fields["baseUrl"] = "changed in the copy only"
    assert running.applications[app_id].fields["baseUrl"] == "http://sonarr:8989"
    assert running.stored_api_key(app_id) == "manual-key"
    with pytest.raises(ValueError, match="exists"):
        running.add_application("Radarr", name="SONARR (MANUAL)")
    with pytest.raises(ValueError, match="unknown fields"):
        running.add_application("Radarr", fields={"nope": 1})
    with pytest.raises(ValueError, match="implementation"):
        running.add_application("Nzbget")
    with pytest.raises(KeyError):
        running.set_application_field(app_id, "nope", 1)
    running.remove_application(app_id)
    assert api.get("/api/v1/applications").json() == []


def test_concurrent_creates_get_distinct_ids(running: FakeProwlarr) -> None:
    statuses: list[int] = []

    def post(index: int) -> None:
        with httpx.Client(verify=SSL, headers={"X-Api-Key": running.api_key}) as client:
            response = client.post(
                f"{running.url}/api/v1/applications", json=radarr(f"radarr-{index}")
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201] * 8
    assert sorted(running.applications) == list(range(1, 9))


# ------------------------------------------------------------------------------ commands


def wait_for_status(fake: FakeProwlarr, command_id: int, *statuses: str) -> str:
    """Watch the queue from outside (no HTTP) until the command reaches one of `statuses`."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        status = next(c.status for c in fake.commands if c.id == command_id)
        if status in statuses:
            return status
        time.sleep(0.002)
    raise AssertionError(f"command {command_id} never reached {statuses}")


def test_commands_run_in_the_background_without_being_polled(
    running: FakeProwlarr, api: httpx.Client
) -> None:
    running.command_delay = 0.05
    posted = api.post(
        "/api/v1/command", json={"name": "ApplicationIndexerSync", "forceSync": True}
    )
    assert posted.status_code == 201
    queued = posted.json()
    assert queued["status"] == "queued"
    assert queued["body"]["forceSync"] is True
    assert {"message", "started", "ended", "duration"}.isdisjoint(queued)
    command_id = queued["id"]

    assert wait_for_status(running, command_id, "completed") == "completed"

    assert running.syncs == [True], "it ran although nobody asked for its status"
    assert not [r for r in running.requests if r.path == f"/api/v1/command/{command_id}"]
    completed = api.get(f"/api/v1/command/{command_id}").json()
    assert (completed["status"], completed["message"]) == ("completed", "Completed")
    assert {"started", "ended", "duration", "stateChangeTime"} <= set(completed)
    assert api.get(f"/api/v1/command/{command_id}").json()["status"] == "completed"
    assert running.syncs == [True], "polling does not run it again"
    assert api.get("/api/v1/command/99").status_code == 404


@pytest.mark.parametrize("delay", [0.0, 0.05])
def test_polling_does_not_advance_a_command(
    running: FakeProwlarr, api: httpx.Client, delay: float
) -> None:
    running.command_delay = delay
    running.stuck_commands.add("ApplicationIndexerSync")
    command_id = api.post("/api/v1/command", json={"name": "ApplicationIndexerSync"}).json()["id"]

    assert wait_for_status(running, command_id, "started") == "started"
    for _ in range(5):
        assert api.get(f"/api/v1/command/{command_id}").json()["status"] == "started"
    assert running.syncs == []


def test_identical_pending_commands_are_deduplicated(
    running: FakeProwlarr, api: httpx.Client
) -> None:
    running.command_delay = 60  # still queued while the test posts

    def post(body: dict[str, object]) -> int:
        response = api.post("/api/v1/command", json=body)
        assert response.status_code == 201
        return response.json()["id"]

    first = post({"name": "ApplicationIndexerSync", "forceSync": True})
    assert post({"name": "applicationindexersync", "FORCESYNC": True}) == first
    unforced = post({"name": "ApplicationIndexerSync"})
    assert unforced != first
    running.complete_commands()
    assert [c.status for c in running.commands] == ["completed", "completed"]
    assert sorted(running.syncs) == [False, True]
    assert post({"name": "ApplicationIndexerSync", "forceSync": True}) not in (first, unforced)


def test_bad_command_names(api: httpx.Client) -> None:
    unknown = api.post("/api/v1/command", json={"name": "NoSuchThing"})
    assert unknown.status_code == 500
    assert unknown.json()["message"] == "Sequence contains no matching element"
    for body in ({"name": ""}, {}):
        empty = api.post("/api/v1/command", json=body)
        assert empty.status_code == 400
        assert empty.json()[0]["propertyName"] == "Name"


@pytest.mark.parametrize("delay", [0.0, 0.05])
def test_once_reset_api_key_has_run_its_own_status_url_rejects_the_old_key(
    running: FakeProwlarr, delay: float
) -> None:
    running.command_delay = delay
    old = running.api_key
    with httpx.Client(verify=SSL, base_url=running.url, headers={"X-Api-Key": old}) as api:
        command_id = api.post("/api/v1/command", json={"name": "ResetApiKey"}).json()["id"]
        wait_for_status(running, command_id, "completed")

        assert api.get(f"/api/v1/command/{command_id}").status_code == 401
        assert api.get("/api/v1/system/status").status_code == 401
        new = config_values(running)["ApiKey"]
        assert new == running.api_key != old
        done = api.get(f"/api/v1/command/{command_id}", headers={"X-Api-Key": new})
        assert (done.status_code, done.json()["status"]) == (200, "completed")
    assert running.syncs == []


def test_failing_commands_end_failed(running: FakeProwlarr, api: httpx.Client) -> None:
    running.failing_commands.add("ApplicationIndexerSync")
    command_id = api.post("/api/v1/command", json={"name": "ApplicationIndexerSync"}).json()["id"]
    wait_for_status(running, command_id, "failed")
    failed = api.get(f"/api/v1/command/{command_id}").json()
    assert failed["status"] == "failed"
    assert "exception" in failed
    assert running.syncs == []


def test_a_stop_orphans_the_commands_that_had_not_finished(
    running: FakeProwlarr, api: httpx.Client
) -> None:
    running.command_delay = 60
    command_id = api.post("/api/v1/command", json={"name": "ResetApiKey"}).json()["id"]
    old = running.api_key

    running.restart()

    assert api.get(f"/api/v1/command/{command_id}").json()["status"] == "orphaned"
    assert running.api_key == old, "a command that never ran changed nothing"


# ------------------------------------------------------------------------------ inspection


def test_requests_are_recorded_relative_to_the_url_base(fake: FakeProwlarr) -> None:
    write_config(fake, "<ApiKey>recorded-key-0123456789</ApiKey>", "<UrlBase>/p</UrlBase>")
    fake.start()
    headers = {"X-Api-Key": fake.api_key}
    http_get(f"{fake.url}/p/api/v1/system/status", params={"foo": "bar"}, headers=headers)
    http_post(f"{fake.url}/p/api/v1/command", json={"name": "CheckHealth"}, headers=headers)
    get, post = fake.requests
    assert (get.method, get.path, get.query, get.json, get.status) == (
        "GET",
        "/api/v1/system/status",
        {"foo": "bar"},
        None,
        200,
    )
    assert get.headers["x-api-key"] == fake.api_key
    assert (post.method, post.path, post.json, post.status) == (
        "POST",
        "/api/v1/command",
        {"name": "CheckHealth"},
        201,
    )
    assert fake.api_key not in repr(get)
    assert fake.api_key not in repr(fake)
    fake.clear_requests()
    assert fake.requests == []


def test_reprs_hide_stored_keys(running: FakeProwlarr, api: httpx.Client) -> None:
    create(api, radarr())
    assert RADARR_KEY not in repr(running.applications)
    assert RADARR_KEY not in repr(running.requests[-1])


# ------------------------------------------------------------------------------ OpenAPI


def _openapi() -> dict[str, Any]:
    if not OPENAPI.exists():
        pytest.skip(
            "Prowlarr's OpenAPI document is not at ../shared/prowlarr/openapi.json next to the "
            "repository (it is reference data of the development workspace, never vendored)"
        )
    return json.loads(OPENAPI.read_text())


def _properties(spec: dict[str, Any], schema: str) -> set[str]:
    return set(spec["components"]["schemas"][schema]["properties"])


def _enum(spec: dict[str, Any], schema: str) -> set[str]:
    return set(spec["components"]["schemas"][schema]["enum"])


# Served by Prowlarr's UI side (InitializeJsonController), which the OpenAPI document leaves out.
NOT_IN_THE_API_DOCUMENT = {("GET", "/initialize.json")}


def test_every_route_the_fake_serves_is_in_the_openapi_document() -> None:
    paths: dict[str, dict[str, Any]] = _openapi()["paths"]
    for route in ROUTES:
        if (route.method, route.template) in NOT_IN_THE_API_DOCUMENT:
            continue
        assert route.template in paths, route
        assert route.method.lower() in paths[route.template], route


def test_response_properties_exist_in_the_openapi_schemas(
    running: FakeProwlarr, api: httpx.Client
) -> None:
    spec = _openapi()
    app_props = _properties(spec, "ApplicationResource") | {"enable"}  # [SwaggerIgnore]'d
    field_props = _properties(spec, "Field")
    option_props = _properties(spec, "SelectOption")
    create(api, radarr())
    resources = (
        api.get("/api/v1/applications").json() + api.get("/api/v1/applications/schema").json()
    )
    for resource in resources:
        assert set(resource) <= app_props
        assert resource["syncLevel"] in _enum(spec, "ApplicationSyncLevel")
        for item in resource["fields"]:
            assert set(item) <= field_props
            assert item["privacy"] in _enum(spec, "PrivacyLevel")
            for option in item.get("selectOptions", []):
                assert set(option) <= option_props

    command_id = api.post(
        "/api/v1/command", json={"name": "ApplicationIndexerSync", "forceSync": True}
    ).json()["id"]
    running.failing_commands.add("CheckHealth")
    failing_id = api.post("/api/v1/command", json={"name": "CheckHealth"}).json()["id"]
    commands = [api.get("/api/v1/command").json()[0]]
    commands += [api.get(f"/api/v1/command/{command_id}").json() for _ in range(2)]
    commands += [api.get(f"/api/v1/command/{failing_id}").json() for _ in range(2)]
    # forceSync belongs to ApplicationIndexerSyncCommand, which the document does not list.
    body_props = _properties(spec, "Command") | {"forceSync"}
    for command in commands:
        assert set(command) <= _properties(spec, "CommandResource")
        assert set(command["body"]) <= body_props
        assert command["status"] in _enum(spec, "CommandStatus")
        assert command["priority"] in _enum(spec, "CommandPriority")
        assert command["trigger"] in _enum(spec, "CommandTrigger")

    status = api.get("/api/v1/system/status").json()
    assert set(status) <= _properties(spec, "SystemResource")
    assert status["authentication"] in _enum(spec, "AuthenticationType")
    assert status["mode"] in _enum(spec, "RuntimeMode")
    assert status["databaseType"] in _enum(spec, "DatabaseType")
    assert status["packageUpdateMechanism"] in _enum(spec, "UpdateMechanism")
    assert set(api.get("/ping").json()) <= _properties(spec, "PingResource")

    host = api.get("/api/v1/config/host").json()
    host_props = _properties(spec, "HostConfigResource")
    assert set(host) | {"username", "password", "passwordConfirmation"} == host_props
    for name, enum in (
        ("authenticationMethod", "AuthenticationType"),
        ("authenticationRequired", "AuthenticationRequiredType"),
        ("updateMechanism", "UpdateMechanism"),
        ("proxyType", "ProxyType"),
        ("certificateValidation", "CertificateValidationType"),
    ):
        assert host[name] in _enum(spec, enum), name


# ------------------------------------------------------------------------------ fault injection


def test_a_slow_rule_delays_only_what_it_matches_and_the_work_still_happens(
    running: FakeProwlarr, api: httpx.Client
) -> None:
    running.slow.append(SlowRule("POST", "/api/v1/applications", 0.5, body_contains="slow"))

    with pytest.raises(httpx.ReadTimeout):
        api.post("/api/v1/applications", json=radarr(base_url="http://slow:7878"), timeout=0.1)
    fast = api.post("/api/v1/applications", json=radarr("Fast"), timeout=0.3)

    assert fast.status_code == 201
    deadline = time.monotonic() + 5
    while len(running.applications) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(running.applications) == 2, "Prowlarr finished what the client gave up on"


def test_dropped_requests_get_no_answer_and_change_nothing(
    running: FakeProwlarr, api: httpx.Client
) -> None:
    running.drop_next = 1

    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/api/v1/applications", json=radarr())

    assert running.applications == {}
    assert api.get("/api/v1/applications").status_code == 200


def test_a_restart_mid_hook_reloads_config_xml(running: FakeProwlarr, api: httpx.Client) -> None:
    new_key = "0" * 32
    write_config(running, f"<ApiKey>{new_key}</ApiKey>")
    running.restart_after = 1

    with pytest.raises(httpx.RemoteProtocolError):
        api.get("/api/v1/system/status")

    assert api.get("/api/v1/system/status").status_code == 401, "the old key is gone"
    assert api.get("/api/v1/system/status", headers={"X-Api-Key": new_key}).status_code == 200


def test_the_environment_wins_over_config_xml(fake: FakeProwlarr) -> None:
    write_config(
        fake,
        "<ApiKey>file-key-0123456789abcdef</ApiKey>",
        "<UrlBase>from-file</UrlBase>",
        "<Port>8080</Port>",
        "<AuthenticationMethod>None</AuthenticationMethod>",
    )

    fake.start(
        {
            "PROWLARR__SERVER__URLBASE": "/from-env",
            "prowlarr__server__port": "9696",
            "PROWLARR__AUTH__METHOD": "Forms",
            "PROWLARR__AUTH__REQUIRED": "enabled",  # case-sensitive enum: ignored
        }
    )

    assert (fake.url_base, fake.port_setting) == ("/from-env", 9696)
    status = http_get(
        f"{fake.url}/from-env/api/v1/system/status", headers={"X-Api-Key": fake.api_key}
    ).json()
    assert (status["urlBase"], status["authentication"]) == ("/from-env", "forms")
    assert config_values(fake)["UrlBase"] == "from-file", "never written back"


# ------------------------------------------------------------------------------ host config, login


def put_host(api: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return api.put("/api/v1/config/host/1", json=body)


def test_host_config_put_saves_every_field_so_a_stale_body_rolls_back(
    running: FakeProwlarr, api: httpx.Client
) -> None:
    stale = api.get("/api/v1/config/host").json()
    running.set_host_setting("instanceName", "Prowlarr Home")
    running.set_host_setting("backupInterval", 3)

    assert put_host(api, {**stale, "applicationUrl": "https://p.example"}).status_code == 202

    host = running.host_config()
    assert host["applicationUrl"] == "https://p.example"
    assert (host["instanceName"], host["backupInterval"]) == ("Prowlarr", 7), "rolled back"


@pytest.mark.parametrize(
    ("change", "property_name"),
    [
        ({"backupInterval": 8}, "BackupInterval"),
        ({"backupRetention": 0}, "BackupRetention"),
        ({"authenticationMethod": "basic"}, "AuthenticationMethod"),
        ({"authenticationMethod": "forms"}, "Username"),
        ({"port": None}, "Port"),
        ({"branch": None}, "Branch"),
    ],
)
def test_host_config_validation(
    running: FakeProwlarr, api: httpx.Client, change: dict[str, Any], property_name: str
) -> None:
    body = {**api.get("/api/v1/config/host").json(), **change}
    body = {k: v for k, v in body.items() if v is not None}  # a missing field binds as null/0

    response = put_host(api, body)

    assert response.status_code == 400
    assert property_name in {failure["propertyName"] for failure in response.json()}


def test_host_config_ignores_the_api_key_and_writes_only_what_differs(
    running: FakeProwlarr, api: httpx.Client
) -> None:
    before = running.config_path.read_text()
    body = api.get("/api/v1/config/host").json()

    assert put_host(api, {**body, "apiKey": "f" * 32}).status_code == 202

    assert running.config_path.read_text() == before
    assert api.get("/api/v1/system/status").status_code == 200, "the key did not change"


def test_the_user_is_set_through_host_config_and_logs_in(
    running: FakeProwlarr, api: httpx.Client
) -> None:
    body = api.get("/api/v1/config/host").json()
    assert "username" not in body and "password" not in body
    creds = {"username": "Admin", "password": "s3cret-pass", "passwordConfirmation": "nope"}

    assert put_host(api, {**body, **creds}).status_code == 400, "confirmation must match"
    creds["passwordConfirmation"] = "s3cret-pass"
    assert put_host(api, {**body, **creds}).status_code == 202

    stored = api.get("/api/v1/config/host").json()
    assert stored["username"] == "admin"
    assert stored["password"] != "s3cret-pass", "a hash, not the password"
    assert put_host(api, stored).status_code == 202, "sending the hash back changes nothing"
    ok = http_post(f"{running.url}/login", data={"username": "ADMIN", "password": "s3cret-pass"})
    assert ok.status_code == 302 and ok.headers["location"] == "/"
    assert "ProwlarrAuth" in ok.cookies
    bad = http_post(f"{running.url}/login", data={"username": "admin", "password": "wrong"})
    assert bad.status_code == 302 and "loginFailed=true" in bad.headers["location"]


def test_initialize_json_follows_the_ui_policy(fake: FakeProwlarr) -> None:
    write_config(fake, "<ApiKey>ui-policy-key-0123456789</ApiKey>")
    forms = {"PROWLARR__AUTH__METHOD": "Forms", "PROWLARR__AUTH__REQUIRED": "Enabled"}

    fake.start()  # no login: anyone gets the key
    assert http_get(f"{fake.url}/initialize.json").json()["apiKey"] == fake.api_key
    fake.restart({**forms, "PROWLARR__AUTH__REQUIRED": "DisabledForLocalAddresses"})
    assert http_get(f"{fake.url}/initialize.json").json()["apiKey"] == fake.api_key, "local"
    fake.restart(forms)
    locked = http_get(f"{fake.url}/initialize.json")
    assert locked.status_code == 302 and "/login" in locked.headers["location"]
    assert fake.api_key not in locked.text
    keyed = http_get(f"{fake.url}/initialize.json", headers={"X-Api-Key": fake.api_key})
    assert keyed.status_code == 302, "the API key does not open the UI"


# ------------------------------------------------------------------------------ database, backups


def run_command(fake: FakeProwlarr, api: httpx.Client, name: str) -> str:
    """POST a command and watch it end (from outside, no polling); how it ended."""
    command_id = api.post("/api/v1/command", json={"name": name}).json()["id"]
    return wait_for_status(fake, command_id, "completed", "failed")


def database(fake: FakeProwlarr) -> dict[str, Any]:
    return json.loads(fake.database_path.read_text())


def test_the_database_is_written_at_start_and_after_a_change(
    fake: FakeProwlarr, config_dir: Path
) -> None:
    fake.start()
    assert database(fake)["boots"] == 1
    assert {p.name for p in config_dir.glob("prowlarr.db*")} == {
        "prowlarr.db",
        "prowlarr.db-wal",
        "prowlarr.db-shm",
    }, "SQLite in WAL mode while it runs"
    headers = {"X-Api-Key": fake.api_key}
    with httpx.Client(verify=SSL, base_url=fake.url, headers=headers) as api:
        create(api, radarr())
    assert [a["name"] for a in database(fake)["applications"]] == ["Radarr"]

    fake.stop()
    assert {p.name for p in config_dir.glob("prowlarr.db*")} == {"prowlarr.db"}, "checkpointed"
    fake.start()
    fake.kill()
    assert (config_dir / "prowlarr.db-wal").exists(), "a killed process leaves its WAL behind"
    assert database(fake)["boots"] == 2


def test_the_backup_command_runs_in_the_background_and_zips_config_and_database(
    running: FakeProwlarr, api: httpx.Client, config_dir: Path
) -> None:
    running.command_delay = 0.05
    create(api, radarr())
    posted = api.post("/api/v1/command", json={"name": "Backup"})
    assert (posted.status_code, posted.json()["status"]) == (201, "queued")
    assert api.get("/api/v1/system/backup").json() == [], "nothing before the executor ran"

    wait_for_status(running, posted.json()["id"], "completed")

    [listed] = api.get("/api/v1/system/backup").json()
    named = r"prowlarr_backup_v2\.3\.5\.5327_\d{4}(\.\d\d){2}_\d\d(\.\d\d){2}\.zip"
    assert re.fullmatch(named, listed["name"])
    assert listed["type"] == "manual"
    assert listed["path"] == f"/backup/manual/{listed['name']}"
    assert listed["id"] == backup_id("manual", listed["name"]) and listed["id"] > 1000
    zipped = config_dir / "Backups" / "manual" / listed["name"]
    assert listed["size"] == zipped.stat().st_size
    with zipfile.ZipFile(zipped) as archive:
        assert set(archive.namelist()) == {"config.xml", "prowlarr.db"}
        assert f"<ApiKey>{running.api_key}</ApiKey>" in archive.read("config.xml").decode()
        saved = json.loads(archive.read("prowlarr.db"))
    assert [a["name"] for a in saved["applications"]] == ["Radarr"]


def test_backups_are_listed_newest_first_and_deleted_by_id(
    running: FakeProwlarr, api: httpx.Client
) -> None:
    moments = iter([datetime(2026, 5, 1, 12, 0, 0), datetime(2026, 5, 2, 12, 0, 0)])
    running.clock = lambda: next(moments)
    running.backup_now("scheduled")
    running.backup_now("manual")

    listed = api.get("/api/v1/system/backup").json()
    assert [b["type"] for b in listed] == ["manual", "scheduled"]
    assert listed[1]["name"] == "prowlarr_backup_v2.3.5.5327_2026.05.01_12.00.00.zip"
    assert api.delete("/api/v1/system/backup/12345").status_code == 404
    deleted = api.delete(f"/api/v1/system/backup/{listed[1]['id']}")
    assert (deleted.status_code, deleted.json()) == (200, {})
    assert [b["type"] for b in api.get("/api/v1/system/backup").json()] == ["manual"]


def test_a_restore_replaces_config_xml_at_once_and_the_database_at_the_next_start(
    running: FakeProwlarr, api: httpx.Client
) -> None:
    old_key = running.api_key
    create(api, radarr())
    assert run_command(running, api, "Backup") == "completed"
    backup = api.get("/api/v1/system/backup").json()[0]
    run_command(running, api, "ResetApiKey")
    new_key = running.api_key
    api.headers["X-Api-Key"] = new_key
    api.delete(f"/api/v1/applications/{api.get('/api/v1/applications').json()[0]['id']}")

    restored = api.post(f"/api/v1/system/backup/restore/{backup['id']}")

    assert (restored.status_code, restored.json()) == (200, {"restartRequired": True})
    assert config_values(running)["ApiKey"] == old_key, "config.xml replaced at once"
    assert running.api_key == new_key, "the cached key serves until the restart"
    assert api.get("/api/v1/applications").json() == [], "the database only at the next start"
    assert api.post("/api/v1/system/backup/restore/12345").status_code == 404

    running.restart()

    assert running.api_key == old_key
    api.headers["X-Api-Key"] = old_key
    assert [a["name"] for a in api.get("/api/v1/applications").json()] == ["Radarr"]
    assert not (running.config_dir / "prowlarr.restore").exists()


def test_backup_resources_match_the_openapi_document(running: FakeProwlarr, api: httpx.Client):
    spec = _openapi()
    run_command(running, api, "Backup")
    running.backup_now("scheduled")
    for backup in api.get("/api/v1/system/backup").json():
        assert set(backup) == _properties(spec, "BackupResource")
        assert backup["type"] in _enum(spec, "BackupType")
        assert 0 < backup["id"] < 2**31, "an int32, as the document says"
