"""Prowlarr tags by label: the ids of the labels a capability declares, created when missing.

Prowlarr stores labels lower-cased and matches `^[a-z0-9-]+$`; its POST returns an existing tag
only for exactly the same label (`UHD` while `uhd` exists is a 409). So the charm accepts only
lower-case labels, and asks for them in one GET, with one POST per label that is missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from prowlarr import ProwlarrClient

LABEL = re.compile(r"^[a-z0-9-]+$")


class TagLabelError(ValueError):
    """A label Prowlarr would refuse or store under another spelling."""


def valid_label(label: str) -> bool:
    """Whether `label` is a lower-case Prowlarr tag label."""
    return bool(LABEL.fullmatch(label))


def check_labels(labels: Iterable[str]) -> None:
    """Raise TagLabelError naming the labels that are not lower-case `[a-z0-9-]+`."""
    bad = sorted({label for label in labels if not valid_label(label)})
    if bad:
        raise TagLabelError(
            f"tag labels must be lower case letters, digits and '-': {', '.join(map(repr, bad))}"
        )


def ensure_tags(client: ProwlarrClient, labels: Iterable[str]) -> dict[str, int]:
    """The id of each label, creating the missing ones: one GET, one POST per missing label.

    No request at all for no labels. Raises TagLabelError (nothing sent) or ProwlarrError.
    """
    wanted = sorted(set(labels))
    if not wanted:
        return {}
    check_labels(wanted)
    ids = {tag.label.lower(): tag.id for tag in client.list_tags()}
    for label in wanted:
        if label not in ids:
            ids[label] = client.create_tag(label).id
    return {label: ids[label] for label in wanted}
