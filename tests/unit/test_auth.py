"""Prowlarr's UI login: locked by the layer, a user from a Juju secret, applied only on change."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from ops import testing
from ops.pebble import ServiceStatus

from charm import ProwlarrCharm
from tests.unit.conftest import make_state
from tests.unit.fake_prowlarr import SESSION_COOKIE, FakeProwlarr, RecordedRequest
from tests.unit.recorder import CallRecorder
from tests.unit.test_charm import USER_KEY, config_xml, started, steady_state, write_config_xml

Ctx = testing.Context[ProwlarrCharm]
USER_SECRET_ID = "secret:d4uicreds00000000001"
GENERATED = "prowlarr-ui-credentials"


OPERATOR_PASSWORD = "correct horse battery staple"


def user_secret(**kw: Any) -> testing.Secret:
    """An operator's user secret, granted to prowlarr."""
    content = {"username": "Operator", "password": OPERATOR_PASSWORD}
    return testing.Secret(content, id=USER_SECRET_ID, **kw)


def login(prowlarr: FakeProwlarr, username: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{prowlarr.url}{prowlarr.url_base}/login",
        data={"username": username, "password": password},
        follow_redirects=False,
    )


def logged_in(prowlarr: FakeProwlarr, username: str, password: str) -> bool:
    response = login(prowlarr, username, password)
    return response.status_code == 302 and "loginFailed" not in response.headers["location"]


def host_config_puts(prowlarr: FakeProwlarr) -> list[RecordedRequest]:
    return [r for r in prowlarr.requests if r.method == "PUT" and "/config/host" in r.path]


def generated_credentials(out: testing.State) -> dict[str, str]:
    return dict(out.get_secret(label=GENERATED).latest_content or {})


# ------------------------------------------------------------------ a fresh deployment


def test_a_fresh_deployment_serves_its_key_to_nobody_and_logs_in_with_the_secret(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr
):
    state = make_state(config_dir)

    out = ctx.run(ctx.on.pebble_ready(state.get_container("prowlarr")), state)

    env = out.get_container("prowlarr").plan.services["prowlarr"].environment
    assert (env["PROWLARR__AUTH__METHOD"], env["PROWLARR__AUTH__REQUIRED"]) == ("Forms", "Enabled")
    anonymous = httpx.get(f"{prowlarr.url}/initialize.json", follow_redirects=False)
    assert anonymous.status_code in (401, 302)
    assert prowlarr.api_key not in anonymous.text
    if anonymous.status_code == 302:
        assert "/login" in anonymous.headers["location"]

    creds = generated_credentials(out)
    assert creds["username"] == "admin"
    assert len(creds["password"]) >= 24
    assert logged_in(prowlarr, creds["username"], creds["password"])
    assert not logged_in(prowlarr, "admin", "not the password")
    assert not logged_in(prowlarr, "someone", creds["password"])
    session = login(prowlarr, creds["username"], creds["password"]).cookies[SESSION_COOKIE]
    behind_login = httpx.get(f"{prowlarr.url}/initialize.json", cookies={SESSION_COOKIE: session})
    assert behind_login.json()["apiKey"] == prowlarr.api_key, "the UI still works, logged in"
    assert out.unit_status == testing.ActiveStatus("0 applications synced")


def test_without_the_charms_environment_the_key_is_served_to_anyone(
    config_dir: Path, prowlarr: FakeProwlarr
):
    # What the charm guards against: Prowlarr's defaults (AuthenticationMethod None).
    write_config_xml(config_dir, ApiKey=USER_KEY)
    prowlarr.start()

    anonymous = httpx.get(f"{prowlarr.url}/initialize.json")

    assert anonymous.json()["apiKey"] == USER_KEY


# ------------------------------------------------------------------ adoption


def test_an_install_without_a_login_gets_the_charms_user_once(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, calls: CallRecorder
):
    write_config_xml(
        config_dir,
        ApiKey=USER_KEY,
        AuthenticationMethod="None",
        AuthenticationRequired="DisabledForLocalAddresses",
    )
    prowlarr.start()  # as it ran before the charm: no login at all
    assert httpx.get(f"{prowlarr.url}/initialize.json").json()["apiKey"] == USER_KEY
    state = make_state(config_dir)

    out = ctx.run(ctx.on.pebble_ready(state.get_container("prowlarr")), state)

    creds = generated_credentials(out)
    assert httpx.get(f"{prowlarr.url}/initialize.json", follow_redirects=False).status_code == 302
    assert logged_in(prowlarr, "admin", creds["password"])
    assert len(host_config_puts(prowlarr)) == 1

    prowlarr.clear_requests()
    calls.reset()
    ctx.run(ctx.on.update_status(), out)
    assert host_config_puts(prowlarr) == [], "applied once"
    assert [r.path for r in prowlarr.requests] == ["/api/v1/applications"]
    assert calls.writes() == {}


def test_a_user_set_by_hand_is_replaced_by_the_charms(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr
):
    started(prowlarr, config_dir)
    body = httpx.get(f"{prowlarr.url}/api/v1/config/host", headers={"X-Api-Key": USER_KEY}).json()
    body.update(username="handmade", password="by-hand-1234", passwordConfirmation="by-hand-1234")
    httpx.put(f"{prowlarr.url}/api/v1/config/host/1", json=body, headers={"X-Api-Key": USER_KEY})
    assert logged_in(prowlarr, "handmade", "by-hand-1234")

    out = ctx.run(ctx.on.update_status(), steady_state(config_dir))

    assert logged_in(prowlarr, "admin", generated_credentials(out)["password"])
    assert not logged_in(prowlarr, "handmade", "by-hand-1234")


def test_the_charm_puts_what_it_has_just_read(ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr):
    started(prowlarr, config_dir)
    first = ctx.run(ctx.on.update_status(), steady_state(config_dir))
    prowlarr.set_host_setting("instanceName", "Prowlarr Home")  # a UI edit since then
    prowlarr.set_host_setting("backupRetention", 60)
    rotated = user_secret()

    ctx.run(
        ctx.on.config_changed(),
        dataclasses.replace(
            first, config={"ui-credentials": USER_SECRET_ID}, secrets={*first.secrets, rotated}
        ),
    )

    assert logged_in(prowlarr, "operator", "correct horse battery staple")
    host = prowlarr.host_config()
    assert (host["instanceName"], host["backupRetention"]) == ("Prowlarr Home", 60)
    assert config_xml(config_dir)["InstanceName"] == "Prowlarr Home"


# ------------------------------------------------------------------ bring your own


def test_bring_your_own_credentials_replace_the_generated_ones(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, calls: CallRecorder
):
    started(prowlarr, config_dir)
    first = ctx.run(ctx.on.update_status(), steady_state(config_dir))
    generated = generated_credentials(first)
    secret = user_secret()
    byo = dataclasses.replace(
        first, config={"ui-credentials": USER_SECRET_ID}, secrets={*first.secrets, secret}
    )

    out = ctx.run(ctx.on.config_changed(), byo)

    assert logged_in(prowlarr, "operator", "correct horse battery staple")
    assert logged_in(prowlarr, "Operator", "correct horse battery staple"), "stored lower-cased"
    assert not logged_in(prowlarr, "admin", generated["password"])

    prowlarr.clear_requests()
    calls.reset()
    steady = ctx.run(ctx.on.update_status(), out)
    assert host_config_puts(prowlarr) == []
    assert calls.writes() == {}

    changed = dataclasses.replace(
        secret,
        latest_content={"username": "operator", "password": "a new passphrase for the ui"},
    )
    state = dataclasses.replace(
        steady, secrets={s for s in steady.secrets if s.id != secret.id} | {changed}
    )
    prowlarr.clear_requests()
    ctx.run(ctx.on.secret_changed(changed), state)

    assert len(host_config_puts(prowlarr)) == 1
    assert logged_in(prowlarr, "operator", "a new passphrase for the ui")
    assert not logged_in(prowlarr, "operator", "correct horse battery staple")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"username": "operator"}, "ui-credentials: the secret has no password field"),
        ({"password": "x" * 30}, "ui-credentials: the secret has no username field"),
        (
            {"user": "someone", "pass": "hunter2-but-longer"},
            "ui-credentials: the secret has no username and no password",
        ),
        (
            {"username": "two words", "password": "x" * 30},
            "ui-credentials: the secret has a username with spaces or control characters",
        ),
    ],
)
def test_wrong_fields_block_naming_the_option_and_apply_nothing(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, content: dict[str, str], message: str
):
    started(prowlarr, config_dir)
    secret = testing.Secret(content, id=USER_SECRET_ID)
    state = steady_state(config_dir, config={"ui-credentials": USER_SECRET_ID})
    state = dataclasses.replace(state, secrets={*state.secrets, secret})

    out = ctx.run(ctx.on.config_changed(), state)

    assert out.unit_status.name == "blocked"
    assert out.unit_status.message.startswith(message)
    assert host_config_puts(prowlarr) == []
    for value in content.values():
        assert value not in out.unit_status.message


def test_a_secret_not_granted_says_how_to_grant_it(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr
):
    started(prowlarr, config_dir)
    state = steady_state(config_dir, config={"ui-credentials": USER_SECRET_ID})

    out = ctx.run(ctx.on.config_changed(), state)

    assert out.unit_status.name == "blocked"
    assert USER_SECRET_ID in out.unit_status.message
    assert host_config_puts(prowlarr) == []


# ------------------------------------------------------------------ restarts and restores


def test_a_restarted_prowlarr_that_lost_its_user_gets_it_again(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr
):
    started(prowlarr, config_dir)
    first = ctx.run(ctx.on.update_status(), steady_state(config_dir))
    prowlarr.user = None  # new storage, a restored backup: another database
    prowlarr.stop()
    stopped = dataclasses.replace(
        first.get_container("prowlarr"), service_statuses={"prowlarr": ServiceStatus.INACTIVE}
    )

    out = ctx.run(ctx.on.update_status(), dataclasses.replace(first, containers={stopped}))

    assert logged_in(prowlarr, "admin", generated_credentials(out)["password"])


# ------------------------------------------------------------------ the action


@pytest.mark.parametrize("byo", [False, True])
def test_get_ui_credentials_says_where_never_what(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, byo: bool
):
    started(prowlarr, config_dir)
    first = ctx.run(ctx.on.update_status(), steady_state(config_dir))
    state = first
    if byo:
        state = dataclasses.replace(
            first,
            config={"ui-credentials": USER_SECRET_ID},
            secrets={*first.secrets, user_secret()},
        )

    ctx.run(ctx.on.action("get-ui-credentials"), state)

    results = ctx.action_results or {}
    secret_id = USER_SECRET_ID if byo else first.get_secret(label=GENERATED).id
    assert results == {
        "secret-id": secret_id,
        "show-command": f"juju show-secret --reveal {secret_id}",
    }
    text = json.dumps(results)
    assert generated_credentials(first)["password"] not in text
    assert "correct horse" not in text


def test_get_ui_credentials_on_a_non_leader_fails(ctx: Ctx, config_dir: Path):
    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("get-ui-credentials"), make_state(config_dir, leader=False))
    assert "leader" in failure.value.message


# ------------------------------------------------------------------ nothing leaks


def test_no_password_or_key_anywhere(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    state = make_state(config_dir)
    out = ctx.run(ctx.on.pebble_ready(state.get_container("prowlarr")), state)
    byo = dataclasses.replace(
        out, config={"ui-credentials": USER_SECRET_ID}, secrets={*out.secrets, user_secret()}
    )
    out = ctx.run(ctx.on.config_changed(), byo)
    out = ctx.run(ctx.on.action("get-ui-credentials"), out)
    secrets = {
        generated_credentials(out)["password"],
        "correct horse battery staple",
        prowlarr.api_key,
        prowlarr.user.password_hash if prowlarr.user else "",
    }

    seen = [record.getMessage() for record in caplog.records]
    seen += [str(s) for s in ctx.unit_status_history] + [str(out.unit_status)]
    seen.append(json.dumps(ctx.action_results))
    seen += [json.dumps(dict(r.local_app_data)) for r in out.relations]
    seen.append(json.dumps(out.get_container("prowlarr").plan.to_dict()))
    text = "\n".join(seen)
    for secret in secrets:
        assert secret and secret not in text


def test_a_new_login_announced_while_prowlarr_fails_is_applied_once_it_answers(
    ctx: Ctx, config_dir: Path, prowlarr: FakeProwlarr, caplog: pytest.LogCaptureFixture
):
    """Juju announces a revision once: a change Prowlarr could not take then is not lost."""
    started(prowlarr, config_dir)
    secret = user_secret()
    state = steady_state(config_dir, config={"ui-credentials": USER_SECRET_ID})
    state = dataclasses.replace(state, secrets={*state.secrets, secret})
    out = ctx.run(ctx.on.config_changed(), state)
    assert logged_in(prowlarr, "operator", OPERATOR_PASSWORD)
    changed = dataclasses.replace(
        secret, latest_content={"username": "operator", "password": "the passphrase after"}
    )
    state = dataclasses.replace(
        out, secrets={s for s in out.secrets if s.id != secret.id} | {changed}
    )

    prowlarr.failing_routes["GET /api/v1/applications"] = 500
    during = ctx.run(ctx.on.secret_changed(changed), state)
    assert during.unit_status.name == "waiting"
    assert logged_in(prowlarr, "operator", OPERATOR_PASSWORD), "not applied during the outage"

    prowlarr.failing_routes.clear()
    later = ctx.run(ctx.on.update_status(), ctx.run(ctx.on.update_status(), during))

    assert logged_in(prowlarr, "operator", "the passphrase after")
    assert not logged_in(prowlarr, "operator", OPERATOR_PASSWORD)
    assert later.unit_status.name == "active"
    prowlarr.clear_requests()
    ctx.run(ctx.on.update_status(), later)
    assert host_config_puts(prowlarr) == [], "applied once"
    for record in caplog.records:
        assert "the passphrase after" not in record.getMessage()
