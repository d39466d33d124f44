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
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

JsonDict = dict[str, object]
Handler = Callable[[int | None, dict[str, str], object], tuple[int, object]]

TAG_LABEL = re.compile(r"^[a-z0-9-]+$", re.IGNORECASE)

ROUTES: tuple[tuple[str, str], ...] = (
    ("GET", "/api/v1/tag"),
    ("POST", "/api/v1/tag"),
    ("GET", "/api/v1/tag/{id}"),
    ("DELETE", "/api/v1/tag/{id}"),
)


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
class IndexerStore:
    """Tags, indexers and app profiles of the fake Prowlarr (guarded by the fake's lock)."""

    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    tags: dict[int, StoredTag] = field(default_factory=dict[int, StoredTag])
    tag_users: list[Callable[[int], bool]] = field(default_factory=list[Callable[[int], bool]])
    """Other things that may use a tag (applications, proxies): a DELETE of a used tag is 409."""
    _next_tag_id: int = 1

    def handlers(self) -> dict[tuple[str, str], Handler]:
        """The handler of each route in `ROUTES`."""
        return {
            ("GET", "/api/v1/tag"): self._list_tags,
            ("POST", "/api/v1/tag"): self._create_tag,
            ("GET", "/api/v1/tag/{id}"): self._get_tag,
            ("DELETE", "/api/v1/tag/{id}"): self._delete_tag,
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
