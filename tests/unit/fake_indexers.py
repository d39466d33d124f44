"""The fake Prowlarr's tags (and, below, indexers and app profiles), as unkind as Prowlarr.

Kept apart from fake_prowlarr.py so that capabilities can grow it without touching each other's
code: `ROUTES` lists the (method, path template) pairs served here, `IndexerStore.handlers()` the
handler of each. A handler gets the route id, the query (lower-cased names) and the parsed JSON
body, and returns (status, payload) or raises `StoreError`; fake_prowlarr.py does the HTTP part
(API key, URL base, content types) and calls them under its lock.

Tags (TagController, TagService): labels match `^[a-z0-9-]+$` ignoring case and are stored
lower-cased; a POST returns the existing tag only for exactly the same label, and a label that
differs only by case is a 409 (the unique index); a DELETE of a tag still used by an indexer, an
application or a proxy is a 409.

Indexers (IndexerController, ProviderControllerBase, IndexerResource, IndexerFactory): a few
definitions (`DEFINITIONS`): Newznab presets (native: `apiKey` masked as `********` on GET, and
`********` sent back keeps the stored key), a private Cardigann tracker whose username and
password come back in clear and are stored verbatim (`********` included), and a public
Cardigann tracker. Names are unique ignoring case; `appProfileId` must name a profile and
`priority` be 1-50; an unknown Cardigann field is a 500, a select takes its option's index and
anything else is stored as 0; a PUT replaces the whole resource. POST tests an enabled indexer
whatever `forceSave`, PUT without `forceSave` tests it too, and an enabled Newznab fetches its
capabilities on every save: a tracker whose host is in `down` fails with 400 and Prowlarr's
message. Every save of an indexer counts an application sync (`indexer_syncs`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

JsonDict = dict[str, object]
Answer = tuple[int, object]
Handler = Callable[[int | None, dict[str, str], object], Answer]

TAG_LABEL = re.compile(r"^[a-z0-9-]+$", re.IGNORECASE)

MASK = "********"
CARDIGANN = "Cardigann"
NEWZNAB = "Newznab"

ROUTES: tuple[tuple[str, str], ...] = (
    ("GET", "/api/v1/tag"),
    ("POST", "/api/v1/tag"),
    ("GET", "/api/v1/tag/{id}"),
    ("DELETE", "/api/v1/tag/{id}"),
    ("GET", "/api/v1/appprofile"),
    ("GET", "/api/v1/indexer"),
    ("POST", "/api/v1/indexer"),
    ("GET", "/api/v1/indexer/schema"),
    ("POST", "/api/v1/indexer/test"),
    ("GET", "/api/v1/indexer/{id}"),
    ("PUT", "/api/v1/indexer/{id}"),
    ("DELETE", "/api/v1/indexer/{id}"),
)


@dataclass(frozen=True)
class FieldSpec:
    """One settings field of a definition."""

    name: str
    label: str
    type: str  # textbox | password | checkbox | select | number
    default: object = None
    privacy: str = "normal"  # apiKey / password: masked on GET (native indexers only)
    options: tuple[str, ...] = ()  # a select's option names; it stores the index
    hidden: bool = False
    advanced: bool = False

    def json(self, order: int, value: object, *, native: bool) -> JsonDict:
        """The field as a GET shows it (a native secret masked, a Cardigann one in clear)."""
        masked = native and self.privacy in ("apiKey", "password") and bool(value)
        out: JsonDict = {"order": order, "name": self.name, "label": self.label}
        out["value"] = MASK if masked else value
        out["type"] = self.type
        out["advanced"] = self.advanced
        out["privacy"] = self.privacy
        if self.hidden:
            out["hidden"] = "hidden"
        if self.options:
            out["selectOptions"] = [
                {"value": i, "name": name, "order": i} for i, name in enumerate(self.options)
            ]
        out["isFloat"] = False
        return out


@dataclass(frozen=True)
class Definition:
    """An indexer definition: a Cardigann YAML definition or a native preset."""

    name: str  # the schema entry's name (a preset's name for Newznab)
    definition_name: str  # what GET reports: the Cardigann id, or "Newznab"
    implementation: str
    protocol: str
    privacy: str
    description: str
    url: str
    extra: tuple[FieldSpec, ...] = ()

    @property
    def contract(self) -> str:
        """The settings contract of its implementation."""
        return f"{self.implementation}Settings"

    @property
    def fields(self) -> tuple[FieldSpec, ...]:
        """Every field, in order."""
        if self.implementation == CARDIGANN:
            definition_file = FieldSpec(
                "definitionFile", "Definition File", "textbox", self.definition_name, hidden=True
            )
            return (definition_file, *_CARDIGANN_BASE, *self.extra)
        return (
            FieldSpec("baseUrl", "URL", "textbox", self.url),
            FieldSpec("apiPath", "API Path", "textbox", "/api", advanced=True),
            FieldSpec("apiKey", "API Key", "textbox", "", privacy="apiKey"),
            FieldSpec("additionalParameters", "Additional Parameters", "textbox", ""),
            *_NATIVE_BASE,
        )


_CARDIGANN_BASE = (
    FieldSpec("baseSettings.queryLimit", "Query Limit", "number", None, advanced=True),
    FieldSpec("baseSettings.grabLimit", "Grab Limit", "number", None, advanced=True),
)
_NATIVE_BASE = (
    *_CARDIGANN_BASE,
    FieldSpec("baseSettings.limitsUnit", "Limits Unit", "select", 0, options=("Day", "Hour")),
)
_SORT = ("created", "seeders", "size", "title")

DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        "1337x",
        "1337x",
        CARDIGANN,
        "torrent",
        "public",
        "1337X is a Public torrent site that offers verified torrent downloads",
        "https://1337x.to/",
        (
            FieldSpec("downloadlink", "Download link", "select", 0, options=("magnet", "torrent")),
            FieldSpec("sort", "Sort requested from site", "select", 0, options=_SORT),
            FieldSpec("disablesort", "Disable sort", "checkbox", False),
            FieldSpec(
                "info_flaresolverr",
                "FlareSolverr Info",
                "info",
                "This site may use Cloudflare DDoS Protection",
            ),
        ),
    ),
    Definition(
        "TorrentLeech",
        "torrentleech",
        CARDIGANN,
        "torrent",
        "private",
        "TorrentLeech (TL) is a Private Torrent Tracker for 0DAY / GENERAL",
        "https://www.torrentleech.org/",
        (
            FieldSpec("username", "Username", "textbox", ""),
            FieldSpec("password", "Password", "password", ""),
            FieldSpec("freeleech", "Search freeleech only", "checkbox", False),
            FieldSpec("sort", "Sort requested from site", "select", 0, options=_SORT),
        ),
    ),
    Definition(
        "NZBgeek",
        NEWZNAB,
        NEWZNAB,
        "usenet",
        "private",
        "NZBgeek is a Newznab indexer",
        "https://api.nzbgeek.info",
    ),
    Definition(
        "abNZB",
        NEWZNAB,
        NEWZNAB,
        "usenet",
        "private",
        "abNZB is a Newznab indexer",
        "https://abnzb.com",
    ),
)
APP_PROFILES: dict[int, str] = {1: "Standard"}


class StoreError(Exception):
    """An error answer: its status and JSON payload."""

    def __init__(self, status: int, payload: object = None) -> None:
        super().__init__(status)
        self.status = status
        self.payload: object = {} if payload is None else payload


def error(status: int, message: str) -> StoreError:
    """An error answer with Prowlarr's `{"message": ...}` body."""
    return StoreError(status, {"message": message})


def failure(prop: str, message: str) -> JsonDict:
    """One validation failure, as a 400 body lists them (attempted values left out)."""
    return {"isWarning": False, "propertyName": prop, "errorMessage": message, "severity": "error"}


def refuse(*failures: JsonDict) -> StoreError:
    """A 400 with these validation failures."""
    return StoreError(400, list(failures))


def as_object(value: object) -> dict[str, object]:
    """A JSON object, or the 400 Prowlarr answers for another body."""
    if not isinstance(value, dict):
        raise StoreError(400, {"title": "The JSON value could not be converted."})
    return {str(k): v for k, v in cast("dict[object, object]", value).items()}


@dataclass
class StoredTag:
    """A tag as stored: its label lower-cased."""

    id: int
    label: str


@dataclass
class StoredIndexer:
    """An indexer as stored: settings unmasked (secret material), tags by id."""

    id: int
    name: str
    definition: Definition
    enable: bool
    priority: int
    app_profile_id: int
    tags: list[int]
    settings: dict[str, object] = field(repr=False)


@dataclass
class IndexerStore:
    """Tags, indexers and app profiles of the fake Prowlarr (guarded by the fake's lock)."""

    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    tags: dict[int, StoredTag] = field(default_factory=dict[int, StoredTag])
    tag_users: list[Callable[[int], bool]] = field(default_factory=list[Callable[[int], bool]])
    """Other things that may use a tag (applications, proxies): a DELETE of a used tag is 409."""
    _next_tag_id: int = 1
    indexers: dict[int, StoredIndexer] = field(default_factory=dict[int, StoredIndexer])
    app_profiles: dict[int, str] = field(default_factory=lambda: dict(APP_PROFILES))
    down: set[str] = field(default_factory=set[str])
    """Tracker hosts that do not answer: a live test or a Newznab capabilities fetch fails."""
    accounts: dict[str, tuple[str, str]] = field(default_factory=dict[str, tuple[str, str]])
    """Definition name -> the only (username, password) its tracker accepts (else any)."""
    indexer_tests: list[str] = field(default_factory=list[str])
    """The name of each indexer tested live, in order."""
    indexer_syncs: int = 0
    _next_indexer_id: int = 1

    def handlers(self) -> dict[tuple[str, str], Handler]:
        """The handler of each route in `ROUTES`."""
        return {
            ("GET", "/api/v1/tag"): self._list_tags,
            ("POST", "/api/v1/tag"): self._create_tag,
            ("GET", "/api/v1/tag/{id}"): self._get_tag,
            ("DELETE", "/api/v1/tag/{id}"): self._delete_tag,
            ("GET", "/api/v1/appprofile"): self._list_profiles,
            ("GET", "/api/v1/indexer"): self._list_indexers,
            ("POST", "/api/v1/indexer"): self._create_indexer,
            ("GET", "/api/v1/indexer/schema"): self._schema,
            ("POST", "/api/v1/indexer/test"): self._test_indexer,
            ("GET", "/api/v1/indexer/{id}"): self._get_indexer,
            ("PUT", "/api/v1/indexer/{id}"): self._update_indexer,
            ("DELETE", "/api/v1/indexer/{id}"): self._delete_indexer,
        }

    # ------------------------------------------------------------------ tags

    def add_tag(self, label: str) -> int:
        """Simulate a tag added in the UI (stored lower-cased); returns its id."""
        with self.lock:
            tag = StoredTag(self._next_tag_id, label.lower())
            self._next_tag_id += 1
            self.tags[tag.id] = tag
            return tag.id

    def tag_ids(self, labels: list[str]) -> list[int]:
        """The ids of existing labels (KeyError for a missing one)."""
        by_label = {tag.label: tag.id for tag in self.tags.values()}
        return [by_label[label] for label in labels]

    def tag_in_use(self, tag_id: int) -> bool:
        """Whether anything (an indexer here, or one of `tag_users`) still uses the tag."""
        if any(tag_id in indexer.tags for indexer in self.indexers.values()):
            return True
        return any(user(tag_id) for user in self.tag_users)

    @staticmethod
    def _tag_json(tag: StoredTag) -> JsonDict:
        return {"label": tag.label, "id": tag.id}

    def _list_tags(
        self, _id: int | None, _query: dict[str, str], _body: object
    ) -> tuple[int, object]:
        return 200, [self._tag_json(t) for t in sorted(self.tags.values(), key=lambda t: t.id)]

    def _get_tag(
        self, tag_id: int | None, _query: dict[str, str], _body: object
    ) -> tuple[int, object]:
        tag = self.tags.get(tag_id or 0)
        if tag is None:
            raise error(404, f"Tag with ID {tag_id} does not exist")
        return 200, self._tag_json(tag)

    def _create_tag(
        self, _id: int | None, _query: dict[str, str], body: object
    ) -> tuple[int, object]:
        label = as_object(body).get("label")
        if not isinstance(label, str) or not TAG_LABEL.fullmatch(label):
            raise refuse(failure("Label", "Allowed characters a-z, 0-9 and -"))
        for tag in self.tags.values():
            if tag.label == label:
                return 201, self._tag_json(tag)  # the existing tag, only on an exact match
            if tag.label == label.lower():
                raise error(409, "UNIQUE constraint failed: Tags.Label")
        return 201, self._tag_json(self.tags[self.add_tag(label)])

    def _delete_tag(
        self, tag_id: int | None, _query: dict[str, str], _body: object
    ) -> tuple[int, object]:
        tag_id = tag_id or 0
        if tag_id not in self.tags:
            raise error(404, f"Tag with ID {tag_id} does not exist")
        if self.tag_in_use(tag_id):
            raise error(409, f"Unable to delete tag {tag_id}: it is in use")
        del self.tags[tag_id]
        return 200, {}

    # ------------------------------------------------------------------ app profiles

    def _list_profiles(self, _id: int | None, _query: dict[str, str], _body: object) -> Answer:
        return 200, [
            {
                "name": name,
                "enableRss": True,
                "enableAutomaticSearch": True,
                "enableInteractiveSearch": True,
                "minimumSeeders": 1,
                "id": profile_id,
            }
            for profile_id, name in sorted(self.app_profiles.items())
        ]

    # ------------------------------------------------------------------ indexers: helpers

    def definition(self, name: str) -> Definition:
        """The definition of a schema entry name (KeyError when there is none)."""
        return next(d for d in DEFINITIONS if d.name == name)

    def add_indexer(
        self,
        definition: str,
        *,
        name: str | None = None,
        enable: bool = True,
        priority: int = 25,
        fields: dict[str, object] | None = None,
        tags: list[int] | None = None,
    ) -> int:
        """Simulate an indexer added in the UI (no test); returns its id."""
        with self.lock:
            spec = self.definition(definition)
            settings = {f.name: f.default for f in spec.fields}
            unknown = set(fields or {}) - set(settings)
            if unknown:
                raise ValueError(f"unknown fields {sorted(unknown)}")
            settings.update(fields or {})
            return self._insert(spec, name or spec.name, enable, priority, 1, tags or [], settings)

    def edit_indexer(self, indexer_id: int, **changes: object) -> None:
        """Simulate an edit in the UI: `enable`, `priority`, `tags`, or a field by its name."""
        with self.lock:
            indexer = self.indexers[indexer_id]
            for key, value in changes.items():
                if key in ("enable", "priority", "tags", "name", "app_profile_id"):
                    setattr(indexer, key, value)
                elif key in indexer.settings:
                    indexer.settings[key] = value
                else:
                    raise KeyError(key)

    def remove_indexer(self, indexer_id: int) -> None:
        """Simulate an indexer deleted in the UI."""
        with self.lock:
            self.indexers.pop(indexer_id, None)

    def by_name(self) -> dict[str, StoredIndexer]:
        """The stored indexers by name."""
        with self.lock:
            return {indexer.name: indexer for indexer in self.indexers.values()}

    def _insert(
        self,
        definition: Definition,
        name: str,
        enable: bool,
        priority: int,
        profile: int,
        tags: list[int],
        settings: dict[str, object],
    ) -> int:
        indexer_id = self._next_indexer_id
        self._next_indexer_id += 1
        self.indexers[indexer_id] = StoredIndexer(
            indexer_id, name, definition, enable, priority, profile, tags, settings
        )
        return indexer_id

    def _json(self, indexer: StoredIndexer) -> JsonDict:
        definition = indexer.definition
        native = definition.implementation != CARDIGANN
        return {
            "indexerUrls": [definition.url],
            "legacyUrls": [],
            "definitionName": definition.definition_name,
            "description": definition.description,
            "language": "en-US",
            "enable": indexer.enable,
            "redirect": False,
            "supportsRss": True,
            "supportsSearch": True,
            "supportsRedirect": False,
            "supportsPagination": False,
            "appProfileId": indexer.app_profile_id,
            "protocol": definition.protocol,
            "privacy": definition.privacy,
            "capabilities": {"supportsRawSearch": False, "categories": []},
            "priority": indexer.priority,
            "downloadClientId": 0,
            "added": "2026-01-01T00:00:00Z",
            "sortName": indexer.name.lower(),
            "name": indexer.name,
            "fields": [
                # An info field shows the definition's text, never what was stored.
                spec.json(
                    order,
                    spec.default if spec.type == "info" else indexer.settings.get(spec.name),
                    native=native,
                )
                for order, spec in enumerate(definition.fields)
            ],
            "implementationName": definition.implementation,
            "implementation": definition.implementation,
            "configContract": definition.contract,
            "infoLink": f"https://wiki.servarr.com/prowlarr/supported-indexers#{definition.name}",
            "tags": list(indexer.tags),
            "id": indexer.id,
        }

    def _template(self, definition: Definition) -> JsonDict:
        template = self._json(
            StoredIndexer(
                0,
                definition.name,
                definition,
                True,
                25,
                0,
                [],
                {f.name: f.default for f in definition.fields},
            )
        )
        template["presets"] = []
        return template

    def _found(self, indexer_id: int | None) -> StoredIndexer:
        indexer = self.indexers.get(indexer_id or 0)
        if indexer is None:
            raise error(404, f"Indexer with ID {indexer_id} does not exist")
        return indexer

    # ------------------------------------------------------------------ indexers: binding

    def _bind(self, body: object, existing: StoredIndexer | None) -> _Bound:
        """An IndexerResource body as Prowlarr binds it (ToModel), before validation."""
        data = {k.lower(): v for k, v in as_object(body).items()}
        implementation, contract = data.get("implementation"), data.get("configcontract")
        if (implementation, contract) not in (
            (CARDIGANN, "CardigannSettings"),
            (NEWZNAB, "NewznabSettings"),
        ):
            raise error(500, "Sequence contains no matching element")
        given: dict[str, object] = {}
        for item in cast("list[object]", data.get("fields") or []):
            entry = {k.lower(): v for k, v in as_object(item).items()}
            if isinstance(entry.get("name"), str):
                given.setdefault(cast("str", entry["name"]), entry.get("value"))
        if implementation == CARDIGANN:
            definition_file = given.get("definitionFile")
            definition = next(
                (
                    d
                    for d in DEFINITIONS
                    if d.implementation == CARDIGANN and d.definition_name == definition_file
                ),
                None,
            )
            if definition is None:
                raise error(500, f"Indexer definition {definition_file} does not exist")
            settings = self._cardigann_settings(definition, given)
        else:
            definition = existing.definition if existing else self._preset(given)
            settings = self._native_settings(definition, given, existing)
        raw_tags = data.get("tags")
        tags = cast("list[int]", raw_tags) if isinstance(raw_tags, list) else []
        return _Bound(
            name=data.get("name") if isinstance(data.get("name"), str) else None,  # pyright: ignore[reportArgumentType]
            definition=definition,
            enable=data.get("enable") is True,
            priority=_int(data.get("priority")),
            app_profile_id=_int(data.get("appprofileid")),
            tags=tags,
            settings=settings,
        )

    @staticmethod
    def _preset(given: dict[str, object]) -> Definition:
        """The Newznab preset whose URL is the body's (the first one otherwise)."""
        presets = [d for d in DEFINITIONS if d.implementation == NEWZNAB]
        url = given.get("baseUrl")
        return next((d for d in presets if d.url == url), presets[0])

    @staticmethod
    def _cardigann_settings(definition: Definition, given: dict[str, object]) -> dict[str, object]:
        specs = {f.name: f for f in definition.fields}
        settings = {f.name: f.default for f in definition.fields}
        for name, value in given.items():
            spec = specs.get(name)
            if spec is None:
                # cardigannDefinition.Settings.FirstOrDefault(...) is null: MapValue throws.
                raise error(500, "Object reference not set to an instance of an object.")
            if spec.type == "select":
                text = str(value).strip()
                settings[name] = int(text) if re.fullmatch(r"-?\d+", text) else 0
            elif spec.type == "checkbox":
                settings[name] = value if isinstance(value, bool) else str(value).lower() == "true"
            elif spec.type == "number":
                settings[name] = value if isinstance(value, int) else None
            else:
                settings[name] = "" if value is None else str(value)  # stored verbatim
        return settings

    @staticmethod
    def _native_settings(
        definition: Definition, given: dict[str, object], existing: StoredIndexer | None
    ) -> dict[str, object]:
        settings: dict[str, object] = {}
        for spec in definition.fields:
            value = given.get(spec.name, spec.default)
            if value == MASK and spec.privacy in ("apiKey", "password") and existing:
                value = existing.settings.get(spec.name)  # the stored secret is kept
            settings[spec.name] = value
        return settings

    def _failures(self, bound: _Bound, own_id: int) -> list[JsonDict]:
        failures: list[JsonDict] = []
        if not bound.name or not bound.name.strip():
            failures.append(failure("Name", "'Name' must not be empty."))
        elif any(
            i.name.casefold() == bound.name.casefold() and i.id != own_id
            for i in self.indexers.values()
        ):
            failures.append(failure("Name", "Should be unique"))
        if not 1 <= bound.priority <= 50:
            failures.append(
                failure(
                    "Priority",
                    f"'Priority' must be between 1 and 50. You entered {bound.priority}.",
                )
            )
        if bound.app_profile_id == 0:
            failures.append(failure("AppProfileId", "'App Profile Id' must not be equal to '0'."))
        elif bound.app_profile_id not in self.app_profiles:
            failures.append(failure("AppProfileId", "App Profile does not exist"))
        return failures

    def _live_test(self, bound: _Bound) -> list[JsonDict]:
        """The indexer's test: the tracker must answer and take the credentials."""
        self.indexer_tests.append(bound.name or "")
        definition = bound.definition
        url = str(bound.settings.get("baseUrl") or definition.url)
        host = urlsplit(url).hostname or url
        if host in self.down:
            return [
                failure(
                    "",
                    "Unable to connect to indexer, check the log above the ValidationFailure "
                    f"for more details. Connection refused ({host}:443)",
                )
            ]
        if definition.implementation == NEWZNAB:
            if not bound.settings.get("apiKey"):
                return [failure("ApiKey", "'API Key' must not be empty.")]
            return []
        if definition.privacy == "public":
            return []
        username, password = bound.settings.get("username"), bound.settings.get("password")
        wanted = self.accounts.get(definition.definition_name)
        if not username or not password or (wanted and wanted != (username, password)):
            return [failure("", "Login Failed: Invalid username or password")]
        return []

    def _capabilities(self, bound: _Bound) -> list[JsonDict]:
        """An enabled Newznab fetches its capabilities on every save, forceSave or not."""
        if bound.definition.implementation != NEWZNAB or not bound.enable:
            return []
        host = urlsplit(str(bound.settings.get("baseUrl") or "")).hostname or ""
        if host in self.down:
            return [failure("", f"Unable to connect to indexer ({host}): Connection refused")]
        return []

    # ------------------------------------------------------------------ indexers: routes

    def _list_indexers(self, _id: int | None, _query: dict[str, str], _body: object) -> Answer:
        ordered = sorted(self.indexers.values(), key=lambda i: (i.name.casefold(), i.id))
        return 200, [self._json(i) for i in ordered]

    def _get_indexer(
        self, indexer_id: int | None, _query: dict[str, str], _body: object
    ) -> Answer:
        return 200, self._json(self._found(indexer_id))

    def _schema(self, _id: int | None, _query: dict[str, str], _body: object) -> Answer:
        return 200, [self._template(d) for d in DEFINITIONS]

    def _create_indexer(self, _id: int | None, _query: dict[str, str], body: object) -> Answer:
        bound = self._bind(body, None)
        failures = self._failures(bound, own_id=0)
        if not failures and bound.enable:
            # forceSave only waives warnings: an enabled indexer is tested on every POST.
            failures = self._live_test(bound) or self._capabilities(bound)
        if failures:
            raise refuse(*failures)
        indexer_id = self._insert(
            bound.definition,
            cast("str", bound.name),
            bound.enable,
            bound.priority,
            bound.app_profile_id,
            bound.tags,
            bound.settings,
        )
        self.indexer_syncs += 1
        return 201, self._json(self.indexers[indexer_id])

    def _update_indexer(
        self, indexer_id: int | None, query: dict[str, str], body: object
    ) -> Answer:
        existing = self._found(indexer_id)
        bound = self._bind(body, existing)
        failures = self._failures(bound, own_id=existing.id)
        if not failures and bound.enable:
            if query.get("forcesave", "").lower() != "true":
                failures = self._live_test(bound)
            failures = failures or self._capabilities(bound)
        if failures:
            raise refuse(*failures)
        self.indexers[existing.id] = StoredIndexer(
            existing.id,
            cast("str", bound.name),
            bound.definition,
            bound.enable,
            bound.priority,
            bound.app_profile_id,
            bound.tags,
            bound.settings,
        )
        self.indexer_syncs += 1
        return 202, self._json(self.indexers[existing.id])

    def _delete_indexer(
        self, indexer_id: int | None, _query: dict[str, str], _body: object
    ) -> Answer:
        self._found(indexer_id)
        del self.indexers[cast("int", indexer_id)]
        return 200, {}

    def _test_indexer(self, _id: int | None, _query: dict[str, str], body: object) -> Answer:
        data = {k.lower(): v for k, v in as_object(body).items()}
        raw_id = data.get("id")
        existing = self.indexers.get(raw_id) if isinstance(raw_id, int) else None
        bound = self._bind(body, existing)
        failures = self._live_test(bound)
        if failures:
            raise refuse(*failures)
        return 200, {}


@dataclass(frozen=True)
class _Bound:
    """An indexer body as bound, before validation."""

    name: str | None
    definition: Definition
    enable: bool
    priority: int
    app_profile_id: int
    tags: list[int]
    settings: dict[str, object] = field(repr=False)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
