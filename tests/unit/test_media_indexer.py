# Copyright 2025 prowlarr-k8s contributors
# See LICENSE file for licensing details.

"""Tests of the media-indexer library, with dummy provider and requirer charms."""

from __future__ import annotations

import dataclasses
import json
import logging
import traceback
from typing import Any, TypeVar, cast

import ops
import pytest
from charms.prowlarr_k8s.v0.media_indexer import (
    ApiKeyChangedEvent,
    ApiKeyResult,
    ApiKeySecretContent,
    ApiKeyStatus,
    MediaIndexerChangedEvent,
    MediaIndexerProvider,
    MediaIndexerProviderData,
    MediaIndexerRequirer,
    MediaIndexerRequirerData,
    MediaManager,
    RemoteData,
    consumer_label,
)
from ops import testing

MODEL_UUID = "6f0e2a5c-3b1d-4f8e-9a7c-2d4b6e8f0a1c"
PROWLARR_KEY = "4f2c9a1e7b3d4c6e8f0a2b4c6d8e0f13"
RADARR_KEY = "a7e3c1b9d5f2468ace0bdf1357924680"
ROTATED_KEY = "5b8d0f2a4c6e8a0c2e4a6c8e0a2c4e68"
ALL_KEYS = (PROWLARR_KEY, RADARR_KEY, ROTATED_KEY)
PROWLARR_SECRET_ID = f"secret://{MODEL_UUID}/d4prowlarrkey0000001"
RADARR_SECRET_ID = f"secret://{MODEL_UUID}/d4radarrkey000000002"
OWN_LABEL = "prowlarr-api-key"
RADARR_LABEL = "radarr-api-key"
PROWLARR_URL = "http://prowlarr.media.svc.cluster.local:9696"
RADARR_URL = "http://radarr.media.svc.cluster.local:7878"

PROVIDER_META: dict[str, Any] = {
    "name": "prowlarr",
    "provides": {"media-indexer": {"interface": "media-indexer"}},
}
REQUIRER_META: dict[str, Any] = {
    "name": "radarr",
    "requires": {
        "media-indexer": {"interface": "media-indexer"},
        "downloads": {"interface": "download-client"},
    },
}
PROVIDER_ACTIONS: dict[str, Any] = {
    "publish": {"params": {"api-url": {"type": "string"}, "base-path": {"type": "string"}}},
}
REQUIRER_ACTIONS: dict[str, Any] = {
    "publish": {
        "params": {
            "api-url": {"type": "string"},
            "manager": {"type": "string"},
            "instance-name": {"type": "string"},
        }
    },
}
REQUIRER_CONFIG: dict[str, Any] = {
    "options": {"defer-key-events": {"type": "boolean", "default": False}},
}

CharmT = TypeVar("CharmT", bound=ops.CharmBase)


class _Recorder(ops.CharmBase):
    """What both dummy charms record: the events they saw and what they read."""

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.seen: list[tuple[str, int]] = []
        self.remotes: list[RemoteData[Any]] = []
        self.keys: dict[int, ApiKeyResult] = {}
        self.changed_apps: list[str | None] = []

    def record_keys(
        self, lib: MediaIndexerProvider | MediaIndexerRequirer, remotes: list[RemoteData[Any]]
    ) -> None:
        self.remotes = remotes
        for remote in remotes:
            data = cast("MediaIndexerProviderData | MediaIndexerRequirerData | None", remote.data)
            if data is not None:
                self.keys[remote.relation.id] = lib.get_api_key(
                    remote.relation, data.api_key_secret_id
                )


class ProviderCharm(_Recorder):
    """Prowlarr's side, wired as the library's docstring shows."""

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.indexer = MediaIndexerProvider(self)
        framework.observe(self.on.publish_action, self._on_publish)
        framework.observe(self.indexer.on.changed, self._on_changed)
        framework.observe(self.indexer.on.api_key_changed, self._on_key_changed)

    def own_secret(self) -> ops.Secret:
        try:
            return self.model.get_secret(label=OWN_LABEL)
        except ops.SecretNotFoundError:
            return self.app.add_secret({"api-key": PROWLARR_KEY}, label=OWN_LABEL)

    def _on_publish(self, event: ops.ActionEvent) -> None:
        written = self.indexer.publish(
            self.own_secret(),
            api_url=str(event.params["api-url"]),
            base_path=cast("str | None", event.params.get("base-path")),
        )
        event.set_results({"written": written})

    def _on_changed(self, event: MediaIndexerChangedEvent) -> None:
        self.seen.append(("changed", event.relation.id))
        self.changed_apps.append(event.app.name if event.app else None)
        self.record_keys(self.indexer, self.indexer.get_requirers())

    def _on_key_changed(self, event: ApiKeyChangedEvent) -> None:
        self.seen.append(("api_key_changed", event.relation_id))
        relation = self.model.get_relation("media-indexer", event.relation_id)
        if relation is not None and relation.active:
            self.record_keys(self.indexer, [self.indexer.get_requirer_data(relation)])


class RequirerCharm(_Recorder):
    """A media manager's side (Radarr), wired as the library's docstring shows."""

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.indexer = MediaIndexerRequirer(self)
        framework.observe(self.on.publish_action, self._on_publish)
        framework.observe(self.indexer.on.changed, self._on_changed)
        framework.observe(self.indexer.on.api_key_changed, self._on_key_changed)

    def _on_publish(self, event: ops.ActionEvent) -> None:
        written = self.indexer.publish(
            self.model.get_secret(label=RADARR_LABEL),
            api_url=str(event.params["api-url"]),
            manager=str(event.params["manager"]),
            instance_name=str(event.params["instance-name"]),
        )
        event.set_results({"written": written})

    def _on_changed(self, event: MediaIndexerChangedEvent) -> None:
        self.seen.append(("changed", event.relation.id))
        self.changed_apps.append(event.app.name if event.app else None)
        self.record_keys(self.indexer, self.indexer.get_providers())

    def _on_key_changed(self, event: ApiKeyChangedEvent) -> None:
        if self.config.get("defer-key-events"):
            self.seen.append(("deferred", event.relation_id))
            event.defer()
            return
        self.seen.append(("api_key_changed", event.relation_id))
        relation = self.model.get_relation("media-indexer", event.relation_id)
        if relation is not None and relation.active:
            provider = self.indexer.get_provider_data(relation)
            self.record_keys(self.indexer, [provider] if provider else [])


def provider_ctx() -> testing.Context[ProviderCharm]:
    return testing.Context(ProviderCharm, meta=PROVIDER_META, actions=PROVIDER_ACTIONS)


def requirer_ctx(juju_version: str | None = None) -> testing.Context[RequirerCharm]:
    if juju_version is None:
        return testing.Context(
            RequirerCharm, meta=REQUIRER_META, actions=REQUIRER_ACTIONS, config=REQUIRER_CONFIG
        )
    return testing.Context(
        RequirerCharm,
        meta=REQUIRER_META,
        actions=REQUIRER_ACTIONS,
        config=REQUIRER_CONFIG,
        juju_version=juju_version,
    )


def run(
    ctx: testing.Context[CharmT], event: Any, state: testing.State
) -> tuple[testing.State, CharmT]:
    """Run one event; return the output state and the charm instance that handled it."""
    with ctx(event, state) as mgr:
        out = mgr.run()
        return out, mgr.charm


def state(**kwargs: Any) -> testing.State:
    return testing.State(model=testing.Model(name="media", uuid=MODEL_UUID), **kwargs)


def own_prowlarr_secret() -> testing.Secret:
    return testing.Secret(
        {"api-key": PROWLARR_KEY}, id=PROWLARR_SECRET_ID, owner="app", label=OWN_LABEL
    )


def own_radarr_secret() -> testing.Secret:
    return testing.Secret(
        {"api-key": RADARR_KEY}, id=RADARR_SECRET_ID, owner="app", label=RADARR_LABEL
    )


def requirer_json(**changes: object) -> str:
    """Radarr's published JSON; a value of `...` removes that field."""
    data: dict[str, object] = {
        "api_url": RADARR_URL,
        "api_key_secret_id": RADARR_SECRET_ID,
        "manager": "radarr",
        "instance_name": "radarr",
        "base_path": None,
    }
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not ...})


def provider_json(**changes: object) -> str:
    """Prowlarr's published JSON; a value of `...` removes that field."""
    data: dict[str, object] = {
        "api_url": PROWLARR_URL,
        "api_key_secret_id": PROWLARR_SECRET_ID,
        "indexer": "prowlarr",
        "base_path": None,
    }
    data.update(changes)
    return json.dumps({k: v for k, v in data.items() if v is not ...})


def config_of(out: testing.State, relation_id: int) -> dict[str, object]:
    return cast(
        "dict[str, object]", json.loads(out.get_relation(relation_id).local_app_data["config"])
    )


def publish_provider(state_in: testing.State, **params: str) -> tuple[testing.State, int]:
    ctx = provider_ctx()
    out = ctx.run(ctx.on.action("publish", params={"api-url": PROWLARR_URL, **params}), state_in)
    assert ctx.action_results is not None
    return out, int(ctx.action_results["written"])


# --- provider: publish ------------------------------------------------------------------------


def test_leader_grants_every_relation_and_publishes_the_full_uri_only():
    radarr = testing.Relation("media-indexer", id=7, remote_app_name="radarr")
    sonarr = testing.Relation("media-indexer", id=8, remote_app_name="sonarr")
    state_in = state(leader=True, relations={radarr, sonarr}, secrets={own_prowlarr_secret()})

    out, written = publish_provider(state_in, **{"base-path": "prowlarr/"})

    assert written == 2
    secret = out.get_secret(label=OWN_LABEL)
    assert secret.remote_grants == {7: frozenset({"radarr"}), 8: frozenset({"sonarr"})}
    expected = {
        "api_url": PROWLARR_URL,
        "api_key_secret_id": PROWLARR_SECRET_ID,
        "indexer": "prowlarr",
        "base_path": "/prowlarr",
    }
    for relation_id in (7, 8):
        config = config_of(out, relation_id)
        assert config == expected
        assert str(config["api_key_secret_id"]).startswith(f"secret://{MODEL_UUID}/")
        assert list(out.get_relation(relation_id).local_app_data) == ["config"]
        assert PROWLARR_KEY not in json.dumps(dict(out.get_relation(relation_id).local_app_data))


def test_publish_creates_nothing_and_writes_nothing_on_a_non_leader():
    radarr = testing.Relation("media-indexer", id=7, remote_app_name="radarr")
    state_in = state(leader=False, relations={radarr}, secrets={own_prowlarr_secret()})

    out, written = publish_provider(state_in)

    assert written == 0
    assert out.get_relation(7).local_app_data == {}
    assert out.get_secret(label=OWN_LABEL).remote_grants == {}


def test_publish_with_the_secret_just_created_grants_and_publishes_its_id():
    radarr = testing.Relation("media-indexer", id=7, remote_app_name="radarr")

    out, written = publish_provider(state(leader=True, relations={radarr}))

    secret = out.get_secret(label=OWN_LABEL)
    assert written == 1
    assert secret.remote_grants == {7: frozenset({"radarr"})}
    assert config_of(out, 7)["api_key_secret_id"] == secret.id


def test_publish_again_with_nothing_changed_writes_nothing():
    radarr = testing.Relation("media-indexer", id=7, remote_app_name="radarr")
    first, written_first = publish_provider(
        state(leader=True, relations={radarr}, secrets={own_prowlarr_secret()})
    )

    second, written_second = publish_provider(first)

    assert (written_first, written_second) == (1, 0)
    assert second.get_relation(7).local_app_data == first.get_relation(7).local_app_data
    assert second.get_secret(label=OWN_LABEL).remote_grants == {7: frozenset({"radarr"})}


def test_equal_json_in_another_layout_is_left_byte_for_byte():
    same_json_other_layout = json.dumps(
        {
            "base_path": None,
            "indexer": "prowlarr",
            "api_key_secret_id": PROWLARR_SECRET_ID,
            "api_url": PROWLARR_URL,
        },
        indent=2,
    )
    radarr = testing.Relation(
        "media-indexer",
        id=7,
        remote_app_name="radarr",
        local_app_data={"config": same_json_other_layout},
    )
    sonarr = testing.Relation("media-indexer", id=8, remote_app_name="sonarr")
    state_in = state(leader=True, relations={radarr, sonarr}, secrets={own_prowlarr_secret()})

    out, written = publish_provider(state_in)

    assert written == 1  # only the new relation
    assert out.get_relation(7).local_app_data == {"config": same_json_other_layout}
    assert config_of(out, 8)["api_key_secret_id"] == PROWLARR_SECRET_ID


def test_a_new_api_url_is_written_to_every_relation():
    radarr = testing.Relation("media-indexer", id=7, remote_app_name="radarr")
    first, _ = publish_provider(
        state(leader=True, relations={radarr}, secrets={own_prowlarr_secret()})
    )

    out, written = publish_provider(first, **{"api-url": "https://prowlarr.example.com/"})

    assert written == 1
    assert config_of(out, 7)["api_url"] == "https://prowlarr.example.com"


def test_a_corrupt_local_databag_is_rewritten():
    radarr = testing.Relation(
        "media-indexer", id=7, remote_app_name="radarr", local_app_data={"config": "{corrupt"}
    )
    state_in = state(leader=True, relations={radarr}, secrets={own_prowlarr_secret()})

    out, written = publish_provider(state_in)

    assert written == 1
    assert config_of(out, 7)["api_key_secret_id"] == PROWLARR_SECRET_ID


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"api_url": "ftp://leak.example.com"}, "api_url: URL must use http or https"),
        ({"api_url": "http://leak.example.com/prowlarr"}, "api_url: URL must not contain a path"),
        ({"api_url": PROWLARR_URL, "base_path": "/leak?x=1"}, "base_path: base path must be"),
    ],
)
def test_publish_rejects_bad_arguments_without_echoing_them(kwargs: dict[str, Any], fragment: str):
    ctx = provider_ctx()
    radarr = testing.Relation("media-indexer", id=7, remote_app_name="radarr")
    state_in = state(leader=True, relations={radarr}, secrets={own_prowlarr_secret()})
    with ctx(ctx.on.update_status(), state_in) as mgr:
        secret = mgr.charm.model.get_secret(label=OWN_LABEL)
        with pytest.raises(ValueError, match="invalid media-indexer data") as error:
            mgr.charm.indexer.publish(secret, **kwargs)
        out = mgr.run()

    assert fragment in str(error.value)
    assert "leak" not in str(error.value)
    assert out.get_relation(7).local_app_data == {}


# --- requirer: publish ------------------------------------------------------------------------


def test_requirer_publishes_its_secret_in_the_current_form_only():
    prowlarr = testing.Relation("media-indexer", id=7, remote_app_name="prowlarr")
    ctx = requirer_ctx()
    params = {"api-url": RADARR_URL, "manager": "radarr", "instance-name": "radarr-4k"}
    state_in = state(leader=True, relations={prowlarr}, secrets={own_radarr_secret()})

    out = ctx.run(ctx.on.action("publish", params=params), state_in)

    assert ctx.action_results == {"written": 1}
    assert config_of(out, 7) == {
        "api_url": RADARR_URL,
        "api_key_secret_id": RADARR_SECRET_ID,
        "manager": "radarr",
        "instance_name": "radarr-4k",
        "base_path": None,
    }
    assert out.get_secret(label=RADARR_LABEL).remote_grants == {7: frozenset({"prowlarr"})}
    assert RADARR_KEY not in out.get_relation(7).local_app_data["config"]


def test_requirer_publish_is_leader_only():
    prowlarr = testing.Relation("media-indexer", id=7, remote_app_name="prowlarr")
    ctx = requirer_ctx()
    params = {"api-url": RADARR_URL, "manager": "radarr", "instance-name": "radarr"}

    out = ctx.run(
        ctx.on.action("publish", params=params),
        state(leader=False, relations={prowlarr}, secrets={own_radarr_secret()}),
    )

    assert ctx.action_results == {"written": 0}
    assert out.get_relation(7).local_app_data == {}
    assert out.get_secret(label=RADARR_LABEL).remote_grants == {}


# --- reading the other side -------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        pytest.param(requirer_json(instance_name="radarr-4k"), id="current form"),
        pytest.param(
            requirer_json(
                manager=..., app_type="radarr", media_type="movie", instance_name="radarr-4k"
            ),
            id="older form with app_type and media_type",
        ),
        pytest.param(
            requirer_json(instance_name="radarr-4k", quality="uhd", future={"x": 1}),
            id="unknown fields ignored",
        ),
    ],
)
def test_provider_parses_both_requirer_forms(config: str):
    radarr = testing.Relation(
        "media-indexer", id=7, remote_app_name="radarr", remote_app_data={"config": config}
    )

    _, charm = run(
        provider_ctx(),
        provider_ctx().on.relation_changed(radarr, remote_unit=0),
        state(relations={radarr}),
    )

    [remote] = charm.remotes
    assert remote.ok and remote.error is None and remote.app_name == "radarr"
    data = cast("MediaIndexerRequirerData", remote.data)
    assert data.manager is MediaManager.RADARR
    assert data.instance_name == "radarr-4k"
    assert data.api_url == RADARR_URL
    assert data.api_key_secret_id == RADARR_SECRET_ID
    assert set(json.loads(data.model_dump_json())) == {
        "api_url",
        "api_key_secret_id",
        "manager",
        "instance_name",
        "base_path",
    }


BAD_REQUIRER_DATA = [
    pytest.param("leak{not json", "'config' is not valid JSON", "leak", id="not JSON"),
    pytest.param('["leak"]', "'config' is not a JSON object", "leak", id="not an object"),
    pytest.param(
        requirer_json(instance_name=...), "instance_name: Field required", None, id="missing"
    ),
    pytest.param(
        requirer_json(manager="leakarr"),
        "manager: Input should be 'radarr', 'sonarr', 'lidarr', 'readarr' or 'whisparr'",
        "leakarr",
        id="unknown manager",
    ),
    pytest.param(
        requirer_json(manager=..., app_type="leakarr", media_type="movie"),
        "manager: Input should be 'radarr', 'sonarr', 'lidarr', 'readarr' or 'whisparr'",
        "leakarr",
        id="unknown app_type",
    ),
    pytest.param(
        requirer_json(api_url="ftp://leak.example.com"),
        "api_url: URL must use http or https",
        "leak",
        id="URL not http",
    ),
    pytest.param(
        requirer_json(api_url="http:///leak"),
        "api_url: URL must include a host",
        "leak",
        id="no host",
    ),
    pytest.param(
        requirer_json(api_url=7878),
        "api_url: Input should be a valid string",
        None,
        id="URL not a string",
    ),
    pytest.param(
        requirer_json(api_url="http://admin:leakpw@radarr:7878"),
        "api_url: URL must not contain credentials",
        "leakpw",
        id="URL with credentials",
    ),
    pytest.param(
        requirer_json(api_url="http://radarr:7878/leak"),
        "api_url: URL must not contain a path; publish it as base_path",
        "leak",
        id="URL with a path",
    ),
    pytest.param(
        requirer_json(api_url="http://radarr:7878/?leak=1"),
        "api_url: URL must not contain a query or a fragment",
        "leak",
        id="URL with a query",
    ),
    pytest.param(
        requirer_json(api_url="http://radarr:leak"),
        "api_url: not a valid URL",
        "leak",
        id="bad port",
    ),
    pytest.param(
        requirer_json(api_url="http://radarr:7878 leak"),
        "api_url: URL must not contain whitespace or control characters",
        "leak",
        id="URL with a space",
    ),
    pytest.param(
        requirer_json(api_key_secret_id="secret://leak\n"),
        "api_key_secret_id: secret ID must not contain control characters",
        "leak",
        id="secret ID with a newline",
    ),
    pytest.param(
        requirer_json(base_path="/leak\t"),
        "base_path: base path must not contain whitespace or control characters",
        "leak",
        id="base path with a tab",
    ),
    pytest.param(
        requirer_json(instance_name="   "),
        "instance_name: instance name must not be blank",
        None,
        id="blank instance name",
    ),
    pytest.param(
        requirer_json(api_key_secret_id=""),
        "api_key_secret_id: secret ID must not be empty",
        None,
        id="empty secret ID",
    ),
    pytest.param(
        requirer_json(instance_name=""),
        "instance_name: String should have at least 1 character",
        None,
        id="empty instance name",
    ),
    pytest.param(
        requirer_json(instance_name="leak" * 17),
        "instance_name: String should have at most 64 characters",
        "leak",
        id="instance name too long",
    ),
    pytest.param(
        requirer_json(instance_name="leak\x1bname"),
        "instance_name: instance name must not contain control characters",
        "leak",
        id="control character",
    ),
]


@pytest.mark.parametrize(("config", "reason", "marker"), BAD_REQUIRER_DATA)
def test_bad_requirer_data_is_reported_for_its_relation_only(
    config: str, reason: str, marker: str | None, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    good = testing.Relation(
        "media-indexer",
        id=7,
        remote_app_name="radarr",
        remote_app_data={"config": requirer_json()},
    )
    bad = testing.Relation(
        "media-indexer", id=9, remote_app_name="lidarr", remote_app_data={"config": config}
    )
    ctx = provider_ctx()

    radarr_secret = testing.Secret({"api-key": RADARR_KEY}, id=RADARR_SECRET_ID)

    _, charm = run(
        ctx,
        ctx.on.relation_changed(bad, remote_unit=0),
        state(relations={good, bad}, secrets={radarr_secret}),
    )

    remotes = {remote.relation.id: remote for remote in charm.remotes}
    assert remotes[7].ok and remotes[7].error is None
    assert not remotes[9].ok and remotes[9].data is None
    assert remotes[9].app_name == "lidarr"
    assert remotes[9].error == f"invalid media-indexer data from lidarr: {reason}"
    assert set(charm.keys) == {7}
    assert charm.keys[7].api_key == RADARR_KEY  # the good relation keeps working
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("media-indexer:9" in message and reason in message for message in warnings)
    if marker is not None:
        assert marker not in str(remotes[9].error)
        assert not any(marker in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        pytest.param("nope", "'config' is not valid JSON", id="not JSON"),
        pytest.param(
            provider_json(indexer="jackett"), "indexer: Input should be 'prowlarr'", id="indexer"
        ),
        pytest.param(
            provider_json(api_url="prowlarr:9696"),
            "api_url: URL must use http or https",
            id="scheme",
        ),
        pytest.param(provider_json(api_url=...), "api_url: Field required", id="missing URL"),
        pytest.param(
            provider_json(api_key_secret_id="  "),
            "api_key_secret_id: secret ID must not be empty",
            id="blank ID",
        ),
    ],
)
def test_bad_provider_data_is_reported_to_the_requirer(config: str, reason: str):
    prowlarr = testing.Relation(
        "media-indexer", id=7, remote_app_name="prowlarr", remote_app_data={"config": config}
    )
    ctx = requirer_ctx()

    _, charm = run(
        ctx, ctx.on.relation_changed(prowlarr, remote_unit=0), state(relations={prowlarr})
    )

    [remote] = charm.remotes
    assert remote.data is None
    assert remote.error == f"invalid media-indexer data from prowlarr: {reason}"
    assert charm.keys == {}


def test_nothing_published_yet_is_not_an_error():
    prowlarr = testing.Relation("media-indexer", id=7, remote_app_name="prowlarr")
    ctx = requirer_ctx()
    with ctx(ctx.on.relation_changed(prowlarr, remote_unit=0), state(relations={prowlarr})) as mgr:
        remote = mgr.charm.indexer.get_provider_data()
        mgr.run()

    assert remote is not None
    assert (remote.data, remote.error, remote.ok, remote.app_name) == (
        None,
        None,
        False,
        "prowlarr",
    )


def test_get_provider_data_defaults_to_the_first_relation():
    first = testing.Relation(
        "media-indexer",
        id=4,
        remote_app_name="prowlarr",
        remote_app_data={"config": provider_json()},
    )
    second = testing.Relation("media-indexer", id=6, remote_app_name="prowlarr-b")
    ctx = requirer_ctx()
    with ctx(ctx.on.update_status(), state(relations={second, first})) as mgr:
        remote = mgr.charm.indexer.get_provider_data()
        providers = mgr.charm.indexer.get_providers()
        mgr.run()

    assert remote is not None and remote.relation.id == 4 and remote.ok
    assert sorted((p.relation.id, p.ok) for p in providers) == [(4, True), (6, False)]


def test_get_api_key_with_a_blank_secret_id_is_not_granted():
    prowlarr = testing.Relation("media-indexer", id=7, remote_app_name="prowlarr")
    ctx = requirer_ctx()
    with ctx(ctx.on.update_status(), state(relations={prowlarr})) as mgr:
        relation = mgr.charm.model.get_relation("media-indexer", 7)
        assert relation is not None
        result = mgr.charm.indexer.get_api_key(relation, " ")
        mgr.run()

    assert result == ApiKeyResult(ApiKeyStatus.NOT_GRANTED, detail="no secret ID published")


def test_get_provider_data_without_a_relation_is_none():
    ctx = requirer_ctx()
    with ctx(ctx.on.update_status(), state()) as mgr:
        assert mgr.charm.indexer.get_provider_data() is None
        assert mgr.charm.indexer.get_providers() == []
        assert mgr.charm.indexer.relations == []
        mgr.run()


# --- round trips ------------------------------------------------------------------------------


def test_round_trip_requirer_reads_prowlarrs_key_through_the_granted_secret():
    relation_on_prowlarr = testing.Relation("media-indexer", id=7, remote_app_name="radarr")
    published, _ = publish_provider(
        state(leader=True, relations={relation_on_prowlarr}, secrets={own_prowlarr_secret()})
    )
    owned = published.get_secret(id=PROWLARR_SECRET_ID)
    assert owned.remote_grants == {7: frozenset({"radarr"})}
    # What Radarr sees: Prowlarr's databag, and Prowlarr's secret, granted (no owner).
    relation_on_radarr = testing.Relation(
        "media-indexer",
        id=7,
        remote_app_name="prowlarr",
        remote_app_data=dict(published.get_relation(7).local_app_data),
    )
    granted = testing.Secret(dict(owned.tracked_content), id=owned.id)
    ctx = requirer_ctx()

    out, charm = run(
        ctx,
        ctx.on.relation_changed(relation_on_radarr, remote_unit=0),
        state(relations={relation_on_radarr}, secrets={granted}),
    )

    assert charm.seen == [("changed", 7)]
    assert charm.changed_apps == ["prowlarr"]
    result = charm.keys[7]
    assert result.available and result.status is ApiKeyStatus.AVAILABLE
    assert result.api_key == PROWLARR_KEY
    assert out.get_secret(id=PROWLARR_SECRET_ID).label is None, "read by ID, never labelled"


def test_round_trip_prowlarr_reads_the_requirers_key_through_the_granted_secret():
    relation_on_radarr = testing.Relation("media-indexer", id=7, remote_app_name="prowlarr")
    ctx = requirer_ctx()
    params = {"api-url": RADARR_URL, "manager": "radarr", "instance-name": "radarr"}
    published = ctx.run(
        ctx.on.action("publish", params=params),
        state(leader=True, relations={relation_on_radarr}, secrets={own_radarr_secret()}),
    )
    owned = published.get_secret(id=RADARR_SECRET_ID)
    assert owned.remote_grants == {7: frozenset({"prowlarr"})}
    relation_on_prowlarr = testing.Relation(
        "media-indexer",
        id=7,
        remote_app_name="radarr",
        remote_app_data=dict(published.get_relation(7).local_app_data),
    )
    granted = testing.Secret(dict(owned.tracked_content), id=owned.id)
    pctx = provider_ctx()

    out, charm = run(
        pctx,
        pctx.on.relation_changed(relation_on_prowlarr, remote_unit=0),
        state(leader=True, relations={relation_on_prowlarr}, secrets={granted}),
    )

    assert charm.keys[7].api_key == RADARR_KEY
    data = cast("MediaIndexerRequirerData", charm.remotes[0].data)
    assert (data.manager, data.instance_name, data.api_url) == (
        MediaManager.RADARR,
        "radarr",
        RADARR_URL,
    )
    assert out.get_secret(id=RADARR_SECRET_ID).label is None, "read by ID, never labelled"


# --- secrets: rotation, grants, content -------------------------------------------------------


def test_secret_changed_on_the_requirer_fires_api_key_changed_with_the_new_key():
    prowlarr = testing.Relation(
        "media-indexer",
        id=7,
        remote_app_name="prowlarr",
        remote_app_data={"config": provider_json()},
    )
    rotated = testing.Secret(
        {"api-key": PROWLARR_KEY},
        latest_content={"api-key": ROTATED_KEY},
        id=PROWLARR_SECRET_ID,
        label=consumer_label(7),
    )
    ctx = requirer_ctx()

    out, charm = run(
        ctx, ctx.on.secret_changed(rotated), state(relations={prowlarr}, secrets={rotated})
    )

    assert charm.seen == [("api_key_changed", 7)]
    assert charm.keys[7].api_key == ROTATED_KEY
    assert out.get_secret(id=PROWLARR_SECRET_ID).tracked_content == {"api-key": ROTATED_KEY}
    assert [type(e).__name__ for e in ctx.emitted_events] == [
        "SecretChangedEvent",
        "ApiKeyChangedEvent",
    ]


def test_secret_changed_on_prowlarr_fires_api_key_changed_too():
    radarr = testing.Relation(
        "media-indexer",
        id=7,
        remote_app_name="radarr",
        remote_app_data={"config": requirer_json()},
    )
    rotated = testing.Secret(
        {"api-key": RADARR_KEY},
        latest_content={"api-key": ROTATED_KEY},
        id=RADARR_SECRET_ID,
        label="media-indexer-7",
    )
    ctx = provider_ctx()

    _, charm = run(
        ctx, ctx.on.secret_changed(rotated), state(relations={radarr}, secrets={rotated})
    )

    assert charm.seen == [("api_key_changed", 7)]
    assert charm.keys[7].api_key == ROTATED_KEY


@pytest.mark.parametrize(
    ("secret_id", "label", "expected"),
    [
        pytest.param(PROWLARR_SECRET_ID, None, [("api_key_changed", 7)], id="published here"),
        pytest.param(
            PROWLARR_SECRET_ID.replace(f"secret://{MODEL_UUID}/", "secret:"),
            None,
            [("api_key_changed", 7)],
            id="short form of the published ID",
        ),
        pytest.param(
            PROWLARR_SECRET_ID, "media-indexer-3", [("api_key_changed", 7)], id="old label"
        ),
        pytest.param(f"secret://{MODEL_UUID}/d1otherxxxxxxxxxxxx9", None, [], id="another"),
        pytest.param(RADARR_SECRET_ID, "radarr-api-key", [], id="own secret"),
    ],
)
def test_secret_changed_routing_by_the_published_secret_id(
    secret_id: str, label: str | None, expected: list[tuple[str, int]]
):
    prowlarr = testing.Relation(
        "media-indexer",
        id=7,
        remote_app_name="prowlarr",
        remote_app_data={"config": provider_json()},
    )
    downloads = testing.Relation("downloads", id=3, remote_app_name="qbittorrent")
    secret = testing.Secret({"api-key": PROWLARR_KEY}, id=secret_id, label=label)
    ctx = requirer_ctx()

    _, charm = run(
        ctx,
        ctx.on.secret_changed(secret),
        state(relations={prowlarr, downloads}, secrets={secret}),
    )

    assert charm.seen == expected


def test_a_deferred_api_key_changed_keeps_its_relation_id():
    prowlarr = testing.Relation(
        "media-indexer",
        id=7,
        remote_app_name="prowlarr",
        remote_app_data={"config": provider_json()},
    )
    rotated = testing.Secret(
        {"api-key": PROWLARR_KEY},
        latest_content={"api-key": ROTATED_KEY},
        id=PROWLARR_SECRET_ID,
        label=consumer_label(7),
    )
    ctx = requirer_ctx()
    first, charm = run(
        ctx,
        ctx.on.secret_changed(rotated),
        state(relations={prowlarr}, secrets={rotated}, config={"defer-key-events": True}),
    )
    assert charm.seen == [("deferred", 7)]

    second_in = testing.State(
        model=first.model,
        relations=first.relations,
        secrets=first.secrets,
        deferred=first.deferred,
        config={"defer-key-events": False},
    )
    _, charm = run(ctx, ctx.on.update_status(), second_in)

    assert charm.seen == [("api_key_changed", 7)]
    assert charm.keys[7].api_key == ROTATED_KEY


def test_an_announced_revision_is_tracked_even_when_the_charm_reads_nothing_then():
    prowlarr = testing.Relation(
        "media-indexer",
        id=7,
        remote_app_name="prowlarr",
        remote_app_data={"config": provider_json()},
    )
    rotated = testing.Secret(
        {"api-key": PROWLARR_KEY}, latest_content={"api-key": ROTATED_KEY}, id=PROWLARR_SECRET_ID
    )
    ctx = requirer_ctx()

    out, charm = run(  # the charm defers: it reads no key in this hook
        ctx,
        ctx.on.secret_changed(rotated),
        state(relations={prowlarr}, secrets={rotated}, config={"defer-key-events": True}),
    )

    assert charm.seen == [("deferred", 7)]
    assert out.get_secret(id=PROWLARR_SECRET_ID).tracked_content == {"api-key": ROTATED_KEY}
    with ctx(ctx.on.update_status(), dataclasses.replace(out, deferred=[])) as mgr:
        relation = mgr.charm.model.get_relation("media-indexer", 7)
        assert relation is not None
        result = mgr.charm.indexer.get_api_key(relation, PROWLARR_SECRET_ID, refresh=False)
    assert result.api_key == ROTATED_KEY, "a later hook reads it without refresh"


def test_an_ungranted_secret_is_not_available_and_raises_nothing():
    prowlarr = testing.Relation(
        "media-indexer",
        id=7,
        remote_app_name="prowlarr",
        remote_app_data={"config": provider_json()},
    )
    ctx = requirer_ctx()

    _, charm = run(
        ctx, ctx.on.relation_changed(prowlarr, remote_unit=0), state(relations={prowlarr})
    )

    result = charm.keys[7]
    assert result.status is ApiKeyStatus.NOT_GRANTED
    assert not result.available and result.api_key is None
    assert "not granted" in result.detail


def test_a_secret_that_cannot_be_read_is_not_available_and_raises_nothing():
    # Scenario raises a plain ModelError (not SecretNotFoundError) from secret-get on a Juju
    # without secrets: the same kind of error as Juju's "permission denied" for an ungranted read.
    prowlarr = testing.Relation(
        "media-indexer",
        id=7,
        remote_app_name="prowlarr",
        remote_app_data={"config": provider_json()},
    )
    ctx = requirer_ctx(juju_version="3.0.0")

    _, charm = run(
        ctx, ctx.on.relation_changed(prowlarr, remote_unit=0), state(relations={prowlarr})
    )

    assert charm.keys[7].status is ApiKeyStatus.NOT_GRANTED
    assert charm.keys[7].detail == "secret cannot be read: not granted yet"


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        pytest.param({"password": "x" * 8}, "secret content has no 'api-key' field", id="missing"),
        pytest.param({"api-key": ""}, "secret field 'api-key' is empty", id="empty"),
        pytest.param({"api-key": "   "}, "secret field 'api-key' is empty", id="blank"),
    ],
)
def test_a_secret_without_an_api_key_is_reported(content: dict[str, str], detail: str):
    prowlarr = testing.Relation(
        "media-indexer",
        id=7,
        remote_app_name="prowlarr",
        remote_app_data={"config": provider_json()},
    )
    secret = testing.Secret(content, id=PROWLARR_SECRET_ID)
    ctx = requirer_ctx()

    _, charm = run(
        ctx,
        ctx.on.relation_changed(prowlarr, remote_unit=0),
        state(relations={prowlarr}, secrets={secret}),
    )

    assert charm.keys[7] == ApiKeyResult(ApiKeyStatus.NO_API_KEY, detail=detail)
    assert not charm.keys[7].available


def test_api_key_secret_content_round_trip_and_errors():
    content = ApiKeySecretContent.from_content({"api-key": PROWLARR_KEY})

    assert content.to_content() == {"api-key": PROWLARR_KEY}
    assert PROWLARR_KEY not in repr(content) and PROWLARR_KEY not in str(content)
    with pytest.raises(ValueError, match="no 'api-key' field"):
        ApiKeySecretContent.from_content({"api_key": PROWLARR_KEY})


# --- events and construction ------------------------------------------------------------------


def test_changed_fires_on_relation_changed_and_broken_of_the_endpoint_only():
    radarr = testing.Relation(
        "media-indexer",
        id=7,
        remote_app_name="radarr",
        remote_app_data={"config": requirer_json()},
    )
    ctx = provider_ctx()

    _, changed = run(
        ctx, ctx.on.relation_changed(radarr, remote_unit=0), state(relations={radarr})
    )
    _, broken = run(ctx, ctx.on.relation_broken(radarr), state(relations={radarr}))

    assert changed.seen == [("changed", 7)]
    assert broken.seen == [("changed", 7)]
    assert broken.changed_apps == ["radarr"]
    assert broken.remotes == []  # a broken relation is no longer listed


def test_changed_does_not_fire_for_other_endpoints():
    downloads = testing.Relation("downloads", id=3, remote_app_name="qbittorrent")
    ctx = requirer_ctx()

    _, charm = run(
        ctx, ctx.on.relation_changed(downloads, remote_unit=0), state(relations={downloads})
    )

    assert charm.seen == []


class _Builds(ops.CharmBase):
    """Builds one library object, chosen by the test."""

    half: type[MediaIndexerProvider] | type[MediaIndexerRequirer] = MediaIndexerProvider
    endpoint = "media-indexer"

    def __init__(self, framework: ops.Framework):
        super().__init__(framework)
        self.half(self, self.endpoint)


@pytest.mark.parametrize(
    ("half", "meta", "message"),
    [
        (MediaIndexerProvider, {"name": "x"}, "endpoint 'media-indexer' is not declared"),
        (
            MediaIndexerProvider,
            {"name": "x", "provides": {"media-indexer": {"interface": "prowlarr"}}},
            "has interface 'prowlarr', expected 'media-indexer'",
        ),
        (MediaIndexerProvider, REQUIRER_META, "declared under 'requires', expected 'provides'"),
        (MediaIndexerRequirer, PROVIDER_META, "declared under 'provides', expected 'requires'"),
        (
            MediaIndexerRequirer,
            {"name": "x", "peers": {"media-indexer": {"interface": "media-indexer"}}},
            "declared under 'peers', expected 'requires'",
        ),
    ],
)
def test_construction_checks_the_endpoint(
    half: type[MediaIndexerProvider] | type[MediaIndexerRequirer],
    meta: dict[str, Any],
    message: str,
):
    charm_type = type("Charm", (_Builds,), {"half": half})
    ctx = testing.Context(charm_type, meta=meta)

    with pytest.raises(testing.errors.UncaughtCharmError) as error:
        ctx.run(ctx.on.update_status(), testing.State())

    assert isinstance(error.value.__cause__, ValueError)
    assert message in str(error.value.__cause__)


# --- the key never leaks ----------------------------------------------------------------------


def _texts_of(records: list[logging.LogRecord]) -> list[str]:
    texts: list[str] = []
    for record in records:
        texts.append(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            texts.extend(traceback.format_exception(record.exc_info[1]))
        if record.exc_text:
            texts.append(record.exc_text)
        if record.stack_info:
            texts.append(record.stack_info)
    return texts


def test_no_key_in_any_log_record_exception_repr_or_databag(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)  # every logger, every level
    outputs: list[testing.State] = []
    texts: list[str] = []

    # Prowlarr publishes; Radarr reads the key, then gets a rotation.
    radarr = testing.Relation("media-indexer", id=7, remote_app_name="radarr")
    published, _ = publish_provider(
        state(leader=True, relations={radarr}, secrets={own_prowlarr_secret()})
    )
    outputs.append(published)
    prowlarr = testing.Relation(
        "media-indexer",
        id=7,
        remote_app_name="prowlarr",
        remote_app_data=dict(published.get_relation(7).local_app_data),
    )
    granted = testing.Secret({"api-key": PROWLARR_KEY}, id=PROWLARR_SECRET_ID)
    rctx = requirer_ctx()
    out, reader = run(
        rctx,
        rctx.on.relation_changed(prowlarr, remote_unit=0),
        state(relations={prowlarr}, secrets={granted}),
    )
    outputs.append(out)
    rotated = dataclasses.replace(
        out.get_secret(id=PROWLARR_SECRET_ID), latest_content={"api-key": ROTATED_KEY}
    )
    out, rotated_reader = run(
        rctx, rctx.on.secret_changed(rotated), dataclasses.replace(out, secrets={rotated})
    )
    outputs.append(out)
    texts.extend(line.message for line in rctx.juju_log)

    # Radarr publishes its key; Prowlarr reads it, and meets bad data and a keyless secret.
    params = {"api-url": RADARR_URL, "manager": "radarr", "instance-name": "radarr"}
    out = rctx.run(
        rctx.on.action("publish", params=params),
        state(leader=True, relations={prowlarr}, secrets={own_radarr_secret()}),
    )
    outputs.append(out)
    keyless = testing.Secret({"api-key": " "}, id=f"secret://{MODEL_UUID}/d4keyless00000000003")
    good = testing.Relation(
        "media-indexer",
        id=7,
        remote_app_name="radarr",
        remote_app_data={"config": requirer_json()},
    )
    bad = testing.Relation(
        "media-indexer",
        id=8,
        remote_app_name="sonarr",
        remote_app_data={"config": requirer_json(api_url=f"ftp://{RADARR_KEY}@host")},
    )
    no_key = testing.Relation(
        "media-indexer",
        id=9,
        remote_app_name="lidarr",
        remote_app_data={"config": requirer_json(api_key_secret_id=keyless.id)},
    )
    pctx = provider_ctx()
    out, prowlarr_charm = run(
        pctx,
        pctx.on.relation_changed(good, remote_unit=0),
        state(
            leader=True,
            relations={good, bad, no_key},
            secrets={testing.Secret({"api-key": RADARR_KEY}, id=RADARR_SECRET_ID), keyless},
        ),
    )
    outputs.append(out)
    texts.extend(line.message for line in pctx.juju_log)

    # Errors raised by the library itself.
    errors: list[BaseException] = []
    for bad_content in ({"api_key": PROWLARR_KEY}, {"api-key": ""}):
        try:
            ApiKeySecretContent.from_content(bad_content)
        except ValueError as e:
            errors.append(e)
    assert len(errors) == 2

    # The reads worked, so the key was really handled.
    assert reader.keys[7].api_key == PROWLARR_KEY
    assert rotated_reader.keys[7].api_key == ROTATED_KEY
    assert prowlarr_charm.keys[7].api_key == RADARR_KEY
    assert prowlarr_charm.keys[9].status is ApiKeyStatus.NO_API_KEY
    assert any(r.error for r in prowlarr_charm.remotes)

    objects: list[object] = [
        *reader.keys.values(),
        *rotated_reader.keys.values(),
        *prowlarr_charm.keys.values(),
        *reader.remotes,
        *prowlarr_charm.remotes,
        *(remote.data for remote in prowlarr_charm.remotes),
        ApiKeySecretContent.from_content({"api-key": PROWLARR_KEY}),
    ]
    texts.extend(repr(o) for o in objects)
    texts.extend(str(o) for o in objects)
    texts.extend("".join(traceback.format_exception(e)) for e in errors)
    texts.extend(_texts_of(caplog.records))
    for output in outputs:
        for relation in output.relations:
            texts.append(json.dumps(dict(relation.local_app_data)))
            texts.append(json.dumps(dict(relation.local_unit_data)))

    assert caplog.records, "the library should have logged something"
    for key in ALL_KEYS:
        leaks = [text for text in texts if key in text]
        assert leaks == []
