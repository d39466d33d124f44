#!/usr/bin/env python3
"""media-indexer-tester: a Radarr stand-in on the requirer side of ``media-indexer``.

Only for the prowlarr-k8s integration tests. The charm

- owns an application secret ``tester-api-key`` = ``{"api-key": <32 hex>}`` and publishes the
  requirer data (manager ``radarr``) through the library, which grants that secret to the relation;
- serves, from its own charm container on port 7878, the Radarr v3 endpoints Prowlarr calls when it
  registers and syncs an application (``src/fake_radarr.py``, a detached standard-library HTTP
  server started on every hook if it is not running, restarted on upgrade-charm), and opens the
  port so that the application's Kubernetes Service forwards it;
- reads Prowlarr's key from the secret Prowlarr granted and reports on it through actions that
  never return a key.

How the tester knows which revision it holds: a consumer cannot ask Juju (``secret-info-get`` is
for owners, and secret-changed carries no ``JUJU_SECRET_REVISION``). So the tester reads Prowlarr's
key with ``refresh`` at exactly two moments: its first read on a relation, and secret-changed. It
counts the keys it has been given: ``revision`` is 1 after the first read and +1 each time
secret-changed moved it to a key it did not hold. The actions read the *tracked* revision (no
refresh, no peek), so what they report is exactly what Juju delivered through secret-changed. The
integration test compares the key's SHA-256 prefix with the owner's revisions to tell which one it
is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

import ops
from charms.prowlarr_k8s.v0.media_indexer import (
    ApiKeyChangedEvent,
    MediaIndexerRequirer,
    MediaManager,
)

logger = logging.getLogger(__name__)

PORT = 7878
RELATION = "media-indexer"
METRICS_RELATION = "metrics-endpoint"
OWN_SECRET_LABEL = "tester-api-key"
SECRET_KEY = "api-key"
SERVER_SCRIPT = "fake_radarr.py"
HTTP_TIMEOUT = 10.0


def fingerprint(key: str) -> str:
    """First 12 hex digits of the key's SHA-256: enough to compare keys, useless as a key."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def probe(api_url: str, base_path: str, key: str) -> int:
    """HTTP status Prowlarr answers to GET /api/v1/system/status with ``key`` (0: unreachable)."""
    url = f"{api_url.rstrip('/')}{base_path}/api/v1/system/status"
    # The URL comes from Prowlarr's relation data, validated by the library as http(s).
    request = urllib.request.Request(  # noqa: S310
        url, headers={"X-Api-Key": key, "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as err:
        err.close()
        return err.code
    except (urllib.error.URLError, OSError) as err:
        logger.warning("Prowlarr unreachable at %s: %s", url, type(err).__name__)
        return 0


@dataclass
class Tracking:
    """What the tester knows about Prowlarr's key on its current (or last) relation. No key."""

    relation_id: int | None
    secret_id: str
    api_url: str
    base_path: str
    revision: int = 0
    fingerprint: str = ""
    secret_changed: int = 0
    previous_fingerprint: str = ""
    previous_key_status: int = 0


class TesterCharm(ops.CharmBase):
    """Requirer half of media-indexer, playing Radarr."""

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self.indexer = MediaIndexerRequirer(self, RELATION)
        self.state_dir = self.charm_dir.parent / "media-indexer-tester"
        for event in (
            self.on.install,
            self.on.start,
            self.on.config_changed,
            self.on.update_status,
            self.on.leader_elected,
            self.on[RELATION].relation_created,
            self.on[RELATION].relation_joined,
            self.indexer.on.changed,
        ):
            framework.observe(event, self._reconcile)
        framework.observe(self.on.upgrade_charm, self._on_upgrade_charm)
        framework.observe(self.indexer.on.api_key_changed, self._on_prowlarr_key_changed)
        framework.observe(self.on.collect_unit_status, self._on_collect_unit_status)
        framework.observe(self.on["check-prowlarr-key"].action, self._on_check_prowlarr_key)
        framework.observe(self.on["fake-radarr-stats"].action, self._on_fake_radarr_stats)
        framework.observe(self.on["rotate-own-key"].action, self._on_rotate_own_key)
        framework.observe(self.on["scrape-prowlarr"].action, self._on_scrape_prowlarr)

    # -- paths ------------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """Where Prowlarr reaches this "Radarr": the application's Kubernetes Service."""
        return f"http://{self.app.name}.{self.model.name}.svc.cluster.local:{PORT}"

    @property
    def _key_file(self) -> Path:
        return self.state_dir / "api-key"

    @property
    def _pid_file(self) -> Path:
        return self.state_dir / "fake-radarr.pid"

    @property
    def _tracking_file(self) -> Path:
        return self.state_dir / "tracking.json"

    # -- reconcile --------------------------------------------------------------------------------

    def _reconcile(self, _: ops.EventBase) -> None:
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        secret, own_key = self._own_secret()
        if own_key is not None:
            self._write_own_key(own_key)
        self._ensure_server(restart=False)
        self.unit.set_ports(PORT)
        if secret is not None and self.unit.is_leader():
            self.indexer.publish(
                secret,
                api_url=self.api_url,
                manager=MediaManager.RADARR,
                instance_name=str(self.config.get("instance-name") or "radarr-tester"),
            )
        self._first_read(self.model.get_relation(RELATION))

    def _on_upgrade_charm(self, event: ops.UpgradeCharmEvent) -> None:
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._ensure_server(restart=True)
        self._reconcile(event)

    def _own_secret(self) -> tuple[ops.Secret | None, str | None]:
        """The tester's own secret and its latest key (created by the leader when missing)."""
        try:
            secret = self.model.get_secret(label=OWN_SECRET_LABEL)
        except ops.SecretNotFoundError:
            if not self.unit.is_leader():
                return None, None
            content = {SECRET_KEY: uuid.uuid4().hex}
            return self.app.add_secret(content, label=OWN_SECRET_LABEL), content[SECRET_KEY]
        # Owners track revisions like any consumer: peek at the latest.
        return secret, secret.peek_content().get(SECRET_KEY)

    def _write_own_key(self, key: str) -> None:
        """Hand the key to the fake Radarr API through a 0600 file (read on every request)."""
        with contextlib.suppress(OSError):
            if self._key_file.read_text(encoding="utf-8") == key:
                return
        tmp = self._key_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key)
        tmp.replace(self._key_file)

    def _first_read(self, relation: ops.Relation | None) -> None:
        """Read Prowlarr's key once per relation; later revisions arrive by secret-changed only."""
        tracking = self._load_tracking()
        if relation is None:
            if tracking is not None and tracking.relation_id is not None:
                tracking.relation_id = None
                self._save_tracking(tracking)
            return
        remote = self.indexer.get_provider_data(relation)
        if remote is None or remote.data is None:
            return
        data = remote.data
        if (
            tracking is not None
            and tracking.relation_id == relation.id
            and tracking.secret_id == data.api_key_secret_id
            and tracking.revision > 0
        ):
            return
        tracking = Tracking(
            relation_id=relation.id,
            secret_id=data.api_key_secret_id,
            api_url=data.api_url,
            base_path=data.base_path or "",
        )
        result = self.indexer.get_api_key(relation, data.api_key_secret_id)
        if result.available and result.api_key is not None:
            tracking.revision = 1
            tracking.fingerprint = fingerprint(result.api_key)
        else:
            logger.info("Prowlarr's key is not readable yet: %s", result.status.value)
        self._save_tracking(tracking)

    def _on_prowlarr_key_changed(self, event: ApiKeyChangedEvent) -> None:
        """secret-changed for Prowlarr's secret: move to the latest revision and count it."""
        relation = self.model.get_relation(RELATION, event.relation_id)
        tracking = self._load_tracking()
        if relation is None or tracking is None or tracking.relation_id != relation.id:
            return
        old_key, _ = self._read_tracked(tracking)
        result = self.indexer.get_api_key(relation, tracking.secret_id)
        tracking.secret_changed += 1
        if result.available and result.api_key is not None:
            new = fingerprint(result.api_key)
            if new != tracking.fingerprint:
                tracking.previous_fingerprint = tracking.fingerprint
                tracking.previous_key_status = (
                    probe(tracking.api_url, tracking.base_path, old_key) if old_key else 0
                )
                tracking.fingerprint = new
                tracking.revision += 1
        self._save_tracking(tracking)

    def _read_tracked(self, tracking: Tracking) -> tuple[str | None, str]:
        """The key of the revision this unit tracks (no refresh), or None and why not."""
        try:
            # By ID, like the library: a unit's consumer labels are unique in Juju.
            secret = self.model.get_secret(id=tracking.secret_id)
            key = secret.get_content().get(SECRET_KEY)
        except ops.SecretNotFoundError:
            return None, "secret not found"
        except ops.ModelError:
            # Not granted (any more): Juju says "permission denied" or similar; no key in it.
            return None, "not granted"
        return (key, "") if key else (None, "no api-key in the secret")

    # -- the fake Radarr API process --------------------------------------------------------------

    def _server_pid(self) -> int | None:
        try:
            pid = int(self._pid_file.read_text(encoding="utf-8").strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
        except (OSError, ValueError):
            return None
        zombie = stat.rpartition(")")[2].split()[:1] == ["Z"]
        return pid if SERVER_SCRIPT.encode() in cmdline and not zombie else None

    def _ensure_server(self, *, restart: bool) -> None:
        """Start the fake Radarr API unless it runs (idempotent); ``restart`` replaces it."""
        pid = self._server_pid()
        if pid is not None and not restart:
            return
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while self._server_pid() is not None and time.monotonic() < deadline:
                time.sleep(0.2)
        script = self.charm_dir / "src" / SERVER_SCRIPT
        command = [sys.executable, str(script), "--port", str(PORT)]
        with (self.state_dir / "fake-radarr.log").open("ab") as log:
            # Detached: own session, no inherited pipes, so the hook does not wait for it.
            process = subprocess.Popen(  # noqa: S603 (fixed command, no shell)
                [*command, "--state-dir", str(self.state_dir)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        self._pid_file.write_text(str(process.pid), encoding="utf-8")
        logger.info("fake Radarr API started on port %d (pid %d)", PORT, process.pid)

    # -- state ------------------------------------------------------------------------------------

    def _load_tracking(self) -> Tracking | None:
        try:
            raw = json.loads(self._tracking_file.read_text(encoding="utf-8"))
            raw.pop("label", None)  # written by an older tester
            return Tracking(**raw)
        except (OSError, ValueError, TypeError):
            return None

    def _save_tracking(self, tracking: Tracking) -> None:
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self._tracking_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(tracking)), encoding="utf-8")
        tmp.replace(self._tracking_file)

    # -- status -----------------------------------------------------------------------------------

    def _on_collect_unit_status(self, event: ops.CollectStatusEvent) -> None:
        if self._server_pid() is None:
            event.add_status(ops.BlockedStatus("fake Radarr API not running (fake-radarr.log)"))
        relation = self.model.get_relation(RELATION)
        remote = self.indexer.get_provider_data(relation) if relation is not None else None
        tracking = self._load_tracking()
        if relation is None:
            event.add_status(ops.ActiveStatus("not related to an indexer"))
        elif remote is None or remote.data is None:
            event.add_status(ops.WaitingStatus("waiting for Prowlarr's data"))
        elif tracking is None or tracking.relation_id != relation.id or tracking.revision == 0:
            event.add_status(ops.WaitingStatus("waiting for access to Prowlarr's key"))
        else:
            event.add_status(
                ops.ActiveStatus(f"holding Prowlarr's key, revision {tracking.revision}")
            )

    # -- actions (never return a key) -------------------------------------------------------------

    def _on_check_prowlarr_key(self, event: ops.ActionEvent) -> None:
        tracking = self._load_tracking()
        if tracking is None:
            never = {"has-key": "false", "accepted": "false", "related": "false", "revision": "0"}
            event.set_results({**never, "secret-changed": "0", "read-error": "never read"})
            return
        key, error = self._read_tracked(tracking)
        accepted = key is not None and probe(tracking.api_url, tracking.base_path, key) == 200
        event.set_results(
            {
                "has-key": str(key is not None).lower(),
                "accepted": str(accepted).lower(),
                "key-sha256-prefix": fingerprint(key) if key else "none",
                "revision": str(tracking.revision),
                "secret-changed": str(tracking.secret_changed),
                "previous-key-sha256-prefix": tracking.previous_fingerprint or "none",
                "previous-key-status": str(tracking.previous_key_status),
                "related": str(tracking.relation_id is not None).lower(),
                "relation-id": "none"
                if tracking.relation_id is None
                else str(tracking.relation_id),
                "read-error": error or "none",
            }
        )

    def _on_fake_radarr_stats(self, event: ops.ActionEvent) -> None:
        try:
            raw: dict[str, object] = json.loads(
                (self.state_dir / "stats.json").read_text(encoding="utf-8")
            )
        except (OSError, ValueError):
            raw = {}
        counters = {name: str(value) for name, value in raw.items()}
        try:
            own = fingerprint(self._key_file.read_text(encoding="utf-8"))
        except OSError:
            own = "none"
        running = str(self._server_pid() is not None).lower()
        event.set_results({**counters, "running": running, "own-key-sha256-prefix": own})

    def _on_rotate_own_key(self, event: ops.ActionEvent) -> None:
        if not self.unit.is_leader():
            event.fail("only the leader can rotate the application's secret")
            return
        secret, _ = self._own_secret()
        if secret is None:
            event.fail("the tester has no secret yet")
            return
        key = uuid.uuid4().hex
        secret.set_content({SECRET_KEY: key})
        self._write_own_key(key)
        event.set_results({"key-sha256-prefix": fingerprint(key)})

    def _on_scrape_prowlarr(self, event: ops.ActionEvent) -> None:
        """Scrape what Prowlarr's prometheus_scrape data points at, as Prometheus would."""
        relation = self.model.get_relation(METRICS_RELATION)
        remote = None if relation is None else cast("ops.Application | None", relation.app)
        if relation is None or remote is None:
            event.fail("not related over metrics-endpoint")
            return
        app_data = relation.data[remote]
        jobs = json.loads(app_data.get("scrape_jobs") or "[]")
        rules = json.loads(app_data.get("alert_rules") or "{}")
        addresses = [
            relation.data[unit].get("prometheus_scrape_unit_address", "")
            for unit in relation.units
        ]
        targets: list[str] = []
        for job in jobs:
            for config in job.get("static_configs", []):
                for target in config.get("targets", []):
                    host, _, port = str(target).rpartition(":")
                    # "*" stands for each unit that publishes an address, as Prometheus expands it.
                    hosts = [a for a in addresses if a] if host == "*" else [host]
                    path = job.get("metrics_path", "/metrics")
                    targets += [f"http://{h}:{port}{path}" for h in hosts]
        status, lines, system = 0, 0, "none"
        for url in targets[:1]:
            try:
                with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
                    status = int(response.status)
                    body = response.read().decode("utf-8", "replace")
            except urllib.error.HTTPError as err:
                status, body = err.code, ""
                err.close()
            except (urllib.error.URLError, OSError):
                status, body = 0, ""
            metrics = [line for line in body.splitlines() if line.startswith("prowlarr_")]
            lines = len(metrics)
            system = next(
                (m.rsplit(" ", 1)[-1] for m in metrics if m.startswith("prowlarr_system_status")),
                "none",
            )
        event.set_results(
            {
                "scrape-status": str(status),
                "targets": ",".join(targets) or "none",
                "metric-lines": str(lines),
                "system-status": system,
                "alert-groups": str(len(rules.get("groups", []))),
                "job-names": ",".join(str(job.get("job_name")) for job in jobs) or "none",
            }
        )


if __name__ == "__main__":  # pragma: nocover
    ops.main(TesterCharm)
