"""Prowlarr's own API key: the `prowlarr-api-key` secret and its rotation.

config.xml is the source of truth for the key; the secret follows it. A rotation goes through
Prowlarr's own ResetApiKey command, which Prowlarr runs in the background: from the moment it has
run, Prowlarr rejects the old key on every request, including the command's own status URL, so
the command is followed with the key config.xml then holds. The secret is only ever written with
a key Prowlarr has been seen to accept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import ops

from capability import Report
from memory import API_KEY_SECRET, Memory
from prowlarr import (
    ProwlarrAuthError,
    ProwlarrClient,
    ProwlarrError,
    ProwlarrTimeoutError,
    header_safe,
)
from workload import STARTUP_WAIT, Workload, WorkloadError, WorkloadSpec, generate_api_key

logger = logging.getLogger(__name__)

SECRET_LABEL = "prowlarr-api-key"  # noqa: S105 - a label, not a password
CONTENT_KEY = "api-key"
RESET_COMMAND = "ResetApiKey"
COMMAND_TIMEOUT = 60.0
UNUSABLE_KEY = (
    "config.xml's ApiKey is unusable (characters an HTTP header cannot carry): "
    "run rotate-api-key, or fix it in /config/config.xml"
)


class RotationError(Exception):
    """A rotation did not complete; the message says why (never a key)."""


@dataclass(frozen=True)
class Rotated:
    """Where a verified new key was stored (never the key itself)."""

    secret_id: str
    revision: int


def reset_api_key(
    client: ProwlarrClient,
    old_key: str,
    read_key: Callable[[], str | None],
    *,
    timeout: float,
    interval: float = 0.5,
) -> str:
    """Make Prowlarr generate a new key, follow the command, verify it; return the new key.

    `client` must hold `old_key`; `read_key` returns config.xml's key at the moment it is called.
    Raises RotationError saying which step failed.
    """
    try:
        done = client.run_and_wait(
            RESET_COMMAND, timeout=timeout, interval=interval, reload_key=read_key
        )
    except ProwlarrTimeoutError as e:
        raise RotationError(f"Prowlarr's {RESET_COMMAND} did not finish: {e}") from None
    except ProwlarrAuthError:
        raise RotationError(
            "Prowlarr rejects the API key while config.xml holds no other key"
        ) from None
    except ProwlarrError as e:
        raise RotationError(f"Prowlarr: {e}") from None
    if not done.succeeded:
        detail = f": {done.message}" if done.message else ""
        raise RotationError(f"Prowlarr's {RESET_COMMAND} ended {done.status}{detail}")
    new_key = read_key()
    if not new_key or new_key == old_key:
        raise RotationError("Prowlarr did not write a new key to config.xml")
    try:
        if not client.key_accepted(new_key):
            raise RotationError("Prowlarr rejects the new key from config.xml")
        if client.key_accepted(old_key):
            raise RotationError("Prowlarr still accepts the old key")
    except ProwlarrError as e:
        raise RotationError(f"Prowlarr: {e}") from None
    return new_key


def rotate(
    workload: Workload,
    spec: WorkloadSpec,
    current_key: str,
    *,
    timeout: float,
    startup_wait: float,
) -> str:
    """Make Prowlarr change its key and verify the new one; return it. Raises RotationError.

    Prowlarr's own ResetApiKey does it. A key no HTTP header can carry cannot even ask for
    that: a fresh key is written into config.xml and loaded by a restart through Pebble.
    """
    if not header_safe(current_key):
        return _rotate_in_file(workload, spec, startup_wait)

    def read_key() -> str | None:
        try:
            config = workload.read_config()
        except WorkloadError as e:
            raise RotationError(str(e)) from None
        return config.api_key if config else None

    with ProwlarrClient(current_key, spec.url_base) as client:
        return reset_api_key(client, current_key, read_key, timeout=timeout)


def _rotate_in_file(workload: Workload, spec: WorkloadSpec, startup_wait: float) -> str:
    """Write a fresh key into config.xml, restart Prowlarr, check that it takes the key."""
    new_key = generate_api_key()
    try:
        workload.write_api_key(new_key, spec)
        workload.restart()
    except WorkloadError as e:
        raise RotationError(str(e)) from None
    with ProwlarrClient(new_key, spec.url_base) as client:
        if not client.wait_until_ready(timeout=startup_wait):
            raise RotationError("Prowlarr did not come back after the restart")
        try:
            accepted = client.key_accepted(new_key)
        except ProwlarrError as e:
            raise RotationError(f"Prowlarr: {e}") from None
    if not accepted:
        raise RotationError("Prowlarr rejects the new key written to config.xml")
    return new_key


def ensure_secret(
    model: ops.Model,
    app: ops.Application,
    api_key: str,
    policy: ops.SecretRotate,
    memory: Memory | None = None,
) -> ops.Secret:
    """Create or update the app secret from config.xml's key: a new revision only on change.

    With the secret's ID and rotation policy remembered, a steady hook costs one secret-get:
    the tracked revision is the latest one, since only this leader writes it and it tracks each
    revision it writes. The memory is only a hint (a hand-edited databag, a restore of another
    model's data): a remembered secret is checked to be this charm's own before it is written,
    else the one with the label is used. Returns the secret with its ID set.
    """
    memory = memory or Memory(None)
    remembered = memory.mapping(API_KEY_SECRET)
    content = {CONTENT_KEY: api_key}
    secret = _remembered_secret(model, remembered.get("id", ""))
    # Before a write only: a write to someone else's secret fails, or changes it.
    if (
        secret is not None
        and not _holds(secret, content, remembered, policy)
        and not _is_own(secret)
    ):
        logger.warning(
            "the remembered ID of %s names another secret; looking it up by its label",
            SECRET_LABEL,
        )
        secret, remembered = None, {}
    if secret is None:
        try:
            found = model.get_secret(label=SECRET_LABEL)
        except ops.SecretNotFoundError:
            logger.info("creating the %s secret", SECRET_LABEL)
            secret = app.add_secret(
                content,
                label=SECRET_LABEL,
                description="Prowlarr's API key",
                rotate=None if policy is ops.SecretRotate.NEVER else policy,
            )
            memory.put_mapping(API_KEY_SECRET, {"id": secret.id or "", "rotation": policy.value})
            return secret
        info = found.get_info()
        remembered = {"id": info.id, "rotation": (info.rotation or ops.SecretRotate.NEVER).value}
        secret = model.get_secret(id=info.id)
    if secret.get_content() != content:
        if secret.peek_content() != content:
            logger.info("Prowlarr's API key changed in config.xml: new secret revision")
            secret.set_content(content)
        secret.get_content(refresh=True)  # track the latest, so old revisions can be removed
    if remembered.get("rotation") != policy.value:
        logger.info("setting the rotation policy of %s to %s", SECRET_LABEL, policy.value)
        secret.set_info(rotate=policy)
        remembered["rotation"] = policy.value
    memory.put_mapping(API_KEY_SECRET, remembered)
    return secret


def _remembered_secret(model: ops.Model, secret_id: str) -> ops.Secret | None:
    """The secret by the ID remembered for it; None when there is none or it cannot be read.

    Read by ID only, never with a label: reading someone else's secret with our label would
    relabel it (PITFALLS §11).
    """
    if not secret_id:
        return None
    try:
        return model.get_secret(id=secret_id)
    except ops.ModelError:  # not found, or another app's secret not granted to us
        return None


def _holds(
    secret: ops.Secret,
    content: dict[str, str],
    remembered: dict[str, str],
    policy: ops.SecretRotate,
) -> bool:
    """Whether the secret needs no write: the key and the rotation policy are as wanted.

    Costs no hook tool: the content was read with the secret.
    """
    return secret.get_content() == content and remembered.get("rotation") == policy.value


def _is_own(secret: ops.Secret) -> bool:
    """Whether `secret` is this application's key secret: its owner's metadata, our label.

    secret-info-get answers only the owner (and, for app secrets, its leader): for a secret
    another application owns, Juju says "not found". One hook tool, paid only before a write.
    """
    try:
        info = secret.get_info()
    except ops.ModelError:
        return False
    return info.label == SECRET_LABEL


def find_secret(model: ops.Model) -> tuple[ops.Secret, ops.SecretInfo] | None:
    """The secret to rotate and its metadata; None when it does not exist yet."""
    try:
        secret = model.get_secret(label=SECRET_LABEL)
        return secret, secret.get_info()
    except ops.SecretNotFoundError:
        return None


def store_rotated(
    model: ops.Model,
    app: ops.Application,
    found: tuple[ops.Secret, ops.SecretInfo] | None,
    api_key: str,
    policy: ops.SecretRotate,
    *,
    memory: Memory | None = None,
) -> Rotated:
    """Store a verified new key as a new revision of the secret; say which revision.

    Juju assigns the revision when the hook commits (secret-info-get cannot show it within the
    hook). Only this leader writes the secret, so it is the latest revision before the write
    plus one; a secret that did not exist yet is created at revision 1.
    """
    if found is None:
        secret = ensure_secret(model, app, api_key, policy, memory)
        secret_id, revision = secret.id or "", 1
    else:
        secret, info = found
        secret.set_content({CONTENT_KEY: api_key})
        secret.get_content(refresh=True)
        secret_id, revision = info.id, info.revision + 1
    logger.info("rotated Prowlarr's API key: %s revision %d", secret_id, revision)
    return Rotated(secret_id=secret_id, revision=revision)


def reconcile(
    model: ops.Model, api_key: str, policy: ops.SecretRotate, memory: Memory
) -> tuple[ops.Secret | None, Report]:
    """The secret holding config.xml's key (`ensure_secret`); Blocked for an unusable key."""
    report = Report("api-key")
    if not header_safe(api_key):
        report.block(UNUSABLE_KEY)
        return None, report
    secret = ensure_secret(model, model.app, api_key, policy, memory)
    report.state = f"{SECRET_LABEL}: {secret.id or ''} (rotation {policy.value})"
    return secret, report


def rotate_and_store(
    model: ops.Model,
    workload: Workload,
    spec: WorkloadSpec,
    current_key: str,
    *,
    policy: ops.SecretRotate,
    memory: Memory,
) -> Rotated:
    """The rotate-api-key action and scheduled rotation: rotate, then store as a new revision.

    Raises RotationError, after which the caller's reconcile leaves the secret holding the key
    Prowlarr accepts.
    """
    found = find_secret(model)
    new_key = rotate(
        workload, spec, current_key, timeout=COMMAND_TIMEOUT, startup_wait=STARTUP_WAIT
    )
    return store_rotated(model, model.app, found, new_key, policy, memory=memory)
