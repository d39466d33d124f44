"""The unit env's coverage report: the gate applies to the whole suite, not to a selection.

`tox -e unit -- ARGS` passes ARGS to pytest and then here. A selection (a test path, `-k`, `-m`,
`--lf`, `--deselect`...) runs part of the suite, whose coverage says nothing about the gate, so the
report is shown without it; options that select nothing (`-x`, `-q`, `-v`) keep the gate.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

SELECTING = frozenset({"-k", "-m", "--lf", "--last-failed", "--deselect", "--sw", "--stepwise"})
# Options whose value is the next argument (so that value is not a test path).
VALUED = frozenset({"-p", "-o", "-W", "-r", "-c", "--tb", "--maxfail", "--durations", "--rootdir"})


def is_selection(args: Sequence[str]) -> bool:
    """Whether pytest `args` run only part of the suite."""
    value_next = False
    for arg in args:
        if value_next:
            value_next = False
            continue
        name = arg.split("=", 1)[0]
        if name in SELECTING or arg.startswith(("-k", "-m")) or not arg.startswith("-"):
            return True
        value_next = name in VALUED and "=" not in arg
    return False


def main(args: Sequence[str]) -> int:
    """Run `coverage report`, without the gate when `args` select part of the suite."""
    command = [sys.executable, "-m", "coverage", "report"]
    if is_selection(args):
        print("note: a test selection was given, so the coverage gate is not applied")
        command.append("--fail-under=0")
    return subprocess.call(command)  # noqa: S603 - our own interpreter, fixed arguments


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
