"""The one shape every capability has: a `Hook` in, a `Report` out.

charm.py builds one `Hook` per dispatch, once Prowlarr answers, and calls each capability's
`reconcile(hook, ...) -> Report` in a fixed order (see `ProwlarrCharm._reconcile`). A capability
reads what it needs from the hook (the client, the memory, the options, the secret that changed),
makes Prowlarr or the containers hold what it wants, and says what it found in its report. It
never sets a status and never reaches back into the charm: `status.py` turns the reports into
the unit status and the `report` action's results.

Steps that run before Prowlarr answers (the workload, the key secret, the probe) report the same
way, with a `Report` they build themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import ops

from charm_config import CharmConfig
from memory import Memory
from problem import Problem
from prowlarr import Application, ProwlarrClient
from workload import Workload


class ActionError(Exception):
    """An action of a capability could not complete; the message says why (never a secret)."""


@dataclass
class Facts:
    """What earlier capabilities found that later ones need, filled in the reconcile's order."""

    applications: list[Application] = field(default_factory=list[Application])
    """Prowlarr's applications as the probe listed them (the registration's starting point)."""
    indexer_tags: dict[str, frozenset[str]] = field(default_factory=dict[str, frozenset[str]])
    """Tag labels of each declared indexer, by its name (filled by the indexers capability)."""


@dataclass(frozen=True)
class Hook:
    """What a capability may read in this dispatch; built once by charm.py, never changed."""

    model: ops.Model
    config: CharmConfig
    options: Mapping[str, object]  # the raw options, for those a capability parses itself
    memory: Memory  # the leader's peer databag (ledgers, fingerprints)
    client: ProwlarrClient  # Prowlarr's API, with the key Prowlarr accepts
    workload: Workload
    url_base: str  # "" or "/base": what Prowlarr serves under
    external_url: str  # where users reach Prowlarr through an ingress, else ""
    prowlarr_url: str  # where media managers call Prowlarr back (in-cluster URL + URL base)
    own_secret_id: str  # the prowlarr-api-key secret: never to be read as a manager's
    changed_secret: str  # unique ID of the secret a secret-changed is about, else ""
    started: bool  # Prowlarr was (re)started in this dispatch
    facts: Facts = field(default_factory=Facts)


@dataclass
class Report:
    """What one capability found: its problems, a status fragment, a line for `report`."""

    capability: str  # its name in the `report` action: applications, login, ingress, ...
    state: str = ""  # one line for the `report` action (never a secret value)
    summary: str = ""  # a fragment of the Active status, e.g. "2 applications synced"
    problems: list[Problem] = field(default_factory=list[Problem])

    def add(self, *problems: Problem) -> None:
        """Add problems to this report."""
        self.problems.extend(problems)

    def block(self, message: str) -> None:
        """A problem only the operator can fix."""
        self.problems.append(Problem(message, waiting=False))

    def wait(self, message: str) -> None:
        """A problem the charm expects to fix by itself."""
        self.problems.append(Problem(message))
