# Copyright 2025 prowlarr-k8s contributors
# See LICENSE file for licensing details.

"""The `media-indexer` interface: Prowlarr on one side, the media managers on the other.

An indexer manager (Prowlarr) provides the endpoint; media managers (Radarr, Sonarr, Lidarr,
Readarr, Whisparr) require it. Each side shares its API key as a **Juju secret**: it grants
the secret to the relation and publishes only the secret's ID. The key itself never enters
relation data, logs, exception texts or reprs.

Fetch the library with `charmcraft fetch-libs` (or `charmcraft fetch-lib
charms.prowlarr_k8s.v0.media_indexer`) and add `pydantic>=2,<3` to the charm's dependencies.

Wire format: each application writes its own application databag, one key `config` whose
value is a JSON object.

- Provider: `api_url` (where media managers reach Prowlarr, without the base path),
  `api_key_secret_id` (the full secret URI), `indexer` (`"prowlarr"`), `base_path` (e.g.
  `"/prowlarr"`, or null).
- Requirer: `api_url`, `api_key_secret_id`, `manager` (`radarr`, `sonarr`, `lidarr`,
  `readarr`, `whisparr`), `instance_name` (the name of the application in Prowlarr),
  `base_path`. The older form with `app_type` instead of `manager` (plus `media_type`) is
  still read; it is never written.
- The secret holds one key, `api-key`. Unknown JSON fields are ignored.

Invalid remote data never raises: readers return a `RemoteData` per relation whose `error`
explains what is wrong (without echoing the values), and log it at warning level.

Provider side (Prowlarr):

```python
from charms.prowlarr_k8s.v0.media_indexer import MediaIndexerProvider

class ProwlarrCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.media_indexer = MediaIndexerProvider(self)
        framework.observe(self.on["media-indexer"].relation_joined, self._reconcile)
        framework.observe(self.media_indexer.on.changed, self._reconcile)
        framework.observe(self.media_indexer.on.api_key_changed, self._reconcile)

    def _reconcile(self, _: ops.EventBase):
        if self.unit.is_leader():
            try:
                secret = self.model.get_secret(label="prowlarr-api-key")
            except ops.SecretNotFoundError:
                secret = self.app.add_secret({"api-key": new_key()}, label="prowlarr-api-key")
            self.media_indexer.publish(secret, api_url="http://prowlarr.media.svc:9696")
        for remote in self.media_indexer.get_requirers():
            if remote.data is None:
                continue  # nothing published yet, or remote.error says what is wrong
            result = self.media_indexer.get_api_key(remote.relation, remote.data.api_key_secret_id)
            if result.available:
                register(remote.data, result.api_key)  # result.status tells why not, otherwise
```

Requirer side (e.g. Radarr):

```python
from charms.prowlarr_k8s.v0.media_indexer import MediaIndexerRequirer

class RadarrCharm(ops.CharmBase):
    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.indexer = MediaIndexerRequirer(self)
        framework.observe(self.on["media-indexer"].relation_joined, self._publish)
        framework.observe(self.indexer.on.changed, self._on_indexer)
        framework.observe(self.indexer.on.api_key_changed, self._on_indexer)  # key rotated

    def _publish(self, _: ops.EventBase):
        if self.unit.is_leader():  # our own key, in a secret this charm created earlier
            secret = self.model.get_secret(label="radarr-api-key")
            self.indexer.publish(secret, api_url="http://radarr.media.svc:7878",
                                 manager="radarr", instance_name=self.app.name)

    def _on_indexer(self, _: ops.EventBase):
        provider = self.indexer.get_provider_data()
        if provider is None or provider.data is None:
            return  # no relation, nothing published yet, or provider.error says what is wrong
        # get_api_key reads with refresh=True by default: after a rotation it gets the new key
        result = self.indexer.get_api_key(provider.relation, provider.data.api_key_secret_id)
        if result.available:
            use_indexer(provider.data.api_url, provider.data.base_path, result.api_key)
```

Both halves read the other side's secret by its ID, without a consumer label: Juju keeps a
unit's consumer labels unique, so a fixed label per relation would stop working the day the
other side switches to a new secret. `secret-changed` is routed to the relation whose published
secret ID is the one that changed. Secrets can only be shared both ways within one model (Juju
cannot grant a consumer's secret over a cross-model relation). The library never sets a status.

A charm that keeps state between hooks can pass `publish(..., published=...)` a mapping it
persists (e.g. in a peer databag): relations it lists with the same data are neither granted nor
read again, so a steady hook costs no hook tool per relation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar, cast
from urllib.parse import urlsplit

import ops
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

# The unique Charmhub library identifier, never change it
LIBID = "ae5108fbeecd4a40a6bd4bcd5367a318"

# Increment this major API version when introducing breaking changes
LIBAPI = 0

# Increment this PATCH version before using `charmcraft publish-lib` or reset
# to 0 if you are raising the major API version
LIBPATCH = 3

PYDEPS = ["pydantic>=2,<3"]

DEFAULT_RELATION_NAME = "media-indexer"
INTERFACE_NAME = "media-indexer"
DATABAG_KEY = "config"
SECRET_CONTENT_KEY = "api-key"  # noqa: S105 - the name of a field, not a credential

_LABEL_PREFIX = "media-indexer-"
_INSTANCE_NAME_MAX = 64
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

logger = logging.getLogger(__name__)


def consumer_label(relation_id: int) -> str:
    """Return the consumer label LIBPATCH 1 put on the other side's secret (no longer set).

    Args:
        relation_id: ID of the `media-indexer` relation the secret ID was published on.

    Returns:
        `media-indexer-<relation_id>`.
    """
    return f"{_LABEL_PREFIX}{relation_id}"


def secret_unique_id(secret_id: str) -> str:
    """The part of a secret ID that names the secret, whichever form the ID has.

    `secret://<model-uuid>/<id>`, `secret:<id>` and `<id>` name the same secret.
    """
    value = secret_id.strip()
    if value.startswith("secret://"):
        value = value[len("secret://") :].split("/", 1)[-1]
    elif value.startswith("secret:"):
        value = value[len("secret:") :]
    return value


_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WHITESPACE = re.compile(r"\s")


def _has_control_chars(value: str) -> bool:
    if value.isascii():  # the usual case, checked at C speed: ASCII's only such are Cc
        return _ASCII_CONTROL.search(value) is not None
    return any(unicodedata.category(char) in _FORBIDDEN_CATEGORIES for char in value)


def _has_whitespace(value: str) -> bool:
    return _WHITESPACE.search(value) is not None


class IndexerKind(str, Enum):
    """The indexer manager behind the provider side."""

    PROWLARR = "prowlarr"


class MediaManager(str, Enum):
    """The media manager behind the requirer side."""

    RADARR = "radarr"
    SONARR = "sonarr"
    LIDARR = "lidarr"
    READARR = "readarr"
    WHISPARR = "whisparr"


def _check_api_url(value: str) -> str:
    """Validate an http(s) URL with a host and no path; return it without a trailing slash."""
    if _has_control_chars(value) or _has_whitespace(value):
        raise ValueError("URL must not contain whitespace or control characters")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        raise ValueError("not a valid URL") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("URL must use http or https")
    if not parts.hostname:
        raise ValueError("URL must include a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("URL must not contain credentials")
    if parts.path not in ("", "/"):
        raise ValueError("URL must not contain a path; publish it as base_path")
    if parts.query or parts.fragment:
        raise ValueError("URL must not contain a query or a fragment")
    return value.rstrip("/")


def _check_secret_id(value: str) -> str:
    """Accept any ID that names a secret (not a bare `secret:`); its format varies by Juju."""
    if not value.strip():
        raise ValueError("secret ID must not be empty")
    if _has_control_chars(value):
        raise ValueError("secret ID must not contain control characters")
    if not secret_unique_id(value):
        raise ValueError("secret ID names no secret")
    return value


def _normalise_base_path(value: str | None) -> str | None:
    """Return `/path` (as Prowlarr normalises a URL base), or None for an empty path."""
    if value is None:
        return None
    if _has_control_chars(value) or _has_whitespace(value):
        raise ValueError("base path must not contain whitespace or control characters")
    if "?" in value or "#" in value or "://" in value:
        raise ValueError("base path must be a plain path such as /prowlarr")
    stripped = value.strip("/")
    return f"/{stripped}" if stripped else None


class _Databag(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class MediaIndexerProviderData(_Databag):
    """What the indexer manager (Prowlarr) publishes under the `config` key."""

    api_url: str = Field(
        description="http(s) URL where media managers reach the indexer manager, without the "
        "base path, e.g. http://prowlarr.media.svc.cluster.local:9696",
    )
    api_key_secret_id: str = Field(
        description="Full URI of the Juju secret holding the indexer manager's API key under "
        "`api-key`, granted to this relation",
    )
    indexer: IndexerKind = Field(
        default=IndexerKind.PROWLARR, description="Which indexer manager this is"
    )
    base_path: str | None = Field(
        default=None, description="URL base of the indexer manager, e.g. /prowlarr, or null"
    )

    _check_url = field_validator("api_url")(_check_api_url)
    _check_id = field_validator("api_key_secret_id")(_check_secret_id)
    _check_base = field_validator("base_path")(_normalise_base_path)


class MediaIndexerRequirerData(_Databag):
    """What a media manager publishes under the `config` key.

    The older form with `app_type` instead of `manager` (and a `media_type`) is accepted on
    input; serialisation always uses `manager`.
    """

    api_url: str = Field(
        description="http(s) URL where the indexer manager reaches this media manager, "
        "without the base path, e.g. http://radarr.media.svc.cluster.local:7878",
    )
    api_key_secret_id: str = Field(
        description="Full URI of the Juju secret holding the media manager's API key under "
        "`api-key`, granted to this relation",
    )
    manager: MediaManager = Field(description="Which media manager this is")
    instance_name: str = Field(
        min_length=1,
        max_length=_INSTANCE_NAME_MAX,
        description="Name of this instance (becomes the application name in Prowlarr), "
        "1 to 64 characters without control characters",
    )
    base_path: str | None = Field(
        default=None, description="URL base of the media manager, e.g. /radarr, or null"
    )

    @model_validator(mode="before")
    @classmethod
    def _accept_old_form(cls, data: Any) -> Any:
        """Map the older `app_type` field to `manager`; `media_type` is simply ignored."""
        if isinstance(data, dict):
            raw = cast("dict[str, object]", data)
            if "manager" not in raw and "app_type" in raw:
                return {**raw, "manager": raw["app_type"]}
        return cast("object", data)

    @field_validator("instance_name")
    @classmethod
    def _check_instance_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("instance name must not be blank")
        if _has_control_chars(value):
            raise ValueError("instance name must not contain control characters")
        return value

    _check_url = field_validator("api_url")(_check_api_url)
    _check_id = field_validator("api_key_secret_id")(_check_secret_id)
    _check_base = field_validator("base_path")(_normalise_base_path)


class ApiKeySecretContent(BaseModel):
    """The content of an API key secret: `{"api-key": <key>}`."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    api_key: str = Field(
        alias=SECRET_CONTENT_KEY,
        min_length=1,
        repr=False,
        description="The API key (a secret: never log it)",
    )

    def to_content(self) -> dict[str, str]:
        """Return the content to pass to `add_secret` or `set_content`."""
        return {SECRET_CONTENT_KEY: self.api_key}

    @classmethod
    def from_content(cls, content: dict[str, str]) -> ApiKeySecretContent:
        """Build from a secret's content.

        Raises:
            ValueError: when `api-key` is missing or blank (the message never holds the key).
        """
        value = content.get(SECRET_CONTENT_KEY)
        if value is None:
            raise ValueError(f"secret content has no {SECRET_CONTENT_KEY!r} field")
        if not isinstance(value, str) or not value.strip():  # pyright: ignore[reportUnnecessaryIsInstance]
            raise ValueError(f"secret field {SECRET_CONTENT_KEY!r} is empty")
        return cls.model_validate({SECRET_CONTENT_KEY: value})


class ApiKeyStatus(str, Enum):
    """Outcome of resolving the other side's API key."""

    AVAILABLE = "available"
    NOT_GRANTED = "not-granted"
    """Not granted (yet), or the secret does not exist (any more)."""
    NO_API_KEY = "no-api-key"
    """The secret was read but has no (or an empty) `api-key`."""


@dataclass(frozen=True)
class ApiKeyResult:
    """The API key of the other side, or why it is not available.

    Attributes:
        status: whether the key is available.
        api_key: the key when available (left out of the repr).
        detail: a human-readable reason when not available; never contains the key.
    """

    status: ApiKeyStatus
    api_key: str | None = field(default=None, repr=False)
    detail: str = ""

    @property
    def available(self) -> bool:
        """Whether `api_key` holds a key."""
        return self.status is ApiKeyStatus.AVAILABLE and bool(self.api_key)


DataT = TypeVar("DataT", MediaIndexerProviderData, MediaIndexerRequirerData)


@dataclass(frozen=True)
class RemoteData(Generic[DataT]):
    """What the other side of one relation published.

    `data` and `error` are both None when nothing has been published yet; `error` is set (and
    `data` None) when the published data is invalid.

    Attributes:
        relation: the relation.
        app_name: the remote application, when known.
        data: the validated data, or None.
        error: why the data is invalid, or None. Never echoes the published values.
    """

    relation: ops.Relation
    app_name: str | None
    data: DataT | None
    error: str | None

    @property
    def ok(self) -> bool:
        """Whether valid data is available."""
        return self.data is not None


class MediaIndexerChangedEvent(ops.RelationEvent):
    """The relation changed or was broken; read the remote data again."""


class ApiKeyChangedEvent(ops.EventBase):
    """The other side's API key secret got a new revision (`secret-changed`).

    Call `get_api_key` again: it reads the latest revision with `refresh=True`.

    Attributes:
        relation_id: the `media-indexer` relation whose secret changed. The relation may be
            gone already, so look it up with `model.get_relation(endpoint, relation_id)`.
    """

    def __init__(self, handle: ops.Handle, relation_id: int):
        super().__init__(handle)
        self.relation_id = relation_id

    def snapshot(self) -> dict[str, Any]:
        """Serialise the event (used by the framework when it is deferred)."""
        return {"relation_id": self.relation_id}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Restore a deferred event (used by the framework)."""
        self.relation_id = int(snapshot["relation_id"])


class _MediaIndexerEvents(ops.ObjectEvents):
    changed = ops.EventSource(MediaIndexerChangedEvent)
    api_key_changed = ops.EventSource(ApiKeyChangedEvent)


class MediaIndexerProviderEvents(_MediaIndexerEvents):
    """Events of `MediaIndexerProvider`: `changed` and `api_key_changed`."""


class MediaIndexerRequirerEvents(_MediaIndexerEvents):
    """Events of `MediaIndexerRequirer`: `changed` and `api_key_changed`."""


def _describe_errors(error: ValidationError) -> str:
    """Summarise a ValidationError from `loc` and `msg` only (never the input values)."""
    parts: list[str] = []
    for item in error.errors(include_url=False, include_input=False):
        msg = item["msg"]
        if item["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        loc = ".".join(str(part) for part in item["loc"])
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)


class _MediaIndexerEndpoint(ops.Object):
    """Logic shared by both halves."""

    on: _MediaIndexerEvents  # set by each half
    _role: ops.RelationRole

    def __init__(self, charm: ops.CharmBase, relation_name: str):
        _check_endpoint(charm, relation_name, self._role)
        super().__init__(charm, relation_name)
        self._charm = charm
        self._relation_name = relation_name
        events = charm.on[relation_name]
        self.framework.observe(events.relation_changed, self._on_relation_event)
        self.framework.observe(events.relation_broken, self._on_relation_event)
        self.framework.observe(charm.on.secret_changed, self._on_secret_changed)

    @property
    def relations(self) -> list[ops.Relation]:
        """The active relations of this endpoint."""
        return list(self.model.relations[self._relation_name])

    def get_api_key(
        self, relation: ops.Relation, secret_id: str, *, refresh: bool = True
    ) -> ApiKeyResult:
        """Read the other side's API key through the secret it granted to `relation`.

        The secret is read by ID. With `refresh` (the default) the latest revision is read and
        tracked; without it, the revision this unit tracks, one hook tool call cheaper. When
        `secret-changed` announces a new revision, this library moves the tracking to it before
        emitting `api_key_changed`, whether or not the charm can use the key in that hook: so
        the tracked revision is the latest announced one, and a charm may always read without
        refresh, including hooks later (Juju sends `secret-changed` once per revision).
        Never raises for a missing grant, never logs the key.

        Args:
            relation: the relation the secret ID was published on.
            secret_id: the `api_key_secret_id` the other side published.
            refresh: read the latest revision and track it.

        Returns:
            The key, or NOT_GRANTED / NO_API_KEY with a reason.
        """
        if not secret_id.strip():
            return ApiKeyResult(ApiKeyStatus.NOT_GRANTED, detail="no secret ID published")
        try:
            secret = self.model.get_secret(id=secret_id)
            content = secret.get_content(refresh=True) if refresh else secret.get_content()
        except ops.SecretNotFoundError:
            return ApiKeyResult(
                ApiKeyStatus.NOT_GRANTED,
                detail="secret not found: not granted yet, or removed",
            )
        except ops.ModelError:
            return ApiKeyResult(
                ApiKeyStatus.NOT_GRANTED,
                detail="secret cannot be read: not granted yet",
            )
        try:
            parsed = ApiKeySecretContent.from_content(content)
        except ValueError as e:
            logger.warning("API key secret of relation %d is unusable: %s", relation.id, e)
            return ApiKeyResult(ApiKeyStatus.NO_API_KEY, detail=str(e))
        return ApiKeyResult(ApiKeyStatus.AVAILABLE, api_key=parsed.api_key)

    def _publish(
        self,
        secret: ops.Secret,
        build: Callable[[str], BaseModel],
        published: MutableMapping[str, str] | None,
    ) -> int:
        if not self.model.unit.is_leader():
            logger.debug("Not the leader: not publishing media-indexer data")
            return 0
        secret_id = secret.id or secret.get_info().id
        try:
            payload = build(secret_id).model_dump(mode="json")
        except ValidationError as e:
            raise ValueError(f"invalid media-indexer data: {_describe_errors(e)}") from None
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
        written = 0
        live: set[str] = set()
        for relation in self.relations:
            key = str(relation.id)
            live.add(key)
            if published is not None and published.get(key) == digest:
                continue  # granted and written before, with this very data
            secret.grant(relation)
            databag = relation.data[self.model.app]
            if _loads(databag.get(DATABAG_KEY)) != payload:
                databag[DATABAG_KEY] = json.dumps(payload)
                written += 1
                logger.debug("Published media-indexer data on relation %d", relation.id)
            if published is not None:
                published[key] = digest
        if published is not None:
            for key in set(published) - live:
                del published[key]  # Juju removed the grant with the relation
        return written

    def _read(self, relation: ops.Relation, model: type[DataT]) -> RemoteData[DataT]:
        # ops types `app` as always set, but it can be None in rare cases (LP 1960934)
        app = cast("ops.Application | None", relation.app)
        if app is None:
            return RemoteData(relation, None, None, None)
        try:
            raw = relation.data[app].get(DATABAG_KEY)
            if not raw:
                return RemoteData(relation, app.name, None, None)
            data = _parse(raw, model)
        except ops.ModelError:
            return self._invalid(relation, app.name, "relation data cannot be read")
        except _InvalidDataError as e:
            return self._invalid(relation, app.name, str(e))
        return RemoteData(relation, app.name, data, None)

    def _invalid(self, relation: ops.Relation, app_name: str, reason: str) -> RemoteData[Any]:
        error = f"invalid {INTERFACE_NAME} data from {app_name}: {reason}"
        logger.warning("Relation %s:%d: %s", self._relation_name, relation.id, error)
        return RemoteData(relation, app_name, None, error)

    def _remote_secret_id(self, relation: ops.Relation) -> str | None:
        """The secret ID the other side published on `relation`, if it is readable."""
        app = cast("ops.Application | None", relation.app)
        if app is None:
            return None
        try:
            raw = relation.data[app].get(DATABAG_KEY)
        except ops.ModelError:
            return None
        decoded = _loads(raw)
        if not isinstance(decoded, dict):
            return None
        value = cast("dict[str, object]", decoded).get("api_key_secret_id")
        return value if isinstance(value, str) else None

    def _on_relation_event(self, event: ops.RelationEvent) -> None:
        self.on.changed.emit(event.relation, app=event.app, unit=event.unit)

    def _on_secret_changed(self, event: ops.SecretChangedEvent) -> None:
        changed = event.secret.id
        if not changed:
            return
        relations = [
            relation.id
            for relation in self.relations
            if (published := self._remote_secret_id(relation))
            and secret_unique_id(published) == secret_unique_id(changed)
        ]
        if not relations:
            return
        # Juju announces a revision once: track it now, so a charm that cannot use the key in
        # this hook (its workload down) still reads this revision in later hooks.
        try:
            event.secret.get_content(refresh=True)
        except ops.ModelError as e:  # not granted (any more), or removed: nothing to follow
            logger.debug("Cannot read the changed secret of relation(s) %s: %s", relations, e)
        for relation_id in relations:
            self.on.api_key_changed.emit(relation_id)


class _InvalidDataError(Exception):
    """Remote data that does not validate; the message never holds the values."""


def _parse(raw: str, model: type[DataT]) -> DataT:
    """Parse the JSON of a `config` key into `model`.

    Raises:
        _InvalidDataError: with a reason built from field names and messages only.
    """
    try:
        decoded: object = json.loads(raw)
    except (ValueError, RecursionError):
        raise _InvalidDataError(f"{DATABAG_KEY!r} is not valid JSON") from None
    if not isinstance(decoded, dict):
        raise _InvalidDataError(f"{DATABAG_KEY!r} is not a JSON object")
    try:
        return model.model_validate(decoded)
    except ValidationError as e:
        raise _InvalidDataError(_describe_errors(e)) from None
    except RecursionError:
        raise _InvalidDataError(f"{DATABAG_KEY!r} is nested too deeply") from None


def _loads(raw: str | None) -> object:
    if not raw:
        return None
    try:
        return cast("object", json.loads(raw))
    except (ValueError, RecursionError):
        return None


def _check_endpoint(charm: ops.CharmBase, relation_name: str, role: ops.RelationRole) -> None:
    """Raise ValueError unless the endpoint is declared with our interface and `role`."""
    meta = charm.meta.relations.get(relation_name)
    if meta is None:
        raise ValueError(f"endpoint {relation_name!r} is not declared in the charm's metadata")
    if meta.interface_name != INTERFACE_NAME:
        raise ValueError(
            f"endpoint {relation_name!r} has interface {meta.interface_name!r}, "
            f"expected {INTERFACE_NAME!r}"
        )
    if meta.role != role:
        sections = {ops.RelationRole.peer: "peers"}
        raise ValueError(
            f"endpoint {relation_name!r} is declared under "
            f"{sections.get(meta.role, meta.role.value)!r}, expected {role.value!r}"
        )


class MediaIndexerProvider(_MediaIndexerEndpoint):
    """The indexer manager's (Prowlarr's) half.

    Emits `on.changed` (relation changed or broken) and `on.api_key_changed` (a media
    manager's key secret has a new revision).

    Raises:
        ValueError: at construction, when the endpoint is not declared under `provides` with
            interface `media-indexer`.
    """

    on = MediaIndexerProviderEvents()
    _role = ops.RelationRole.provides

    def __init__(self, charm: ops.CharmBase, relation_name: str = DEFAULT_RELATION_NAME):
        super().__init__(charm, relation_name)

    def publish(
        self,
        secret: ops.Secret,
        *,
        api_url: str,
        base_path: str | None = None,
        published: MutableMapping[str, str] | None = None,
    ) -> int:
        """Grant `secret` to every relation and publish its ID with the other fields.

        Does nothing on a non-leader. Writes a databag only when its JSON differs.

        Args:
            secret: the app-owned secret holding Prowlarr's key under `api-key`.
            api_url: http(s) URL where media managers reach Prowlarr, without the base path.
            base_path: Prowlarr's URL base, e.g. `/prowlarr`, or None.
            published: relation ID (as a string) → digest of the data last published there;
                relations listed with the current digest are skipped (no grant, no read).
                Updated in place; persist it between hooks. None: check every relation.

        Returns:
            How many databags were written.

        Raises:
            ValueError: when the arguments do not make valid provider data.
        """
        return self._publish(
            secret,
            lambda secret_id: MediaIndexerProviderData(
                api_url=api_url, api_key_secret_id=secret_id, base_path=base_path
            ),
            published,
        )

    def get_requirer_data(self, relation: ops.Relation) -> RemoteData[MediaIndexerRequirerData]:
        """Return what the media manager on `relation` published (never raises)."""
        return self._read(relation, MediaIndexerRequirerData)

    def get_requirers(self) -> list[RemoteData[MediaIndexerRequirerData]]:
        """Return one `RemoteData` per relation (never raises)."""
        return [self.get_requirer_data(relation) for relation in self.relations]


class MediaIndexerRequirer(_MediaIndexerEndpoint):
    """A media manager's half.

    Emits `on.changed` (relation changed or broken) and `on.api_key_changed` (Prowlarr's key
    secret has a new revision).

    Raises:
        ValueError: at construction, when the endpoint is not declared under `requires` with
            interface `media-indexer`.
    """

    on = MediaIndexerRequirerEvents()
    _role = ops.RelationRole.requires

    def __init__(self, charm: ops.CharmBase, relation_name: str = DEFAULT_RELATION_NAME):
        super().__init__(charm, relation_name)

    def publish(
        self,
        secret: ops.Secret,
        *,
        api_url: str,
        manager: MediaManager | str,
        instance_name: str,
        base_path: str | None = None,
        published: MutableMapping[str, str] | None = None,
    ) -> int:
        """Grant `secret` to every relation and publish its ID with the other fields.

        Does nothing on a non-leader. Writes a databag only when its JSON differs.

        Args:
            secret: the app-owned secret holding this media manager's key under `api-key`.
            api_url: http(s) URL where Prowlarr reaches this media manager, without base path.
            manager: which media manager this is.
            instance_name: the application name to use in Prowlarr (1 to 64 characters).
            base_path: the media manager's URL base, e.g. `/radarr`, or None.
            published: as for `MediaIndexerProvider.publish`.

        Returns:
            How many databags were written.

        Raises:
            ValueError: when the arguments do not make valid requirer data.
        """
        return self._publish(
            secret,
            lambda secret_id: MediaIndexerRequirerData.model_validate(
                {
                    "api_url": api_url,
                    "api_key_secret_id": secret_id,
                    "manager": manager,
                    "instance_name": instance_name,
                    "base_path": base_path,
                }
            ),
            published,
        )

    def get_provider_data(
        self, relation: ops.Relation | None = None
    ) -> RemoteData[MediaIndexerProviderData] | None:
        """Return what Prowlarr published (never raises).

        Args:
            relation: the relation to read; by default the endpoint's first relation.

        Returns:
            The data or the reason it is invalid; None when there is no relation.
        """
        if relation is None:
            relations = self.relations
            if not relations:
                return None
            relation = min(relations, key=lambda r: r.id)
        return self._read(relation, MediaIndexerProviderData)

    def get_providers(self) -> list[RemoteData[MediaIndexerProviderData]]:
        """Return one `RemoteData` per relation (never raises)."""
        return [self._read(relation, MediaIndexerProviderData) for relation in self.relations]
