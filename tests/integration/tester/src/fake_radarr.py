#!/usr/bin/env python3
"""A tiny Radarr stand-in: the v3 API that Prowlarr calls when it registers and syncs an app.

The tester charm runs it as a detached background process in its own container. Standard library
only. What Prowlarr does against a Radarr (../shared/prowlarr/CONTRACT.md §3):

- on POST /api/v1/applications (and PUT without forceSave) a live connection test:
  GET /api/v3/indexer/schema, then POST /api/v3/indexer/test with the Radarr key in X-Api-Key;
  the response must carry X-Application-Version >= 4.0.4. The test is two-way, as in Radarr: the
  indexer to test is Prowlarr's test indexer at ``{prowlarrUrl}/0/``, so this fake fetches its
  caps from Prowlarr (``GET {baseUrl}{apiPath}?t=caps&apikey=<Prowlarr's key>``, following no
  redirect) and answers 400 when that fails: a wrong prowlarrUrl, a missing URL base or a stale
  key fails the registration, as it would with a real Radarr;
- on every sync: GET /api/v3/indexer (and POST/PUT/DELETE /api/v3/indexer[/{id}] for indexers).

The expected key is read from ``<state-dir>/api-key`` on every request, so a rotation by the charm
takes effect at once. A wrong or missing key gets 401 with an empty body, like the real *arr apps.
Counters of what was served go to ``<state-dir>/stats.json``. Keys are never logged or stored.
"""

from __future__ import annotations

import argparse
import hmac
import http.client
import json
import re
import sys
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit

VERSION = "5.0.0.0"
API = "/api/v3"
_INDEXER_ID = re.compile(r"^/indexer/(\d+)$")

Json = dict[str, Any]
Reply = tuple[int, str, object]
"""HTTP status, counter name, JSON body."""
STATUS: Json = {"appName": "Radarr", "instanceName": "Radarr", "version": VERSION, "urlBase": ""}


def _field(name: str, value: object, kind: str = "textbox", privacy: str = "normal") -> Json:
    return {"name": name, "value": value, "type": kind, "advanced": False, "privacy": privacy}


def _template(implementation: str, protocol: str, extra: list[Json]) -> Json:
    """An indexer template as Radarr's GET /api/v3/indexer/schema returns it (fields trimmed).

    Prowlarr copies the fields it syncs from the template and sets baseUrl, apiPath, apiKey and
    categories (plus minimumSeeders and seedCriteria.* for torrents): all must be present.
    """
    fields = [
        _field("baseUrl", ""),
        _field("apiPath", "/api"),
        _field("apiKey", "", privacy="apiKey"),
        _field("categories", [2000, 2010, 2020, 2030, 2040, 2045, 2050, 2060], "select"),
        _field("additionalParameters", ""),
        _field("multiLanguages", [], "select"),
        _field("removeYear", value=False, kind="checkbox"),
        *extra,
    ]
    return {
        "name": "",
        "implementation": implementation,
        "implementationName": implementation,
        "configContract": f"{implementation}Settings",
        "protocol": protocol,
        "priority": 25,
        "enableRss": True,
        "enableAutomaticSearch": True,
        "enableInteractiveSearch": True,
        "supportsRss": True,
        "supportsSearch": True,
        "downloadClientId": 0,
        "fields": fields,
        "tags": [],
    }


SCHEMA = [
    _template("Newznab", "usenet", []),
    _template(
        "Torznab",
        "torrent",
        [
            _field("minimumSeeders", 1, "number"),
            _field("seedCriteria.seedRatio", None, "textbox"),
            _field("seedCriteria.seedTime", None, "number"),
            _field("requiredFlags", [], "select"),
            _field("rejectBlocklistedTorrentHashesWhileGrabbing", value=False, kind="checkbox"),
        ],
    ),
]


def _json_object(body: object) -> dict[str, Any]:
    return cast("dict[str, Any]", body) if isinstance(body, dict) else {}


CAPS_TIMEOUT = 10.0


def fetch_caps(indexer: dict[str, Any]) -> int | None:
    """GET the caps of the Newznab indexer Prowlarr asked to test; the HTTP status, or None.

    The URL is the indexer's ``baseUrl`` + ``apiPath`` with ``t=caps`` and its ``apiKey`` (the
    key Prowlarr gave: never logged). A 200 counts only with a ``<caps`` document; redirects
    are not followed.
    """
    fields: dict[str, object] = {}
    for item in cast("list[object]", indexer.get("fields") or []):
        if isinstance(item, dict):
            entry = cast("dict[str, object]", item)
            fields[str(entry.get("name"))] = entry.get("value")
    base = str(fields.get("baseUrl") or "").rstrip("/")
    url = urlsplit(f"{base}{fields.get('apiPath') or '/api'}")
    if url.scheme not in ("http", "https") or not url.hostname:
        return None
    query = urlencode({"t": "caps", "apikey": str(fields.get("apiKey") or "")})
    kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    conn = kind(url.hostname, url.port, timeout=CAPS_TIMEOUT)
    try:
        conn.request("GET", f"{url.path}?{query}", headers={"Accept": "*/*"})
        response = conn.getresponse()
        body = response.read()
    except OSError:
        return None
    finally:
        conn.close()
    if response.status == HTTPStatus.OK and b"<caps" not in body:
        return HTTPStatus.UNPROCESSABLE_ENTITY  # not a Newznab caps document
    return response.status


class FakeRadarr:
    """The fake's memory and routes: indexers, tags and request counters (thread-safe)."""

    def __init__(self, state_dir: Path) -> None:
        self.key_file = state_dir / "api-key"
        self.stats_file = state_dir / "stats.json"
        self.lock = threading.Lock()
        self.stats: dict[str, int] = {}
        self.indexers: dict[int, dict[str, Any]] = {}
        self.tags: list[dict[str, Any]] = []
        self.next_id = 1

    def key_matches(self, presented: str | None) -> bool:
        """Whether the presented key is the tester's current key (constant-time comparison)."""
        try:
            expected = self.key_file.read_text(encoding="utf-8").strip()
        except OSError:
            return False
        if not expected or not presented:
            return False
        return hmac.compare_digest(expected.encode(), presented.encode())

    def count(self, *names: str) -> None:
        """Add one to each counter and publish the counters atomically."""
        with self.lock:
            for name in names:
                self.stats[name] = self.stats.get(name, 0) + 1
            tmp = self.stats_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.stats, sort_keys=True), encoding="utf-8")
            tmp.replace(self.stats_file)

    def _new_id(self) -> int:
        with self.lock:
            value = self.next_id
            self.next_id += 1
            return value

    def route(self, method: str, route: str, body: object) -> Reply:
        """Answer an authorised request to ``/api/v3{route}``."""
        routes: dict[tuple[str, str], Callable[[dict[str, Any]], Reply]] = {
            ("GET", "/system/status"): lambda _: (HTTPStatus.OK, "system-status", STATUS),
            ("GET", "/indexer/schema"): lambda _: (HTTPStatus.OK, "indexer-schema", SCHEMA),
            ("POST", "/indexer/test"): self._test_indexer,
            ("GET", "/indexer"): lambda _: (
                HTTPStatus.OK,
                "indexer-list",
                list(self.indexers.values()),
            ),
            ("POST", "/indexer"): self._add_indexer,
            ("GET", "/tag"): lambda _: (HTTPStatus.OK, "tag-list", self.tags),
            ("POST", "/tag"): self._add_tag,
        }
        handler = routes.get((method, route))
        if handler is not None:
            return handler(_json_object(body))
        found = _INDEXER_ID.match(route)
        if found is None:
            return HTTPStatus.NOT_FOUND, "not-found", {"message": "NotFound"}
        return self._indexer(method, int(found.group(1)), _json_object(body))

    def _test_indexer(self, body: dict[str, Any]) -> Reply:
        """Radarr's indexer test: fetch the indexer's caps; 400 with a failure when it cannot."""
        status = fetch_caps(body)
        if status == HTTPStatus.OK:
            return HTTPStatus.OK, "indexer-test", {}
        reason = "no answer" if status is None else f"HTTP {status}"
        failure = {
            "propertyName": "",
            "errorMessage": f"Unable to connect to indexer ({reason}), check the indexer's URL",
            "severity": "error",
        }
        return HTTPStatus.BAD_REQUEST, "indexer-test-failed", [failure]

    def _add_indexer(self, body: dict[str, Any]) -> Reply:
        resource = {**body, "id": self._new_id()}
        self.indexers[resource["id"]] = resource
        return HTTPStatus.CREATED, "indexer-add", resource

    def _add_tag(self, body: dict[str, Any]) -> Reply:
        tag = {"id": self._new_id(), "label": str(body.get("label", ""))}
        self.tags.append(tag)
        return HTTPStatus.CREATED, "tag-add", tag

    def _indexer(self, method: str, indexer_id: int, body: dict[str, Any]) -> Reply:
        if method == "DELETE":
            self.indexers.pop(indexer_id, None)
            return HTTPStatus.OK, "indexer-delete", {}
        if indexer_id not in self.indexers:
            return HTTPStatus.NOT_FOUND, "indexer-missing", {"message": "NotFound"}
        if method == "PUT":
            self.indexers[indexer_id] = {**body, "id": indexer_id}
            return HTTPStatus.ACCEPTED, "indexer-update", self.indexers[indexer_id]
        if method == "GET":
            return HTTPStatus.OK, "indexer-get", self.indexers[indexer_id]
        return HTTPStatus.METHOD_NOT_ALLOWED, "not-found", {"message": "MethodNotAllowed"}


class RadarrServer(ThreadingHTTPServer):
    """A threading HTTP server that carries the fake's state for its handlers."""

    daemon_threads = True

    def __init__(self, port: int, fake: FakeRadarr) -> None:
        # Prowlarr reaches this process through the application's Kubernetes Service, so it
        # listens on every address of the pod.
        super().__init__(("", port), RadarrHandler)
        self.fake = fake


class RadarrHandler(BaseHTTPRequestHandler):
    """HTTP plumbing and key authentication; the routes are FakeRadarr's."""

    server_version = "Radarr"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        # The default line includes the query string, where a client may put ?apikey=.
        path = urlsplit(self.path).path
        code = args[1] if format.startswith('"%s"') and len(args) > 1 else "-"
        sys.stderr.write(f"{self.log_date_time_string()} {self.command} {path} {code}\n")

    def _presented_key(self, query: str) -> str | None:
        from_query = parse_qs(query).get("apikey")
        if from_query:
            return from_query[0]
        header = self.headers.get("X-Api-Key")
        if header:
            return header
        auth = self.headers.get("Authorization")
        return auth.removeprefix("Bearer ").strip() if auth else None

    def _read_body(self) -> object:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def _send(self, status: int, body: object | None, *, version: bool = True) -> None:
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        if version:
            self.send_header("X-Application-Version", VERSION)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _dispatch(self, method: str) -> None:
        fake = cast("RadarrServer", self.server).fake
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        body = self._read_body()
        if method == "GET" and path == "/ping":
            self._send(HTTPStatus.OK, {"status": "OK"}, version=False)
        elif not path.startswith(API):
            fake.count("not-found")
            self._send(HTTPStatus.NOT_FOUND, {"message": "NotFound"}, version=False)
        elif not fake.key_matches(self._presented_key(url.query)):
            fake.count("unauthorized")
            self._send(HTTPStatus.UNAUTHORIZED, None, version=False)
        else:
            status, name, reply = fake.route(method, path[len(API) :], body)
            fake.count("authorized", name)
            self._send(status, reply)


def main(argv: list[str] | None = None) -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=7878)
    parser.add_argument("--state-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    state_dir: Path = args.state_dir
    port: int = args.port
    state_dir.mkdir(parents=True, exist_ok=True)
    # Prowlarr reaches this process through the application's Kubernetes Service: every address.
    RadarrServer(port, FakeRadarr(state_dir)).serve_forever()


if __name__ == "__main__":
    main()
