"""Say which Python a tox environment runs on; stop with the reason below 3.11.

The charm runs on Ubuntu 24.04's Python 3.12, so the tox environments prefer it (tox.ini
`base_python`). Another 3.11+ is fine for the checks, with a note; 3.10 lacks `tomllib`, which
the packing checks need. Runs before each environment's commands; plain enough for any Python 3.6+.
"""

import sys

RUNTIME = (3, 12)
OLDEST = (3, 11)


def main() -> int:
    """Print a note or an error about the interpreter; the exit code says whether to go on."""
    found = sys.version_info[:2]
    shown = f"{found[0]}.{found[1]}"
    if found < OLDEST:
        sys.stderr.write(
            f"error: the tox environments need Python 3.11 or newer, found {shown} at "
            f"{sys.executable}. Install "
            "Python 3.12, the charm's runtime (Ubuntu 24.04: apt install python3.12-venv; "
            "elsewhere e.g. pyenv install 3.12), and run tox again.\n"
        )
        return 1
    if found != RUNTIME:
        print(
            f"note: running on Python {shown}; the charm runs on 3.12 (Ubuntu 24.04). Install "
            "python3.12 to test on the runtime's version; tox picks it up when it is on PATH."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
