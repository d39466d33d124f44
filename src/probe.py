"""Prowlarr's process: make the container run it as specified, then check that it answers.

`ensure` makes the container what the spec says (with the pre-refresh copy before Prowlarr's
first start in a new container) and `probe` lists Prowlarr's applications: one request that
proves Prowlarr is up, takes the key in config.xml and serves the URL base the charm chose.
Prowlarr still running with a key or URL base from before a change gets one restart through
Pebble; the second time the same settings fail, the unit is Blocked instead of restarting in a
loop. Both report like any capability.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import ops

import ingress
from api_key import UNUSABLE_KEY
from backup import PreRefreshCopy
from capability import ActionError, Report
from charm_config import CharmConfig, InvalidConfigError, load_config
from prowlarr import (
    Application,
    ProwlarrAuthError,
    ProwlarrClient,
    ProwlarrConnectionError,
    ProwlarrError,
    ProwlarrResponseError,
    ProwlarrStartingError,
    header_safe,
)
from workload import (
    CONTAINER_NAME,
    PORT,
    STARTUP_WAIT,
    ConfigXmlError,
    Ensured,
    ProwlarrConfig,
    Workload,
    WorkloadError,
    WorkloadSpec,
)

logger = logging.getLogger(__name__)

STARTING = "Prowlarr is starting"
STORAGE = "config"


@dataclass
class Started:
    """What `ensure` did: the container's state, and the pre-refresh copy it made (if any)."""

    ensured: Ensured | None
    report: Report
    copied: str = ""


def refresh_events(on: ops.CharmEvents) -> list[ops.BoundEvent]:
    """The events after which the charm's reconcile must run for the workload."""
    container = on[CONTAINER_NAME]
    checks = [container.pebble_ready, container.pebble_check_failed]
    return [*checks, container.pebble_check_recovered, on[STORAGE].storage_attached]


def ensure(
    workload: Workload, spec: WorkloadSpec, *, storage: bool, pre_refresh_copy: bool
) -> Started:
    """Make the container run Prowlarr as `spec` says; a problem when it cannot (yet).

    `storage`: whether the config storage is attached (nothing happens before).
    """
    report = Report("workload")
    if not storage:
        report.wait("waiting for the config storage")
        return Started(None, report)
    copy = PreRefreshCopy(workload) if pre_refresh_copy else None
    try:
        ensured = workload.ensure(spec, before_first_start=copy.make if copy else None)
    except WorkloadError as e:
        message = f"/config/config.xml: {e}" if isinstance(e, ConfigXmlError) else str(e)
        if e.blocked:
            report.block(message)
        else:
            logger.warning("%s; retrying on the next hook", e)
            report.wait(message)
        return Started(None, report)
    if ensured.seeded:
        logger.info("wrote a fresh API key into config.xml before Prowlarr's first start")
    if ensured.started:
        logger.info("Prowlarr (re)started with its Pebble layer")
    copied = copy.made if copy else ""
    if copied:
        report.summary = f"pre-refresh copy {copied}"
    return Started(ensured, report, copied)


@dataclass
class Probed:
    """Prowlarr's applications when it answered; `restarted_for` is what to remember."""

    applications: list[Application] | None
    report: Report
    restarted_for: str  # the settings Prowlarr was last restarted for ("" once it answers)


def probe(
    client: ProwlarrClient,
    workload: Workload,
    spec: WorkloadSpec,
    ensured: Ensured,
    restarted_for: str,
) -> Probed:
    """List Prowlarr's applications: one request proves it is up and takes the key.

    After a (re)start (`ensured.started`) it first waits for Prowlarr. A rejected key or a
    redirect (Prowlarr still runs with a key or URL base from before) gets one restart through
    Pebble; `restarted_for` is the fingerprint of the settings of the last such restart.
    """
    report = Report("workload")
    api_key = ensured.config.api_key
    if ensured.started and not client.wait_until_ready(timeout=STARTUP_WAIT):
        report.wait(STARTING)
        return Probed(None, report, restarted_for)
    try:
        applications = client.list_applications()
    except ProwlarrError as e:
        fingerprint = hashlib.sha256(f"{api_key}\n{spec.url_base}".encode()).hexdigest()
        restart = _Restart(workload, report, fingerprint, restarted_for)
        if isinstance(e, ProwlarrAuthError):
            restart("rejects the API key in config.xml")
        elif isinstance(e, ProwlarrResponseError) and 300 <= e.status_code < 400:
            restart(f"serves another URL base than {spec.url_base or '/'}")
        elif isinstance(e, ProwlarrStartingError) or (
            isinstance(e, ProwlarrConnectionError) and not client.ping()
        ):
            report.wait(STARTING)
        else:
            report.wait(f"Prowlarr is not ready: {e}")
        return Probed(None, report, restart.remembered)
    version = client.version or "unknown"
    report.state = f"Prowlarr {version} runs here, serving {spec.url_base or '/'}"
    return Probed(applications, report, "")


class _Restart:
    """Restart Prowlarr once for the settings `fingerprint`; Blocked the second time."""

    def __init__(self, workload: Workload, report: Report, fingerprint: str, last: str) -> None:
        self.workload = workload
        self.report = report
        self.fingerprint = fingerprint
        self.remembered = last

    def __call__(self, problem: str) -> None:
        if self.remembered == self.fingerprint:
            self.report.block(f"Prowlarr {problem} even after a restart")
            return
        logger.warning(
            "Prowlarr %s (config changed without a restart): restarting it through Pebble",
            problem,
        )
        self.remembered = self.fingerprint
        try:
            self.workload.restart()
        except WorkloadError as e:
            self.report.wait(str(e))
            return
        self.report.wait("restarting Prowlarr to load its configuration")


STANDBY = "standby: Prowlarr runs on the leader only; scale back to 1 unit"


def stand_by(model: ops.Model, workload: Workload) -> Report:
    """A non-leader does not run Prowlarr: the SQLite database cannot be shared.

    It publishes its address to the ingress; the ingress' health check keeps traffic away.
    """
    ingress.request(model, None, PORT)
    report = Report("workload", state="standby: Prowlarr does not run on this unit")
    report.block(STANDBY)
    try:
        if workload.can_connect() and workload.is_running():
            logger.info("stopping Prowlarr: this unit is not the leader")
            workload.stop()
    except WorkloadError as e:
        logger.warning("cannot stop Prowlarr on this standby unit: %s", e)
        report.wait(f"cannot stop Prowlarr on this standby unit: {e}")
    return report


def spec_for(config: CharmConfig, exposed: ingress.IngressUrl | None) -> WorkloadSpec:
    """What the container must run; the charm, not config.xml or the UI, decides.

    The URL base is the path of the ingress URL once the ingress has answered (empty by host),
    else the `url-base` option.
    """
    url_base = exposed.url_base if exposed is not None else config.url_base
    return WorkloadSpec(log_level=config.log_level, url_base=url_base)


class UnavailableError(ActionError):
    """An action cannot reach Prowlarr; the message says why (never the key)."""


def running(
    model: ops.Model, workload: Workload, options: Mapping[str, object], *, usable: bool = False
) -> tuple[ProwlarrConfig, CharmConfig, WorkloadSpec]:
    """For an action: config.xml's key, the options and what Prowlarr runs with.

    Raises UnavailableError saying what is missing (with `usable`, also when the key is one
    no HTTP header can carry).
    """
    try:
        config = load_config(options)
        if not workload.can_connect():
            raise UnavailableError("the prowlarr container is not reachable")
        prowlarr = workload.read_config()
    except (InvalidConfigError, WorkloadError) as e:
        raise UnavailableError(str(e)) from None
    if prowlarr is None:
        raise UnavailableError("Prowlarr has no API key yet")
    if usable and not header_safe(prowlarr.api_key):
        raise UnavailableError(UNUSABLE_KEY)
    exposed, _ = ingress.reconcile(model)
    return prowlarr, config, spec_for(config, exposed)
