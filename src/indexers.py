"""Indexers as code: the `indexers` option made into Prowlarr indexers, credentials from secrets.

Each entry of the option (YAML, keyed by the indexer's name in Prowlarr) names a definition, the
values to hold (enable, priority, sync profile, tags, fields) and, for tracker credentials, a
user secret whose keys map to fields. The charm keeps a ledger in the peer databag (name ->
Prowlarr id, definition, a fingerprint of the declaration, a salted hash of the secret values
applied): only indexers in the ledger are ever changed, and only ones the charm created are
deleted. An indexer of the same name and definition that exists already is adopted (and left
as it is when its entry goes); indexers added by hand are never touched.

Drift: a steady hook makes one GET of the indexers and compares what each entry declares. Secret
fields are never compared with what the GET shows (Prowlarr masks native secrets and returns
Cardigann ones in clear): the ledger's hash decides, and new credentials are PUT without
`forceSave`, so Prowlarr tests them. The schema (megabytes) is fetched only when something must
be created, once per hook.

Every GET body of an indexer is secret material, and so is every value read from a secret: none
of it is logged or put in a status, an exception, an action result or a databag.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, cast

import ops
import yaml
from charms.prowlarr_k8s.v0.media_indexer import secret_unique_id
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

import flaresolverr
import tags as tag_labels
from capability import ActionError, Hook, Report
from memory import INDEXERS, Memory
from problem import Problem
from prowlarr import (
    AppProfile,
    Indexer,
    IndexerField,
    ProwlarrClient,
    ProwlarrConnectionError,
    ProwlarrError,
    ProwlarrValidationError,
)

logger = logging.getLogger(__name__)

OPTION = "indexers"
CAPABILITY = "indexers"
# Native implementations whose schema entries are presets: a declared definition names the preset.
PRESET_IMPLEMENTATIONS = frozenset({"Newznab", "Torznab"})
SECRET_KEY = re.compile(r"^[a-z](-?[a-z0-9]){2,}$")  # Juju's rule for secret keys
DEFAULT_SECRET_FIELDS = {"api-key": "apiKey"}  # a secret key -> field when the names differ
CREDENTIAL_NAMES = frozenset(
    {"username", "password", "cookie", "passkey", "apikey", "pid", "rsskey", "2facode", "token"}
)
CREDENTIAL_PRIVACY = frozenset({"password", "apiKey", "userName"})
_HASH_ROUNDS = 20_000
_MAX_MESSAGE = 160

FieldValue = StrictBool | StrictInt | StrictFloat | str | list[StrictInt | str]


# --------------------------------------------------------------------------- the option


class IndexerEntry(BaseModel):
    """One entry of the `indexers` option; unknown keys are an error (add new ones here)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    definition: Annotated[str, Field(min_length=1)]
    enable: StrictBool = True
    priority: Annotated[StrictInt, Field(ge=1, le=50)] = 25
    app_profile: Annotated[str, Field(alias="app-profile", min_length=1)] = "Standard"
    tags: tuple[str, ...] = ()
    flaresolverr: StrictBool = False  # add the `flaresolverr-tag` tag: go through FlareSolverr
    fields: dict[str, FieldValue] = Field(default_factory=dict[str, FieldValue])
    secret: str = ""
    secret_fields: Annotated[dict[str, str] | None, Field(alias="secret-fields")] = None

    @field_validator("tags")
    @classmethod
    def _lower_case_labels(cls, labels: tuple[str, ...]) -> tuple[str, ...]:
        tag_labels.check_labels(labels)
        return labels

    @field_validator("secret_fields")
    @classmethod
    def _juju_keys(cls, mapping: dict[str, str] | None) -> dict[str, str] | None:
        bad = sorted(key for key in mapping or {} if not SECRET_KEY.fullmatch(key))
        if bad:
            raise ValueError(
                f"secret keys must be lower case, 3+ characters, no '_' ({', '.join(bad)})"
            )
        return mapping

    @model_validator(mode="after")
    def _secret_consistent(self) -> IndexerEntry:
        if self.secret_fields is not None and not self.secret:
            raise ValueError("secret-fields needs a secret")
        both = sorted(set(self.fields) & set((self.secret_fields or {}).values()))
        if both:
            raise ValueError(f"fields in both fields and secret-fields: {', '.join(both)}")
        return self

    @property
    def manages_tags(self) -> bool:
        """Whether the entry declares its tags (else the tags set in the UI are kept)."""
        return "tags" in self.model_fields_set

    def fingerprint(self) -> str:
        """A digest of the declared values (secret values never enter it)."""
        data = self.model_dump(mode="json", by_alias=True)
        data["manages-tags"] = self.manages_tags
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def secret_source(self) -> str:
        """Which secret and which key mapping the credentials come from ("" without a secret)."""
        if not self.secret:
            return ""
        mapping = json.dumps(self.secret_fields, sort_keys=True)
        digest = hashlib.sha256(mapping.encode()).hexdigest()[:16]
        return f"{secret_unique_id(self.secret)}:{digest}"


@dataclass
class Declared:
    """The `indexers` option, parsed: valid entries, the names of invalid ones, the problems."""

    entries: dict[str, IndexerEntry] = field(default_factory=dict[str, IndexerEntry])
    invalid: set[str] = field(default_factory=set[str])
    problems: list[Problem] = field(default_factory=list[Problem])
    unreadable: bool = False  # the option as a whole cannot be read: touch nothing


def _describe(error: ValidationError) -> str:
    """The first error by key and message (never the input value), and how many more."""
    items = error.errors()
    first = items[0]
    where = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        text = f"unknown key {where!r}"
    elif where == "priority" and first["type"] in ("greater_than_equal", "less_than_equal"):
        text = "priority must be 1-50"
    else:
        message = first["msg"].removeprefix("Value error, ")
        text = f"{where}: {message}" if where else message
    return text + (f" (+{len(items) - 1} more)" if len(items) > 1 else "")


def parse_option(raw: object, flaresolverr_tag: str = flaresolverr.DEFAULT_TAG) -> Declared:
    """Parse the option's YAML; each invalid entry is reported by name, the others kept.

    An entry with `flaresolverr: true` carries `flaresolverr_tag` among its tags (and so its
    tags are managed).
    """
    out = Declared()
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return out
    try:
        data: object = yaml.safe_load(raw) if isinstance(raw, str) else raw
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        out.problems.append(Problem(f"indexers: not valid YAML{line}", waiting=False))
        out.unreadable = True
        return out
    if data is None:
        return out
    if not isinstance(data, dict):
        message = "indexers: must be a mapping of indexer names to their settings"
        out.problems.append(Problem(message, waiting=False))
        out.unreadable = True
        return out
    seen: dict[str, str] = {}
    for key, value in cast("dict[object, object]", data).items():
        name = str(key).strip()
        if not isinstance(key, str) or not name:
            out.problems.append(Problem(f"indexers: {key!r} is not a name", waiting=False))
            continue
        if name.casefold() in seen:
            message = f"indexers: {name}: same name as {seen[name.casefold()]} (names ignore case)"
            out.problems.append(Problem(message, waiting=False))
            out.invalid.add(name)
            continue
        seen[name.casefold()] = name
        try:
            entry = IndexerEntry.model_validate(value if value is not None else {})
        except ValidationError as e:
            out.problems.append(Problem(f"indexers: {name}: {_describe(e)}", waiting=False))
            out.invalid.add(name)
            continue
        if entry.flaresolverr:
            tags = tuple(dict.fromkeys((*entry.tags, flaresolverr_tag)))
            entry = entry.model_copy(update={"tags": tags})
        out.entries[name] = entry
    return out


# --------------------------------------------------------------------------- the ledger


class IndexerRecord(BaseModel):
    """An indexer the charm created or adopted, as kept in the peer databag (no secret)."""

    model_config = ConfigDict(frozen=True)

    id: int
    definition: str  # as declared
    definition_name: str  # as Prowlarr reports it ("Newznab" for a Newznab preset)
    created: bool  # the charm created it: deleted when its entry goes (adopted: released)
    fingerprint: str = ""  # IndexerEntry.fingerprint() applied
    secret: str = ""  # IndexerEntry.secret_source() applied
    secret_hash: str = ""  # salted hash of the secret values applied; "" = apply again
    tag_ids: tuple[int, ...] = ()
    app_profile_id: int = 0


def load_ledger(raw: str) -> dict[str, IndexerRecord]:
    """The ledger from the databag; unreadable data counts as empty."""
    if not raw:
        return {}
    try:
        items = cast("dict[str, object]", json.loads(raw))
        return {name: IndexerRecord.model_validate(item) for name, item in items.items()}
    except (ValueError, TypeError, AttributeError, ValidationError):
        logger.warning("ignoring unreadable indexer records in the peer databag")
        return {}


def dump_ledger(records: Mapping[str, IndexerRecord]) -> str:
    """The ledger as deterministic JSON ("" when empty, so the key goes)."""
    if not records:
        return ""
    data = {name: records[name].model_dump() for name in sorted(records)}
    return json.dumps(data, separators=(",", ":"))


def secret_hash(name: str, source: str, values: Mapping[str, str]) -> str:
    """A salted, slow hash of the secret values of one indexer (safe in a databag)."""
    text = json.dumps(dict(sorted(values.items()))).encode()
    salt = f"prowlarr-k8s:indexer:{name}:{source}".encode()
    return hashlib.pbkdf2_hmac("sha256", text, salt, _HASH_ROUNDS).hex()


# --------------------------------------------------------------------------- helpers


class EntryError(Exception):
    """Why one entry cannot be applied; the message names the entry, never a value."""

    def __init__(self, message: str, *, waiting: bool = False) -> None:
        super().__init__(message)
        self.waiting = waiting


def definition_key(template: Indexer) -> str:
    """What an entry's `definition` names: a preset's name, else the definition name."""
    if template.implementation in PRESET_IMPLEMENTATIONS or not template.definition_name:
        return template.name or ""
    return template.definition_name


def find_template(schema: Iterable[Indexer], definition: str) -> Indexer | None:
    """The schema entry a declared definition names (definition name first, then name)."""
    wanted = definition.casefold()
    entries = list(schema)
    for template in entries:
        if definition_key(template).casefold() == wanted:
            return template
    return next((t for t in entries if (t.name or "").casefold() == wanted), None)


def is_credential(spec: IndexerField) -> bool:
    """Whether a field holds a credential: it belongs in the secret, not in `fields`."""
    return (
        (spec.privacy or "") in CREDENTIAL_PRIVACY
        or spec.type == "password"
        or spec.name.lower() in CREDENTIAL_NAMES
    )


def secret_key_for(field_name: str) -> str:
    """A Juju secret key for a field name: kebab case (apiKey -> api-key)."""
    key = re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", field_name).lower()
    key = re.sub(r"[^a-z0-9-]+", "-", key).strip("-")
    return key if SECRET_KEY.fullmatch(key) else f"field-{key}".strip("-")


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for value in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(value, "***")
    return text


def _message(error: ProwlarrError, secrets: Iterable[str]) -> str:
    """Prowlarr's message, without any secret value, on one short line."""
    if isinstance(error, ProwlarrValidationError) and error.failures:
        text = "; ".join(f.error_message for f in error.failures if f.error_message)
    else:
        text = str(error)
    line = " ".join(_scrub(text, secrets).split())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 1] + "…"


def credential_values(indexer: Indexer) -> list[str]:
    """The values of an indexer's credential fields (to scrub them from Prowlarr's messages)."""
    return [f.value for f in indexer.fields if is_credential(f) and isinstance(f.value, str)]


def _resolve(spec: IndexerField, value: object) -> object:
    """A declared value as Prowlarr stores it: a select option by name becomes its value."""
    options = spec.select_options
    if options:
        names = {option.name.casefold(): option.value for option in options}
        values = {option.value for option in options}

        def one(item: object) -> int:
            if isinstance(item, str) and item.casefold() in names:
                return names[item.casefold()]
            if isinstance(item, int) and not isinstance(item, bool) and item in values:
                return item
            choices = ", ".join(f"{o.value}={o.name}" for o in options[:8])
            raise EntryError(f"field {spec.name!r} takes one of {choices}")

        if isinstance(value, list):
            return [one(item) for item in cast("list[object]", value)]
        return one(value)
    if spec.type == "checkbox" and not isinstance(value, bool):
        raise EntryError(f"field {spec.name!r} takes true or false")
    return value


def declared_fields(base: Indexer, entry: IndexerEntry) -> dict[str, object]:
    """The entry's fields resolved against `base`'s (an indexer or a template)."""
    out: dict[str, object] = {}
    for name, value in entry.fields.items():
        spec = base.get_field(name)
        if spec is None or spec.hidden == "hidden" or spec.type == "info":
            raise EntryError(
                f"{entry.definition} has no field {name!r} (see the indexer-schema action)"
            )
        if is_credential(spec):
            raise EntryError(f"field {name!r} is a credential: put it in the secret")
        out[name] = _resolve(spec, value)
    return out


# --------------------------------------------------------------------------- reconcile


@dataclass
class _Counts:
    created: int = 0
    adopted: int = 0
    updated: int = 0
    deleted: int = 0
    released: int = 0


class _Pass:
    """One pass over Prowlarr's indexers (see `reconcile`)."""

    def __init__(self, hook: Hook, declared: Declared, records: dict[str, IndexerRecord]) -> None:
        self.hook = hook
        self.client: ProwlarrClient = hook.client
        self.declared = declared
        self.records = records
        self.problems: list[Problem] = []
        self.counts = _Counts()
        self.current: dict[int, Indexer] = {}
        self._schema: list[Indexer] | None = None
        self._profiles: list[AppProfile] | None = None
        self._tag_ids: dict[str, int] | None = None
        self._secrets: list[str] = []  # values read in this hook, scrubbed from messages

    # ---------------------------------------------------------------- lazy look-ups

    def template(self, definition: str) -> Indexer:
        if self._schema is None:
            self._schema = self.client.indexer_schema()
        template = find_template(self._schema, definition)
        if template is None:
            raise EntryError(f"no definition {definition!r} (see the list-definitions action)")
        return template

    def profile_id(self, name: str) -> int:
        if self._profiles is None:
            self._profiles = self.client.list_app_profiles()
        found = next((p for p in self._profiles if p.name.casefold() == name.casefold()), None)
        if found is None:
            raise EntryError(f"no sync profile {name!r} in Prowlarr (app-profile)")
        return found.id

    def tag_ids(self, labels: Iterable[str]) -> tuple[int, ...]:
        if self._tag_ids is None:  # every declared label, in one GET and the missing POSTs
            every = (label for e in self.declared.entries.values() for label in e.tags)
            self._tag_ids = tag_labels.ensure_tags(self.client, every)
        return tuple(sorted({self._tag_ids[label] for label in labels}))

    def read_secret(self, name: str, entry: IndexerEntry) -> dict[str, str]:
        """The entry's credentials, field -> value, from its user secret (never by label)."""
        shown, secret_id, app = entry.secret, entry.secret, self.hook.model.app.name
        if secret_unique_id(secret_id) == secret_unique_id(self.hook.own_secret_id):
            raise EntryError(f"secret {secret_id} is Prowlarr's own key secret")
        grant = f"juju grant-secret {shown} {app}"
        if not secret_id.startswith("secret://"):  # Juju takes the full URI in any case
            secret_id = f"secret://{self.hook.model.uuid}/{secret_unique_id(secret_id)}"
        try:
            content = self.hook.model.get_secret(id=secret_id).get_content(refresh=True)
        except ops.SecretNotFoundError:
            raise EntryError(f"secret {shown} not found or not granted ({grant})") from None
        except ops.ModelError:
            raise EntryError(f"secret {shown} is not granted ({grant})") from None
        mapping = entry.secret_fields or {
            key: DEFAULT_SECRET_FIELDS.get(key, key) for key in content
        }
        missing = sorted(key for key in mapping if key not in content)
        if missing:
            raise EntryError(f"secret {shown} has no key {', '.join(missing)}")
        values = {mapping[key]: content[key] for key in mapping}
        self._secrets.extend(values.values())
        return values

    # ---------------------------------------------------------------- the pass

    def run(self) -> None:
        self.current = {i.id: i for i in self.client.list_indexers() if i.id is not None}
        self._believe()
        self._remove_stale()
        for name, entry in self.declared.entries.items():
            try:
                self._ensure(name, entry)
            except EntryError as e:
                self.problems.append(Problem(f"indexer {name}: {e}", waiting=e.waiting))
            except ProwlarrConnectionError:
                raise
            except ProwlarrError as e:
                logger.warning("Prowlarr refused indexer %r", name)
                self.problems.append(
                    Problem(f"indexer {name}: {_message(e, self._secrets)}", waiting=True)
                )

    def _believe(self) -> None:
        """Drop records whose id now names another kind of indexer (restored, replaced)."""
        for name, record in list(self.records.items()):
            indexer = self.current.get(record.id)
            if indexer is not None and indexer.definition_name != record.definition_name:
                logger.warning("indexer %s is no longer the one the charm applied", record.id)
                del self.records[name]

    def _remove_stale(self) -> None:
        keep = set(self.declared.entries) | self.declared.invalid
        for name, record in list(self.records.items()):
            if name in keep:
                continue
            if record.created and record.id in self.current:
                self.client.delete_indexer(record.id)
                self.current.pop(record.id)
                self.counts.deleted += 1
                logger.info("deleted indexer %r: its entry was removed", name)
            elif record.id in self.current:
                self.counts.released += 1
                logger.info("released indexer %r: its entry was removed", name)
            del self.records[name]

    def _owned(self) -> set[int]:
        return {record.id for record in self.records.values()}

    def _ensure(self, name: str, entry: IndexerEntry) -> None:
        record = self.records.get(name)
        if record is not None and record.definition.casefold() != entry.definition.casefold():
            if record.created and record.id in self.current:  # another definition: replaced
                self.client.delete_indexer(record.id)
                self.current.pop(record.id)
                self.counts.deleted += 1
            del self.records[name]
            record = None
        indexer = self.current.get(record.id) if record is not None else None
        if record is None or indexer is None:
            self._create_or_adopt(name, entry)
        else:
            self._update(name, entry, record, indexer)

    def _create_or_adopt(self, name: str, entry: IndexerEntry) -> None:
        template = self.template(entry.definition)
        owned = self._owned()
        same = [
            i
            for i in self.current.values()
            if (i.name or "").casefold() == name.casefold() and i.id not in owned
        ]
        if same:
            existing = same[0]
            if (existing.implementation, existing.definition_name) != (
                template.implementation,
                template.definition_name,
            ):
                raise EntryError(
                    f"an indexer of that name with definition "
                    f"{existing.definition_name} exists (added by hand): rename one of them"
                )
            logger.info("adopting indexer %r", name)
            adopted = IndexerRecord(
                id=cast("int", existing.id),
                definition=entry.definition,
                definition_name=existing.definition_name or "",
                created=False,
            )
            self.counts.adopted += 1
            self.records[name] = adopted
            self._update(name, entry, adopted, existing)
            return
        values = self.read_secret(name, entry) if entry.secret else {}
        profile_id = self.profile_id(entry.app_profile)
        tag_ids = self.tag_ids(entry.tags)
        fields = {
            **declared_fields(template, entry),
            **self._secret_fields(template, values, name),
        }
        body = template.with_fields(fields).model_copy(
            update={
                "id": None,
                "name": name,
                "enable": entry.enable,
                "priority": entry.priority,
                "app_profile_id": profile_id,
                "tags": list(tag_ids),
            }
        )
        made = self.client.create_indexer(body)
        logger.info("created indexer %r", name)
        self.counts.created += 1
        self.current[cast("int", made.id)] = made
        source = entry.secret_source()
        self.records[name] = IndexerRecord(
            id=cast("int", made.id),
            definition=entry.definition,
            definition_name=made.definition_name or template.definition_name or "",
            created=True,
            fingerprint=entry.fingerprint(),
            secret=source,
            secret_hash=secret_hash(name, source, values) if values else "",
            tag_ids=tag_ids,
            app_profile_id=profile_id,
        )

    def _secret_fields(
        self, base: Indexer, values: Mapping[str, str], name: str
    ) -> dict[str, object]:
        unknown = sorted(f for f in values if base.get_field(f) is None)
        if unknown:
            raise EntryError(
                f"the secret maps to no field {', '.join(map(repr, unknown))} "
                "(see secret-fields and the indexer-schema action)"
            )
        return dict(values)

    def _update(
        self, name: str, entry: IndexerEntry, record: IndexerRecord, indexer: Indexer
    ) -> None:
        fingerprint, source = entry.fingerprint(), entry.secret_source()
        changed_secret = bool(entry.secret) and self.hook.changed_secret == secret_unique_id(
            entry.secret
        )
        values: dict[str, str] = {}
        new_hash = record.secret_hash if source == record.secret else ""
        if entry.secret and (record.secret != source or not record.secret_hash or changed_secret):
            values = self.read_secret(name, entry)
            new_hash = secret_hash(name, source, values)
        new_credentials = bool(values) and new_hash != record.secret_hash
        if record.fingerprint != fingerprint:
            profile_id, tag_ids = self.profile_id(entry.app_profile), self.tag_ids(entry.tags)
        else:
            profile_id, tag_ids = record.app_profile_id, record.tag_ids
        fields = declared_fields(indexer, entry)
        desired = indexer.with_fields(
            {**fields, **(self._secret_fields(indexer, values, name) if new_credentials else {})}
        ).model_copy(
            update={
                "name": name,
                "enable": entry.enable,
                "priority": entry.priority,
                "app_profile_id": profile_id,
                "tags": list(tag_ids) if entry.manages_tags else indexer.tags,
            }
        )
        drift = (
            indexer.name != name
            or indexer.enable != entry.enable
            or indexer.priority != entry.priority
            or indexer.app_profile_id != profile_id
            or (entry.manages_tags and set(indexer.tags) != set(tag_ids))
            or any(_value(indexer, f) != v for f, v in fields.items())
        )
        updated: dict[str, object] = {
            "fingerprint": fingerprint,
            "secret": source,
            "secret_hash": new_hash,
            "tag_ids": tag_ids,
            "app_profile_id": profile_id,
        }
        if new_credentials or drift:
            secrets = [*self._secrets, *credential_values(indexer)]
            try:
                saved = self.client.update_indexer(desired, force_save=not new_credentials)
            except ProwlarrError as e:
                if isinstance(e, ProwlarrConnectionError):
                    raise
                # Not applied: the next hook tries again (new credentials: reads the secret).
                if new_credentials:
                    self.records[name] = record.model_copy(update={**updated, "secret_hash": ""})
                what = "new credentials" if new_credentials else "update"
                raise EntryError(
                    f"Prowlarr refused the {what}: {_message(e, secrets)}", waiting=True
                ) from None
            self.current[cast("int", saved.id)] = saved
            self.counts.updated += 1
            logger.info(
                "updated indexer %r (%s)",
                name,
                "new credentials, tested" if new_credentials else "drift",
            )
        self.records[name] = record.model_copy(update=updated)


def _value(indexer: Indexer, name: str) -> object:
    spec = indexer.get_field(name)
    return spec.value if spec is not None else None


def reconcile(hook: Hook) -> Report:
    """Make Prowlarr hold the declared indexers; report problems per entry.

    Nothing declared and nothing in the ledger: no request at all. Otherwise one GET of the
    indexers, and a write only for an indexer that really changed.
    """
    report = Report(CAPABILITY)
    declared = parse_option(hook.options.get(OPTION), flaresolverr.tag_label(hook.options))
    report.add(*declared.problems)
    for name, entry in declared.entries.items():
        hook.facts.indexer_tags[name] = frozenset(entry.tags)
    records = load_ledger(hook.memory.raw(INDEXERS))
    if declared.unreadable or (not declared.entries and not records):
        report.state = (
            "invalid option: nothing changed" if declared.unreadable else "none declared"
        )
        return report
    work = _Pass(hook, declared, records)
    try:
        work.run()
    except ProwlarrError as e:
        logger.warning("cannot reconcile the indexers: %s", _message(e, work._secrets))
        report.wait(f"indexers: Prowlarr: {_message(e, work._secrets)}")
    report.add(*work.problems)
    hook.memory.put_raw(INDEXERS, dump_ledger(work.records))
    applied = sum(
        1 for n in declared.entries if n in work.records and work.records[n].id in work.current
    )
    if declared.entries:
        report.summary = f"{applied} indexer{'' if applied == 1 else 's'}"
    c = work.counts
    report.state = f"{len(declared.entries)} declared, {applied} applied" + "".join(
        f", {n} {what}"
        for n, what in (
            (c.created, "created"),
            (c.adopted, "adopted"),
            (c.updated, "updated"),
            (c.deleted, "deleted"),
            (c.released, "released"),
        )
        if n
    )
    return report


def uses_secret(options: Mapping[str, object], changed_secret: str) -> bool:
    """Whether a secret-changed (of the secret with this unique ID) is about an indexer's."""
    if not changed_secret:
        return False
    entries = parse_option(options.get(OPTION)).entries.values()
    return any(e.secret and secret_unique_id(e.secret) == changed_secret for e in entries)


# --------------------------------------------------------------------------- actions


class IndexerActionError(ActionError):
    """An action cannot do what it was asked; the message says why (never a secret)."""


def list_definitions(client: ProwlarrClient, filter_text: str = "") -> dict[str, str]:
    """The `list-definitions` action: every definition (or those matching `filter_text`)."""
    wanted = filter_text.strip().casefold()
    rows: list[str] = []
    for template in sorted(client.indexer_schema(), key=lambda t: definition_key(t).casefold()):
        key = definition_key(template)
        text = " ".join((key, template.name or "", template.description or "")).casefold()
        if wanted and wanted not in text:
            continue
        description = " ".join((template.description or "").split())[:80]
        rows.append(
            f"{key} | {template.name} | {template.protocol} | {template.privacy} | {description}"
        )
    if not rows:
        raise IndexerActionError(f"no definition matches {filter_text!r}")
    header = "definition | name | protocol | privacy | description"
    return {"count": str(len(rows)), "definitions": "\n".join([header, *rows])}


def indexer_schema(client: ProwlarrClient, definition: str) -> dict[str, str]:
    """The `indexer-schema` action: each field of a definition, and where it belongs."""
    template = find_template(client.indexer_schema(), definition)
    if template is None:
        raise IndexerActionError(
            f"no definition {definition!r}: see `list-definitions filter={definition}`"
        )
    lines: list[str] = []
    secret_keys: dict[str, str] = {}
    for spec in template.fields:
        if spec.hidden == "hidden" or spec.type == "info":  # the charm's, or help text
            continue
        parts = [f"{spec.name} ({spec.type or 'textbox'})", spec.label or ""]
        if is_credential(spec):
            parts.append("credential: put it in the secret")
            secret_keys[secret_key_for(spec.name)] = spec.name
        else:
            if spec.select_options:
                options = ", ".join(f"{o.value}={o.name}" for o in spec.select_options)
                parts.append(f"options: {options}")
            if spec.value not in (None, ""):
                parts.append(f"default: {json.dumps(spec.value)}")
        lines.append(" | ".join(p for p in parts if p))
    key = definition_key(template)
    example: dict[str, object] = {"definition": key}
    if secret_keys:
        example["secret"] = "secret:<id>"  # noqa: S105 - a placeholder
        example["secret-fields"] = secret_keys
    results = {
        "definition": key,
        "name": template.name or "",
        "implementation": template.implementation,
        "protocol": template.protocol or "",
        "privacy": template.privacy or "",
        "fields": "\n".join(lines),
        "example": yaml.safe_dump({template.name or key: example}, sort_keys=False),
    }
    if secret_keys:
        pairs = " ".join(f"{k}=..." for k in secret_keys)
        results["secret"] = f"juju add-secret <name> {pairs}; juju grant-secret <name> prowlarr"
    return results


def test_indexers(client: ProwlarrClient, memory: Memory, name: str = "") -> dict[str, str]:
    """The `test-indexers` action: Prowlarr's test of the indexers the charm manages."""
    records = load_ledger(memory.raw(INDEXERS))
    if name:
        match = {n: r for n, r in records.items() if n.casefold() == name.casefold()}
        if not match:
            raise IndexerActionError(f"{name!r} is not an indexer the charm manages")
        records = match
    current = {i.id: i for i in client.list_indexers() if i.id is not None}
    lines: list[str] = []
    failed = 0
    for each in sorted(records):
        indexer = current.get(records[each].id)
        if indexer is None:
            lines.append(f"{each}: missing in Prowlarr (created again at the next hook)")
            failed += 1
            continue
        try:
            client.test_indexer(indexer)
        except ProwlarrError as e:
            lines.append(f"{each}: failed: {_message(e, credential_values(indexer))}")
            failed += 1
        else:
            lines.append(f"{each}: ok")
    return {"tested": str(len(lines)), "failed": str(failed), "results": "\n".join(lines)}


ACTIONS = ("list-definitions", "indexer-schema", "test-indexers")


def run_action(
    action: str, client: ProwlarrClient, memory: Memory, params: Mapping[str, object]
) -> dict[str, str]:
    """One of `ACTIONS` with its params; IndexerActionError or ProwlarrError on failure."""
    if action == "list-definitions":
        return list_definitions(client, str(params.get("filter") or ""))
    if action == "indexer-schema":
        return indexer_schema(client, str(params.get("definition") or ""))
    if action == "test-indexers":
        return test_indexers(client, memory, str(params.get("name") or ""))
    raise IndexerActionError(f"unknown action {action!r}")
