"""The fake Prowlarr's indexer proxies (`/api/v1/indexerproxy`), as Prowlarr v2.3.5 keeps them.

Read in Prowlarr's source (CONTRACT §10): a proxy is a provider like an application (name unique
ignoring case, full-resource PUT, fields missing from a body take their defaults). A proxy with a
tag is enabled; POST tests an enabled proxy even with `forceSave`, PUT tests it unless
`forceSave=true`. A FlareSolverr test asks FlareSolverr to fetch a page on the Internet, so it
fails here unless `internet` is set: the fake, like a cluster without egress, cannot prove a
proxy that works for the trackers.

`FakeProwlarr` serves these routes (listed in its route table) through `IndexerProxies.handlers`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from tests.unit.fake_prowlarr import (
    JsonDict,
    _as_list,
    _as_object,
    _Call,
    _coerce_ints,
    _error,
    _field_json,
    _FieldSpec,
    _HttpError,
    _is_int,
    _json_response,
    _lower_keys,
    _problem,
    _query_bool,
    _Response,
    _rule_failure,
    _settings_failure,
)

if TYPE_CHECKING:
    from tests.unit.fake_prowlarr import FakeProwlarr

BASE = "/api/v1/indexerproxy"


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
                _FieldSpec("host", "Host", "", "textbox", "http://localhost:8191/"),
                _FieldSpec(
                    "requestTimeout",
                    "Request Timeout",
                    "FlareSolverr maxTimeout Request Parameter",
                    "number",
                    60,
                    advanced=True,
                ),
                _FieldSpec(
                    "sessionId",
                    "Session id",
                    "The session ID that you want to be assigned to the instance",
                    "textbox",
                    None,
                    advanced=True,
                ),
            ),
        ),
        _ProxyKind(
            "Http",
            (
                _FieldSpec("host", "Host", "", "textbox", ""),
                _FieldSpec("port", "Port", "", "number", 8080),
                _FieldSpec("username", "Username", "", "textbox", "", privacy="userName"),
                _FieldSpec("password", "Password", "", "password", "", privacy="password"),
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


def _coerce(spec: _FieldSpec, value: object) -> object:
    where = f"fields.{spec.name}"
    if spec.kind == "number":
        if value is None:
            return 0
        if _is_int(value):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise _problem("The value could not be converted to System.Int32.", where)
    if value is None or isinstance(value, str):
        return value
    raise _problem("The value could not be converted to System.String.", where)


class IndexerProxies:
    """The indexer proxies of one fake Prowlarr (its lock held by every handler)."""

    def __init__(self, fake: FakeProwlarr) -> None:
        self._fake = fake
        self._proxies: dict[int, StoredProxy] = {}
        self._next_id = 1
        self.internet = False  # whether a FlareSolverr test can reach the Internet
        self.tests: list[str] = []  # the host of every proxy test run

    def handlers(self) -> dict[tuple[str, str], Callable[[_Call], _Response]]:
        """The route handlers, keyed like FakeProwlarr's route table."""
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
        with self._fake._lock:
            return copy.deepcopy(self._proxies)

    def add(
        self,
        implementation: str = "FlareSolverr",
        *,
        name: str,
        fields: Mapping[str, object] | None = None,
        tags: Iterable[int] = (),
    ) -> int:
        """Simulate a proxy added by hand in the UI (no validation, no test); its id."""
        with self._fake._lock:
            kind = KINDS[implementation]
            given = dict(fields or {})
            settings = {spec.name: given.get(spec.name, spec.default) for spec in kind.fields}
            return self._insert(name, kind, list(tags), settings)

    def edit(self, proxy_id: int, *, tags: Iterable[int] | None = None, **fields: object) -> None:
        """Simulate a proxy edited in the UI."""
        with self._fake._lock:
            proxy = self._proxies[proxy_id]
            if tags is not None:
                proxy.tags = list(tags)
            proxy.fields.update(fields)

    def tag_in_use(self, tag_id: int) -> bool:
        """Whether a proxy carries the tag."""
        return any(tag_id in proxy.tags for proxy in self._proxies.values())

    # ------------------------------------------------------------ handlers

    def _insert(
        self, name: str, kind: _ProxyKind, tags: list[int], settings: dict[str, object]
    ) -> int:
        proxy_id = self._next_id
        self._next_id += 1
        self._proxies[proxy_id] = StoredProxy(proxy_id, name, kind.name, tags, settings)
        return proxy_id

    def _json(self, proxy: StoredProxy) -> JsonDict:
        kind = KINDS[proxy.implementation]
        return {
            "name": proxy.name,
            "fields": [
                _field_json(spec, order, proxy.fields.get(spec.name))
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

    def _list(self, call: _Call) -> _Response:
        proxies = sorted(self._proxies.values(), key=lambda p: p.id)
        return _json_response(200, [self._json(p) for p in proxies])

    def _get(self, call: _Call) -> _Response:
        proxy = self._proxies.get(cast("int", call.route_id))
        if proxy is None:
            raise _error(404, f"IndexerProxyDefinition with ID {call.route_id} does not exist")
        return _json_response(200, self._json(proxy))

    def _read(self, call: _Call, own_id: int) -> tuple[str, _ProxyKind, list[int], JsonDict]:
        """Bind and validate a body: its name, kind, tags and settings (defaults filled in)."""
        obj = _as_object(self._fake._json_body(call))
        if obj is None:
            raise _problem("The JSON value could not be converted to IndexerProxyResource.")
        data = _lower_keys(obj)
        name = data.get("name")
        failures: list[JsonDict] = []
        if not isinstance(name, str) or not name.strip():
            failures.append(
                _rule_failure("Name", "Name", "'Name' must not be empty.", name, "NotEmpty")
            )
        elif any(
            p.name.casefold() == name.casefold() and p.id != own_id for p in self._proxies.values()
        ):
            failures.append(
                _rule_failure("Name", "Name", "Should be unique", name, "PredicateValidator")
            )
        if failures:
            raise _HttpError(_json_response(400, failures))
        kind = KINDS.get(str(data.get("implementation") or ""))
        if kind is None or kind.contract != data.get("configcontract"):
            raise _error(500, "Sequence contains no matching element")
        tags = _coerce_ints(data.get("tags"), "tags")
        given: dict[str, object] = {}
        for item in _as_list(data.get("fields")) or []:
            entry = _as_object(item)
            if entry is not None and isinstance(entry.get("name"), str):
                given.setdefault(cast("str", entry["name"]), entry.get("value"))
        settings: JsonDict = {
            spec.name: _coerce(spec, given[spec.name])
            if spec.name in given
            else copy.deepcopy(spec.default)
            for spec in kind.fields
        }
        return cast("str", name), kind, list(dict.fromkeys(tags)), settings

    def _failures(self, kind: _ProxyKind, settings: Mapping[str, object]) -> list[JsonDict]:
        if kind.name != "FlareSolverr":
            return []
        failures: list[JsonDict] = []
        host = settings.get("host")
        if not isinstance(host, str) or not host.strip():
            failures.append(_settings_failure("Host", "'Host' must not be empty.", host))
        timeout = settings.get("requestTimeout")
        if not _is_int(timeout) or not 1 <= cast("int", timeout) <= 180:
            failures.append(
                _settings_failure(
                    "RequestTimeout",
                    f"'Request Timeout' must be between 1 and 180. You entered {timeout}.",
                    timeout,
                )
            )
        return failures

    def _test(self, kind: _ProxyKind, settings: Mapping[str, object]) -> list[JsonDict]:
        """The proxy's own test: through FlareSolverr to a page on the Internet."""
        host = str(settings.get("host") or "")
        self.tests.append(host)
        if kind.name == "FlareSolverr" and not self.internet:
            return [_settings_failure("", "Failed to test proxy. StatusCode: InternalServerError")]
        return []

    def _create(self, call: _Call) -> _Response:
        name, kind, tags, settings = self._read(call, own_id=0)
        failures = self._failures(kind, settings)
        if not failures and tags:  # enabled: tested, forceSave or not
            failures = self._test(kind, settings)
        if failures:
            raise _HttpError(_json_response(400, failures))
        proxy_id = self._insert(name, kind, tags, settings)
        return _json_response(201, self._json(self._proxies[proxy_id]))

    def _update(self, call: _Call) -> _Response:
        proxy_id = cast("int", call.route_id)
        existing = self._proxies.get(proxy_id)
        if existing is None:
            raise _error(404, f"IndexerProxyDefinition with ID {proxy_id} does not exist")
        name, kind, tags, settings = self._read(call, own_id=proxy_id)
        failures = self._failures(kind, settings)
        if not failures and tags and not _query_bool(call, "forceSave"):
            failures = self._test(kind, settings)
        if failures:
            raise _HttpError(_json_response(400, failures))
        self._proxies[proxy_id] = StoredProxy(proxy_id, name, kind.name, tags, settings)
        return _json_response(202, self._json(self._proxies[proxy_id]))

    def _delete(self, call: _Call) -> _Response:
        self._proxies.pop(cast("int", call.route_id), None)
        return _json_response(200, {})
