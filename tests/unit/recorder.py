"""Count what a hook costs: Juju hook-tool calls, Pebble API calls, and the writes among them.

In a real unit every hook tool (`secret-get`, `relation-get`, `juju-log`, ...) is a process of its
own and every Pebble call a request on its socket, so these counts are what a hook really costs.
They are taken where ops.testing stands in for Juju and Pebble: the model backend (one method per
hook tool) and the Pebble client. ops-level calls are counted too, for the tests that speak in
terms of ops (`secret-set-content`, `relation-write`, `pebble-replan`, ...).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import ops
import pytest
from scenario import mocking

# (owner class, method, counter name) for the ops-level counters.
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

# The model backend's methods and the hook tool each one runs in a real unit.
HOOK_TOOLS: dict[str, str] = {
    "relation_get": "relation-get",
    "relation_set": "relation-set",
    "relation_ids": "relation-ids",
    "relation_list": "relation-list",
    "relation_remote_app_name": "relation-list",  # relation-list --app
    "relation_model_get": "relation-model-get",
    "is_leader": "is-leader",
    "config_get": "config-get",
    "status_get": "status-get",
    "status_set": "status-set",
    "network_get": "network-get",
    "application_version_set": "application-version-set",
    "juju_log": "juju-log",
    "secret_add": "secret-add",
    "secret_get": "secret-get",
    "secret_info_get": "secret-info-get",
    "secret_set": "secret-set",
    "secret_grant": "secret-grant",
    "secret_revoke": "secret-revoke",
    "secret_remove": "secret-remove",
    "storage_list": "storage-list",
    "storage_get": "storage-get",
    "opened_ports": "opened-ports",
    "open_port": "open-port",
    "close_port": "close-port",
    "planned_units": "goal-state",
    "resource_get": "resource-get",
    "action_get": "action-get",
    "action_set": "action-set",
    "action_fail": "action-fail",
    "action_log": "action-log",
}
# Hook tools that change something (status-set is the framework's, once per dispatch).
HOOK_TOOL_WRITES = frozenset(
    {
        "relation-set",
        "application-version-set",
        "secret-add",
        "secret-set",
        "secret-grant",
        "secret-revoke",
        "secret-remove",
        "open-port",
        "close-port",
    }
)
PEBBLE_CALLS = (
    "add_layer",
    "exec",
    "get_checks",
    "get_plan",
    "get_services",
    "get_system_info",
    "list_files",
    "make_dir",
    "pull",
    "push",
    "remove_path",
    "replan_services",
    "restart_services",
    "start_services",
    "stop_services",
)
PEBBLE_API_WRITES = frozenset(
    {
        "add_layer",
        "exec",
        "make_dir",
        "push",
        "remove_path",
        "replan_services",
        "restart_services",
        "start_services",
        "stop_services",
    }
)


class CallRecorder:
    """Counters of ops calls, hook tools, Pebble API calls and juju-log records by level."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.hook_tools: Counter[str] = Counter()
        self.pebble: Counter[str] = Counter()
        self.logs: Counter[str] = Counter()

    def reset(self) -> None:
        """Forget what was counted so far."""
        for counter in (self.calls, self.hook_tools, self.pebble, self.logs):
            counter.clear()

    def count_tool(self, tool: str) -> None:
        """Count one hook tool run.

        ops caches is-leader for the lease period (`_ModelBackend.is_leader`), which ops.testing's
        backend does not model: in a real unit a dispatch runs it once, and so it is counted.
        """
        if tool == "is-leader" and self.hook_tools[tool]:
            return
        self.hook_tools[tool] += 1

    def total(self, prefix: str) -> int:
        """The number of ops calls whose counter name starts with `prefix`."""
        return sum(n for name, n in self.calls.items() if name.startswith(prefix))

    def writes(self) -> dict[str, int]:
        """Every ops call that changes something in Juju or the container, by name."""
        names = (*SECRET_WRITES, *PEBBLE_WRITES, "relation-write", "workload-version-set")
        return {name: self.calls[name] for name in names if self.calls[name]}

    def hook_tool_writes(self) -> dict[str, int]:
        """Hook tools that change something, by name (status-set left out: the framework's)."""
        return {name: n for name, n in self.hook_tools.items() if name in HOOK_TOOL_WRITES}

    def pebble_writes(self) -> dict[str, int]:
        """Pebble API calls that change something, by name."""
        return {name: n for name, n in self.pebble.items() if name in PEBBLE_API_WRITES}


def _wrap(
    monkeypatch: pytest.MonkeyPatch,
    owner: type[Any],
    method: str,
    count: Callable[[tuple[Any, ...]], None],
) -> None:
    original: Callable[..., Any] = getattr(owner, method)

    def wrapper(*args: Any, **kw: Any) -> Any:
        count(args)
        return original(*args, **kw)

    monkeypatch.setattr(owner, method, wrapper)


def install(monkeypatch: pytest.MonkeyPatch) -> CallRecorder:
    """Wrap the ops, backend and Pebble methods so every call is counted (originals still run)."""
    recorder = CallRecorder()
    for owner, method, name in _WRAPPED:
        _wrap(monkeypatch, owner, method, lambda _, n=name: recorder.calls.update([n]))
    backend = mocking._MockModelBackend  # pyright: ignore[reportPrivateUsage]
    for method, tool in HOOK_TOOLS.items():
        if hasattr(backend, method):
            _wrap(monkeypatch, backend, method, lambda _, t=tool: recorder.count_tool(t))
    _wrap(
        monkeypatch,
        backend,
        "juju_log",
        lambda args: recorder.logs.update([str(args[1]).upper()]),
    )
    pebble_client = mocking._MockPebbleClient  # pyright: ignore[reportPrivateUsage]
    for method in PEBBLE_CALLS:
        if hasattr(pebble_client, method):
            _wrap(
                monkeypatch, pebble_client, method, lambda _, m=method: recorder.pebble.update([m])
            )
    return recorder
