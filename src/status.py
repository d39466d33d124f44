"""The unit status and the `report` action, from what every capability reported.

Juju shows one status line. It names the most severe problem (Blocked before Waiting, then the
first in the reconcile's order) and how many others there are; `report` lists them all. With no
problem, the status is Active with each capability's summary. The line stays one line and
bounded: text from outside (a URL, Prowlarr's messages) is shortened where it enters, and the
whole line is cut at MAX_STATUS as a last resort.
"""

from __future__ import annotations

from collections.abc import Sequence

import ops

from capability import Report
from problem import Problem

# The Active status reads what Prowlarr serves first, then where, then the rest in reconcile order.
SUMMARY_FIRST = ("applications", "indexers", "ingress")
MAX_STATUS = 300  # characters of the status line, a bound for text from outside
MAX_URL = 80  # characters of a URL from outside (the ingress provider's) in the status
MORE = " (+{n} more: juju run {app}/leader report)"
NO_PROBLEM = "none"


def shorten(text: str, limit: int) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: max(limit - 1, 0)] + "…"


def problems(reports: Sequence[Report]) -> list[Problem]:
    """Every problem, most severe first (Blocked, then Waiting), each in reconcile order."""
    found = [problem for report in reports for problem in report.problems]
    return sorted(found, key=lambda problem: problem.waiting)


def unit_status(reports: Sequence[Report], app: str) -> ops.StatusBase:
    """One status line: the most severe problem and how many more, or Active with summaries."""
    found = problems(reports)
    if not found:
        ranked = sorted(reports, key=lambda r: _rank(r.capability))
        summary = " · ".join(r.summary for r in ranked if r.summary)
        return ops.ActiveStatus(shorten(summary, MAX_STATUS))
    first = found[0]
    more = MORE.format(n=len(found) - 1, app=app) if len(found) > 1 else ""
    message = shorten(first.message, MAX_STATUS - len(more)) + more
    return ops.WaitingStatus(message) if first.waiting else ops.BlockedStatus(message)


def _rank(capability: str) -> int:
    return SUMMARY_FIRST.index(capability) if capability in SUMMARY_FIRST else len(SUMMARY_FIRST)


def report_results(reports: Sequence[Report], app: str) -> dict[str, str]:
    """The `report` action's results: the status, each capability's state, every problem."""
    results = {r.capability: r.state for r in reports if r.state}
    lines = [f"{'waiting' if p.waiting else 'blocked'}: {p.message}" for p in problems(reports)]
    results["problems"] = "\n".join(lines) or NO_PROBLEM
    results["status"] = unit_status(reports, app).message
    return results
