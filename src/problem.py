"""What a capability reports for the unit status; only charm.py's collect-status sets it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """Something the unit status must show: Waiting when it should fix itself, else Blocked."""

    message: str
    waiting: bool = True
