"""The fake Prowlarr's indexer proxies (`/api/v1/indexerproxy`), as Prowlarr v2.3.5 keeps them.

Read in Prowlarr's source (CONTRACT §10): a proxy is a provider like an application (name unique
ignoring case, full-resource PUT, fields missing from a body take their defaults). A proxy with a
tag is enabled; POST tests an enabled proxy even with `forceSave`, PUT tests it unless
`forceSave=true`. A FlareSolverr test asks FlareSolverr to fetch a page on the Internet, so it
fails here unless `internet` is set: the fake, like a cluster without egress, cannot prove a
proxy that works for the trackers.

Same convention as fake_indexers.py: `ROUTES` lists the routes served here, `ProxyStore.handlers()`
the handler of each; fake_prowlarr.py does the HTTP part under its lock. A proxy's tags count as
used (a DELETE of the tag is a 409).
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from tests.unit.fake_indexers import Handler, JsonDict, as_object, error, failure, refuse

BASE = "/api/v1/indexerproxy"
ROUTES: tuple[tuple[str, str], ...] = (
    ("GET", BASE),
    ("POST", BASE),
    ("GET", f"{BASE}/{{id}}"),
    ("PUT", f"{BASE}/{{id}}"),
    ("DELETE", f"{BASE}/{{id}}"),
)


@dataclass(frozen=True)
class _FieldSpec:
    name: str
    label: str
    kind: str  # textbox | number | password
    default: object
    privacy: str = "normal"
    advanced: bool = False

    def json(self, order: int, value: object) -> JsonDict:
        out: JsonDict = {"order": order, "name": self.name, "label": self.label}
        if value is not None:
            masked = self.privacy == "password" and isinstance(value, str) and value
            out["value"] = "********" if masked else value
        out.update({"type": self.kind, "advanced": self.advanced, "privacy": self.privacy})
        out["isFloat"] = False
        return out


@dataclass(frozen=True)
class _ProxyKind:
    name: str
    fields: tuple[_FieldSpec, ...]

    @property
    def contract(self) -> str:
        return f"{self.name}Settings"


KINDS: dict[str, _ProxyKind] = {
    kind.name: kind
    for kind in (
        _ProxyKind(
            "FlareSolverr",
            (
                _FieldSpec("host", "Host", "textbox", "http://localhost:8191/"),
                _FieldSpec("requestTimeout", "Request Timeout", "number", 60, advanced=True),
                _FieldSpec("sessionId", "Session id", "textbox", None, advanced=True),
            ),
        ),
        _ProxyKind(
            "Http",
            (
                _FieldSpec("host", "Host", "textbox", ""),
                _FieldSpec("port", "Port", "number", 8080),
                _FieldSpec("username", "Username", "textbox", "", privacy="userName"),
                _FieldSpec("password", "Password", "password", "", privacy="password"),
            ),
        ),
    )
}


@dataclass
class StoredProxy:
    """An indexer proxy as Prowlarr stores it."""

    id: int
    name: str
    implementation: str
    tags: list[int]
    fields: dict[str, object] = field(repr=False)

    @property
    def enable(self) -> bool:
        """A proxy with a tag is enabled (and is tested when it is saved)."""
        return bool(self.tags)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _ints(value: object, where: str) -> list[int]:
    if value is None:
        return []
    if isinstance(value, list) and all(_is_int(v) for v in cast("list[object]", value)):
        return list(dict.fromkeys(cast("list[int]", value)))
    raise refuse(failure(where, "The value could not be converted to System.Int32[]."))


def _coerce(spec: _FieldSpec, value: object) -> object:
    if spec.kind == "number":
        if value is None:
            return 0
        if _is_int(value):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise refuse(failure(spec.name, "The value could not be converted to System.Int32."))
    if value is None or isinstance(value, str):
        return value
    raise refuse(failure(spec.name, "The value could not be converted to System.String."))


@dataclass
class ProxyStore:
    """The indexer proxies of one fake Prowlarr (guarded by the fake's lock)."""

    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    proxies: dict[int, StoredProxy] = field(default_factory=dict[int, StoredProxy])
    internet: bool = False
    """Whether a FlareSolverr test can reach the Internet (it fails without)."""
    tests: list[str] = field(default_factory=list[str])
    """The host of every proxy test run."""
    _next_id: int = 1

    def handlers(self) -> dict[tuple[str, str], Handler]:
        """The handler of each route in `ROUTES`."""
        return {
            ("GET", BASE): self._list,
            ("POST", BASE): self._create,
            ("GET", f"{BASE}/{{id}}"): self._get,
            ("PUT", f"{BASE}/{{id}}"): self._update,
            ("DELETE", f"{BASE}/{{id}}"): self._delete,
        }

    # ------------------------------------------------------------ inspection and UI edits

    @property
    def stored(self) -> dict[int, StoredProxy]:
        """A snapshot of the stored proxies by id."""
        with self.lock:
            return copy.deepcopy(self.proxies)

    def add(
        self,
        implementation: str = "FlareSolverr",
        *,
        name: str,
        fields: Mapping[str, object] | None = None,
        tags: Iterable[int] = (),
    ) -> int:
        """Simulate a proxy added by hand in the UI (no validation, no test); its id."""
        with self.lock:
            kind = KINDS[implementation]
            given = dict(fields or {})
            settings = {spec.name: given.get(spec.name, spec.default) for spec in kind.fields}
            return self._insert(name, kind, list(tags), settings)

    def edit(self, proxy_id: int, *, tags: Iterable[int] | None = None, **fields: object) -> None:
        """Simulate a proxy edited in the UI."""
        with self.lock:
            proxy = self.proxies[proxy_id]
            if tags is not None:
                proxy.tags = list(tags)
            proxy.fields.update(fields)

    def dump(self) -> list[JsonDict]:
        """The proxies as the database holds them (for backups)."""
        with self.lock:
            return [dataclasses.asdict(proxy) for proxy in self.proxies.values()]

    def load(self, rows: list[JsonDict]) -> None:
        """Replace the proxies with a restored database's."""
        with self.lock:
            restored = [StoredProxy(**cast("dict[str, Any]", row)) for row in rows]
            self.proxies = {proxy.id: proxy for proxy in restored}
            self._next_id = max([self._next_id, *(p.id + 1 for p in restored)])

    def tag_in_use(self, tag_id: int) -> bool:
        """Whether a proxy carries the tag."""
        return any(tag_id in proxy.tags for proxy in self.proxies.values())

    # ------------------------------------------------------------ handlers

    def _insert(
        self, name: str, kind: _ProxyKind, tags: list[int], settings: dict[str, object]
    ) -> int:
        proxy_id = self._next_id
        self._next_id += 1
        self.proxies[proxy_id] = StoredProxy(proxy_id, name, kind.name, tags, settings)
        return proxy_id

    @staticmethod
    def _json(proxy: StoredProxy) -> JsonDict:
        kind = KINDS[proxy.implementation]
        return {
            "name": proxy.name,
            "fields": [
                spec.json(order, proxy.fields.get(spec.name))
                for order, spec in enumerate(kind.fields)
            ],
            "implementationName": kind.name,
            "implementation": kind.name,
            "configContract": kind.contract,
            "infoLink": f"https://wiki.servarr.com/prowlarr/supported#{kind.name.lower()}",
            "tags": list(proxy.tags),
            "onHealthIssue": False,
            "supportsOnHealthIssue": False,
            "includeHealthWarnings": False,
            "id": proxy.id,
        }

    def _list(self, _id: int | None, _query: dict[str, str], _body: object) -> tuple[int, object]:
        return 200, [self._json(p) for p in sorted(self.proxies.values(), key=lambda p: p.id)]

    def _get(
        self, proxy_id: int | None, _query: dict[str, str], _body: object
    ) -> tuple[int, object]:
        proxy = self.proxies.get(proxy_id or 0)
        if proxy is None:
            raise error(404, f"IndexerProxyDefinition with ID {proxy_id} does not exist")
        return 200, self._json(proxy)

    def _read(self, body: object, own_id: int) -> tuple[str, _ProxyKind, list[int], JsonDict]:
        """Bind and validate a body: its name, kind, tags and settings (defaults filled in)."""
        data = {k.lower(): v for k, v in as_object(body).items()}
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise refuse(failure("Name", "'Name' must not be empty."))
        if any(
            p.name.casefold() == name.casefold() and p.id != own_id for p in self.proxies.values()
        ):
            raise refuse(failure("Name", "Should be unique"))
        kind = KINDS.get(str(data.get("implementation") or ""))
        if kind is None or kind.contract != data.get("configcontract"):
            raise error(500, "Sequence contains no matching element")
        tags = _ints(data.get("tags"), "Tags")
        given: dict[str, object] = {}
        raw_fields = data.get("fields")
        for item in cast("list[object]", raw_fields) if isinstance(raw_fields, list) else []:
            entry = as_object(item)
            if isinstance(entry.get("name"), str):
                given.setdefault(cast("str", entry["name"]), entry.get("value"))
        settings: JsonDict = {
            spec.name: _coerce(spec, given[spec.name])
            if spec.name in given
            else copy.deepcopy(spec.default)
            for spec in kind.fields
        }
        return name, kind, tags, settings

    @staticmethod
    def _failures(kind: _ProxyKind, settings: Mapping[str, object]) -> list[JsonDict]:
        if kind.name != "FlareSolverr":
            return []
        failures: list[JsonDict] = []
        host = settings.get("host")
        if not isinstance(host, str) or not host.strip():
            failures.append(failure("Host", "'Host' must not be empty."))
        timeout = settings.get("requestTimeout")
        if not _is_int(timeout) or not 1 <= cast("int", timeout) <= 180:
            message = f"'Request Timeout' must be between 1 and 180. You entered {timeout}."
            failures.append(failure("RequestTimeout", message))
        return failures

    def _test(self, kind: _ProxyKind, settings: Mapping[str, object]) -> list[JsonDict]:
        """The proxy's own test: through FlareSolverr to a page on the Internet."""
        self.tests.append(str(settings.get("host") or ""))
        if kind.name == "FlareSolverr" and not self.internet:
            return [failure("", "Failed to test proxy. StatusCode: InternalServerError")]
        return []

    def _create(self, _id: int | None, _query: dict[str, str], body: object) -> tuple[int, object]:
        name, kind, tags, settings = self._read(body, own_id=0)
        failures = self._failures(kind, settings)
        if not failures and tags:  # enabled: tested, forceSave or not
            failures = self._test(kind, settings)
        if failures:
            raise refuse(*failures)
        return 201, self._json(self.proxies[self._insert(name, kind, tags, settings)])

    def _update(
        self, proxy_id: int | None, query: dict[str, str], body: object
    ) -> tuple[int, object]:
        proxy_id = proxy_id or 0
        if proxy_id not in self.proxies:
            raise error(404, f"IndexerProxyDefinition with ID {proxy_id} does not exist")
        name, kind, tags, settings = self._read(body, own_id=proxy_id)
        failures = self._failures(kind, settings)
        if not failures and tags and query.get("forcesave", "").lower() != "true":
            failures = self._test(kind, settings)
        if failures:
            raise refuse(*failures)
        self.proxies[proxy_id] = StoredProxy(proxy_id, name, kind.name, tags, settings)
        return 202, self._json(self.proxies[proxy_id])

    def _delete(
        self, proxy_id: int | None, _query: dict[str, str], _body: object
    ) -> tuple[int, object]:
        self.proxies.pop(proxy_id or 0, None)
        return 200, {}
