"""What the leader remembers between hooks: the peer relation's application databag.

Remembering what was applied, rather than looking again, is what keeps a steady hook cheap: one
read of the databag replaces a grant per relation, a read of every secret and a GET of Prowlarr's
host config. Only hashes and IDs are kept here; the databag is readable by every unit of the
application and by `juju show-unit`. Each key holds JSON and is written only when it changes.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import cast

import ops

# The keys, in one place.
APPLICATIONS = "applications"  # registration records (registration.ManagedRecord)
PUBLISHED = "published"  # relation id -> digest of the media-indexer data granted and written
API_KEY_SECRET = "api-key-secret"  # noqa: S105 - a key name: {"id", "rotation"} of the secret
HOST_CONFIG = "host-config"  # capability -> fingerprint of the host settings it applied
BACKUPS = "backups"  # id -> name of each Prowlarr backup create-backup made (pruning)
INDEXERS = "indexers"  # name -> indexers.IndexerRecord: the indexers the option declares
FLARESOLVERR = "flaresolverr"  # {"id", "fingerprint"} of the FlareSolverr proxy the charm owns
DATABASE_CHOICE = "database"  # "postgresql" once the app keeps its data there (database.py)


class Memory:
    """The leader's memory, or an empty one that forgets every write (no peer relation yet)."""

    def __init__(self, databag: MutableMapping[str, str] | None) -> None:
        self._databag = databag

    @classmethod
    def of(cls, model: ops.Model, relation_name: str) -> Memory:
        """The memory of this application's peer relation (empty when it does not exist)."""
        relation = model.get_relation(relation_name)
        return cls(relation.data[model.app] if relation is not None else None)

    @property
    def available(self) -> bool:
        """Whether writes are kept."""
        return self._databag is not None

    def raw(self, key: str) -> str:
        """The text stored under `key` ("" when none)."""
        return self._databag.get(key, "") if self._databag is not None else ""

    def put_raw(self, key: str, value: str) -> None:
        """Store `value` under `key`, writing only when it differs (and deleting for "")."""
        if self._databag is None or self._databag.get(key, "") == value:
            return
        if value:
            self._databag[key] = value
        else:
            del self._databag[key]

    def mapping(self, key: str) -> dict[str, str]:
        """A JSON object of strings stored under `key`; unreadable data reads as empty."""
        try:
            value: object = json.loads(self.raw(key) or "{}")
        except ValueError:
            return {}
        if not isinstance(value, dict):
            return {}
        items = cast("dict[object, object]", value).items()
        return {str(k): v for k, v in items if isinstance(v, str)}

    def put_mapping(self, key: str, value: MutableMapping[str, str]) -> None:
        """Store a JSON object of strings under `key` (deterministically, written on change)."""
        text = json.dumps(dict(sorted(value.items())), separators=(",", ":")) if value else ""
        self.put_raw(key, text)
