#!/usr/bin/env python3
"""Check that a charm packs from its lock: uv.lock current, requirements.txt in step, wheels only.

charmcraft's uv plugin installs exactly what uv.lock pins (``uv sync`` with ``UV_FROZEN``), so a
lock that lags behind pyproject.toml packs stale dependencies without a word, and a locked package
with no wheel for the charm's base and architectures is compiled at pack time (pydantic-core is
Rust: that build fails). For each charm directory given, this checks:

1. uv.lock satisfies pyproject.toml (``uv lock --check``; no network needed);
2. requirements.txt, when the directory has one, lists exactly what ``uv export`` derives from
   the lock (the tox environments install it, so the tests run what the charm ships);
3. every package in uv.lock has a wheel for each target of charmcraft.yaml: the Python and glibc
   of its ``base`` on each of its ``platforms`` (ubuntu@24.04 on amd64: CPython 3.12,
   manylinux up to glibc 2.39, x86_64). Markers are not evaluated: a package locked for another
   Python only is checked too.

Usage: check_lock.py [--uv UV] CHARM_DIR...

Prints one line per problem and exits 1 if there is any; 2 when uv cannot be found. Fix a stale
lock with ``tox -e lock``.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml

# What each charm base runs: CPython (major, minor) and glibc (major, minor).
BASES: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "ubuntu@22.04": ((3, 10), (2, 35)),
    "ubuntu@24.04": ((3, 12), (2, 39)),
}
MACHINES = {"amd64": "x86_64", "arm64": "aarch64", "ppc64el": "ppc64le", "s390x": "s390x"}
# The glibc each legacy manylinux tag stands for.
LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
EXPORT = ("export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project")

_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_(\w+)$")
_CPYTHON = re.compile(r"^cp(\d)(\d+)$")


@dataclass(frozen=True)
class Target:
    """One system a charm is packed for."""

    python: tuple[int, int]
    glibc: tuple[int, int]
    machine: str

    def __str__(self) -> str:
        python = ".".join(map(str, self.python))
        glibc = ".".join(map(str, self.glibc))
        return f"CPython {python} on {self.machine} (glibc {glibc})"


def targets(charmcraft_yaml: Path) -> tuple[list[Target], list[str]]:
    """The build targets charmcraft.yaml declares, and why some could not be read."""
    project = cast("dict[str, Any]", yaml.safe_load(charmcraft_yaml.read_text()) or {})
    base = project.get("base")
    if base not in BASES:
        return [], [f"{charmcraft_yaml}: base {base!r} is not one of {sorted(BASES)} (BASES)"]
    python, glibc = BASES[str(base)]
    found: list[Target] = []
    problems: list[str] = []
    for name, raw in cast("dict[str, Any]", project.get("platforms") or {}).items():
        entry = cast("dict[str, Any]", raw) if isinstance(raw, dict) else {}
        for build_for in cast("list[str]", entry.get("build-for") or [name]):
            arch = build_for.rpartition(":")[2]  # "ubuntu@24.04:amd64" or "amd64"
            if arch not in MACHINES:
                problems.append(f"{charmcraft_yaml}: platform {arch!r} is not in {list(MACHINES)}")
                continue
            found.append(Target(python, glibc, MACHINES[arch]))
    return found, problems


def _platform_fits(tag: str, target: Target) -> bool:
    if tag == "any":
        return True
    legacy, _, machine = tag.partition("_")
    if legacy in LEGACY_MANYLINUX:
        return machine == target.machine and LEGACY_MANYLINUX[legacy] <= target.glibc
    found = _MANYLINUX.match(tag)
    if found is None:
        return False
    glibc = (int(found[1]), int(found[2]))
    return found[3] == target.machine and glibc <= target.glibc


def _python_fits(tag: str, abi: str, target: Target) -> bool:
    major, minor = target.python
    if tag in ("py3", f"py{major}{minor}"):
        return abi == "none"
    found = _CPYTHON.match(tag)
    if found is None:
        return False
    version = (int(found[1]), int(found[2]))
    if abi == "abi3":
        return version <= target.python
    return version == target.python and abi in (tag, "none")


def wheel_fits(filename: str, target: Target) -> bool:
    """Whether pip or uv on ``target`` would install the wheel ``filename``."""
    if not filename.endswith(".whl"):
        return False
    parts = filename.removesuffix(".whl").split("-")
    if len(parts) < 5:
        return False
    pythons, abi, platforms = parts[-3:]
    return any(_platform_fits(tag, target) for tag in platforms.split(".")) and any(
        _python_fits(tag, abi, target) for tag in pythons.split(".")
    )


def missing_wheels(lock: dict[str, Any], wanted: Iterable[Target]) -> list[str]:
    """Locked registry packages that some target would have to build from source."""
    problems: list[str] = []
    for package in cast("list[dict[str, Any]]", lock.get("package", [])):
        if "registry" not in cast("dict[str, Any]", package.get("source", {})):
            continue  # the project itself, or a path or git source: not from an index
        name = f"{package.get('name')} {package.get('version')}"
        wheels = cast("list[dict[str, Any]]", package.get("wheels", []))
        files = [str(wheel.get("url", "")).rsplit("/", 1)[-1] for wheel in wheels]
        for target in wanted:
            if not any(wheel_fits(file, target) for file in files):
                problems.append(f"{name}: no wheel for {target}, charmcraft would build it")
    return problems


def _requirement_lines(text: str) -> list[str]:
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _run(uv: str, charm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (fixed arguments, no shell)
        [uv, *args, "--project", str(charm)], capture_output=True, text=True, check=False
    )


def check_charm(charm: Path, uv: str) -> list[str]:
    """Every problem with the lock of the charm in directory ``charm``."""
    problems: list[str] = []
    locked = _run(uv, charm, "lock", "--check", "--offline")
    if locked.returncode != 0:
        reason = locked.stderr.strip().splitlines() or ["no output"]
        problems.append(f"uv.lock does not match pyproject.toml ({reason[-1]}); run tox -e lock")
        return problems
    requirements = charm / "requirements.txt"
    if requirements.exists():
        exported = _run(uv, charm, *EXPORT, "--offline")
        want = _requirement_lines(exported.stdout)
        have = _requirement_lines(requirements.read_text())
        if exported.returncode != 0:
            problems.append(f"uv export failed: {exported.stderr.strip()}")
        elif want != have:
            diff = difflib.unified_diff(have, want, "requirements.txt", "uv export", lineterm="")
            problems.append("requirements.txt differs from the lock; run tox -e lock")
            problems += [f"  {line}" for line in diff]
    wanted, unreadable = targets(charm / "charmcraft.yaml")
    problems += unreadable
    tomllib = importlib.import_module("tomllib")  # Python 3.11+, like CI and charmcraft's host
    lock = cast("dict[str, Any]", tomllib.loads((charm / "uv.lock").read_text()))
    return problems + missing_wheels(lock, wanted)


def main(argv: list[str] | None = None) -> int:
    """Check each charm directory named on the command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("charms", nargs="+", type=Path, metavar="CHARM_DIR")
    parser.add_argument("--uv", default=shutil.which("uv"), help="the uv binary (default: PATH)")
    args = parser.parse_args(argv)
    if not args.uv:
        print("uv is not installed (tox -e charmcraft installs it)")
        return 2
    failed = False
    for charm in cast("list[Path]", args.charms):
        problems = check_charm(charm, str(args.uv))
        failed = failed or bool(problems)
        for problem in problems:
            print(f"{charm}: {problem}")
        if not problems:
            exported = ", requirements.txt" if (charm / "requirements.txt").exists() else ""
            print(f"{charm}: pyproject.toml, uv.lock{exported} agree; a wheel for every target")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
