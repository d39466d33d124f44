"""Count the calls a hook makes to Juju and Pebble, through ops' public API.

Used by the steady-state tests and the cost benchmark: secret writes, relation databag writes and
Pebble calls are counted by wrapping the ops methods that perform them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import ops
import pytest

# (owner class, method, counter name)
_WRAPPED: list[tuple[type[Any], str, str]] = [
    (ops.Application, "add_secret", "secret-add"),
    (ops.Secret, "set_content", "secret-set-content"),
    (ops.Secret, "set_info", "secret-set-info"),
    (ops.Secret, "grant", "secret-grant"),
    (ops.Secret, "revoke", "secret-revoke"),
    (ops.Secret, "remove_revision", "secret-remove-revision"),
    (ops.Secret, "remove_all_revisions", "secret-remove-all"),
    (ops.Model, "get_secret", "secret-read-get"),
    (ops.Secret, "get_info", "secret-read-info"),
    (ops.Secret, "peek_content", "secret-read-peek"),
    (ops.RelationDataContent, "__setitem__", "relation-write"),
    (ops.RelationDataContent, "__delitem__", "relation-write"),
    (ops.Container, "push", "pebble-push"),
    (ops.Container, "pull", "pebble-pull"),
    (ops.Container, "list_files", "pebble-list-files"),
    (ops.Container, "exec", "pebble-exec"),
    (ops.Container, "add_layer", "pebble-add-layer"),
    (ops.Container, "get_plan", "pebble-get-plan"),
    (ops.Container, "replan", "pebble-replan"),
    (ops.Container, "restart", "pebble-restart"),
    (ops.Container, "start", "pebble-start"),
    (ops.Container, "stop", "pebble-stop"),
    (ops.Container, "get_services", "pebble-get-services"),
    (ops.Unit, "set_workload_version", "workload-version-set"),
    (ops.Unit, "open_port", "port-open"),
    (ops.Unit, "close_port", "port-close"),
]

SECRET_WRITES = ("secret-add", "secret-set-content", "secret-set-info", "secret-revoke")
PEBBLE_WRITES = (
    "pebble-push",
    "pebble-exec",
    "pebble-add-layer",
    "pebble-replan",
    "pebble-restart",
)


class CallRecorder:
    """A Counter of wrapped calls; `reset()` between hooks."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def reset(self) -> None:
        """Forget what was counted so far."""
        self.calls.clear()

    def total(self, prefix: str) -> int:
        """The number of calls whose counter name starts with `prefix`."""
        return sum(n for name, n in self.calls.items() if name.startswith(prefix))

    def writes(self) -> dict[str, int]:
        """Every call that changes something in Juju or the container, by name."""
        names = (*SECRET_WRITES, *PEBBLE_WRITES, "relation-write", "workload-version-set")
        return {name: self.calls[name] for name in names if self.calls[name]}


def install(monkeypatch: pytest.MonkeyPatch) -> CallRecorder:
    """Wrap the ops methods above so every call is counted (the originals still run)."""
    recorder = CallRecorder()
    for owner, method, name in _WRAPPED:
        original: Callable[..., Any] = getattr(owner, method)

        def wrapper(
            *args: Any, _original: Callable[..., Any] = original, _name: str = name, **kw: Any
        ) -> Any:
            recorder.calls[_name] += 1
            return _original(*args, **kw)

        monkeypatch.setattr(owner, method, wrapper)
    return recorder
