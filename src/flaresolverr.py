"""FlareSolverr through the `flaresolverr` relation: one indexer proxy the charm owns.

Charmarr's flaresolverr-k8s charm publishes `config` = `{"url": "http://<app>.<model>.svc...:8191"}`
in its application databag; the requirer writes nothing. While the relation exists the charm keeps
one FlareSolverr proxy, named `PROXY_NAME`, with that URL as its host, the `flaresolverr-timeout`
and the tag of `flaresolverr-tag`. It finds its proxy by the id it remembers and that name, never
by implementation: a proxy added by hand is not the charm's. When the relation goes, the proxy is
deleted; the tag stays (indexers may still carry it).

Prowlarr sends an indexer through a proxy only when they share a tag, so the tag is what makes the
proxy useful: indexers declared with `flaresolverr: true` get it (the indexers capability), and the
report says when none has it. A proxy with a tag is tested when it is created, through FlareSolverr
to the Internet, which may fail while the proxy is fine for the trackers: it is created untagged,
then tagged by a PUT with forceSave, which does not test.

Cost: the ledger (the proxy's id and a fingerprint of what was applied) decides a steady hook
without a request. A proxy edited in the UI is put back at the next change of the relation data
or the options, not at every hook.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from urllib.parse import urlsplit

import ops
from pydantic import BaseModel, ValidationError, field_validator

from capability import Hook, Report
from memory import FLARESOLVERR, Memory
from prowlarr import IndexerProxy, ProwlarrClient, ProwlarrError
from tags import ensure_tags, valid_label

logger = logging.getLogger(__name__)

RELATION = "flaresolverr"
PROXY_NAME = "FlareSolverr (Juju)"
IMPLEMENTATION = ("FlareSolverr", "FlareSolverrSettings")
TIMEOUT_OPTION = "flaresolverr-timeout"
TAG_OPTION = "flaresolverr-tag"
DEFAULT_TIMEOUT = 60
DEFAULT_TAG = "flaresolverr"


class FlareSolverrDataError(Exception):
    """The provider's databag cannot be used; the message says why (never the raw data)."""


class ProxyNameTakenError(Exception):
    """Another kind of proxy carries the charm's name: only the operator can rename it."""


class ProviderData(BaseModel):
    """What flaresolverr-k8s publishes under `config`: where FlareSolverr answers."""

    url: str

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            _ = parts.port
        except ValueError:
            raise ValueError("not an http(s) URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname or value != value.strip():
            raise ValueError("not an http(s) URL")
        return value


def provider_data(databag: Mapping[str, str]) -> ProviderData | None:
    """The provider's data, or None before it published any; FlareSolverrDataError when bad."""
    raw = databag.get("config")
    if not raw:
        return None
    try:
        loaded: object = json.loads(raw)
    except ValueError:
        raise FlareSolverrDataError("its `config` is not JSON") from None
    if not isinstance(loaded, dict) or "url" not in loaded:
        raise FlareSolverrDataError("its `config` has no `url`")
    try:
        return ProviderData.model_validate(loaded)
    except ValidationError:
        raise FlareSolverrDataError("its `url` is not an http(s) URL") from None


@dataclass(frozen=True)
class Options:
    """The `flaresolverr-timeout` and `flaresolverr-tag` options."""

    timeout: int = DEFAULT_TIMEOUT
    tag: str = DEFAULT_TAG


def load_options(options: Mapping[str, object]) -> tuple[Options, list[str]]:
    """The options (defaults where invalid) and one message per invalid option."""
    errors: list[str] = []
    timeout = options.get(TIMEOUT_OPTION, DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= 180:
        errors.append(f"invalid {TIMEOUT_OPTION} {timeout!r}: use 1 to 180 seconds")
        timeout = DEFAULT_TIMEOUT
    tag = options.get(TAG_OPTION, DEFAULT_TAG)
    if not isinstance(tag, str) or not valid_label(tag):
        errors.append(
            f"invalid {TAG_OPTION} {str(tag)[:40]!r}: use lower-case letters, digits and '-'"
        )
        tag = DEFAULT_TAG
    return Options(timeout=timeout, tag=str(tag)), errors


def tag_label(options: Mapping[str, object]) -> str:
    """The tag that sends an indexer through FlareSolverr (for `flaresolverr: true`)."""
    return load_options(options)[0].tag


@dataclass(frozen=True)
class DesiredProxy:
    """The proxy the relation and the options ask for."""

    host: str
    timeout: int
    tag: str

    @cached_property
    def fingerprint(self) -> str:
        """A digest of every managed value."""
        managed = {"name": PROXY_NAME, "host": self.host, "timeout": self.timeout, "tag": self.tag}
        return hashlib.sha256(json.dumps(managed, sort_keys=True).encode()).hexdigest()

    def shape(self, proxy: IndexerProxy, tag_ids: list[int]) -> IndexerProxy:
        """`proxy` holding the managed values; its other fields stay as they are."""
        implementation, contract = IMPLEMENTATION
        shaped = proxy.model_copy(
            update={
                "name": PROXY_NAME,
                "implementation": implementation,
                "config_contract": contract,
                "tags": tag_ids,
            }
        )
        return shaped.with_field("host", self.host).with_field("requestTimeout", self.timeout)


@dataclass(frozen=True)
class Ledger:
    """What the charm remembers of its proxy: its id and the fingerprint last applied."""

    proxy_id: int | None = None
    fingerprint: str = ""

    @classmethod
    def load(cls, memory: Memory) -> Ledger:
        """The ledger kept in the peer databag (empty when unreadable)."""
        raw = memory.mapping(FLARESOLVERR)
        text = raw.get("id", "")
        return cls(int(text) if text.isdigit() else None, raw.get("fingerprint", ""))

    def save(self, memory: Memory) -> None:
        """Keep it in the peer databag (written only on change; removed when empty)."""
        value = {"id": str(self.proxy_id), "fingerprint": self.fingerprint}
        memory.put_mapping(FLARESOLVERR, value if self.proxy_id is not None else {})


def forget_applied(memory: Memory) -> None:
    """After a backup restore: keep the proxy's id, apply it again at the next hook."""
    ledger = Ledger.load(memory)
    if ledger.proxy_id is not None:
        Ledger(ledger.proxy_id).save(memory)


def _ours(proxies: list[IndexerProxy], ledger: Ledger) -> IndexerProxy | None:
    """The charm's proxy: the remembered id under the charm's name, else that name."""
    named = [p for p in proxies if (p.name or "").casefold() == PROXY_NAME.casefold()]
    return next((p for p in named if p.id == ledger.proxy_id), named[0] if named else None)


def _differs(current: IndexerProxy, wanted: IndexerProxy) -> bool:
    return (
        current.name != wanted.name
        or current.implementation != wanted.implementation
        or sorted(current.tags) != sorted(wanted.tags)
        or current.field_value("host") != wanted.field_value("host")
        or current.field_value("requestTimeout") != wanted.field_value("requestTimeout")
    )


def apply(client: ProwlarrClient, desired: DesiredProxy, ledger: Ledger) -> Ledger:
    """Make the charm's proxy what `desired` says: created untagged, then tagged (no test)."""
    proxies = client.list_indexer_proxies()
    current = _ours(proxies, ledger)
    if current is not None and current.implementation != IMPLEMENTATION[0]:
        raise ProxyNameTakenError(
            f"a {current.implementation} proxy is named {PROXY_NAME!r}: rename it in Prowlarr"
        )
    tags = [ensure_tags(client, [desired.tag])[desired.tag]]
    if current is None:
        empty = IndexerProxy(implementation=IMPLEMENTATION[0], config_contract=IMPLEMENTATION[1])
        current = client.create_indexer_proxy(desired.shape(empty, []))
        logger.info("created the FlareSolverr indexer proxy %s", current.id)
    wanted = desired.shape(current, tags)
    if _differs(current, wanted):
        current = client.update_indexer_proxy(wanted)
        logger.info("set the FlareSolverr indexer proxy %s to %s", current.id, desired.host)
    return Ledger(current.id, desired.fingerprint)


def remove(client: ProwlarrClient, ledger: Ledger) -> None:
    """Delete the charm's proxy (the remembered id under the charm's name, else that name)."""
    current = _ours(client.list_indexer_proxies(), ledger)
    if current is not None and current.id is not None:
        client.delete_indexer_proxy(current.id)
        logger.info("deleted the FlareSolverr indexer proxy %s (relation removed)", current.id)


def refresh_events(on: ops.CharmEvents) -> list[ops.BoundEvent]:
    """The events after which the charm's reconcile must run for this capability."""
    events = on[RELATION]
    return [events.relation_changed, events.relation_broken]


def reconcile(hook: Hook) -> Report:
    """The FlareSolverr proxy follows the relation (and is deleted when it goes)."""
    report = Report("flaresolverr")
    options, errors = load_options(hook.options)
    for error in errors:
        report.block(error)
    ledger = Ledger.load(hook.memory)
    relation = hook.model.get_relation(RELATION)
    if relation is None:
        report.state = "not related"
        if ledger.proxy_id is not None:
            _forget(hook, ledger, report)
        return report
    if errors:
        return report
    provider = relation.app.name
    try:
        data = provider_data(relation.data[relation.app])
    except FlareSolverrDataError as e:
        report.block(f"flaresolverr relation: {provider}: {e}")
        return report
    if data is None:
        report.wait(f"waiting for {provider} to publish FlareSolverr's URL")
        return report
    desired = DesiredProxy(host=data.url, timeout=options.timeout, tag=options.tag)
    if ledger.proxy_id is None or ledger.fingerprint != desired.fingerprint:
        applied = _apply(hook, desired, ledger, report)
        if applied is None:
            return report
        ledger = applied
    report.state = f"proxy {ledger.proxy_id}: {data.url}, tag {options.tag}"
    if not any(options.tag in tags for tags in hook.facts.indexer_tags.values()):
        report.summary = f"FlareSolverr unused: no declared indexer has tag {options.tag}"
        report.state += f" (unused: no declared indexer has tag {options.tag})"
    return report


def _apply(hook: Hook, desired: DesiredProxy, ledger: Ledger, report: Report) -> Ledger | None:
    """Apply a change and remember it; None (with the reason reported) when it failed."""
    try:
        applied = apply(hook.client, desired, ledger)
    except ProxyNameTakenError as e:
        report.block(f"flaresolverr: {e}")
        return None
    except ProwlarrError as e:
        report.wait(f"cannot set up the FlareSolverr proxy: {e}")
        return None
    applied.save(hook.memory)
    return applied


def _forget(hook: Hook, ledger: Ledger, report: Report) -> None:
    """The relation is gone: delete the charm's proxy (the tag stays)."""
    try:
        remove(hook.client, ledger)
    except ProwlarrError as e:
        report.wait(f"cannot delete the FlareSolverr proxy: {e}")
        return
    Ledger().save(hook.memory)
