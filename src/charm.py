#!/usr/bin/env python3
"""Juju charm for Prowlarr: run it, own its API-key secret, register the media managers."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

import ops
from charms.prowlarr_k8s.v0.media_indexer import (
    ApiKeyStatus,
    MediaIndexerProvider,
    MediaIndexerRequirerData,
    RemoteData,
)

import api_key
from api_key import SECRET_LABEL, RotationError
from charm_config import CharmConfig, InvalidConfigError, load_config
from prowlarr import ProwlarrAuthError, ProwlarrClient, ProwlarrError
from registration import (
    IMPLEMENTATIONS,
    DesiredApplication,
    dump_records,
    load_records,
    sync_applications,
)
from workload import (
    CONTAINER_NAME,
    PORT,
    ConfigXmlError,
    ProwlarrConfig,
    Workload,
    WorkloadError,
)

logger = logging.getLogger(__name__)
# httpx logs every request URL at INFO: keep juju debug-log about the charm, not its HTTP traffic.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

PEER_RELATION = "prowlarr-peers"
RECORDS_KEY = "applications"
COMMAND_TIMEOUT = 60.0
# After (re)starting Prowlarr, wait this long for it in the same hook, so a fresh deployment
# registers its media managers at once instead of at the next update-status.
STARTUP_WAIT = 30.0
WAITING_FOR_PEBBLE = "waiting for Pebble in the prowlarr container"
LEADER_ONLY = "{action} runs on the leader unit only (the one marked * in juju status)"


@dataclass
class _Outcome:
    """What this dispatch found out; collect-status turns it into the unit status."""

    statuses: list[ops.StatusBase] = field(default_factory=list[ops.StatusBase])
    synced: int | None = None


class ProwlarrCharm(ops.CharmBase):
    """Runs Prowlarr on the leader and shares its API key only through a Juju secret."""

    _stored = ops.StoredState()

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self._stored.set_default(workload_version="", restarted_for="")
        self.workload = Workload(self.unit.get_container(CONTAINER_NAME))
        self.media_indexer = MediaIndexerProvider(self)
        self._outcome: _Outcome | None = None

        for event in (
            self.on.install,
            self.on.upgrade_charm,
            self.on.config_changed,
            self.on.leader_elected,
            self.on.update_status,
            self.on[CONTAINER_NAME].pebble_ready,
            self.on[CONTAINER_NAME].pebble_check_failed,
            self.on[CONTAINER_NAME].pebble_check_recovered,
            self.on["config"].storage_attached,
            self.on["media-indexer"].relation_joined,
            self.media_indexer.on.changed,
            self.media_indexer.on.api_key_changed,
            self.on[PEER_RELATION].relation_changed,
        ):
            framework.observe(event, self._reconcile)
        framework.observe(self.on.collect_unit_status, self._on_collect_status)
        framework.observe(self.on.rotate_api_key_action, self._on_rotate_api_key)
        framework.observe(self.on.sync_indexers_action, self._on_sync_indexers)
        framework.observe(self.on.secret_rotate, self._on_secret_rotate)
        framework.observe(self.on.secret_remove, self._on_secret_remove)

    # ----------------------------------------------------------------- reconcile

    def _reconcile(self, _: ops.EventBase | None = None) -> None:
        """Bring the workload, the secret, the relations and Prowlarr in line; idempotent."""
        outcome = self._outcome = _Outcome()
        if not self.unit.is_leader():
            self._idle()
            outcome.statuses.append(
                ops.BlockedStatus(
                    "standby: Prowlarr runs on the leader only; scale back to 1 unit"
                )
            )
            return
        prepared = self._prepare(outcome)
        if prepared is None:
            return
        config, prowlarr, started = prepared
        secret = api_key.ensure_secret(
            self.model, self.app, prowlarr.api_key, config.api_key_rotation.policy
        )
        self.media_indexer.publish(
            secret, api_url=self._api_url, base_path=prowlarr.url_base or None
        )
        with ProwlarrClient(prowlarr.api_key, prowlarr.url_base) as client:
            if self._check_prowlarr(outcome, client, prowlarr, started=started):
                self._register_applications(outcome, client, config, prowlarr.url_base)

    def _prepare(self, outcome: _Outcome) -> tuple[CharmConfig, ProwlarrConfig, bool] | None:
        """Validate config, wait for storage and Pebble, then ensure the workload.

        Returns the config, config.xml's settings and whether Prowlarr was just (re)started;
        None, with the reason in `outcome`, when the reconcile cannot go further.
        """
        try:
            config = load_config(self.config)
        except InvalidConfigError as e:
            outcome.statuses.append(ops.BlockedStatus(str(e)))
            return None
        if not self.model.storages.get("config"):
            outcome.statuses.append(ops.WaitingStatus("waiting for the config storage"))
            return None
        if not self.workload.can_connect():
            outcome.statuses.append(ops.WaitingStatus(WAITING_FOR_PEBBLE))
            return None
        try:
            prowlarr, started = self._ensure_workload(config)
        except (WorkloadError, ops.pebble.Error) as e:
            outcome.statuses.append(_workload_status(e))
            return None
        return config, prowlarr, started

    def _idle(self) -> None:
        """A non-leader does not run Prowlarr: the SQLite database cannot be shared."""
        if self.workload.can_connect() and self.workload.is_running():
            logger.info("stopping Prowlarr: this unit is not the leader")
            self.workload.stop()

    @property
    def _api_url(self) -> str:
        return f"http://{self.app.name}.{self.model.name}.svc.cluster.local:{PORT}"

    def _ensure_workload(self, config: CharmConfig) -> tuple[ProwlarrConfig, bool]:
        """Own /config, seed config.xml with a key before the first start, run the service.

        Returns config.xml's settings and whether Prowlarr was (re)started by this call.
        """
        self.workload.ensure_ownership()
        prowlarr, written = self.workload.ensure_config()
        if written:
            logger.info("wrote a fresh API key into config.xml before Prowlarr's first start")
        started = self.workload.ensure_layer(config.log_level, prowlarr.url_base)
        if started:
            logger.info("Pebble layer changed: Prowlarr (re)started")
        self.unit.set_ports(PORT)
        return prowlarr, started

    def _check_prowlarr(
        self, outcome: _Outcome, client: ProwlarrClient, prowlarr: ProwlarrConfig, *, started: bool
    ) -> bool:
        """Tell whether Prowlarr answers and accepts config.xml's key; restart it once if not."""
        ready = client.wait_until_ready(timeout=STARTUP_WAIT) if started else client.ping()
        if not ready:
            outcome.statuses.append(ops.WaitingStatus("Prowlarr is starting"))
            return False
        try:
            status = client.system_status()
        except ProwlarrAuthError:
            fingerprint = hashlib.sha256(prowlarr.api_key.encode()).hexdigest()
            if self._stored.restarted_for == fingerprint:
                outcome.statuses.append(
                    ops.BlockedStatus(
                        "Prowlarr rejects the API key in config.xml even after a restart"
                    )
                )
                return False
            logger.warning(
                "Prowlarr rejects the API key in config.xml (edited without a restart): "
                "restarting it through Pebble"
            )
            self._stored.restarted_for = fingerprint
            self.workload.restart()
            outcome.statuses.append(ops.WaitingStatus("restarting Prowlarr to load its API key"))
            return False
        except ProwlarrError as e:
            outcome.statuses.append(ops.WaitingStatus(f"Prowlarr is not ready: {e}"))
            return False
        self._stored.restarted_for = ""
        if status.version != self._stored.workload_version:
            self.unit.set_workload_version(status.version)
            self._stored.workload_version = status.version
        return True

    # ----------------------------------------------------------------- registration

    def _desired_applications(
        self, outcome: _Outcome, prowlarr_url: str, config: CharmConfig
    ) -> list[DesiredApplication]:
        """Each valid, granted requirer as the application it wants; problems go to status."""
        desired: list[DesiredApplication] = []
        for remote in self.media_indexer.get_requirers():
            if remote.error:
                outcome.statuses.append(ops.BlockedStatus(remote.error))
                continue
            data = remote.data
            if data is None:
                continue
            wanted = self._desired_for(outcome, remote, data, prowlarr_url, config)
            if wanted is not None:
                desired.append(wanted)
        return desired

    def _desired_for(
        self,
        outcome: _Outcome,
        remote: RemoteData[MediaIndexerRequirerData],
        data: MediaIndexerRequirerData,
        prowlarr_url: str,
        config: CharmConfig,
    ) -> DesiredApplication | None:
        app_name = remote.app_name or f"relation {remote.relation.id}"
        result = self.media_indexer.get_api_key(remote.relation, data.api_key_secret_id)
        if result.status is ApiKeyStatus.NOT_GRANTED:
            if self._is_cross_model(data.api_key_secret_id):
                outcome.statuses.append(
                    ops.BlockedStatus(
                        f"{app_name}: its key secret comes from another model; Juju cannot "
                        "grant it across a cross-model relation"
                    )
                )
            else:
                outcome.statuses.append(
                    ops.WaitingStatus(f"waiting for {app_name} to grant its API key secret")
                )
            return None
        if result.api_key is None:
            outcome.statuses.append(ops.BlockedStatus(f"{app_name}: its secret holds no api-key"))
            return None
        implementation, contract = IMPLEMENTATIONS[data.manager.value]
        return DesiredApplication(
            relation_id=remote.relation.id,
            remote_app=app_name,
            name=data.instance_name,
            implementation=implementation,
            config_contract=contract,
            prowlarr_url=prowlarr_url,
            base_url=data.api_url.rstrip("/") + (data.base_path or ""),
            sync_level=config.sync_level.prowlarr,
            api_key=result.api_key,
        )

    def _is_cross_model(self, secret_id: str) -> bool:
        """A secret URI naming another model's UUID comes over a cross-model relation."""
        prefix = "secret://"
        if not secret_id.startswith(prefix):
            return False
        return secret_id[len(prefix) :].split("/", 1)[0] != self.model.uuid

    def _register_applications(
        self, outcome: _Outcome, client: ProwlarrClient, config: CharmConfig, url_base: str
    ) -> None:
        peers = self.model.get_relation(PEER_RELATION)
        if peers is None:
            outcome.statuses.append(ops.WaitingStatus("waiting for the peer relation"))
            return
        desired = self._desired_applications(outcome, self._api_url + url_base, config)
        live = {relation.id for relation in self.media_indexer.relations}
        databag = peers.data[self.app]
        records = load_records(databag.get(RECORDS_KEY))
        try:
            report = sync_applications(client, desired, records, live)
        except ProwlarrError as e:
            outcome.statuses.append(ops.WaitingStatus(f"cannot read Prowlarr's applications: {e}"))
            return
        if report.created or report.updated or report.deleted:
            logger.info(
                "Prowlarr applications: %d created, %d updated, %d deleted",
                report.created,
                report.updated,
                report.deleted,
            )
        serialized = dump_records(report.records) if report.records else ""
        if serialized != databag.get(RECORDS_KEY, ""):
            databag[RECORDS_KEY] = serialized
        for problem in report.problems:
            status = ops.WaitingStatus if problem.waiting else ops.BlockedStatus
            outcome.statuses.append(status(str(problem)))
        outcome.synced = report.synced

    # ----------------------------------------------------------------- status

    def _on_collect_status(self, event: ops.CollectStatusEvent) -> None:
        outcome = self._outcome
        if outcome is None:
            return  # nothing was reconciled in this dispatch: keep the current status
        for status in outcome.statuses:
            event.add_status(status)
        synced = outcome.synced or 0
        noun = "application" if synced == 1 else "applications"
        event.add_status(ops.ActiveStatus(f"{synced} {noun} synced"))

    # ----------------------------------------------------------------- rotation

    def _on_rotate_api_key(self, event: ops.ActionEvent) -> None:
        if not self.unit.is_leader():
            event.fail(LEADER_ONLY.format(action="rotate-api-key"))
            return
        try:
            rotated = self._rotate()
        except (_ActionError, RotationError) as e:
            event.fail(f"API key not rotated: {e}")
        else:
            event.set_results({"secret-id": rotated.secret_id, "revision": rotated.revision})
        finally:
            self._reconcile()

    def _on_secret_rotate(self, event: ops.SecretRotateEvent) -> None:
        if event.secret.label != SECRET_LABEL or not self.unit.is_leader():
            return
        try:
            self._rotate()
        except (_ActionError, RotationError) as e:
            logger.error("scheduled rotation of Prowlarr's API key failed: %s", e)
        self._reconcile()

    def _action_config(self) -> ProwlarrConfig:
        """config.xml's settings for an action; raises _ActionError saying why they are missing."""
        if not self.workload.can_connect():
            raise _ActionError("the prowlarr container is not reachable")
        try:
            prowlarr = self.workload.read_config()
        except ConfigXmlError as e:
            raise _ActionError(f"/config/config.xml: {e}") from None
        if prowlarr is None:
            raise _ActionError("Prowlarr has no API key yet")
        return prowlarr

    def _read_key(self) -> str | None:
        """config.xml's key now; None when there is none."""
        try:
            prowlarr = self.workload.read_config()
        except ConfigXmlError as e:
            raise RotationError(f"/config/config.xml: {e}") from None
        return prowlarr.api_key if prowlarr else None

    def _rotate(self) -> api_key.Rotated:
        """Rotate through Prowlarr's ResetApiKey, verify, then store the new key.

        Raises _ActionError or RotationError, after which the caller's reconcile leaves the
        secret holding the key Prowlarr accepts.
        """
        before = self._action_config()
        secret, info = api_key.find_secret(self.model)
        with ProwlarrClient(before.api_key, before.url_base) as client:
            new_key = api_key.reset_api_key(
                client, before.api_key, self._read_key, timeout=COMMAND_TIMEOUT
            )
        return api_key.store_rotated(secret, info, new_key)

    def _on_secret_remove(self, event: ops.SecretRemoveEvent) -> None:
        if event.secret.label == SECRET_LABEL and self.unit.is_leader():
            logger.info("removing obsolete revision %d of %s", event.revision, SECRET_LABEL)
            event.remove_revision()

    # ----------------------------------------------------------------- sync action

    def _on_sync_indexers(self, event: ops.ActionEvent) -> None:
        if not self.unit.is_leader():
            event.fail(LEADER_ONLY.format(action="sync-indexers"))
            return
        try:
            prowlarr = self._action_config()
            with ProwlarrClient(prowlarr.api_key, prowlarr.url_base) as client:
                command = client.run_command("ApplicationIndexerSync", forceSync=True)
                done = client.wait_for_command(command.id, timeout=COMMAND_TIMEOUT)
                applications = len(client.list_applications())
        except _ActionError as e:
            event.fail(str(e))
            return
        except ProwlarrError as e:
            event.fail(f"Prowlarr: {e}")
            return
        if not done.succeeded:
            event.fail(f"ApplicationIndexerSync ended {done.status}: {done.message or ''}")
            return
        event.set_results(
            {"status": done.status, "message": done.message or "", "applications": applications}
        )


def _workload_status(error: Exception) -> ops.StatusBase:
    """The status for a failure while ensuring the workload: Blocked when the operator must act."""
    if isinstance(error, ConfigXmlError):
        return ops.BlockedStatus(f"/config/config.xml: {error}")
    if isinstance(error, WorkloadError):
        return ops.BlockedStatus(str(error))
    logger.warning("Pebble call failed, retrying on the next hook: %s", error)
    return ops.WaitingStatus(WAITING_FOR_PEBBLE)


class _ActionError(Exception):
    """An action could not complete; the message says why (never the key)."""


if __name__ == "__main__":  # pragma: nocover
    ops.main(ProwlarrCharm)
