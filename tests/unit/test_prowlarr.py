"""The Prowlarr API client (prowlarr.py) against the fake Prowlarr, and its models."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import prowlarr
from prowlarr import (
    Application,
    ApplicationField,
    ProwlarrAuthError,
    ProwlarrClient,
    ProwlarrConnectionError,
    ProwlarrError,
    ProwlarrReadTimeoutError,
    ProwlarrResponseError,
    ProwlarrStartingError,
    ProwlarrTimeoutError,
    ProwlarrValidationError,
)
from tests.unit.conftest import CLUSTER_URL
from tests.unit.fake_prowlarr import FakeProwlarr
from workload import IncompleteConfigXmlError, parse_config_xml, render_config_xml

USER_KEY = "0123456789abcdef0123456789abcdef"


# =========================================================================== API models


def test_application_keeps_unknown_fields_through_a_round_trip():
    data: dict[str, Any] = {
        "syncLevel": "fullSync",
        "enable": True,
        "name": "Radarr",
        "fields": [
            {"order": 0, "name": "baseUrl", "value": "http://radarr:7878", "privacy": "normal"},
            {"order": 2, "name": "apiKey", "value": "********", "privacy": "apiKey"},
        ],
        "implementationName": "Radarr",
        "implementation": "Radarr",
        "configContract": "RadarrSettings",
        "tags": [1],
        "id": 3,
    }

    app = Application.model_validate(data)

    assert (app.id, app.config_contract, app.sync_level) == (3, "RadarrSettings", "fullSync")
    assert app.field_value("baseUrl") == "http://radarr:7878"
    assert app.field_value("nope") is None
    assert app.to_api() == data


def test_with_field_copies_and_appends():
    app = Application(implementation="Radarr", config_contract="RadarrSettings")
    app = app.with_field("baseUrl", "http://a")

    changed = app.with_field("baseUrl", "http://b").with_field("apiKey", "k" * 32)

    assert app.field_value("baseUrl") == "http://a", "the original is unchanged"
    assert [(f.name, f.value) for f in changed.fields] == [
        ("baseUrl", "http://b"),
        ("apiKey", "k" * 32),
    ]
    assert "id" not in changed.to_api()


def test_field_repr_hides_values():
    field = ApplicationField.model_validate(
        {"name": "apiKey", "value": "k" * 32, "privacy": "apiKey"}
    )
    app = Application(implementation="Radarr", config_contract="RadarrSettings", fields=[field])
    assert "k" * 32 not in repr(app)
    assert "k" * 32 not in str(app)


# =========================================================================== client vs fake


@pytest.fixture
def started(fake: FakeProwlarr, config_dir: Path) -> FakeProwlarr:
    (config_dir / "config.xml").write_text(render_config_xml(None, USER_KEY))
    fake.start()
    return fake


@pytest.fixture
def client(started: FakeProwlarr) -> Iterator[ProwlarrClient]:
    with ProwlarrClient(USER_KEY, base_url=started.url) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ping_follows_prowlarrs_start(fake: FakeProwlarr, config_dir: Path):
    with ProwlarrClient(USER_KEY, base_url=fake.url) as c:
        assert c.ping() is False, "not listening yet"
        (config_dir / "config.xml").write_text(render_config_xml(None, USER_KEY))
        fake.start()
        fake.starting_requests = 1
        assert c.ping() is False, "503 while starting"
        assert c.ping() is True


def test_ping_needs_the_url_base(fake: FakeProwlarr, config_dir: Path):
    (config_dir / "config.xml").write_text(render_config_xml(None, USER_KEY, "/prowlarr"))
    fake.start()

    with ProwlarrClient(USER_KEY, "/prowlarr", base_url=fake.url) as c:
        assert c.ping() is True
        assert c.system_status().url_base == "/prowlarr"
    with ProwlarrClient(USER_KEY, base_url=fake.url) as c:
        assert c.ping() is False, "307 to the base path"
        with pytest.raises(ProwlarrResponseError) as info:
            c.system_status()
    assert 300 <= info.value.status_code < 400


def test_local_url_is_the_default(started: FakeProwlarr, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(prowlarr, "LOCAL_URL", started.url)

    with ProwlarrClient(USER_KEY) as c:
        assert c.ping() is True


def test_system_status(client: ProwlarrClient, started: FakeProwlarr):
    status = client.system_status()

    assert status.version == "2.3.5.5327"
    assert (status.app_name, status.url_base) == ("Prowlarr", "")


def test_requests_carry_the_key_in_a_header_only(client: ProwlarrClient, started: FakeProwlarr):
    started.clear_requests()

    client.system_status()
    client.run_command("ApplicationIndexerSync", forceSync=True)

    get, post = started.requests[-2:]
    for request in (get, post):
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert headers["x-api-key"] == USER_KEY
        assert headers["accept"] == "application/json"
        assert USER_KEY not in str(request.query)
        assert "apikey" not in {k.lower() for k in request.query}
    assert post.json == {"name": "ApplicationIndexerSync", "forceSync": True}


def test_key_accepted(client: ProwlarrClient):
    assert client.key_accepted(USER_KEY) is True
    assert client.key_accepted("f" * 32) is False


def test_wrong_key_is_an_auth_error_without_the_key(started: FakeProwlarr):
    wrong = "e" * 32
    with (
        ProwlarrClient(wrong, base_url=started.url) as c,
        pytest.raises(ProwlarrAuthError) as info,
    ):
        c.system_status()

    assert info.value.status_code == 401
    assert "GET /api/v1/system/status" in str(info.value)
    assert "401" in str(info.value)
    for text in (str(info.value), repr(info.value)):
        assert wrong not in text
        assert USER_KEY not in text


def test_starting_is_its_own_error(client: ProwlarrClient, started: FakeProwlarr):
    started.starting_requests = 1

    with pytest.raises(ProwlarrStartingError) as info:
        client.system_status()

    assert info.value.status_code == 503


def test_other_statuses_are_response_errors(client: ProwlarrClient, started: FakeProwlarr):
    started.fail_status = 500

    with pytest.raises(ProwlarrResponseError) as info:
        client.list_applications()
    with pytest.raises(ProwlarrResponseError):
        client.key_accepted(USER_KEY)

    assert type(info.value) is ProwlarrResponseError
    assert info.value.status_code == 500
    assert "GET /api/v1/applications returned 500" in str(info.value)


def test_unknown_command_is_a_response_error(client: ProwlarrClient):
    with pytest.raises(ProwlarrResponseError) as info:
        client.run_command("NoSuchCommand")
    assert info.value.status_code == 500


def test_empty_command_name_is_a_validation_error(client: ProwlarrClient):
    with pytest.raises(ProwlarrValidationError) as info:
        client.run_command("")

    assert info.value.failures
    assert info.value.failures[0].property_name == "Name"


def test_client_repr_hides_the_key(client: ProwlarrClient):
    assert USER_KEY not in repr(client)


def test_command_runs_to_completion(client: ProwlarrClient, started: FakeProwlarr):
    started.command_delay = 0.2  # still queued when posted again, even on a busy machine
    command = client.run_command("ApplicationIndexerSync", forceSync=True)
    assert command.status == "queued"
    assert client.run_command("ApplicationIndexerSync", forceSync=True).id == command.id

    done = client.wait_for_command(command.id, timeout=5, interval=0.001)

    assert done.id == command.id
    assert (done.status, done.succeeded, done.finished) == ("completed", True, True)
    assert started.syncs == [True]


def test_wait_for_command_times_out(client: ProwlarrClient, started: FakeProwlarr):
    started.stuck_commands.add("ApplicationIndexerSync")  # never finishes, however slow the test
    command = client.run_command("ApplicationIndexerSync", forceSync=False)

    start = time.monotonic()
    with pytest.raises(ProwlarrTimeoutError) as info:
        client.wait_for_command(command.id, timeout=0.0, interval=0.001)

    assert time.monotonic() - start < 1
    assert str(command.id) in str(info.value)


def config_key(config_dir: Path) -> str | None:
    """config.xml's key; None while it is caught empty or half-written (Prowlarr saving it)."""
    try:
        config = parse_config_xml((config_dir / "config.xml").read_text())
    except IncompleteConfigXmlError:
        return None
    return config.api_key if config else None


@pytest.mark.parametrize("window", [0.15, 0.35])
def test_the_new_key_is_read_again_while_prowlarr_saves_config_xml(
    client: ProwlarrClient, started: FakeProwlarr, config_dir: Path, window: float
):
    # Prowlarr rejects the old key before config.xml holds the new one: old key, then empty.
    started.command_delay = 0
    started.reset_save_delay = window
    seen: list[str | None] = []

    def reload_key() -> str | None:
        seen.append(config_key(config_dir))
        return seen[-1]

    done = client.run_and_wait("ResetApiKey", timeout=5, interval=0.01, reload_key=reload_key)

    assert done.status == "completed"
    assert seen[0] in (USER_KEY, None), "the first read came while Prowlarr was saving"
    assert seen[-1] == started.api_key != USER_KEY
    assert client.key_accepted(started.api_key) is True


def test_a_key_that_never_reaches_config_xml_ends_the_wait(
    client: ProwlarrClient, started: FakeProwlarr, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(prowlarr, "RELOAD_DELAY", 0.01)
    started.command_delay = 0
    started.reset_writes_config = False  # the key changes in memory only
    reads: list[str] = []

    def reload_key() -> str:
        reads.append(USER_KEY)
        return USER_KEY

    with pytest.raises(ProwlarrAuthError):
        client.run_and_wait("ResetApiKey", timeout=5, interval=0.01, reload_key=reload_key)
    assert len(reads) == prowlarr.RELOAD_ATTEMPTS


@pytest.mark.parametrize("delay", [0.0, 0.05])
def test_a_command_is_followed_across_the_key_change_it_makes(
    client: ProwlarrClient, started: FakeProwlarr, config_dir: Path, delay: float
):
    started.command_delay = delay
    command = client.run_command("ResetApiKey")
    done = client.wait_for_command(
        command.id, timeout=5, interval=0.01, reload_key=lambda: config_key(config_dir)
    )

    assert done.status == "completed"
    new = config_key(config_dir)
    assert new is not None
    assert new == started.api_key != USER_KEY
    assert client.key_accepted(new) is True
    assert client.key_accepted(USER_KEY) is False
    assert client.system_status().version, "the client goes on with the new key"


def test_without_a_new_key_in_config_xml_the_401_stands(
    client: ProwlarrClient, started: FakeProwlarr
):
    started.command_delay = 0
    command = client.run_command("ResetApiKey")
    started.complete_commands()

    with pytest.raises(ProwlarrAuthError):
        client.wait_for_command(command.id, timeout=5, reload_key=lambda: USER_KEY)
    with pytest.raises(ProwlarrAuthError):
        client.wait_for_command(command.id, timeout=5)


def radarr(
    client: ProwlarrClient, name: str = "Radarr", base_url: str = "http://radarr:7878"
) -> Application:
    template = next(app for app in client.application_schema() if app.implementation == "Radarr")
    return (
        template.model_copy(update={"name": name, "sync_level": "fullSync"})
        .with_field("baseUrl", base_url)
        .with_field("prowlarrUrl", CLUSTER_URL)
        .with_field("apiKey", "r" * 32)
    )


def test_application_schema_has_the_media_managers(client: ProwlarrClient):
    implementations = {app.implementation for app in client.application_schema()}
    assert {"Radarr", "Sonarr", "Lidarr", "Readarr", "Whisparr"} <= implementations


def test_application_crud(client: ProwlarrClient, started: FakeProwlarr):
    created = client.create_application(radarr(client))

    assert created.id is not None
    assert created.field_value("apiKey") == "********", "Prowlarr masks secret fields"
    assert started.stored_api_key(created.id) == "r" * 32
    assert [app.id for app in client.list_applications()] == [created.id]

    moved = created.with_field("baseUrl", "http://radarr-2:7878")
    updated = client.update_application(moved)

    assert updated.id == created.id
    assert updated.field_value("baseUrl") == "http://radarr-2:7878"
    assert started.stored_api_key(created.id) == "r" * 32, "******** keeps the stored key"

    client.delete_application(created.id)
    client.delete_application(created.id)  # unknown id: still 200
    assert client.list_applications() == []


def test_update_needs_an_id(client: ProwlarrClient):
    with pytest.raises(ValueError, match="id"):
        client.update_application(Application(implementation="Radarr", config_contract="X"))


def test_duplicate_name_is_a_validation_error(client: ProwlarrClient):
    client.create_application(radarr(client, "Radarr"))

    with pytest.raises(ProwlarrValidationError) as info:
        client.create_application(radarr(client, "radarr"))

    error = info.value
    assert error.status_code == 400
    assert [(f.property_name, f.error_message) for f in error.failures] == [
        ("Name", "Should be unique")
    ]
    assert error.message == "Should be unique"
    assert "POST /api/v1/applications returned 400" in str(error)


def test_unreachable_app_fails_its_connection_test(client: ProwlarrClient, started: FakeProwlarr):
    started.unreachable.add("http://radarr:7878")

    with pytest.raises(ProwlarrValidationError) as info:
        client.create_application(radarr(client))

    failure = info.value.failures[0]
    assert (failure.property_name, failure.is_warning) == ("BaseUrl", False)
    assert "cannot connect to Radarr" in failure.error_message
    assert "r" * 32 not in str(info.value) + repr(info.value.failures)


def test_connection_refused_is_a_connection_error():
    with ProwlarrClient(USER_KEY, base_url=f"http://127.0.0.1:{free_port()}") as c:
        start = time.monotonic()
        with pytest.raises(ProwlarrConnectionError) as info:
            c.system_status()
        assert c.ping() is False
    assert time.monotonic() - start < 2, "one quick retry at most"
    assert "GET /api/v1/system/status" in str(info.value)
    assert USER_KEY not in str(info.value)


def test_stopped_prowlarr_is_a_connection_error(fake: FakeProwlarr):
    with ProwlarrClient(USER_KEY, base_url=fake.url) as c, pytest.raises(ProwlarrConnectionError):
        c.run_command("ApplicationIndexerSync")


def test_no_answer_in_time_is_its_own_error_not_a_connection_error():
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with ProwlarrClient(USER_KEY, base_url=url, timeout=0.2) as c:
            start = time.monotonic()
            with pytest.raises(ProwlarrReadTimeoutError) as info:
                c.get_command(1)
            assert c.ping() is False
    assert time.monotonic() - start < 2
    assert "no answer within 0.2s" in str(info.value)
    assert not isinstance(info.value, ProwlarrConnectionError)


def test_errors_share_one_base():
    for error in (
        ProwlarrConnectionError,
        ProwlarrResponseError,
        ProwlarrAuthError,
        ProwlarrStartingError,
        ProwlarrValidationError,
        ProwlarrTimeoutError,
        ProwlarrReadTimeoutError,
    ):
        assert issubclass(error, ProwlarrError)


def test_key_never_logged(
    started: FakeProwlarr, caplog: pytest.LogCaptureFixture, config_dir: Path
):
    caplog.set_level(logging.DEBUG)
    with ProwlarrClient(USER_KEY, base_url=started.url) as c:
        c.ping()
        c.system_status()
        c.key_accepted("d" * 32)
        c.create_application(radarr(c))
        started.starting_requests = 1
        with pytest.raises(ProwlarrStartingError):
            c.list_applications()
    with ProwlarrClient(USER_KEY, base_url=f"http://127.0.0.1:{free_port()}") as c:
        assert c.ping() is False

    text = "\n".join(record.getMessage() for record in caplog.records)
    for secret in (USER_KEY, "d" * 32, "r" * 32):
        assert secret not in text
