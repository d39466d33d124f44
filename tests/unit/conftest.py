"""Shared fixtures: the charm's ops.testing Context, a fake Prowlarr, and state builders."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ops
import pytest
import yaml
from ops import testing

import prowlarr as prowlarr_api
import workload
from charm import ProwlarrCharm
from tests.unit.fake_prowlarr import FakeProwlarr
from tests.unit.recorder import CallRecorder
from tests.unit.recorder import install as install_recorder

ROOT = Path(__file__).resolve().parents[2]
MODEL_UUID = "5c0c6f3e-3b1f-4e8a-9a3e-0d6f2b4a7c11"
LEADER_SECRET_ID = f"secret://{MODEL_UUID}/d1prowlarrapikey0001"


def _charm_metadata() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """metadata.yaml plus the config and actions of charmcraft.yaml (PITFALLS §1)."""
    meta = yaml.safe_load((ROOT / "metadata.yaml").read_text())
    charmcraft = yaml.safe_load((ROOT / "charmcraft.yaml").read_text())
    return meta, charmcraft["config"], charmcraft["actions"]


META, CONFIG, ACTIONS = _charm_metadata()
# Where media managers reach the charm's Prowlarr: its Service in the test model ("media").
CLUSTER_URL = f"http://{META['name']}.media.svc.cluster.local:9696"


@pytest.fixture(autouse=True)
def no_real_prowlarr(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never let a test reach whatever listens on localhost:9696: port 9 refuses at once."""
    monkeypatch.setattr(prowlarr_api, "LOCAL_URL", "http://127.0.0.1:9")


@pytest.fixture
def ctx() -> testing.Context[ProwlarrCharm]:
    """The charm under ops.testing, with its metadata, config and actions."""
    return testing.Context(ProwlarrCharm, meta=META, config=CONFIG, actions=ACTIONS)


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """The directory mounted at /config in the prowlarr container (and read by the fake)."""
    path = tmp_path / "config"
    path.mkdir()
    return path


@pytest.fixture
def pushes(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The path and keyword arguments of every ops.Container.push (the original still runs)."""
    calls: list[dict[str, Any]] = []
    original = ops.Container.push

    def push(self: ops.Container, path: str, source: Any, **kwargs: Any) -> None:
        calls.append({"path": str(path), **kwargs})
        original(self, path, source, **kwargs)

    monkeypatch.setattr(ops.Container, "push", push)
    return calls


@pytest.fixture
def owned_config_dir(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """/config already owned by Prowlarr's user, as after the charm's first ownership fix.

    ops.testing mounts /config as a symlink whose owner is whoever runs the tests, so the
    workload's idea of abc's uid/gid is aligned with it instead of chown-ing the directory.
    """
    owner = os.lstat(config_dir)
    monkeypatch.setattr(workload, "UID", owner.st_uid)
    monkeypatch.setattr(workload, "GID", owner.st_gid)
    return config_dir


@pytest.fixture
def fake(config_dir: Path) -> Iterator[FakeProwlarr]:
    """A fake Prowlarr on its own (not wired to Pebble), closed after the test."""
    server = FakeProwlarr(config_dir)
    server.answer_at(CLUSTER_URL)  # as cluster DNS would resolve the charm's Service
    try:
        yield server
    finally:
        server.close()
    assert server.internal_errors == [], "the fake Prowlarr itself failed (a bug in the fake)"


@dataclass
class Driven:
    """The fake Prowlarr that the prowlarr container's Pebble drives and the client reaches.

    One fake per unit: a test of several units switches to the unit's fake before its hook.
    """

    fake: FakeProwlarr
    monkeypatch: pytest.MonkeyPatch

    def switch(self, fake: FakeProwlarr) -> None:
        """Let Pebble's replan/start/restart/stop and the charm's client reach `fake`."""
        self.fake = fake
        self.monkeypatch.setattr(prowlarr_api, "LOCAL_URL", fake.url)


@pytest.fixture
def driven(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Driven]:
    """A fake Prowlarr whose process follows what the charm asks of Pebble.

    replan/start start it (reading config.xml and the service's environment like Prowlarr does),
    restart restarts it, stop stops it; the charm's HTTP client is pointed at it through
    prowlarr.LOCAL_URL.
    """
    driven = Driven(FakeProwlarr(config_dir), monkeypatch)
    driven.fake.answer_at(CLUSTER_URL)  # the media managers call Prowlarr back via its Service
    driven.switch(driven.fake)
    first = driven.fake

    def service_env(container: ops.Container) -> dict[str, str]:
        """The environment Pebble gives the prowlarr service (read past the call recorder)."""
        service = container.pebble.get_plan().services.get(workload.SERVICE_NAME)
        return dict(service.environment) if service else {}

    def wrap(name: str, action: Callable[[ops.Container], None]) -> None:
        original = getattr(ops.Container, name)

        def wrapper(self: ops.Container, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            if self.name == workload.CONTAINER_NAME:
                try:
                    action(self)
                except Exception:  # a config.xml Prowlarr cannot start with: it stays down
                    driven.fake.stop()
            return result

        monkeypatch.setattr(ops.Container, name, wrapper)

    for name in ("replan", "restart", "start"):
        wrap(name, lambda container: driven.fake.restart(service_env(container)))
    wrap("stop", lambda _: driven.fake.stop())
    try:
        yield driven
    finally:
        first.close()
    assert not first.internal_errors, "the fake Prowlarr itself failed (a bug in the fake)"


@pytest.fixture
def prowlarr(driven: Driven) -> FakeProwlarr:
    """The fake Prowlarr of the unit under test, driven by Pebble (see `driven`)."""
    return driven.fake


def prowlarr_container(
    config_dir: Path, *, can_connect: bool = True, **kwargs: Any
) -> testing.Container:
    """The prowlarr container with /config mounted from `config_dir` and chown mocked."""
    return testing.Container(
        workload.CONTAINER_NAME,
        can_connect=can_connect,
        mounts={"config": testing.Mount(location=workload.CONFIG_DIR, source=config_dir)},
        execs={testing.Exec(["chown"], return_code=0)},
        **kwargs,
    )


def running_layer(spec: workload.WorkloadSpec | None = None) -> dict[str, ops.pebble.Layer]:
    """The layer a previous hook left in the plan (default config, no URL base)."""
    return {"prowlarr": workload.pebble_layer(spec or workload.WorkloadSpec())}


def service_environment(spec: workload.WorkloadSpec | None = None) -> dict[str, str]:
    """The environment a Prowlarr started from that layer runs with."""
    layer = workload.pebble_layer(spec or workload.WorkloadSpec()).to_dict()
    return dict(layer.get("services", {})[workload.SERVICE_NAME].get("environment", {}))


def make_state(
    config_dir: Path,
    *,
    leader: bool = True,
    config: dict[str, str | int | float | bool] | None = None,
    relations: Iterable[testing.RelationBase] = (),
    secrets: Iterable[testing.Secret] = (),
    container: testing.Container | None = None,
    peer: testing.PeerRelation | None = None,
    storage: bool = True,
    **kwargs: Any,
) -> testing.State:
    """A State for the charm: container, storage, peer relation, model UUID."""
    peer = peer if peer is not None else testing.PeerRelation("prowlarr-peers", id=900)
    return testing.State(
        leader=leader,
        config=config or {},
        containers={container or prowlarr_container(config_dir)},
        storages={testing.Storage("config")} if storage else set(),
        relations={peer, *relations},
        secrets=set(secrets),
        model=testing.Model(name="media", uuid=MODEL_UUID),
        **kwargs,
    )


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> CallRecorder:
    """Counts secret, relation and Pebble calls made through ops (see recorder.py)."""
    return install_recorder(monkeypatch)
