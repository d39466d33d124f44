"""Integration fixtures: a reachable Juju controller or a skip, both charms built once, the image.

Without a reachable controller (no ``juju`` CLI, no current controller, or one that does not
answer) every test here is marked skipped with the reason. The check runs after collection, and
not at all under ``--collect-only``, so collection always lists every test.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar, cast

import pytest
import pytest_asyncio
import yaml
from lightkube import Client
from lightkube.core.exceptions import ConfigError
from pytest_operator.plugin import OpsTest

from tests.integration.helpers import LIBRARY, REPO_ROOT, TESTER_DIR, as_dict

_HERE = Path(__file__).resolve().parent
_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "ppc64le": "ppc64el", "s390x": "s390x"}
_PROBE_TIMEOUT = 60
_F = TypeVar("_F", bound=Callable[..., Awaitable[object]])


class _UnusableError(Exception):
    """Why the Juju client cannot reach a controller."""


def _juju(*args: str) -> str:
    juju = shutil.which("juju")
    if juju is None:
        raise _UnusableError("the `juju` CLI is not installed")
    try:
        done = subprocess.run(  # noqa: S603 (fixed command, no shell)
            [juju, *args], capture_output=True, text=True, timeout=_PROBE_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise _UnusableError(f"`juju {args[0]}` did not answer in {_PROBE_TIMEOUT}s") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()] or ["no output"]
        raise _UnusableError(f"`juju {' '.join(args)}` failed: {lines[0]}")
    return done.stdout


def controller_problem(controller: str | None) -> str | None:
    """Why no Juju controller is usable, or None when one answers."""
    try:
        known = as_dict(json.loads(_juju("controllers", "--format=json") or "{}"), "controllers")
        name = controller or known.get("current-controller")
        if not name:
            return "this client has no current controller (scripts/deploy-local.sh bootstraps one)"
        if name not in as_dict(known.get("controllers") or {}, "controllers"):
            return f"controller {name!r} is not known to this client"
        _juju("models", "--controller", str(name), "--format=json")  # needs the controller
    except _UnusableError as err:
        return str(err)
    except ValueError as err:
        return f"unexpected `juju controllers` output: {err}"
    return None


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--with-cos`: also run the optional COS Lite step (test_cos.py)."""
    parser.addoption(
        "--with-cos",
        action="store_true",
        default=False,
        help="also deploy COS Lite and check that Prowlarr's target, rules, dashboard and logs "
        "arrive (needs about 8 GB of free memory)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip every integration test, with the reason, when no controller is reachable."""
    ours = [item for item in items if _HERE in item.path.parents]
    if not ours or config.option.collectonly:
        return
    controller: str | None = config.getoption("--controller", default=None)
    problem = controller_problem(controller)
    if problem is None:
        return
    skip = pytest.mark.skip(reason=f"no reachable Juju controller: {problem}")
    for item in ours:
        item.add_marker(skip)


def _for_this_host(charms: list[Path]) -> Path:
    """The packed charm built for this machine's architecture."""
    arch = _ARCHITECTURES.get(platform.machine(), platform.machine())
    matching = [charm for charm in charms if arch in charm.name] or charms
    assert matching, "charmcraft pack produced no .charm file"
    return matching[0]


@pytest.fixture(scope="session")
def charm_resources() -> list[str]:
    """`--resource name=image` values: each OCI image resource's pinned `upstream-source`."""
    metadata = as_dict(yaml.safe_load((REPO_ROOT / "metadata.yaml").read_text()), "metadata")
    values: list[str] = []
    for name, raw in as_dict(metadata.get("resources"), "resources").items():
        resource = as_dict(raw, name)
        if resource.get("type") != "oci-image":
            continue
        image = resource.get("upstream-source")
        assert isinstance(image, str) and image, f"metadata.yaml: {name} has no upstream-source"
        values += ["--resource", f"{name}={image}"]
    assert "--resource" in values, "metadata.yaml declares no OCI image resource"
    return values


def _module_fixture(function: _F) -> _F:
    """``pytest_asyncio.fixture(scope="module")`` with its type kept for pyright."""
    return cast("_F", pytest_asyncio.fixture(function, scope="module"))


@_module_fixture
async def prowlarr_charm(ops_test: OpsTest) -> Path:
    """prowlarr-k8s, packed from this repository."""
    return _for_this_host(await ops_test.build_charm(REPO_ROOT, return_all=True))


@_module_fixture
async def tester_charm(ops_test: OpsTest) -> Path:
    """The tester charm, packed with a copy of the media-indexer library (removed afterwards)."""
    source = REPO_ROOT / LIBRARY
    assert source.is_file(), f"{LIBRARY} is missing: the tester charm is packed with it"
    copy = TESTER_DIR / LIBRARY
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, copy)
    try:
        return _for_this_host(await ops_test.build_charm(TESTER_DIR, return_all=True))
    finally:
        shutil.rmtree(TESTER_DIR / "lib", ignore_errors=True)


@pytest.fixture(scope="module")
def kube() -> Client:
    """A Kubernetes client for the cluster behind the model (kubeconfig from the environment)."""
    try:
        return Client()
    except ConfigError as err:
        pytest.fail(
            f"lightkube found no kubeconfig ({err}). On MicroK8s, "
            "`export KUBECONFIG=~/.kube/microk8s.config` (scripts/deploy-local.sh writes it; "
            "or `sudo microk8s config > FILE` and export KUBECONFIG=FILE), then run tox again: "
            "tox -e integration passes KUBECONFIG through."
        )
