"""check_metadata.py passes the real metadata and fails on each kind of broken copy.

The checker runs as CI runs it, in a subprocess, on mutated copies of metadata.yaml in a temporary
directory. `tox -e charmcraft` runs these tests with charmcraft installed, so charmcraft's model
takes part there; elsewhere its tests are skipped.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHECKER = Path(__file__).resolve().parent / "check_metadata.py"
METADATA = ROOT / "metadata.yaml"
TESTER = ROOT / "tests" / "integration" / "tester" / "charmcraft.yaml"
HAS_CHARMCRAFT = importlib.util.find_spec("charmcraft") is not None

Meta = dict[str, Any]


def run_checker(*paths: Path, require_charmcraft: bool = False) -> tuple[int, str]:
    flags = ["--require-charmcraft"] if require_charmcraft else []
    done = subprocess.run(  # noqa: S603 (this interpreter, a fixed script)
        [sys.executable, str(CHECKER), *flags, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def real_metadata() -> Meta:
    return cast("Meta", yaml.safe_load(METADATA.read_text()))


def write_copy(tmp_path: Path, meta: Meta) -> Path:
    path = tmp_path / "metadata.yaml"
    path.write_text(yaml.safe_dump(meta, sort_keys=False))
    return path


def test_the_real_metadata_passes() -> None:
    rc, out = run_checker(METADATA, TESTER, require_charmcraft=HAS_CHARMCRAFT)
    assert rc == 0, out
    assert out.count(": valid (") == 2, out


@pytest.mark.skipif(not HAS_CHARMCRAFT, reason="charmcraft is not installed here")
def test_charmcraft_model_takes_part() -> None:
    rc, out = run_checker(METADATA, require_charmcraft=True)
    assert rc == 0, out
    assert "charmcraft's model and Juju's rules" in out


@pytest.mark.skipif(not HAS_CHARMCRAFT, reason="charmcraft is not installed here")
def test_charmcraft_model_problems_fail(tmp_path: Path) -> None:
    meta = real_metadata()
    meta["docs"] = "see the README"
    rc, out = run_checker(write_copy(tmp_path, meta), require_charmcraft=True)
    assert rc == 1, out
    assert re.search(r"docs: .*URL.*\(charmcraft's CharmMetadata\)", out), out


def _set(path: str, value: object) -> Callable[[Meta], None]:
    """Set (or, with value None, delete) a dotted key path in the metadata."""

    def mutate(meta: Meta) -> None:
        *parents, last = path.split(".")
        node: Any = meta
        for key in parents:
            node = cast("Any", node[int(key)] if isinstance(node, list) else node[key])
        if value is None:
            del node[last]
        else:
            node[last] = value

    return mutate


# (mutation, text the checker must print) for each kind of breakage. The misspellings are the
# point of some cases, hence the codespell:ignore pragmas.
BROKEN: dict[str, tuple[Callable[[Meta], None], str]] = {
    "storage type typo": (
        _set("storage.config.type", "filesytem"),  # codespell:ignore
        "storage.config.type: 'filesytem' is not one of filesystem, block",  # codespell:ignore
    ),
    "container resource not declared": (
        _set("containers.prowlarr.resource", "prowlarr-img"),
        "containers.prowlarr.resource: 'prowlarr-img' is not declared in resources",
    ),
    "resource section lost": (
        _set("resources", None),
        "containers.prowlarr.resource: 'prowlarr-image' is not declared in resources",
    ),
    "container resource is a file": (
        _set("resources.prowlarr-image.type", "file"),
        "is not an oci-image resource",
    ),
    "resource type typo": (
        _set("resources.prowlarr-image.type", "oci_image"),
        "resources.prowlarr-image.type: 'oci_image' is not one of file, oci-image",
    ),
    "container with neither resource nor bases": (
        _set("containers.prowlarr.resource", None),
        "containers.prowlarr: needs exactly one of 'resource' and 'bases'",
    ),
    "mount of undeclared storage": (
        _set("containers.prowlarr.mounts.0.storage", "data"),
        "containers.prowlarr.mounts[0].storage: 'data' is not declared in storage",
    ),
    "relative mount location": (
        _set("containers.prowlarr.mounts.0.location", "config"),
        "containers.prowlarr.mounts[0].location: 'config' is not an absolute path",
    ),
    "storage key typo": (
        _set("storage.config.minimum_size", "1G"),
        "storage.config: unknown key 'minimum_size'",
    ),
    "storage size garbage": (
        _set("storage.config.minimum-size", "one gig"),
        "storage.config.minimum-size: 'one gig' is not a size",
    ),
    "top-level key typo": (
        _set("storge", {"data": {"type": "filesystem"}}),  # codespell:ignore
        "(top level): unknown key 'storge'",  # codespell:ignore
    ),
    "assumes version garbage": (
        _set("assumes", ["juju >= three", "k8s-api"]),
        "assumes[0]: 'juju >= three' is not",
    ),
    "assumes unknown feature": (
        _set("assumes", ["juju >= 3.6", "k8s-apis"]),
        "assumes[1]: unknown feature 'k8s-apis'",
    ),
    "assumes empty group": (
        _set("assumes", ["k8s-api", {"any-of": cast("list[str]", [])}]),
        "assumes[1].any-of: must be a non-empty list",
    ),
    "assumes without k8s-api": (
        _set("assumes", ["juju >= 3.6"]),
        "assumes: a charm with containers must assume k8s-api",
    ),
    "assumes not a list": (_set("assumes", "juju >= 3.6"), "assumes: must be a list"),
    "relation without interface": (
        _set("provides.media-indexer.interface", None),
        "provides.media-indexer.interface: missing",
    ),
    "relation scope typo": (
        _set("provides.media-indexer.scope", "model"),
        "provides.media-indexer.scope: 'model' is not one of global, container",
    ),
    "relation limit garbage": (
        _set("provides.media-indexer.limit", 0),
        "provides.media-indexer.limit: 0 is not a positive integer",
    ),
    "peers as a list": (_set("peers", ["prowlarr-peers"]), "peers: must be a mapping"),
    "duplicate relation name": (
        _set("requires", {"prowlarr-peers": {"interface": "other"}}),
        "peers.prowlarr-peers: the name is also used in requires",
    ),
    "reserved relation name": (
        _set("provides.juju-info", {"interface": "juju-info"}),
        "provides.juju-info: relation names juju and juju-* are reserved",
    ),
    "floating linuxserver tag": (
        _set("resources.prowlarr-image.upstream-source", "lscr.io/linuxserver/prowlarr:2.3.5"),
        "pin the full <version>-ls<build> tag",
    ),
    "latest tag": (
        _set("resources.prowlarr-image.upstream-source", "docker.io/example/prowlarr:latest"),
        "floats: pin a version tag or a digest",
    ),
    "no tag": (
        _set("resources.prowlarr-image.upstream-source", "registry:5000/prowlarr"),
        "has no tag",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_copy_fails(tmp_path: Path, case: str) -> None:
    mutate, expected = BROKEN[case]
    meta = copy.deepcopy(real_metadata())
    mutate(meta)
    rc, out = run_checker(write_copy(tmp_path, meta))
    assert rc == 1, out
    assert expected in out, out


def test_an_image_digest_is_a_pin(tmp_path: Path) -> None:
    meta = real_metadata()
    image = f"lscr.io/linuxserver/prowlarr@sha256:{'0' * 64}"
    _set("resources.prowlarr-image.upstream-source", image)(meta)
    rc, out = run_checker(write_copy(tmp_path, meta))
    assert rc == 0, out


def test_readme_deploys_the_pinned_image() -> None:
    image = real_metadata()["resources"]["prowlarr-image"]["upstream-source"]
    readme = (ROOT / "README.md").read_text()
    deployed = re.findall(r"--resource prowlarr-image=(\S+)", readme)
    assert deployed, "README.md no longer shows a --resource prowlarr-image=... deploy line"
    assert set(deployed) == {image}, f"README.md deploys {deployed}, metadata.yaml pins {image}"
