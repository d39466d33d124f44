#!/usr/bin/env python3
"""Juju charm for Prowlarr: run it, own its API-key secret, register the media managers.

This file is the table of contents: which events lead to the one `_reconcile`, the order of its
steps, and the actions' wiring. Each step is a capability module (see capability.py) that
reports; `status.py` turns the reports into the unit status and the `report` action.
"""

from __future__ import annotations

import logging

import ops
from charms.prowlarr_k8s.v0.media_indexer import MediaIndexerProvider, secret_unique_id

import api_key
import auth
import backup
import database
import flaresolverr
import host_config
import indexers
import ingress
import managers
import probe
import registration
import status
from capability import ActionError, Facts, Hook, Report
from charm_config import InvalidConfigError, load_config
from memory import Memory
from observability import ExporterInput, Observability, refresh_events
from problem import Problem
from prowlarr import ProwlarrClient, ProwlarrError
from workload import CONTAINER_NAME, PORT, Workload, WorkloadError

logger = logging.getLogger(__name__)
# httpx logs every request URL at INFO: keep juju debug-log about the charm, not its HTTP traffic.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

PEER_RELATION = "prowlarr-peers"
# Actions on Prowlarr's API or data: their modules do the work (see _on_prowlarr_action).
PROWLARR_ACTIONS = ("sync-indexers", *backup.ACTIONS, *indexers.ACTIONS, *database.ACTIONS)
LEADER_ONLY = "{action} runs on the leader unit only (the one marked * in juju status)"


class ProwlarrCharm(ops.CharmBase):
    """Runs Prowlarr on the leader and shares its API key only through a Juju secret."""

    _stored = ops.StoredState()

    def __init__(self, framework: ops.Framework) -> None:
        super().__init__(framework)
        self._stored.set_default(
            workload_version="", restarted_for="", observability="", port_opened=False
        )
        self.workload = Workload(self.unit.get_container(CONTAINER_NAME))
        self.media_indexer = MediaIndexerProvider(self)
        self.observability = Observability(self.model, self.meta.name)
        self._reports: list[Report] | None = None  # what this dispatch's reconcile found
        self._skip_pre_refresh_copy = False  # set by skip-pre-refresh-backup for its dispatch

        for event in (
            self.on.install,
            self.on.upgrade_charm,
            self.on.config_changed,
            self.on.leader_elected,
            self.on.update_status,
            *probe.refresh_events(self.on),
            *managers.refresh_events(self.on, self.media_indexer),
            *ingress.refresh_events(self.on),
            *flaresolverr.refresh_events(self.on),
            *database.refresh_events(self.on),
            self.on[PEER_RELATION].relation_changed,
            *refresh_events(self.on),
        ):
            framework.observe(event, self._reconcile)
        framework.observe(self.on.collect_unit_status, self._on_collect_status)
        for action, handler in (
            ("rotate-api-key", self._on_rotate_api_key),
            ("get-ui-credentials", self._on_get_ui_credentials),
            ("skip-pre-refresh-backup", self._on_skip_pre_refresh),
            ("report", self._on_report),
            *((name, self._on_prowlarr_action) for name in PROWLARR_ACTIONS),
        ):
            framework.observe(getattr(self.on, f"{action.replace('-', '_')}_action"), handler)
        framework.observe(self.on.secret_changed, self._on_secret_changed)
        framework.observe(self.on.secret_rotate, self._on_secret_rotate)
        framework.observe(self.on.secret_remove, self._on_secret_remove)

    def _reconcile(self, event: ops.EventBase | None = None) -> None:
        """Bring the workload, the secret, the relations and Prowlarr in line; idempotent."""
        reports = self._reports = []
        memory = Memory.of(self.model, PEER_RELATION)
        if not self.unit.is_leader():
            standby = database.stand_by(self.model, self.workload, memory, self.config)
            reports += [standby, self._observe(None)]
            return
        try:
            config = load_config(self.config)
        except InvalidConfigError as e:
            reports.append(Report("config", problems=[Problem(str(e), waiting=False)]))
            return
        exposed, found = ingress.reconcile(self.model)
        reports.append(found)
        spec = probe.spec_for(config, exposed)
        ingress.request(self.model, spec.url_base, PORT)
        reports.append(db := database.reconcile(self.model, self.workload, memory, spec))
        if not db.runs:
            return
        started = probe.ensure(
            self.workload,
            spec,
            storage=bool(self.model.storages.get(probe.STORAGE)),
            pre_refresh_copy=not self._skip_pre_refresh_copy and db.on_sqlite,
        )
        reports.append(started.report)
        if started.ensured is None:
            return
        self._open_port()
        key = started.ensured.config.api_key
        policy = config.api_key_rotation.policy
        secret, found = api_key.reconcile(self.model, key, policy, memory)
        reports.append(found)
        if secret is None:
            return
        reports.append(self._observe(ExporterInput(key, spec.url_base)))
        managers.publish(self.media_indexer, secret, self._api_url, spec.url_base, memory)
        with ProwlarrClient(key, spec.url_base) as client:
            probed = probe.probe(
                client, self.workload, spec, started.ensured, self._stored.restarted_for
            )
            self._stored.restarted_for = probed.restarted_for
            reports.append(probed.report)
            if probed.applications is None:
                return
            self._set_workload_version(client.version or "")
            hook = Hook(
                model=self.model,
                config=config,
                options=dict(self.config),
                memory=memory,
                client=client,
                workload=self.workload,
                url_base=spec.url_base,
                external_url=exposed.url if exposed else "",
                prowlarr_url=self._api_url + spec.url_base,
                own_secret_id=secret.id or secret.get_info().id,
                changed_secret=_changed_secret(event),
                started=started.ensured.started,
                facts=Facts(applications=probed.applications),
            )
            login, found = auth.wanted(hook)
            schedule, backups = backup.wanted(config.backup_interval, config.backup_retention)
            wants = [want for want in (login, ingress.link(hook.external_url), schedule) if want]
            reports += [found, backups, host_config.reconcile(client, memory, wants)]
            reports.append(indexers.reconcile(hook))  # first: it fills hook.facts.indexer_tags
            reports.append(managers.reconcile(hook, self.media_indexer))
            reports.append(flaresolverr.reconcile(hook))

    def _observe(self, exporter: ExporterInput | None) -> Report:
        """COS metrics, logs, dashboard and alert rules (observability.py)."""
        applied, found = self.observability.step(exporter, self._stored.observability)
        self._stored.observability = applied
        return found

    def _open_port(self) -> None:
        if not self._stored.port_opened:  # once per unit agent's lifetime, not every hook
            self.unit.set_ports(PORT)
            self._stored.port_opened = True

    def _set_workload_version(self, version: str) -> None:
        if version and version != self._stored.workload_version:
            self.unit.set_workload_version(version)
            self._stored.workload_version = version

    @property
    def _api_url(self) -> str:
        return f"http://{self.app.name}.{self.model.name}.svc.cluster.local:{PORT}"

    def _on_collect_status(self, event: ops.CollectStatusEvent) -> None:
        if self._reports is not None:  # else nothing was reconciled: keep the current status
            event.add_status(status.unit_status(self._reports, self.app.name))

    def _on_secret_changed(self, event: ops.SecretChangedEvent) -> None:
        """The login's, an indexer's or the database's secret changed (managers': the library)."""
        memory = Memory.of(self.model, PEER_RELATION) if self.unit.is_leader() else Memory(None)
        login = auth.login_secret_changed(event.secret, self.config, memory)
        used = indexers.uses_secret(self.config, _changed_secret(event))
        if login or used or database.follows_secret(self.model, event.secret):
            self._reconcile(event)

    def _on_secret_rotate(self, event: ops.SecretRotateEvent) -> None:
        if event.secret.label == api_key.SECRET_LABEL and self.unit.is_leader():
            try:
                self._rotate()
            except (probe.UnavailableError, api_key.RotationError) as e:
                logger.error("scheduled rotation of Prowlarr's API key failed: %s", e)
            self._reconcile()

    def _on_secret_remove(self, event: ops.SecretRemoveEvent) -> None:
        if event.secret.label == api_key.SECRET_LABEL and self.unit.is_leader():
            logger.info("removing obsolete revision %d of %s", event.revision, event.secret.label)
            event.remove_revision()

    def _rotate(self) -> api_key.Rotated:
        old, config, spec = probe.running(self.model, self.workload, self.config)
        memory, policy = Memory.of(self.model, PEER_RELATION), config.api_key_rotation.policy
        rotate = api_key.rotate_and_store
        return rotate(self.model, self.workload, spec, old.api_key, policy=policy, memory=memory)

    def _on_rotate_api_key(self, event: ops.ActionEvent) -> None:
        if self._leader_only(event):
            try:
                rotated = self._rotate()
            except (probe.UnavailableError, api_key.RotationError) as e:
                event.fail(f"API key not rotated: {e}")
            else:
                event.set_results({"secret-id": rotated.secret_id, "revision": rotated.revision})
            finally:
                self._reconcile()

    def _on_prowlarr_action(self, event: ops.ActionEvent) -> None:
        """sync-indexers, the backup, indexer and database actions: their modules do the work."""
        action = _action_name(event)
        if not self._leader_only(event):
            return
        prefix = "" if action == "sync-indexers" else f"{action}: "
        memory = Memory.of(self.model, PEER_RELATION)
        try:
            if action in database.ACTIONS:
                results = database.run(action, self.model, self.workload, memory, self._reconcile)
                event.set_results(results)
                return
            prowlarr, _, spec = probe.running(self.model, self.workload, self.config, usable=True)
            with ProwlarrClient(prowlarr.api_key, spec.url_base) as client:
                if action == "sync-indexers":
                    results = registration.sync_indexers(client)
                elif action in indexers.ACTIONS:
                    results = indexers.run_action(action, client, memory, event.params)
                else:
                    ask = backup.Ask(
                        event.params, memory, self.unit.name, prowlarr.api_key, self._reconcile
                    )
                    results = backup.run(action, client, self.workload, spec, ask)
        except ActionError as e:
            event.fail(f"{prefix}{e}")
        except ProwlarrError as e:
            event.fail(f"{prefix}Prowlarr: {e}")
        else:
            event.set_results(results)

    def _on_get_ui_credentials(self, event: ops.ActionEvent) -> None:
        if self._leader_only(event):
            try:
                event.set_results(auth.where(self.model, load_config(self.config).ui_credentials))
            except (InvalidConfigError, auth.CredentialsError) as e:
                event.fail(str(e))

    def _on_skip_pre_refresh(self, event: ops.ActionEvent) -> None:
        if self._leader_only(event):
            try:
                event.set_results(backup.skip_copy(self.workload, self._start_without_copy))
            except (backup.BackupError, WorkloadError) as e:
                event.fail(str(e))

    def _start_without_copy(self) -> list[Problem]:
        self._skip_pre_refresh_copy = True
        self._reconcile()
        return status.problems(self._reports or [])

    def _on_report(self, event: ops.ActionEvent) -> None:
        """Every capability's state and every problem (the status line shows only one)."""
        self._reconcile()
        event.set_results(status.report_results(self._reports or [], self.app.name))

    def _leader_only(self, event: ops.ActionEvent) -> bool:
        """Whether this unit is the leader; else the action fails saying where to run it."""
        if not self.unit.is_leader():
            event.fail(LEADER_ONLY.format(action=_action_name(event)))
        return self.unit.is_leader()


def _action_name(event: ops.ActionEvent) -> str:
    return event.handle.kind.removesuffix("_action").replace("_", "-")


def _changed_secret(event: ops.EventBase | None) -> str:
    """The unique ID of the secret a secret-changed event is about, else ""."""
    if isinstance(event, ops.SecretChangedEvent) and event.secret.id:
        return secret_unique_id(event.secret.id)
    return ""


if __name__ == "__main__":  # pragma: nocover
    ops.main(ProwlarrCharm)
