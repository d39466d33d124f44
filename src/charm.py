#!/usr/bin/env python3
"""Juju charm for Prowlarr: run it, own its API-key secret, register the media managers."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

import ops
from charms.prowlarr_k8s.v0.media_indexer import (
    ApiKeyChangedEvent,
    MediaIndexerProvider,
    secret_unique_id,
)

import api_key
import auth
import backup
import host_config
import ingress
import managers
from api_key import SECRET_LABEL, RotationError
from auth import CredentialsError
from charm_config import CharmConfig, InvalidConfigError, load_config
from host_config import HostSettings
from memory import APPLICATIONS, HOST_CONFIG, PUBLISHED, Memory
from observability import Applied, ExporterInput, Observability, refresh_events
from problem import Problem
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
from registration import (
    dump_records,
    load_records,
    sync_applications,
)
from workload import (
    CONTAINER_NAME,
    PORT,
    ConfigXmlError,
    Ensured,
    ProwlarrConfig,
    Workload,
    WorkloadError,
    WorkloadSpec,
)

logger = logging.getLogger(__name__)
# httpx logs every request URL at INFO: keep juju debug-log about the charm, not its HTTP traffic.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

PEER_RELATION = "prowlarr-peers"
COMMAND_TIMEOUT = 60.0
# After (re)starting Prowlarr, wait this long for it in the same hook, so a fresh deployment
# registers its media managers at once instead of at the next update-status.
STARTUP_WAIT = 30.0
LEADER_ONLY = "{action} runs on the leader unit only (the one marked * in juju status)"
STANDBY = "standby: Prowlarr runs on the leader only; scale back to 1 unit"
UNUSABLE_KEY = (
    "config.xml's ApiKey is unusable (characters an HTTP header cannot carry): "
    "run rotate-api-key, or fix it in /config/config.xml"
)


@dataclass
class _Outcome:
    """What this dispatch found out; collect-status turns it into the unit status."""

    statuses: list[ops.StatusBase] = field(default_factory=list[ops.StatusBase])
    synced: int | None = None
    url: str = ""  # where users reach Prowlarr, when an ingress gives a URL
    copied: str = ""  # the pre-refresh copy made in this dispatch, if any

    def add(self, *problems: Problem) -> None:
        for problem in problems:
            (self.wait if problem.waiting else self.block)(problem.message)

    def block(self, message: str) -> None:
        self.statuses.append(ops.BlockedStatus(message))

    def wait(self, message: str) -> None:
        self.statuses.append(ops.WaitingStatus(message))


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
        self._outcome: _Outcome | None = None
        self._skip_pre_refresh_copy = False  # set by skip-pre-refresh-backup for its dispatch

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
            self.on[ingress.RELATION].relation_joined,
            self.on[ingress.RELATION].relation_changed,
            self.on[ingress.RELATION].relation_broken,
            self.media_indexer.on.changed,
            self.media_indexer.on.api_key_changed,
            self.on[PEER_RELATION].relation_changed,
            *refresh_events(self.on),
        ):
            framework.observe(event, self._reconcile)
        framework.observe(self.on.collect_unit_status, self._on_collect_status)
        framework.observe(self.on.rotate_api_key_action, self._on_rotate_api_key)
        framework.observe(self.on.sync_indexers_action, self._on_sync_indexers)
        framework.observe(self.on.get_ui_credentials_action, self._on_get_ui_credentials)
        for action in (
            self.on.create_backup_action,
            self.on.list_backups_action,
            self.on.restore_backup_action,
        ):
            framework.observe(action, self._on_backup_action)
        framework.observe(self.on.skip_pre_refresh_backup_action, self._on_skip_pre_refresh)
        framework.observe(self.on.secret_changed, self._on_secret_changed)
        framework.observe(self.on.secret_rotate, self._on_secret_rotate)
        framework.observe(self.on.secret_remove, self._on_secret_remove)

    # ----------------------------------------------------------------- reconcile

    def _reconcile(self, event: ops.EventBase | None = None) -> None:
        """Bring the workload, the secret, the relations and Prowlarr in line; idempotent."""
        outcome = self._outcome = _Outcome()
        if not self.unit.is_leader():
            self._stand_by(outcome)
            self._observe(outcome, None)
            return
        config = self._load_config(outcome)
        if config is None:
            return
        exposed = self._ingress_url(outcome)
        spec = self._workload_spec(config, exposed)
        ingress.request(self.model, spec.url_base, PORT)
        ensured = self._ensure_workload(outcome, spec)
        if ensured is None:
            return
        prowlarr = ensured.config
        if not header_safe(prowlarr.api_key):
            outcome.block(UNUSABLE_KEY)
            return
        memory = Memory.of(self.model, PEER_RELATION)
        secret = api_key.ensure_secret(
            self.model, self.app, prowlarr.api_key, config.api_key_rotation.policy, memory
        )
        self._observe(outcome, ExporterInput(prowlarr.api_key, spec.url_base))
        own_id = secret.id or secret.get_info().id
        self._publish(secret, spec, memory)
        with ProwlarrClient(prowlarr.api_key, spec.url_base) as client:
            apps = self._probe(outcome, client, prowlarr, spec, started=ensured.started)
            if apps is None:
                return
            changed = _changed_secret(event)
            self._host_settings(
                outcome, client, memory, config, started=ensured.started, changed_secret=changed
            )
            context = managers.Context(
                own_secret_id=own_id,
                prowlarr_url=self._api_url + spec.url_base,
                sync_level=config.sync_level.prowlarr,
                model_uuid=self.model.uuid,
                refresh_relation=event.relation_id
                if isinstance(event, ApiKeyChangedEvent)
                else None,
            )
            self._register(outcome, client, apps, context, memory)

    def _publish(self, secret: ops.Secret, spec: WorkloadSpec, memory: Memory) -> None:
        """Grant the key's secret to each media manager and publish its ID, once per change."""
        published = memory.mapping(PUBLISHED)
        self.media_indexer.publish(
            secret, api_url=self._api_url, base_path=spec.url_base or None, published=published
        )
        memory.put_mapping(PUBLISHED, published)

    def _load_config(self, outcome: _Outcome) -> CharmConfig | None:
        try:
            return load_config(self.config)
        except InvalidConfigError as e:
            outcome.block(str(e))
            return None

    def _workload_spec(
        self, config: CharmConfig, exposed: ingress.IngressUrl | None = None
    ) -> WorkloadSpec:
        """What the container must run; the charm, not config.xml or the UI, decides.

        The URL base is the path of the ingress URL once the ingress has answered (empty by
        host), else the `url-base` option.
        """
        url_base = exposed.url_base if exposed is not None else config.url_base
        return WorkloadSpec(log_level=config.log_level, url_base=url_base)

    def _ingress_url(self, outcome: _Outcome) -> ingress.IngressUrl | None:
        """The URL the ingress provider gave, if any (ingress.py)."""
        try:
            exposed = ingress.answered(self.model)
        except ingress.IngressError as e:
            outcome.block(f"ingress: {e}")
            return None
        if exposed is not None:
            outcome.url = exposed.url
        return exposed

    def _ensure_workload(self, outcome: _Outcome, spec: WorkloadSpec) -> Ensured | None:
        """Wait for storage and Pebble, then make the container what `spec` says."""
        if not self.model.storages.get("config"):
            outcome.wait("waiting for the config storage")
            return None
        # Before Prowlarr first starts in a new container (a refresh): copy its database.
        copy = None if self._skip_pre_refresh_copy else backup.PreRefreshCopy(self.workload)
        try:
            ensured = self.workload.ensure(spec, before_first_start=copy.make if copy else None)
        except WorkloadError as e:
            _report_workload_error(outcome, e)
            return None
        outcome.copied = copy.made if copy else ""
        if ensured.seeded:
            logger.info("wrote a fresh API key into config.xml before Prowlarr's first start")
        if ensured.started:
            logger.info("Prowlarr (re)started with its Pebble layer")
        if not self._stored.port_opened:  # once per unit agent's lifetime, not every hook
            self.unit.set_ports(PORT)
            self._stored.port_opened = True
        return ensured

    def _observe(self, outcome: _Outcome, exporter: ExporterInput | None) -> None:
        """COS metrics, logs, dashboard and alert rules (observability.py)."""
        applied = Applied.load(self._stored.observability)
        report = self.observability.reconcile(exporter, applied)
        self._stored.observability = report.applied.dump()
        outcome.add(*report.problems)

    def _stand_by(self, outcome: _Outcome) -> None:
        """A non-leader does not run Prowlarr: the SQLite database cannot be shared."""
        outcome.block(STANDBY)
        ingress.request(self.model, None, PORT)  # its health check keeps traffic off this unit
        try:
            if self.workload.can_connect() and self.workload.is_running():
                logger.info("stopping Prowlarr: this unit is not the leader")
                self.workload.stop()
        except WorkloadError as e:
            logger.warning("cannot stop Prowlarr on this standby unit: %s", e)
            outcome.wait(f"cannot stop Prowlarr on this standby unit: {e}")

    @property
    def _api_url(self) -> str:
        return f"http://{self.app.name}.{self.model.name}.svc.cluster.local:{PORT}"

    def _probe(
        self,
        outcome: _Outcome,
        client: ProwlarrClient,
        prowlarr: ProwlarrConfig,
        spec: WorkloadSpec,
        *,
        started: bool,
    ) -> list[Application] | None:
        """List Prowlarr's applications: one request proves it is up and takes the key.

        After a (re)start it first waits for Prowlarr. A rejected key or a redirect (Prowlarr
        still runs with a key or URL base from before) gets one restart through Pebble.
        """
        if started and not client.wait_until_ready(timeout=STARTUP_WAIT):
            outcome.wait("Prowlarr is starting")
            return None
        try:
            apps = client.list_applications()
        except ProwlarrError as e:
            self._probe_failed(outcome, e, client, prowlarr, spec)
            return None
        self._stored.restarted_for = ""
        version = client.version or ""
        if version and version != self._stored.workload_version:
            self.unit.set_workload_version(version)
            self._stored.workload_version = version
        return apps

    def _probe_failed(
        self,
        outcome: _Outcome,
        error: ProwlarrError,
        client: ProwlarrClient,
        prowlarr: ProwlarrConfig,
        spec: WorkloadSpec,
    ) -> None:
        if isinstance(error, ProwlarrAuthError):
            self._restart_once(outcome, "rejects the API key in config.xml", prowlarr, spec)
        elif isinstance(error, ProwlarrResponseError) and 300 <= error.status_code < 400:
            problem = f"serves another URL base than {spec.url_base or '/'}"
            self._restart_once(outcome, problem, prowlarr, spec)
        elif isinstance(error, ProwlarrStartingError) or (
            isinstance(error, ProwlarrConnectionError) and not client.ping()
        ):
            outcome.wait("Prowlarr is starting")
        else:
            outcome.wait(f"Prowlarr is not ready: {error}")

    def _restart_once(
        self, outcome: _Outcome, problem: str, prowlarr: ProwlarrConfig, spec: WorkloadSpec
    ) -> None:
        """Prowlarr runs with settings from before its config changed: restart it, once."""
        fingerprint = hashlib.sha256(f"{prowlarr.api_key}\n{spec.url_base}".encode()).hexdigest()
        if self._stored.restarted_for == fingerprint:
            outcome.block(f"Prowlarr {problem} even after a restart")
            return
        logger.warning(
            "Prowlarr %s (config changed without a restart): restarting it through Pebble",
            problem,
        )
        self._stored.restarted_for = fingerprint
        try:
            self.workload.restart()
        except WorkloadError as e:
            outcome.wait(str(e))
            return
        outcome.wait("restarting Prowlarr to load its configuration")

    # ----------------------------------------------------------------- host settings

    def _host_settings(
        self,
        outcome: _Outcome,
        client: ProwlarrClient,
        memory: Memory,
        config: CharmConfig,
        *,
        started: bool,
        changed_secret: str,
    ) -> None:
        """Apply what the capabilities want in Prowlarr's host config, in one GET and one PUT.

        Each capability's part is applied when its fingerprint differs from the one remembered;
        the UI login is also checked after every (re)start of Prowlarr.
        """
        applied = memory.mapping(HOST_CONFIG)
        wanted: dict[str, tuple[str, HostSettings]] = {}
        login = None
        try:
            login = auth.login_to_apply(
                self.model,
                self.app,
                client,
                config.ui_credentials,
                applied.get("auth", ""),
                started=started,
                changed_secret=changed_secret,
            )
        except CredentialsError as e:
            outcome.block(str(e))
        except ProwlarrError as e:
            outcome.wait(f"cannot check Prowlarr's UI login: {e}")
        if login is not None:
            wanted["auth"] = (login.fingerprint, login.credentials.host_settings())
        # Links in Prowlarr's notifications: the external URL; put back to empty only when the
        # charm had set one, so a URL set by hand without an ingress stays.
        link = HostSettings(application_url=outcome.url)
        unset = HostSettings(application_url="").fingerprint()
        if link.fingerprint() != applied.get("ingress", unset):
            wanted["ingress"] = (link.fingerprint(), link)
        # The backup schedule; Prowlarr refuses every host-config PUT until its login has a user.
        schedule = backup.schedule(config.backup_interval, config.backup_retention)
        has_user = "auth" in wanted or "auth" in applied
        if has_user and schedule.fingerprint() != applied.get("backup"):
            wanted["backup"] = (schedule.fingerprint(), schedule)
        if not wanted:
            return
        settings = HostSettings()
        for _, part in wanted.values():
            settings = settings.merge(part)
        try:
            host_config.apply(client, settings)
            if login is not None and not auth.verify(client, login.credentials):
                outcome.block("Prowlarr rejects the UI credentials the charm has just set")
                del wanted["auth"]
        except ProwlarrError as e:
            outcome.wait(f"cannot update Prowlarr's host config: {e}")
            return
        logger.info("Prowlarr's host config: applied %s", ", ".join(sorted(wanted)))
        applied.update({name: fingerprint for name, (fingerprint, _) in wanted.items()})
        if not outcome.url:
            applied.pop("ingress", None)  # back to "no URL set by the charm"
        memory.put_mapping(HOST_CONFIG, applied)

    def _on_secret_changed(self, event: ops.SecretChangedEvent) -> None:
        """The operator's UI credentials changed (media managers' keys: see api_key_changed)."""
        try:
            option = load_config(self.config).ui_credentials
        except InvalidConfigError:
            return
        if option and event.secret.id and _changed_secret(event) == secret_unique_id(option):
            self._reconcile(event)

    def _on_get_ui_credentials(self, event: ops.ActionEvent) -> None:
        if not self.unit.is_leader():
            event.fail(LEADER_ONLY.format(action="get-ui-credentials"))
            return
        try:
            option = load_config(self.config).ui_credentials
        except InvalidConfigError as e:
            event.fail(str(e))
            return
        if option:
            secret_id = option
        else:
            creds = auth.generated(self.model, self.app, create=False)
            if creds is None:
                event.fail(f"the {auth.GENERATED_LABEL} secret does not exist yet")
                return
            secret_id = creds.secret_id
        event.set_results(
            {"secret-id": secret_id, "show-command": f"juju show-secret --reveal {secret_id}"}
        )

    # ----------------------------------------------------------------- registration

    def _register(
        self,
        outcome: _Outcome,
        client: ProwlarrClient,
        apps: list[Application],
        context: managers.Context,
        memory: Memory,
    ) -> None:
        """Register each related media manager as a Prowlarr application (registration.py)."""
        if not memory.available:
            outcome.wait("waiting for the peer relation")
            return
        records = load_records(memory.raw(APPLICATIONS))
        wanted = managers.wanted(self.media_indexer, context, records)
        outcome.add(*wanted.problems)
        live = {relation.id for relation in self.media_indexer.relations}
        report = sync_applications(client, apps, wanted.applications, records, live)
        if report.created or report.updated or report.deleted:
            logger.info(
                "Prowlarr applications: %d created, %d updated, %d deleted",
                report.created,
                report.updated,
                report.deleted,
            )
        memory.put_raw(APPLICATIONS, dump_records(report.records) if report.records else "")
        outcome.add(*(Problem(str(p), waiting=p.waiting) for p in report.problems))
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
        where = f" · {outcome.url}" if outcome.url else ""
        copied = f" · pre-refresh copy {outcome.copied}" if outcome.copied else ""
        event.add_status(ops.ActiveStatus(f"{synced} {noun} synced{where}{copied}"))

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

    def _action_context(self) -> tuple[ProwlarrConfig, CharmConfig, WorkloadSpec]:
        """config.xml's key, the charm's config and what Prowlarr runs with, for an action.

        Raises _ActionError saying what is missing.
        """
        try:
            config = load_config(self.config)
        except InvalidConfigError as e:
            raise _ActionError(str(e)) from None
        if not self.workload.can_connect():
            raise _ActionError("the prowlarr container is not reachable")
        try:
            prowlarr = self.workload.read_config()
        except WorkloadError as e:
            raise _ActionError(str(e)) from None
        if prowlarr is None:
            raise _ActionError("Prowlarr has no API key yet")
        return prowlarr, config, self._workload_spec(config, self._ingress_url(_Outcome()))

    def _rotate(self) -> api_key.Rotated:
        """Rotate Prowlarr's key (api_key.py), then store it as a new revision of the secret.

        Raises _ActionError or RotationError, after which the caller's reconcile leaves the
        secret holding the key Prowlarr accepts.
        """
        before, config, spec = self._action_context()
        found = api_key.find_secret(self.model)
        new_key = api_key.rotate(
            self.workload,
            spec,
            before.api_key,
            timeout=COMMAND_TIMEOUT,
            startup_wait=STARTUP_WAIT,
        )
        return api_key.store_rotated(
            self.model,
            self.app,
            found,
            new_key,
            config.api_key_rotation.policy,
            memory=Memory.of(self.model, PEER_RELATION),
        )

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
            prowlarr, _, spec = self._action_context()
            if not header_safe(prowlarr.api_key):
                raise _ActionError(UNUSABLE_KEY)
            with ProwlarrClient(prowlarr.api_key, spec.url_base) as client:
                done = client.run_and_wait(
                    "ApplicationIndexerSync", timeout=COMMAND_TIMEOUT, options={"forceSync": True}
                )
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

    # ----------------------------------------------------------------- backups

    def _on_backup_action(self, event: ops.ActionEvent) -> None:
        """create-backup, list-backups and restore-backup: backup.py does the work."""
        action = event.handle.kind.removesuffix("_action").replace("_", "-")
        if not self.unit.is_leader():
            event.fail(LEADER_ONLY.format(action=action))
            return
        memory = Memory.of(self.model, PEER_RELATION)
        results: dict[str, object] = {}
        restored: backup.Restored | None = None
        try:
            prowlarr, _, spec = self._action_context()
            if not header_safe(prowlarr.api_key):
                raise _ActionError(UNUSABLE_KEY)
            with ProwlarrClient(prowlarr.api_key, spec.url_base) as client:
                if action == "create-backup":
                    results = backup.create(client, memory, self.unit.name)
                elif action == "list-backups":
                    results = backup.listing(client, self.workload)
                else:
                    backup_id = int(event.params["id"])
                    restored = backup.restore(client, self.workload, spec, backup_id, memory)
        except (_ActionError, backup.BackupError) as e:
            event.fail(f"{action}: {e}")
            return
        except ProwlarrError as e:
            event.fail(f"{action}: Prowlarr: {e}")
            return
        if restored is not None:
            self._reconcile()  # the restored key, applications and host settings
            results = backup.after_restore(self.workload, spec, restored, prowlarr.api_key)
        event.set_results(results)

    def _on_skip_pre_refresh(self, event: ops.ActionEvent) -> None:
        """Start Prowlarr in a new container without the pre-refresh copy that failed."""
        if not self.unit.is_leader():
            event.fail(LEADER_ONLY.format(action="skip-pre-refresh-backup"))
            return
        try:
            if not self.workload.can_connect():
                raise _ActionError("the prowlarr container is not reachable")
            if self.workload.is_planned():
                raise _ActionError(
                    "nothing to skip: Prowlarr has already started in this container"
                )
            logger.warning("starting Prowlarr without a pre-refresh copy, as asked")
            self._skip_pre_refresh_copy = True
            self._reconcile()
            running = self.workload.is_running()
        except (_ActionError, WorkloadError) as e:
            event.fail(str(e))
            return
        if not running:
            outcome = self._outcome or _Outcome()
            reasons = "; ".join(s.message for s in outcome.statuses) or "see juju status"
            event.fail(f"Prowlarr did not start: {reasons}")
            return
        event.set_results({"started": "Prowlarr, without a pre-refresh copy"})


def _changed_secret(event: ops.EventBase | None) -> str:
    """The unique ID of the secret a secret-changed event is about, else ""."""
    if isinstance(event, ops.SecretChangedEvent) and event.secret.id:
        return secret_unique_id(event.secret.id)
    return ""


def _report_workload_error(outcome: _Outcome, error: WorkloadError) -> None:
    """A failure while ensuring the workload: Blocked when only the operator can fix it."""
    message = f"/config/config.xml: {error}" if isinstance(error, ConfigXmlError) else str(error)
    if error.blocked:
        outcome.block(message)
    else:
        logger.warning("%s; retrying on the next hook", error)
        outcome.wait(message)


class _ActionError(Exception):
    """An action could not complete; the message says why (never the key)."""


if __name__ == "__main__":  # pragma: nocover
    ops.main(ProwlarrCharm)
