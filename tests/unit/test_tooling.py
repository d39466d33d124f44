"""The developer tooling around the tests: tox's unit selection, the Python note, the licence."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from tests import coverage_report, python_note

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("args", "selection"),
    [
        ([], False),
        (["-x", "-q"], False),
        (["--tb", "native", "-v"], False),
        (["-p", "no:randomly"], False),
        (["tests/unit/test_layers.py"], True),
        (["-q", "tests/unit/test_layers.py::test_x"], True),
        (["-k", "rotation"], True),
        (["-krotation"], True),
        (["-m", "slow"], True),
        (["--lf"], True),
        (["--deselect=tests/unit/test_layers.py::test_x"], True),
    ],
)
def test_only_a_selection_skips_the_coverage_gate(args: list[str], selection: bool):
    assert coverage_report.is_selection(args) is selection


def test_unit_env_passes_its_arguments_as_the_selection():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    commands = tox["testenv:unit"]["commands"]

    assert "pytest {posargs}" in commands  # the arguments replace the default selection
    assert "coverage_report.py {posargs}" in commands


def test_no_tox_description_reads_as_a_factor_condition():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    for section in tox.sections():
        description = tox[section].get("description", "")
        assert not re.match(r"^[\w.,!-]+:", description), section


def test_python_note_stops_below_311_and_notes_other_versions(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setattr(sys, "version_info", (3, 10, 13, "final", 0))
    assert python_note.main() == 1
    assert "need Python 3.11 or newer, found 3.10" in capsys.readouterr().err

    monkeypatch.setattr(sys, "version_info", (3, 11, 7, "final", 0))
    assert python_note.main() == 0
    assert "the charm runs on 3.12" in capsys.readouterr().out

    monkeypatch.setattr(sys, "version_info", (3, 12, 3, "final", 0))
    assert python_note.main() == 0
    assert capsys.readouterr().out == ""


def test_the_licence_the_files_point_to_exists():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    assert project["license"] == "Apache-2.0"
    assert "Apache License" in (ROOT / "LICENSE").read_text().splitlines()[0]
    assert "Version 2.0, January 2004" in (ROOT / "LICENSE").read_text()


def test_ci_script_passes_shellcheck():
    try:
        result = subprocess.run(  # noqa: S603
            ["shellcheck", str(ROOT / ".ci/run")],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    assert result.returncode == 0, result.stdout
