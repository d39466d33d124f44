"""Which indexers reach which media manager: the `application-tags` option.

YAML mapping the Juju application name of a related media manager to a list of Prowlarr tag
labels, e.g. `{radarr-4k: [uhd]}`. Prowlarr gives an application with no tags every indexer, and
one with tags only the indexers sharing one of them. Each application the charm registers gets
exactly the tags listed for its manager (none when it is not listed); registration.py applies
them, and runs ApplicationIndexerSync once after a change, because Prowlarr removes indexers
that no longer match only when that command runs (every 6 hours otherwise). Only full-sync
applications lose indexers that way: with add-remove-only or disabled, Prowlarr leaves them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import cast

import yaml

from tags import valid_label

OPTION = "application-tags"

ApplicationTags = dict[str, tuple[str, ...]]


class ApplicationTagsError(ValueError):
    """The option cannot be used; the message names it and says why."""


def load(options: Mapping[str, object]) -> ApplicationTags:
    """The tag labels of each media manager, by its application name (sorted, unique)."""
    raw = str(options.get(OPTION) or "")
    if not raw.strip():
        return {}
    try:
        loaded: object = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise ApplicationTagsError(f"invalid {OPTION}: not YAML") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ApplicationTagsError(f"invalid {OPTION}: use a mapping, e.g. {{radarr-4k: [uhd]}}")
    out: ApplicationTags = {}
    bad: list[str] = []
    for key, value in cast("dict[object, object]", loaded).items():
        labels: list[object] = [] if value is None else cast("list[object]", value)
        if not isinstance(key, str) or not isinstance(value, (list, type(None))):
            raise ApplicationTagsError(
                f"invalid {OPTION}: each application name needs a list of tag labels"
            )
        bad += [str(label)[:30] for label in labels if not _label(label)]
        out[key] = tuple(sorted({str(label) for label in labels}))
    if bad:
        shown = ", ".join(repr(label) for label in sorted(set(bad))[:3])
        raise ApplicationTagsError(
            f"invalid {OPTION}: tag labels are lower-case letters, digits and '-', not {shown}"
        )
    return out


def _label(label: object) -> bool:
    return isinstance(label, str) and valid_label(label)


def unknown(tags: ApplicationTags, related: Iterable[str]) -> list[str]:
    """The names in the option that no related media manager has."""
    return sorted(set(tags) - set(related))


def unmatched(tags: ApplicationTags, indexer_tags: Mapping[str, frozenset[str]]) -> list[str]:
    """The managers whose tags no declared indexer carries: they would get no indexer."""
    carried = {label for labels in indexer_tags.values() for label in labels}
    return sorted(name for name, labels in tags.items() if labels and carried.isdisjoint(labels))
