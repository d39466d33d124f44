"""Reach Prowlarr's UI through an ingress: the requirer half of the `ingress` interface (v2).

Wire-compatible with traefik-k8s's `charms.traefik_k8s.v2.ingress` library. Every databag value is
JSON-encoded. The requirer's application databag holds `model`, `name`, `port`, `strip-prefix`,
`redirect-https`, `scheme` and `healthcheck_params`; each unit's databag its `host` and `ip`. The
provider answers `ingress` = `{"url": ...}` in its application databag.

Prowlarr serves only under its URL base (anything else gets a 307), so the prefix traefik routes
on (`/<model>-<app>` in path mode) must be the URL base, and must not be stripped: the URL base is
the path of the URL traefik gives, empty in host (subdomain) mode.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import ops
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from capability import Report
from host_config import HostSettings, Want
from status import MAX_URL, shorten
from workload import parse_url_base

RELATION = "ingress"
_SCHEMES = frozenset({"http", "https", "h2c"})


class HealthCheck(BaseModel):
    """How traefik checks a unit; Prowlarr's /ping answers on the leader only."""

    path: str = Field(description="health check path, under the URL base")
    interval: str = "30s"
    timeout: str = "5s"


class RequirerAppData(BaseModel):
    """What the leader asks of the ingress provider (values JSON-encoded in the databag)."""

    model_config = ConfigDict(populate_by_name=True)

    model: str = Field(description="the model the application is in")
    name: str = Field(description="the application's name")
    port: int = Field(gt=0, lt=65535, description="the port to route to")
    strip_prefix: bool = Field(default=False, alias="strip-prefix")
    redirect_https: bool = Field(default=False, alias="redirect-https")
    scheme: str = "http"
    healthcheck_params: HealthCheck | None = None

    @field_validator("scheme")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value not in _SCHEMES:
            raise ValueError("scheme must be http, https or h2c")
        return value


class RequirerUnitData(BaseModel):
    """Where this unit is reached (values JSON-encoded in the databag)."""

    host: str
    ip: str | None = None

    @field_validator("ip")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.ip_address(value)
        return value


class _Url(BaseModel):
    url: str


def encode(model: BaseModel) -> dict[str, str]:
    """A model as databag values: each field JSON-encoded, under its alias, None left out."""
    return {
        key: json.dumps(value)
        for key, value in model.model_dump(mode="json", by_alias=True, exclude_none=True).items()
    }


def write(databag: MutableMapping[str, str], values: Mapping[str, str]) -> bool:
    """Set `values` in a databag, writing only the keys that differ; whether anything changed."""
    changed = False
    for key, value in values.items():
        if databag.get(key) != value:
            databag[key] = value
            changed = True
    return changed


@dataclass(frozen=True)
class IngressUrl:
    """The URL the provider gave, and the URL base Prowlarr must serve under for it."""

    url: str
    url_base: str


class IngressError(Exception):
    """The provider's answer cannot be used; the message says why."""


def read_url(provider_app_data: Mapping[str, str]) -> IngressUrl | None:
    """The ingress URL in the provider's application databag; None until it answers."""
    raw = provider_app_data.get("ingress")
    if not raw:
        return None
    try:
        url = _Url.model_validate(json.loads(raw)).url
    except (ValueError, ValidationError):
        raise IngressError('the provider\'s ingress data is not {"url": ...}') from None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise IngressError("the provider's URL is not an http(s) URL with a host")
    if parts.query or parts.fragment:
        raise IngressError("the provider's URL has a query or a fragment")
    try:
        url_base = parse_url_base(parts.path)
    except ValueError as e:
        raise IngressError(f"the provider's URL path is unusable: {e}") from None
    return IngressUrl(url=url.rstrip("/"), url_base=url_base)


def requirer_app_data(model: str, name: str, port: int, url_base: str) -> dict[str, str]:
    """The leader's request: the port, no prefix stripping, plain http, /ping as health check."""
    data = RequirerAppData.model_validate(
        {
            "model": model,
            "name": name,
            "port": port,
            "strip-prefix": False,  # Prowlarr serves under the prefix itself
            "redirect-https": False,
            "scheme": "http",
            "healthcheck_params": {"path": f"{url_base}/ping"},
        }
    )
    return encode(data)


def requirer_unit_data(host: str, ip: str | None) -> dict[str, str]:
    """This unit's address."""
    return encode(RequirerUnitData(host=host, ip=ip))


def answered(model: ops.Model) -> IngressUrl | None:
    """The URL the provider gave on the ingress relation, if any; raises IngressError.

    A relation being broken is no longer listed: back to no URL.
    """
    relation = model.get_relation(RELATION)
    provider = None if relation is None else cast("ops.Application | None", relation.app)
    if relation is None or provider is None:
        return None
    return read_url(relation.data[provider])


def request(model: ops.Model, url_base: str | None, port: int) -> None:
    """Ask for a route: the leader writes the app data (with `url_base`), each unit its address.

    `url_base` None: this unit does not know it (a unit standing by); it only publishes its
    address, and the provider's health check keeps traffic on the unit that answers.
    """
    relation = model.get_relation(RELATION)
    if relation is None:
        return
    if url_base is not None and model.unit.is_leader():
        app_data = requirer_app_data(model.name, model.app.name, port, url_base)
        write(relation.data[model.app], app_data)
    address = model.get_binding(relation).network.bind_address
    unit_data = requirer_unit_data(socket.getfqdn(), str(address) if address else None)
    write(relation.data[model.unit], unit_data)


def refresh_events(on: ops.CharmEvents) -> list[ops.BoundEvent]:
    """The events after which the charm's reconcile must run for this capability."""
    events = on[RELATION]
    return [events.relation_joined, events.relation_changed, events.relation_broken]


def reconcile(model: ops.Model) -> tuple[IngressUrl | None, Report]:
    """The URL the ingress gave (its path is the URL base), with the report of this step."""
    report = Report("ingress")
    try:
        exposed = answered(model)
    except IngressError as e:
        report.block(f"ingress: {e}")
        return None, report
    if exposed is not None:
        report.state = exposed.url
        report.summary = shorten(exposed.url, MAX_URL)
    elif model.get_relation(RELATION) is not None:
        report.state = "waiting for the ingress provider's URL"
    else:
        report.state = "no ingress relation"
    return exposed, report


def link(url: str) -> Want:
    """Prowlarr's Application URL (links in notifications): the external URL.

    Put back to empty only when the charm had set one, so a URL set by hand without an
    ingress stays.
    """
    settings = HostSettings(application_url=url)
    unset = HostSettings(application_url="").fingerprint()
    return Want("ingress", settings, settings.fingerprint(), assumed=unset, forget=not url)
