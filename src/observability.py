"""COS: metrics through exportarr, logs through Pebble, a Grafana dashboard and alert rules.

Prowlarr has no /metrics. exportarr, in its own `exportarr` container, reads Prowlarr's API on
localhost and serves Prometheus metrics on port 9707. It needs Prowlarr's API key: the charm hands
it over only as a file (mode 0400, owned by exportarr's uid), never in the Pebble plan.

Four relations, all optional; without them nothing here touches a container or a databag:

- `metrics-endpoint` (prometheus_scrape): one scrape job for exportarr with a wildcard target,
  the alert rules of `prometheus_alert_rules/` and the Juju topology. Only the unit that runs
  Prowlarr (the leader; the others stand by) publishes its address, so only it is scraped and
  exportarr runs only there, next to a Prowlarr it can reach.
- `logging` (loki_push_api): both containers' service logs go to every Loki push endpoint through
  Pebble log targets; no Promtail.
- `grafana-dashboard` (grafana_dashboard): the dashboards of `grafana_dashboards/`.

The databag layouts are those the Charmhub libraries (prometheus_scrape, loki_push_api,
grafana_dashboard) write and parse; `cosl` does the topology, the rules and the encoding.
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import ops
from cosl import DashboardPath40UID, JujuTopology, LZMABase64
from cosl.rules import AlertRules
from ops import pebble

from capability import Report
from problem import Problem
from workload import CONTAINER_NAME as PROWLARR_CONTAINER
from workload import PORT as PROWLARR_PORT
from workload import normalize_url_base, plan_covers

logger = logging.getLogger(__name__)

METRICS_RELATION = "metrics-endpoint"
LOGGING_RELATION = "logging"
DASHBOARD_RELATION = "grafana-dashboard"

EXPORTARR_CONTAINER = "exportarr"
EXPORTARR_SERVICE = "exportarr"
EXPORTARR_CHECK = "exportarr-ready"
EXPORTARR_PORT = 9707
# The image has no shell and the binary is not on PATH; the v2 and v3 images both run as 65532.
EXPORTARR_COMMAND = "/exportarr prowlarr"
EXPORTARR_UID = 65532
EXPORTARR_GID = 65532
KEY_FILE = "/etc/exportarr/api-key"
SCRAPE_JOB = "exportarr"
LOG_LAYER = "log-forwarding"
WAITING_FOR_EXPORTARR = "waiting for Pebble in the exportarr container"

_SRC = Path(__file__).resolve().parent
ALERT_RULES_DIR = _SRC / "prometheus_alert_rules"
DASHBOARDS_DIR = _SRC / "grafana_dashboards"

# Unit databag keys of prometheus_scrape; the consumer expands a "*" target with the address.
_UNIT_ADDRESS = "prometheus_scrape_unit_address"
_UNIT_NAME = "prometheus_scrape_unit_name"
_UNIT_PATH = "prometheus_scrape_unit_path"


def refresh_events(on: ops.CharmEvents) -> list[ops.BoundEvent]:
    """The events after which the charm's reconcile must run for this capability."""
    return [
        on[EXPORTARR_CONTAINER].pebble_ready,
        on[METRICS_RELATION].relation_joined,
        on[METRICS_RELATION].relation_broken,
        on[LOGGING_RELATION].relation_changed,
        on[LOGGING_RELATION].relation_departed,
        on[LOGGING_RELATION].relation_broken,
        on[DASHBOARD_RELATION].relation_joined,
    ]


# --------------------------------------------------------------------------- what to remember


@dataclass(frozen=True)
class Applied:
    """What this unit put into its containers; the charm keeps it in its local StoredState.

    `key_fingerprint` is the SHA-256 of the key in exportarr's key file ("" when there is no
    file), `log_targets` whether log targets may be enabled in a plan. Only these two facts
    decide whether a hook touches the containers at all, so a hook without COS relations costs
    no Pebble call.
    """

    key_fingerprint: str = ""
    log_targets: bool = False

    def dump(self) -> str:
        """Serialise for StoredState."""
        return json.dumps({"key": self.key_fingerprint, "logs": self.log_targets})

    @classmethod
    def load(cls, text: str) -> Applied:
        """Read what `dump` wrote; anything else (a first hook) means nothing was applied."""
        data = _json_object(text)
        key, logs = data.get("key"), data.get("logs")
        return cls(
            key_fingerprint=key if isinstance(key, str) else "",
            log_targets=logs is True,
        )


@dataclass(frozen=True)
class ExporterInput:
    """What exportarr needs: Prowlarr's key and the URL base Prowlarr serves under.

    The URL base is the charm's decision (its `url-base` option today, an ingress later), not
    necessarily what config.xml shows.
    """

    api_key: str = field(repr=False)
    url_base: str = ""


@dataclass
class ObservabilityReport:
    """The outcome of one reconcile: what to remember and what to show."""

    applied: Applied
    problems: list[Problem] = field(default_factory=list[Problem])


def _json_object(text: str | None) -> dict[str, object]:
    """`text` parsed as a JSON object; {} when it is missing, malformed or not an object."""
    try:
        data: object = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return cast("dict[str, object]", data) if isinstance(data, dict) else {}


def key_fingerprint(api_key: str) -> str:
    """The SHA-256 of a key: safe to remember, useless to an attacker of a 128-bit random key."""
    return hashlib.sha256(api_key.encode()).hexdigest()


# --------------------------------------------------------------------------- exportarr layer


def exporter_service(url_base: str) -> pebble.ServiceDict:
    """The exportarr service: the key only as a file path, never as a value."""
    return {
        "override": "replace",
        "summary": "exportarr: Prometheus metrics from Prowlarr's API",
        "command": EXPORTARR_COMMAND,
        "startup": "enabled",
        "user-id": EXPORTARR_UID,
        "group-id": EXPORTARR_GID,
        "environment": {
            "PORT": str(EXPORTARR_PORT),
            "URL": f"http://localhost:{PROWLARR_PORT}{normalize_url_base(url_base)}",
            "API_KEY_FILE": KEY_FILE,
        },
    }


def exporter_checks() -> dict[str, pebble.CheckDict]:
    """A ready check on exportarr's own health endpoint (it answers 200 "OK" while serving)."""
    return {
        EXPORTARR_CHECK: {
            "override": "replace",
            "level": "ready",
            "period": "30s",
            "threshold": 3,
            "http": {"url": f"http://localhost:{EXPORTARR_PORT}/healthz"},
        }
    }


def exporter_layer(url_base: str) -> pebble.LayerDict:
    """The whole exportarr layer."""
    return {
        "summary": "exportarr",
        "description": "Prometheus exporter for Prowlarr; reads the API key from a file",
        "services": {EXPORTARR_SERVICE: exporter_service(url_base)},
        "checks": exporter_checks(),
    }


def _layer_in_plan(plan: pebble.Plan, url_base: str) -> bool:
    service = plan.services.get(EXPORTARR_SERVICE)
    if service is None or not plan_covers(service.to_dict(), exporter_service(url_base)):
        return False
    for name, check in exporter_checks().items():
        current = plan.checks.get(name)
        if current is None or not plan_covers(current.to_dict(), check):
            return False
    return True


def _keep_running(container: ops.Container, problems: list[Problem]) -> None:
    """Start exportarr when its service is planned but not running; say why when it fails.

    Raises pebble.Error when Pebble cannot be asked.
    """
    service = container.get_services(EXPORTARR_SERVICE).get(EXPORTARR_SERVICE)
    if service is None or service.is_running():
        return
    logger.warning("exportarr was not running (stopped by hand?): starting it")
    try:
        container.start(EXPORTARR_SERVICE)
    except pebble.ChangeError as e:
        logger.warning("exportarr does not start: %s", e.err)
        problems.append(Problem(f"starting exportarr failed: {e.err}"))


# --------------------------------------------------------------------------- prometheus_scrape


def scrape_jobs() -> list[dict[str, object]]:
    """One job: exportarr on every unit that publishes an address (only the one running Prowlarr).

    The job name is fixed, so the series keep their identity when leadership moves.
    """
    return [
        {
            "job_name": SCRAPE_JOB,
            "metrics_path": "/metrics",
            "static_configs": [{"targets": [f"*:{EXPORTARR_PORT}"]}],
        }
    ]


def alert_rules(topology: JujuTopology) -> dict[str, object]:
    """The rule files of `prometheus_alert_rules/`, with topology labels, as one rules file."""
    # cosl >= 1.0 < 2: AlertRules(query_type, topology) is available in all of them.
    rules = AlertRules(query_type="promql", topology=topology)
    rules.add_path(ALERT_RULES_DIR, recursive=False)
    return rules.as_dict()


# --------------------------------------------------------------------------- grafana_dashboard


def _alt_uid(charm_name: str, key: str) -> str:
    """The secondary dashboard id grafana_dashboard derives from charm and template key."""
    return hashlib.shake_256(f"{charm_name}-{key}".encode()).hexdigest(8)


def dashboard_templates(
    charm_name: str, topology: Mapping[str, str]
) -> dict[str, dict[str, object]]:
    """Each dashboard of `grafana_dashboards/` as a grafana_dashboard template entry.

    The uid is derived from the charm name and the file's path in the charm (stable across
    deployments), the dashboard is tagged with the charm and its JSON is LZMA-compressed and
    base64-encoded. Grafana adds the topology dropdowns the panels' queries filter on.
    """
    templates: dict[str, dict[str, object]] = {}
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        dashboard = json.loads(path.read_text())
        dashboard["uid"] = DashboardPath40UID.generate(
            charm_name, str(path.relative_to(_SRC.parent))
        )
        tags = [tag for tag in dashboard.get("tags", []) if isinstance(tag, str)]
        if not any(tag.startswith("charm: ") for tag in tags):
            tags.append(f"charm: {charm_name}")
        dashboard["tags"] = tags
        key = f"file:{path.stem}"
        templates[key] = {
            "charm": charm_name,
            "content": LZMABase64.compress(json.dumps(dashboard)),
            "juju_topology": dict(topology),
            "inject_dropdowns": True,
            "dashboard_alt_uid": _alt_uid(charm_name, key),
        }
    return templates


# --------------------------------------------------------------------------- loki_push_api


def loki_endpoints(relations: Iterable[ops.Relation]) -> tuple[dict[str, str], list[str]]:
    """Each Loki unit's push URL by unit name, and the units whose `endpoint` is invalid."""
    endpoints: dict[str, str] = {}
    invalid: list[str] = []
    for relation in relations:
        for unit in sorted(relation.units, key=lambda u: u.name):
            raw = relation.data[unit].get("endpoint")
            if not raw:
                continue  # not published yet
            url = _json_object(raw).get("url")
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                endpoints[unit.name] = url
            else:
                invalid.append(unit.name)
    return endpoints, invalid


def log_labels(topology: JujuTopology) -> dict[str, str]:
    """Juju topology labels for every forwarded log line (Pebble adds `pebble_service`)."""
    return {
        "juju_model": topology.model,
        "juju_model_uuid": topology.model_uuid,
        "juju_application": topology.application,
        "juju_unit": topology.unit or "",
        "charm": topology.charm_name or "",
    }


def log_target_changes(
    current: Mapping[str, pebble.LogTarget],
    endpoints: Mapping[str, str],
    labels: Mapping[str, str],
) -> dict[str, pebble.LogTargetDict]:
    """The log targets to (re)write so the plan forwards to exactly `endpoints`.

    One target per Loki unit, named after it. A later layer cannot delete a target, so one
    whose endpoint is gone is replaced by a disabled copy (`services: [-all]`, its old location,
    as Pebble wants one). Empty when the plan already matches.
    """
    changes: dict[str, pebble.LogTargetDict] = {}
    for name, url in endpoints.items():
        wanted: pebble.LogTargetDict = {
            "override": "replace",
            "type": "loki",
            "location": url,
            "services": ["all"],
            "labels": dict(labels),
        }
        target = current.get(name)
        if target is None or not plan_covers(dict(target.to_dict()), dict(wanted)):
            changes[name] = wanted
    for name, target in current.items():
        if name in endpoints or "-all" in target.services:
            continue
        changes[name] = {
            "override": "replace",
            "type": "loki",
            "location": target.location,
            "services": ["-all"],
        }
    return changes


# --------------------------------------------------------------------------- apply


def _sync_databag(databag: MutableMapping[str, str], wanted: Mapping[str, str | None]) -> None:
    """Set or delete each key of `wanted` (None deletes), writing only what differs."""
    for key, value in wanted.items():
        if value is None:
            if key in databag:
                del databag[key]
        elif databag.get(key) != value:
            databag[key] = value


class Observability:
    """The COS capability: relation data, exportarr and log targets for one unit."""

    def __init__(self, model: ops.Model, charm_name: str) -> None:
        self._model = model
        self._charm_name = charm_name

    @property
    def _unit(self) -> ops.Unit:
        return self._model.unit

    def _topology(self) -> JujuTopology:
        return JujuTopology(
            model=self._model.name,
            model_uuid=self._model.uuid,
            application=self._model.app.name,
            unit=self._unit.name,
            charm_name=self._charm_name,
        )

    def step(self, exporter: ExporterInput | None, remembered: str) -> tuple[str, Report]:
        """`reconcile` from what the unit remembers (`Applied.dump`); what to remember next."""
        found = self.reconcile(exporter, Applied.load(remembered))
        names = (METRICS_RELATION, LOGGING_RELATION, DASHBOARD_RELATION)
        related = ", ".join(name for name in names if self._model.relations[name])
        report = Report("cos", state=related or "no COS relation", problems=found.problems)
        return found.applied.dump(), report

    def reconcile(self, exporter: ExporterInput | None, applied: Applied) -> ObservabilityReport:
        """Bring relation data, exportarr and log targets in line; idempotent.

        `exporter` is given when Prowlarr runs on this unit (the leader), None on a unit that
        stands by. A steady hook writes nothing and pushes nothing.
        """
        report = ObservabilityReport(applied=applied)
        metrics = self._model.relations[METRICS_RELATION]
        dashboards = self._model.relations[DASHBOARD_RELATION]
        logging_relations = self._model.relations[LOGGING_RELATION]
        if not (metrics or dashboards or logging_relations or applied != Applied()):
            return report  # no COS relation, nothing of ours in a container: nothing to do
        topology = self._topology()
        self._publish_scrape(metrics, topology, scraped=exporter is not None)
        self._publish_dashboards(dashboards, topology)
        container = self._model.unit.get_container(EXPORTARR_CONTAINER)
        if exporter is not None and metrics:
            fingerprint = self._ensure_exporter(container, exporter, applied, report.problems)
        else:
            fingerprint = self._retire_exporter(container, applied, report.problems)
        logs = self._forward_logs(logging_relations, topology, applied, report.problems)
        report.applied = Applied(key_fingerprint=fingerprint, log_targets=logs)
        return report

    # ------------------------------------------------------------------- metrics-endpoint

    def _publish_scrape(
        self, relations: list[ops.Relation], topology: JujuTopology, *, scraped: bool
    ) -> None:
        """Job, topology and rules in the app databag; this unit's address if it is scraped."""
        if not relations:
            return
        app_data: dict[str, str | None] = {}
        if self._unit.is_leader():
            rules = alert_rules(topology)
            app_data = {
                "scrape_jobs": json.dumps(scrape_jobs()),
                "scrape_metadata": json.dumps(topology.as_dict()),
                "alert_rules": json.dumps(rules) if rules else None,
            }
        for relation in relations:
            if app_data:
                _sync_databag(relation.data[self._model.app], app_data)
            unit_data: dict[str, str | None] = {
                _UNIT_ADDRESS: self._address(relation) if scraped else None,
                _UNIT_NAME: self._unit.name if scraped else None,
                _UNIT_PATH: None,  # no path prefix; Juju stores "" as no key at all
            }
            _sync_databag(relation.data[self._unit], unit_data)

    def _address(self, relation: ops.Relation) -> str:
        """The pod address Prometheus scrapes (the FQDN when the binding has none)."""
        address = self._model.get_binding(relation).network.bind_address
        return str(address) if address is not None else socket.getfqdn()

    # ------------------------------------------------------------------- grafana-dashboard

    def _publish_dashboards(self, relations: list[ops.Relation], topology: JujuTopology) -> None:
        """The dashboards in each relation's app databag, rewritten only when they change."""
        if not relations or not self._unit.is_leader():
            return
        juju_topology = topology.as_dict(excluded_keys=["charm_name"])
        templates = dashboard_templates(self._charm_name, juju_topology)
        digest = hashlib.sha256(json.dumps(templates, sort_keys=True).encode()).hexdigest()
        serialized = json.dumps({"templates": templates, "uuid": digest[:32]})
        for relation in relations:
            databag = relation.data[self._model.app]
            if _json_object(databag.get("dashboards")).get("templates") != templates:
                databag["dashboards"] = serialized

    # ------------------------------------------------------------------- exportarr

    def _ensure_exporter(
        self,
        container: ops.Container,
        exporter: ExporterInput,
        applied: Applied,
        problems: list[Problem],
    ) -> str:
        """Run exportarr with the current key; return the fingerprint of the key file's key.

        The key file is pushed, and exportarr restarted once, when the key differs from the
        remembered fingerprint or when the plan has no exportarr service. The second case is a
        new exportarr container (pod recreated, container restarted): Pebble's plan lives in
        the container, so it is empty exactly when the container's filesystem, key file
        included, is new. The fingerprint lives in the charm's local StoredState, which a pod
        recreation may reset too; then the plan is empty as well (if only the charm container
        lost it, the file is pushed once more, harmlessly). Either way a recreated pod gets the
        file again, and a steady hook (same key, service in the plan) pushes nothing and
        restarts nothing, without reading the file back. Like Prowlarr's, the service is
        started again when it is not running (Pebble does not restart a service someone
        stopped by hand): one more Pebble call per hook, only with a metrics relation.
        """
        if not container.can_connect():
            problems.append(Problem(WAITING_FOR_EXPORTARR))
            return applied.key_fingerprint
        wanted = key_fingerprint(exporter.api_key)
        try:
            plan = container.get_plan()
            fresh = EXPORTARR_SERVICE not in plan.services
            key_current = not fresh and applied.key_fingerprint == wanted
            layer_current = _layer_in_plan(plan, exporter.url_base)
            if key_current and layer_current:
                _keep_running(container, problems)
                return wanted
            if not key_current:
                container.push(
                    KEY_FILE,
                    exporter.api_key,
                    make_dirs=True,
                    permissions=0o400,
                    user_id=EXPORTARR_UID,
                    group_id=EXPORTARR_GID,
                )
            if not layer_current:
                container.add_layer(
                    EXPORTARR_SERVICE,
                    pebble.Layer(exporter_layer(exporter.url_base)),
                    combine=True,
                )
                container.replan()  # starts exportarr, or restarts it: its service changed
                logger.info("exportarr layer applied: exportarr (re)started")
            else:
                container.restart(EXPORTARR_SERVICE)  # exportarr reads the key file at start
                logger.info("Prowlarr's API key changed: exportarr's key file replaced, restarted")
        except pebble.Error as e:
            logger.warning("exportarr: Pebble call failed, retrying on the next hook: %s", e)
            problems.append(Problem(WAITING_FOR_EXPORTARR))
            return ""  # unknown state: push and restart again on the next hook
        return wanted

    def _retire_exporter(
        self, container: ops.Container, applied: Applied, problems: list[Problem]
    ) -> str:
        """Stop exportarr and delete its key file when this unit ran it; return the fingerprint.

        Runs only when a key file was pushed here, so a unit that never ran exportarr makes no
        Pebble call. The layer stays in the plan (Pebble cannot remove one); the service is
        stopped and nothing replans that container but the charm.
        """
        if not applied.key_fingerprint:
            return ""
        if not container.can_connect():
            return applied.key_fingerprint  # retried on the next hook
        try:
            service = container.get_services(EXPORTARR_SERVICE).get(EXPORTARR_SERVICE)
            if service is not None and service.is_running():
                container.stop(EXPORTARR_SERVICE)
            container.remove_path(KEY_FILE)
        except pebble.PathError as e:
            if e.kind != "not-found":
                logger.warning("exportarr: cannot remove the key file: %s", e)
                problems.append(Problem(WAITING_FOR_EXPORTARR))
                return applied.key_fingerprint
        except pebble.Error as e:
            logger.warning("exportarr: Pebble call failed, retrying on the next hook: %s", e)
            problems.append(Problem(WAITING_FOR_EXPORTARR))
            return applied.key_fingerprint
        logger.info("exportarr stopped and its key file removed: no scrape wanted on this unit")
        return ""

    # ------------------------------------------------------------------- logging

    def _forward_logs(
        self,
        relations: list[ops.Relation],
        topology: JujuTopology,
        applied: Applied,
        problems: list[Problem],
    ) -> bool:
        """Point both containers' log targets at the Loki endpoints; return whether any is on.

        Log targets take effect when the layer is added: no replan, no service restart.
        """
        endpoints, invalid = loki_endpoints(relations)
        problems.extend(
            Problem(f"invalid logging endpoint from {name}", waiting=False) for name in invalid
        )
        if not endpoints and not applied.log_targets:
            return False
        labels = log_labels(topology)
        pending = False
        for name in (PROWLARR_CONTAINER, EXPORTARR_CONTAINER):
            container = self._unit.get_container(name)
            if not container.can_connect():
                pending = True  # its pebble-ready runs this again
                continue
            try:
                changes = log_target_changes(container.get_plan().log_targets, endpoints, labels)
                if changes:
                    container.add_layer(
                        LOG_LAYER, pebble.Layer({"log-targets": changes}), combine=True
                    )
                    logger.info("%s: log forwarding to %d Loki endpoint(s)", name, len(endpoints))
            except pebble.Error as e:
                logger.warning("%s: cannot update log targets: %s", name, e)
                pending = True
        return bool(endpoints) or pending
