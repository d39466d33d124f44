"""Prowlarr's UI login: always on (Forms, required for every address), credentials in a secret.

Prowlarr hands its API key to anyone who passes its UI policy (`/initialize.json`); with no login
that is every pod in the cluster. The Pebble layer forces the Forms login on through Prowlarr's
environment; this module decides the user and applies it. The user lives in Prowlarr's database
and can only be set through the host config (see host_config.py): the charm remembers what it
applied (hashes only) and applies again only when the credentials change, or when a (re)started
Prowlarr no longer accepts them (a restored backup, new storage).

Credentials come from the app secret `prowlarr-ui-credentials` the leader generates, or from a
user secret named by the `ui-credentials` option (fields `username` and `password`).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

import ops
from charms.prowlarr_k8s.v0.media_indexer import secret_unique_id

from capability import Hook, Report
from host_config import LOGIN, HostSettings, Want
from memory import HOST_CONFIG, Memory
from prowlarr import ProwlarrClient, ProwlarrError

logger = logging.getLogger(__name__)

GENERATED_LABEL = "prowlarr-ui-credentials"
DEFAULT_USERNAME = "admin"
OPTION = "ui-credentials"
_PASSWORD_BYTES = 24  # 32 URL-safe characters
_MAX_USERNAME = 64


class CredentialsError(Exception):
    """The credentials cannot be used; the message names the option, never a value."""


@dataclass(frozen=True)
class Credentials:
    """A UI user, and the secret it comes from."""

    username: str
    password: str = field(repr=False)
    secret_id: str = ""
    user_supplied: bool = False

    def host_settings(self) -> HostSettings:
        """What Prowlarr's host config must hold for this user."""
        return HostSettings(username=self.username, password=self.password)

    def fingerprint(self) -> str:
        """A digest of the user: the username and the password's hash."""
        password = hashlib.sha256(self.password.encode()).hexdigest()
        return hashlib.sha256(f"{self.username.lower()}\n{password}".encode()).hexdigest()


def generate_password() -> str:
    """A fresh password of 32 characters from `secrets`."""
    return secrets.token_urlsafe(_PASSWORD_BYTES)


def _usable(value: str) -> bool:
    return bool(value.strip()) and not any(
        unicodedata.category(char).startswith("C") for char in value
    )


def parse(content: Mapping[str, str], *, secret_id: str, user_supplied: bool) -> Credentials:
    """Credentials from a secret's content; CredentialsError saying what is wrong."""
    where = f"{OPTION}: the secret" if user_supplied else f"the {GENERATED_LABEL} secret"
    username, password = content.get("username"), content.get("password")
    missing = [name for name in ("username", "password") if not content.get(name)]
    if missing:
        raise CredentialsError(f"{where} has no {' and no '.join(missing)} field")
    assert username is not None and password is not None  # noqa: S101 - checked just above
    if not _usable(username) or any(char.isspace() for char in username):
        raise CredentialsError(f"{where} has a username with spaces or control characters")
    if len(username) > _MAX_USERNAME:
        raise CredentialsError(f"{where} has a username longer than {_MAX_USERNAME} characters")
    if not _usable(password):
        raise CredentialsError(f"{where} has a password with control characters")
    return Credentials(username, password, secret_id=secret_id, user_supplied=user_supplied)


def read_user_secret(model: ops.Model, secret_id: str, *, refresh: bool) -> Credentials:
    """The operator's credentials, from the user secret the `ui-credentials` option names."""
    try:
        secret = model.get_secret(id=secret_id)
        content = secret.get_content(refresh=True) if refresh else secret.get_content()
    except ops.SecretNotFoundError:
        raise CredentialsError(f"{OPTION}: secret {secret_id} does not exist") from None
    except ops.ModelError:
        raise CredentialsError(
            f"{OPTION}: secret {secret_id} is not granted to this application "
            f"(juju grant-secret {secret_id} {model.app.name})"
        ) from None
    return parse(content, secret_id=secret_id, user_supplied=True)


def generated(model: ops.Model, app: ops.Application, *, create: bool) -> Credentials | None:
    """The generated credentials; created (leader only) when `create` and missing."""
    try:
        secret = model.get_secret(label=GENERATED_LABEL)
        content = secret.get_content()
    except ops.SecretNotFoundError:
        if not create:
            return None
        logger.info("creating the %s secret", GENERATED_LABEL)
        content = {"username": DEFAULT_USERNAME, "password": generate_password()}
        secret = app.add_secret(
            content, label=GENERATED_LABEL, description="Prowlarr's UI login (username, password)"
        )
    secret_id = secret.id or secret.get_info().id
    return parse(content, secret_id=secret_id, user_supplied=False)


def verify_login(client: ProwlarrClient, credentials: Credentials) -> bool:
    """Whether Prowlarr's login page takes these credentials. Raises ProwlarrError."""
    return client.login(credentials.username, credentials.password)


@dataclass(frozen=True)
class Login:
    """Credentials to apply, and the fingerprint to remember once they are."""

    fingerprint: str
    credentials: Credentials


def login_to_apply(
    model: ops.Model,
    app: ops.Application,
    client: ProwlarrClient,
    option: str,
    remembered: str,
    *,
    started: bool,
    changed_secret: str,
) -> Login | None:
    """The UI login to apply to Prowlarr, or None when Prowlarr already has it.

    `option` is the `ui-credentials` secret ID ("" for the generated login), `remembered` the
    fingerprint applied last. Nothing is read while the same secret is applied and nothing says
    it changed (`changed_secret`: the unique ID of a secret whose secret-changed this is); after
    a (re)start of Prowlarr the login is tried, and a refused one is applied again. Raises
    CredentialsError or ProwlarrError.
    """
    source = secret_unique_id(option) if option else "generated"
    if remembered.startswith(f"{source}:") and not started and changed_secret != source:
        return None
    if option:
        creds = read_user_secret(model, option, refresh=changed_secret == source)
    else:
        creds = generated(model, app, create=True)
        assert creds is not None  # noqa: S101 - created when missing
    fingerprint = f"{source}:{creds.fingerprint()}"
    if fingerprint == remembered:
        if verify_login(client, creds):
            return None
        logger.warning("Prowlarr no longer takes the charm's UI login: applying it again")
        fingerprint = f"{source}:"  # differs from what is remembered: applied again
    elif not creds.user_supplied and not remembered:
        logger.info("Prowlarr's UI login: the charm's generated credentials apply from now on")
    return Login(fingerprint, creds)


def wanted(hook: Hook) -> tuple[Want | None, Report]:
    """The login part of Prowlarr's host settings, when Prowlarr does not hold it yet."""
    option = hook.config.ui_credentials
    source = f"the {OPTION} secret {option}" if option else f"the {GENERATED_LABEL} secret"
    report = Report("login", state=f"Forms login, required everywhere; user from {source}")
    remembered = hook.memory.mapping(HOST_CONFIG).get(LOGIN, "")
    try:
        login = login_to_apply(
            hook.model,
            hook.model.app,
            hook.client,
            option,
            remembered,
            started=hook.started,
            changed_secret=hook.changed_secret,
        )
    except CredentialsError as e:
        report.block(str(e))
        return None, report
    except ProwlarrError as e:
        report.wait(f"cannot check Prowlarr's UI login: {e}")
        return None, report
    if login is None:
        return None, report
    credentials = login.credentials

    def verify(client: ProwlarrClient) -> str | None:
        if verify_login(client, credentials):
            return None
        return "Prowlarr rejects the UI credentials the charm has just set"

    return Want(LOGIN, credentials.host_settings(), login.fingerprint, verify=verify), report


def where(model: ops.Model, option: str) -> dict[str, str]:
    """The get-ui-credentials action: where the login is kept, never the password.

    Raises CredentialsError when the generated secret does not exist yet.
    """
    if option:
        secret_id = option
    else:
        creds = generated(model, model.app, create=False)
        if creds is None:
            raise CredentialsError(f"the {GENERATED_LABEL} secret does not exist yet")
        secret_id = creds.secret_id
    return {"secret-id": secret_id, "show-command": f"juju show-secret --reveal {secret_id}"}


def login_secret_changed(
    secret: ops.Secret, options: Mapping[str, object], memory: Memory
) -> bool:
    """Whether a secret-changed is about the `ui-credentials` secret; then keep the news.

    Juju announces a revision once. So the new revision is tracked at once, and the login the
    charm applied is forgotten (by the leader, whose memory it is): a Prowlarr that cannot take
    it now gets it at the first hook where it answers, however many hooks later.
    """
    option = str(options.get(OPTION) or "").strip()
    if not option or not secret.id or secret_unique_id(secret.id) != secret_unique_id(option):
        return False
    try:
        secret.get_content(refresh=True)
    except ops.ModelError as e:  # revoked meanwhile: the reconcile says so
        logger.warning("cannot read the new revision of %s: %s", OPTION, e)
    applied = memory.mapping(HOST_CONFIG)
    if applied.pop(LOGIN, None) is not None:
        memory.put_mapping(HOST_CONFIG, applied)
    return True
