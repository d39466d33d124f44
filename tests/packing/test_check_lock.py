"""check_lock.py passes both charms and fails on a stale lock, a stale export or a missing wheel.

The end-to-end cases need uv (`tox -e charmcraft` installs it) and run the checker in a
subprocess on copies of the charm's pyproject.toml, uv.lock, requirements.txt and charmcraft.yaml.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECKER = Path(__file__).resolve().parent / "check_lock.py"
TESTER_DIR = ROOT / "tests" / "integration" / "tester"
UV = shutil.which("uv")
needs_uv = pytest.mark.skipif(UV is None, reason="uv is not installed here")


def _load_checker() -> Any:
    spec = importlib.util.spec_from_file_location("check_lock", CHECKER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_lock"] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


check_lock = _load_checker()
NOBLE_AMD64 = check_lock.Target((3, 12), (2, 39), "x86_64")
NOBLE_ARM64 = check_lock.Target((3, 12), (2, 39), "aarch64")


def run_checker(*charms: Path) -> tuple[int, str]:
    done = subprocess.run(  # noqa: S603 (this interpreter, a fixed script)
        [sys.executable, str(CHECKER), *map(str, charms)],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def charm_copy(tmp_path: Path) -> Path:
    for name in ("pyproject.toml", "uv.lock", "requirements.txt", "charmcraft.yaml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


@pytest.mark.parametrize(
    ("wheel", "fits"),
    [
        ("pydantic_core-2.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", True),
        ("pydantic_core-2.0-cp312-cp312-manylinux_2_39_x86_64.whl", True),
        ("pydantic_core-2.0-cp312-cp312-manylinux_2_40_x86_64.whl", False),
        ("pydantic_core-2.0-cp312-cp312-musllinux_1_1_x86_64.whl", False),
        ("pydantic_core-2.0-cp312-cp312-manylinux2014_aarch64.whl", False),
        ("pydantic_core-2.0-cp311-cp311-manylinux2014_x86_64.whl", False),
        ("pydantic_core-2.0-cp312-cp312-win_amd64.whl", False),
        ("cryptography-1.0-cp39-abi3-manylinux_2_28_x86_64.whl", True),
        ("cryptography-1.0-cp313-abi3-manylinux_2_28_x86_64.whl", False),
        ("ops-3.9.0-py3-none-any.whl", True),
        ("six-1.0-py2.py3-none-any.whl", True),
        ("ops-3.9.0.tar.gz", False),
    ],
)
def test_wheel_fits_noble_amd64(wheel: str, fits: bool) -> None:
    assert check_lock.wheel_fits(wheel, NOBLE_AMD64) is fits


def test_targets_come_from_charmcraft_yaml() -> None:
    found, problems = check_lock.targets(ROOT / "charmcraft.yaml")
    assert problems == []
    assert found == [NOBLE_AMD64, NOBLE_ARM64]


def test_a_package_without_a_wheel_for_a_target_is_reported() -> None:
    lock = {
        "package": [
            {
                "name": "pydantic-core",
                "version": "2.0",
                "source": {"registry": "https://pypi.org/simple"},
                "wheels": [
                    {"url": "https://x/pydantic_core-2.0-cp312-cp312-manylinux2014_x86_64.whl"}
                ],
            },
            {"name": "prowlarr-k8s", "version": "0.1.0", "source": {"virtual": "."}},
        ]
    }
    problems = check_lock.missing_wheels(lock, [NOBLE_AMD64, NOBLE_ARM64])
    assert len(problems) == 1
    assert problems[0].startswith("pydantic-core 2.0: no wheel for CPython 3.12 on aarch64")


@needs_uv
def test_both_charms_pass() -> None:
    rc, out = run_checker(ROOT, TESTER_DIR)
    assert rc == 0, out


@needs_uv
def test_a_dependency_added_without_relocking_fails(charm_copy: Path) -> None:
    pyproject = charm_copy / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('"httpx>=0.27,<1",', '"httpx>=0.27,<1",\n    "requests",'))
    assert '"requests"' in pyproject.read_text()
    rc, out = run_checker(charm_copy)
    assert rc == 1, out
    assert "uv.lock does not match pyproject.toml" in out


@needs_uv
def test_a_stale_requirements_export_fails(charm_copy: Path) -> None:
    requirements = charm_copy / "requirements.txt"
    lines = requirements.read_text().splitlines()
    requirements.write_text("\n".join(line for line in lines if not line.startswith("httpx==")))
    rc, out = run_checker(charm_copy)
    assert rc == 1, out
    assert "requirements.txt differs from the lock" in out
    assert "+httpx==" in out


@needs_uv
def test_a_lock_without_the_arm64_wheel_fails(charm_copy: Path) -> None:
    lock = charm_copy / "uv.lock"
    arm64_cp312 = ("pydantic_core-", "-cp312-cp312-manylinux", "aarch64")
    kept = [
        line
        for line in lock.read_text().splitlines()
        if not all(part in line for part in arm64_cp312)
    ]
    lock.write_text("\n".join(kept) + "\n")
    rc, out = run_checker(charm_copy)
    assert rc == 1, out
    assert "pydantic-core" in out
    assert "no wheel for CPython 3.12 on aarch64" in out
