"""The media managers on the media-indexer relations: which may be registered, and as what.

Each related Radarr, Sonarr, ... publishes the ID of a secret holding its own API key. A relation
is refused when its data is invalid, when it publishes Prowlarr's own secret, or when another
live relation claimed the same secret first: its application would send someone else's key to
its own URL. The relation registered with a secret keeps it; between new ones, the older one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import ops
from charms.prowlarr_k8s.v0.media_indexer import (
    ApiKeyStatus,
    MediaIndexerProvider,
    MediaIndexerRequirerData,
    RemoteData,
    secret_unique_id,
)

from capability import Hook, Report
from memory import APPLICATIONS, PUBLISHED, Memory
from problem import Problem
from registration import (
    IMPLEMENTATIONS,
    DesiredApplication,
    ManagedRecord,
    dump_records,
    load_records,
    sync_applications,
)

logger = logging.getLogger(__name__)

RELATION = "media-indexer"

Remote = RemoteData[MediaIndexerRequirerData]


@dataclass(frozen=True)
class Context:
    """What the applications are built from, besides each relation's data and key."""

    own_secret_id: str  # Prowlarr's own key secret: never read as a manager's
    prowlarr_url: str  # where managers call Prowlarr back (in-cluster URL + URL base)
    sync_level: str  # Prowlarr's syncLevel for every application
    model_uuid: str


@dataclass
class Wanted:
    """The applications the managers want, and why the others are not there."""

    applications: list[DesiredApplication] = field(default_factory=list[DesiredApplication])
    problems: list[Problem] = field(default_factory=list[Problem])


def _name(remote: Remote) -> str:
    return remote.app_name or f"relation {remote.relation.id}"


def _secret(remote: Remote) -> str:
    return secret_unique_id(remote.data.api_key_secret_id) if remote.data else ""


def claims(
    provider: MediaIndexerProvider, own_secret_id: str, records: dict[int, ManagedRecord]
) -> tuple[list[Remote], list[Problem]]:
    """The requirers with valid data and a secret of their own; problems for the others."""

    def first_claim(remote: Remote) -> tuple[bool, int]:
        record = records.get(remote.relation.id)
        return (record is None or record.secret != _secret(remote), remote.relation.id)

    own = secret_unique_id(own_secret_id)
    claimed: dict[str, str] = {}
    valid: list[Remote] = []
    problems: list[Problem] = []
    for remote in sorted(provider.get_requirers(), key=first_claim):
        name, secret = _name(remote), _secret(remote)
        if remote.error:
            problems.append(Problem(remote.error, waiting=False))
        elif not secret:
            continue  # nothing published yet
        elif secret == own:
            message = f"{name}: publishes Prowlarr's own secret ID, not its own key"
            problems.append(Problem(message, waiting=False))
        elif secret in claimed:
            message = (
                f"{name}: publishes the key secret of {claimed[secret]}; each media manager "
                "must share a secret of its own"
            )
            problems.append(Problem(message, waiting=False))
        else:
            claimed[secret] = name
            valid.append(remote)
    return valid, problems


def wanted(
    provider: MediaIndexerProvider, context: Context, records: dict[int, ManagedRecord]
) -> Wanted:
    """Each valid, granted manager as the application it wants in Prowlarr."""
    valid, problems = claims(provider, context.own_secret_id, records)
    out = Wanted(problems=problems)
    for remote in valid:
        application = _application(provider, remote, context, out.problems)
        if application is not None:
            out.applications.append(application)
    return out


def _application(
    provider: MediaIndexerProvider, remote: Remote, context: Context, problems: list[Problem]
) -> DesiredApplication | None:
    data = remote.data
    assert data is not None  # noqa: S101 - claims keeps only valid data
    name = _name(remote)
    # The tracked revision: the library tracks the latest one each time secret-changed
    # announces it, even in a hook that ended before registration (Prowlarr down).
    # No refresh: on secret-changed the media-indexer library tracks the new revision itself,
    # so a plain read gets it, however many hooks later Prowlarr is back to apply it.
    result = provider.get_api_key(remote.relation, data.api_key_secret_id, refresh=False)
    if result.status is ApiKeyStatus.NOT_GRANTED:
        if _from_another_model(data.api_key_secret_id, context.model_uuid):
            message = (
                f"{name}: its key secret comes from another model; Juju cannot grant it across "
                "a cross-model relation"
            )
            problems.append(Problem(message, waiting=False))
        else:
            problems.append(Problem(f"waiting for {name} to grant its API key secret"))
        return None
    if result.api_key is None:
        problems.append(Problem(f"{name}: its secret holds no api-key", waiting=False))
        return None
    implementation, contract = IMPLEMENTATIONS[data.manager.value]
    return DesiredApplication(
        relation_id=remote.relation.id,
        remote_app=name,
        name=data.instance_name,
        implementation=implementation,
        config_contract=contract,
        prowlarr_url=context.prowlarr_url,
        base_url=data.api_url.rstrip("/") + (data.base_path or ""),
        sync_level=context.sync_level,
        api_key=result.api_key,
        secret=secret_unique_id(data.api_key_secret_id),
    )


def _from_another_model(secret_id: str, model_uuid: str) -> bool:
    """A secret URI naming another model's UUID comes over a cross-model relation."""
    prefix = "secret://"
    if not secret_id.startswith(prefix):
        return False
    return secret_id[len(prefix) :].split("/", 1)[0] != model_uuid


def refresh_events(on: ops.CharmEvents, provider: MediaIndexerProvider) -> list[ops.BoundEvent]:
    """The events after which the charm's reconcile must run for the media managers."""
    return [on[RELATION].relation_joined, provider.on.changed, provider.on.api_key_changed]


def publish(
    provider: MediaIndexerProvider,
    secret: ops.Secret,
    api_url: str,
    url_base: str,
    memory: Memory,
) -> None:
    """Grant the key's secret to each media manager and publish its ID, once per change."""
    published = memory.mapping(PUBLISHED)
    provider.publish(secret, api_url=api_url, base_path=url_base or None, published=published)
    memory.put_mapping(PUBLISHED, published)


def reconcile(hook: Hook, provider: MediaIndexerProvider) -> Report:
    """Register each related media manager as a Prowlarr application (registration.py)."""
    report = Report("applications")
    if not hook.memory.available:
        report.wait("waiting for the peer relation")
        report.summary = "0 applications synced"
        return report
    records = load_records(hook.memory.raw(APPLICATIONS))
    context = Context(
        own_secret_id=hook.own_secret_id,
        prowlarr_url=hook.prowlarr_url,
        sync_level=hook.config.sync_level.prowlarr,
        model_uuid=hook.model.uuid,
    )
    found = wanted(provider, context, records)
    report.add(*found.problems)
    live = {relation.id for relation in provider.relations}
    synced = sync_applications(
        hook.client, hook.facts.applications, found.applications, records, live
    )
    if synced.created or synced.updated or synced.deleted:
        logger.info(
            "Prowlarr applications: %d created, %d updated, %d deleted",
            synced.created,
            synced.updated,
            synced.deleted,
        )
    hook.memory.put_raw(APPLICATIONS, dump_records(synced.records) if synced.records else "")
    report.add(*(Problem(str(p), waiting=p.waiting) for p in synced.problems))
    noun = "application" if synced.synced == 1 else "applications"
    report.summary = f"{synced.synced} {noun} synced"
    report.state = (
        f"{synced.synced} registered in Prowlarr for {len(live)} media-indexer relation(s)"
    )
    return report
