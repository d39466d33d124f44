"""Tests for src/workload.py: the Pebble layer, config.xml, the Pebble workload and the client.

The layer and config.xml are tested as pure functions; `Workload` runs inside a tiny dummy charm
under ops.testing with /config mounted from tmp_path; `ProwlarrClient` talks to the fake Prowlarr
(a real HTTP server on 127.0.0.1).
"""

from __future__ import annotations

import os
import re
import stat
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ops
import pytest
from ops import pebble, testing

import workload
from workload import (
    ConfigXmlError,
    LogLevel,
    OwnershipError,
    ProwlarrConfig,
    Workload,
    parse_config_xml,
    pebble_layer,
    render_config_xml,
)

USER_KEY = "0123456789abcdef0123456789abcdef"
HEX32 = re.compile(r"[0-9a-f]{32}")

# What a user (or upstream's test runner) writes: declaration, extras, a comment, its own key.
USER_CONFIG = f"""<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<Config>
  <!-- seeded by hand -->
  <ApiKey>{USER_KEY}</ApiKey>
  <LogLevel>trace</LogLevel>
  <AnalyticsEnabled>False</AnalyticsEnabled>
  <AuthenticationMethod>None</AuthenticationMethod>
  <UrlBase>prowlarr/</UrlBase>
  <Port>8080</Port>
  <SomethingNewer>kept</SomethingNewer>
</Config>
"""

# What Prowlarr writes back at every start: no declaration, 2-space indent, persisted defaults.
PROWLARR_CONFIG = f"""<Config>
  <BindAddress>*</BindAddress>
  <Port>9696</Port>
  <SslPort>6969</SslPort>
  <EnableSsl>False</EnableSsl>
  <LaunchBrowser>True</LaunchBrowser>
  <ApiKey>{USER_KEY}</ApiKey>
  <AuthenticationMethod>None</AuthenticationMethod>
  <AuthenticationRequired>Enabled</AuthenticationRequired>
  <Branch>master</Branch>
  <LogLevel>debug</LogLevel>
  <SslCertPath></SslCertPath>
  <SslCertPassword></SslCertPassword>
  <UrlBase></UrlBase>
  <InstanceName>Prowlarr</InstanceName>
</Config>"""


def elements(text: str) -> dict[str, str]:
    """Tag → text of every child of <Config>."""
    root = ET.fromstring(text.encode())  # noqa: S314 - the tests' own files
    return {child.tag: (child.text or "") for child in root}


# =========================================================================== Pebble layer


@pytest.mark.parametrize("level", list(LogLevel))
@pytest.mark.parametrize(
    ("url_base", "ping"),
    [
        ("", "http://localhost:9696/ping"),
        ("/prowlarr", "http://localhost:9696/prowlarr/ping"),
        ("prowlarr/", "http://localhost:9696/prowlarr/ping"),
    ],
)
def test_layer_runs_prowlarr_as_abc_with_checks(level: LogLevel, url_base: str, ping: str):
    layer = pebble_layer(level, url_base).to_dict()

    service = layer.get("services", {})["prowlarr"]
    assert service.get("override") == "replace"
    assert service.get("command") == "/app/prowlarr/bin/Prowlarr -nobrowser -data=/config"
    assert service.get("startup") == "enabled"
    assert (service.get("user"), service.get("group")) == ("abc", "abc")
    assert service.get("working-dir") == "/app/prowlarr/bin"
    assert service.get("environment") == {
        "HOME": "/config",
        "TMPDIR": "/tmp",  # noqa: S108
        "XDG_CONFIG_HOME": "/config/xdg",
        "COMPlus_EnableDiagnostics": "0",
        "PROWLARR__LOG__LEVEL": level.value,
    }
    assert service.get("on-check-failure") == {"alive": "restart"}
    checks = layer.get("checks", {})
    assert {name: check.get("level") for name, check in checks.items()} == {
        "ready": "ready",
        "alive": "alive",
    }
    assert (checks["ready"].get("period"), checks["ready"].get("threshold")) == ("10s", 3)
    assert (checks["alive"].get("period"), checks["alive"].get("threshold")) == ("30s", 5)
    for check in checks.values():
        assert check.get("http") == {"url": ping}


def test_layer_never_holds_a_key():
    text = str(pebble_layer(LogLevel.DEBUG, "/x"))
    assert "ApiKey" not in text
    assert "APIKEY" not in text.upper()
    assert not HEX32.search(text)


# =========================================================================== config.xml


def test_generate_api_key_is_prowlarrs_format():
    keys = {workload.generate_api_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(HEX32.fullmatch(key) for key in keys)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [("", ""), (None, ""), ("/", ""), ("prowlarr", "/prowlarr"), ("/a/b/", "/a/b"), (" x ", "/x")],
)
def test_url_base_normalised_like_prowlarr(raw: str | None, normalised: str):
    assert workload.normalize_url_base(raw) == normalised


def test_fresh_config_has_key_port_and_bind_address():
    text = render_config_xml(None, USER_KEY)

    assert elements(text) == {"ApiKey": USER_KEY, "Port": "9696", "BindAddress": "*"}
    assert parse_config_xml(text) == ProwlarrConfig(api_key=USER_KEY, url_base="", port=9696)


def test_user_config_is_adopted():
    config = parse_config_xml(USER_CONFIG)

    assert config == ProwlarrConfig(api_key=USER_KEY, url_base="/prowlarr", port=8080)


def test_render_keeps_every_element_and_comment():
    new_key = "f" * 32

    text = render_config_xml(USER_CONFIG, new_key)

    before, after = elements(USER_CONFIG), elements(text)
    assert after.pop("ApiKey") == new_key
    assert after.pop("BindAddress") == "*", "added because it was absent"
    before.pop("ApiKey")
    assert after == before, "every other element kept, Port 8080 not overridden"
    assert "<!-- seeded by hand -->" in text
    assert parse_config_xml(text) == ProwlarrConfig(new_key, "/prowlarr", 8080)


def test_render_round_trip_is_stable():
    once = render_config_xml(USER_CONFIG, USER_KEY)
    assert render_config_xml(once, USER_KEY) == once


def test_prowlarrs_rewritten_format_parses():
    assert parse_config_xml(PROWLARR_CONFIG) == ProwlarrConfig(USER_KEY, "", 9696)
    assert parse_config_xml(PROWLARR_CONFIG.encode()) == ProwlarrConfig(USER_KEY, "", 9696)
    assert parse_config_xml("\ufeff" + PROWLARR_CONFIG) == ProwlarrConfig(USER_KEY, "", 9696)


@pytest.mark.parametrize(
    "text",
    [
        "<Config><LogLevel>info</LogLevel></Config>",
        "<Config><ApiKey>   </ApiKey></Config>",
        "<Config><ApiKey/></Config>",
        f"<Config><ApiKey>{USER_KEY}</ApiKey><ApiKey>{'a' * 32}</ApiKey></Config>",
    ],
    ids=["missing", "blank", "empty", "duplicated"],
)
def test_no_usable_key_reads_as_none_and_render_sets_one(text: str):
    assert parse_config_xml(text) is None

    rendered = render_config_xml(text, "b" * 32)

    root = ET.fromstring(rendered.encode())  # noqa: S314 - rendered by the test
    assert [key.text for key in root.iter("ApiKey")] == ["b" * 32]
    assert parse_config_xml(rendered) == ProwlarrConfig("b" * 32)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  \n",
        f"<Config><ApiKey>{USER_KEY}</ApiKey>",
        f"<Config><ApiKey>{USER_KEY}</Config>",
        f"<Settings><ApiKey>{USER_KEY}</ApiKey></Settings>",
        f"ApiKey={USER_KEY}",
        f'<!DOCTYPE c [<!ENTITY k "{USER_KEY}">]><Config><ApiKey>&k;</ApiKey></Config>',
    ],
    ids=["empty", "blank", "truncated", "mismatched", "wrong-root", "not-xml", "dtd"],
)
def test_corrupt_config_raises_without_the_key(text: str):
    with pytest.raises(ConfigXmlError) as info:
        parse_config_xml(text)
    with pytest.raises(ConfigXmlError):
        render_config_xml(text, "c" * 32)

    assert USER_KEY not in str(info.value)
    assert info.value.__cause__ is None


def test_port_that_is_not_a_number_is_corrupt():
    # Prowlarr cannot start with it either; render leaves the user's element alone.
    text = f"<Config><ApiKey>{USER_KEY}</ApiKey><Port>ninety</Port></Config>"

    with pytest.raises(ConfigXmlError, match="Port") as info:
        parse_config_xml(text)

    assert USER_KEY not in str(info.value)


def test_config_repr_hides_the_key():
    config = ProwlarrConfig(USER_KEY, "/x")
    assert USER_KEY not in repr(config)
    assert USER_KEY not in str(config)


# =========================================================================== Workload (Pebble)

META: dict[str, Any] = {"name": "workload-test", "containers": {"prowlarr": {}}}


class Run:
    """The outcome of running one function against a Workload inside a dummy charm."""

    def __init__(self, result: object, out: testing.State, ctx: testing.Context[Any]):
        self.result = result
        self.out = out
        self.ctx = ctx

    @property
    def container(self) -> testing.Container:
        return self.out.get_container(workload.CONTAINER_NAME)

    @property
    def execs(self) -> list[list[str]]:
        return [list(e.command) for e in self.ctx.exec_history.get(workload.CONTAINER_NAME, [])]


def run_workload(container: testing.Container, fn: Callable[[Workload], object]) -> Run:
    """Run `fn(Workload(container))` in an update-status hook; exceptions become the result."""
    results: list[object] = []

    class DummyCharm(ops.CharmBase):
        def __init__(self, framework: ops.Framework):
            super().__init__(framework)
            framework.observe(self.on.update_status, self._run)

        def _run(self, _: ops.EventBase) -> None:
            wl = Workload(self.unit.get_container(workload.CONTAINER_NAME))
            try:
                results.append(fn(wl))
            except (workload.WorkloadError, pebble.Error) as e:
                results.append(e)

    ctx = testing.Context(DummyCharm, meta=META)
    out = ctx.run(ctx.on.update_status(), testing.State(containers={container}))
    return Run(results[0], out, ctx)


def container_for(config_dir: Path, **kwargs: Any) -> testing.Container:
    kwargs.setdefault("can_connect", True)
    return testing.Container(
        workload.CONTAINER_NAME,
        mounts={"config": testing.Mount(location=workload.CONFIG_DIR, source=config_dir)},
        **kwargs,
    )


def test_can_connect_follows_pebble(config_dir: Path):
    assert run_workload(container_for(config_dir), Workload.can_connect).result is True
    off = container_for(config_dir, can_connect=False)
    assert run_workload(off, Workload.can_connect).result is False


def test_read_config_missing_file_is_none(config_dir: Path):
    assert run_workload(container_for(config_dir), Workload.read_config).result is None


def test_read_config_reads_the_mounted_file(config_dir: Path):
    (config_dir / "config.xml").write_text(USER_CONFIG)

    run = run_workload(container_for(config_dir), Workload.read_config)

    assert run.result == ProwlarrConfig(USER_KEY, "/prowlarr", 8080)


def test_ensure_config_writes_a_fresh_key_owned_by_abc(
    config_dir: Path, pushes: list[dict[str, Any]]
):
    run = run_workload(container_for(config_dir), Workload.ensure_config)

    config, written = run.result  # type: ignore[misc]
    assert written is True
    assert isinstance(config, ProwlarrConfig)
    assert HEX32.fullmatch(config.api_key)
    on_disk = (config_dir / "config.xml").read_text()
    assert elements(on_disk) == {"ApiKey": config.api_key, "Port": "9696", "BindAddress": "*"}
    assert stat.S_IMODE(os.stat(config_dir / "config.xml").st_mode) == 0o600
    assert pushes == [
        {
            "path": "/config/config.xml",
            "make_dirs": True,
            "permissions": 0o600,
            "user": "abc",
            "user_id": 911,
            "group": "abc",
            "group_id": 911,
        }
    ]


def test_ensure_config_steady_state_writes_nothing(config_dir: Path, pushes: list[dict[str, Any]]):
    (config_dir / "config.xml").write_text(PROWLARR_CONFIG)

    run = run_workload(container_for(config_dir), Workload.ensure_config)

    assert run.result == (ProwlarrConfig(USER_KEY), False)
    assert pushes == []
    assert (config_dir / "config.xml").read_text() == PROWLARR_CONFIG


def test_ensure_config_adds_a_key_keeping_the_users_elements(config_dir: Path):
    user_file = USER_CONFIG.replace(f"<ApiKey>{USER_KEY}</ApiKey>", "<ApiKey></ApiKey>")
    (config_dir / "config.xml").write_text(user_file)

    run = run_workload(container_for(config_dir), Workload.ensure_config)

    config, written = run.result  # type: ignore[misc]
    assert written is True
    assert isinstance(config, ProwlarrConfig)
    assert (config.url_base, config.port) == ("/prowlarr", 8080)
    after = elements((config_dir / "config.xml").read_text())
    assert after.pop("ApiKey") == config.api_key
    assert after.pop("BindAddress") == "*"
    before = elements(user_file)
    before.pop("ApiKey")
    assert after == before


def test_ensure_config_never_overwrites_a_corrupt_file(
    config_dir: Path, pushes: list[dict[str, Any]]
):
    corrupt = f"<Config><ApiKey>{USER_KEY}</ApiKey>"
    (config_dir / "config.xml").write_text(corrupt)

    run = run_workload(container_for(config_dir), Workload.ensure_config)

    assert isinstance(run.result, ConfigXmlError)
    assert USER_KEY not in str(run.result)
    assert pushes == []
    assert (config_dir / "config.xml").read_text() == corrupt
    assert isinstance(
        run_workload(container_for(config_dir), Workload.read_config).result, ConfigXmlError
    )


def test_ensure_ownership_chowns_a_foreign_config_dir(config_dir: Path):
    # ops.testing mounts /config as a symlink owned by whoever runs the tests: not 911.
    container = container_for(config_dir, execs={testing.Exec(["chown"], return_code=0)})

    run = run_workload(container, Workload.ensure_ownership)

    assert run.result is True
    assert run.execs == [["chown", "-R", "911:911", "/config"]]


def test_ensure_ownership_steady_state_runs_no_exec(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    # Model "/config already belongs to abc": abc's ids are the owner of the mount.
    owner = os.lstat(config_dir)  # the symlink ops.testing makes belongs to the same user
    monkeypatch.setattr(workload, "UID", owner.st_uid)
    monkeypatch.setattr(workload, "GID", owner.st_gid)
    container = container_for(config_dir)  # no Exec mock: any exec would fail the run

    run = run_workload(container, Workload.ensure_ownership)

    assert run.result is False
    assert run.execs == []


def test_ensure_ownership_failure_is_a_clear_error(config_dir: Path):
    failing = testing.Exec(
        ["chown"], return_code=1, stderr="chown: /config: Read-only file system"
    )
    container = container_for(config_dir, execs={failing})

    run = run_workload(container, Workload.ensure_ownership)

    assert isinstance(run.result, OwnershipError)
    assert "chown -R 911:911 /config exited with 1" in str(run.result)
    assert "Read-only file system" in str(run.result)


def test_ensure_layer_adds_layer_and_replans(config_dir: Path):
    run = run_workload(
        container_for(config_dir), lambda wl: wl.ensure_layer(LogLevel.DEBUG, "/prowlarr")
    )

    assert run.result is True
    plan = run.container.plan
    service = plan.services["prowlarr"]
    assert service.environment["PROWLARR__LOG__LEVEL"] == "debug"
    assert set(plan.checks) == {"ready", "alive"}
    assert plan.checks["ready"].http == {"url": "http://localhost:9696/prowlarr/ping"}
    assert run.container.services["prowlarr"].current == pebble.ServiceStatus.ACTIVE


def test_ensure_layer_steady_state_does_not_replan(config_dir: Path):
    layers = {"prowlarr": pebble_layer(LogLevel.INFO, "")}
    container = container_for(config_dir, layers=layers)

    run = run_workload(container, lambda wl: wl.ensure_layer(LogLevel.INFO, ""))

    assert run.result is False
    assert run.container.layers == layers


def test_ensure_layer_ignores_defaults_pebble_fills_in(config_dir: Path):
    # Real Pebble echoes defaults (e.g. a check timeout) in the plan: not a difference.
    raw = pebble_layer(LogLevel.INFO, "").to_dict()
    for check in raw.get("checks", {}).values():
        check["timeout"] = "3s"
        check.pop("override", None)
    raw.get("services", {})["prowlarr"]["backoff-delay"] = "500ms"
    container = container_for(config_dir, layers={"base": pebble.Layer(raw)})

    run = run_workload(container, lambda wl: wl.ensure_layer(LogLevel.INFO, ""))

    assert run.result is False


@pytest.mark.parametrize(
    ("level", "url_base"), [(LogLevel.TRACE, ""), (LogLevel.INFO, "/prowlarr")]
)
def test_ensure_layer_replans_on_a_change(config_dir: Path, level: LogLevel, url_base: str):
    container = container_for(config_dir, layers={"prowlarr": pebble_layer(LogLevel.INFO, "")})

    run = run_workload(container, lambda wl: wl.ensure_layer(level, url_base))

    assert run.result is True
    plan = run.container.plan
    assert plan.services["prowlarr"].environment["PROWLARR__LOG__LEVEL"] == level.value
    assert plan.checks["alive"].http == {"url": f"http://localhost:9696{url_base}/ping"}


def running_container(config_dir: Path, status: pebble.ServiceStatus) -> testing.Container:
    return container_for(
        config_dir,
        layers={"prowlarr": pebble_layer(LogLevel.INFO, "")},
        service_statuses={"prowlarr": status},
    )


def test_is_running_and_stop(config_dir: Path):
    active = running_container(config_dir, pebble.ServiceStatus.ACTIVE)
    assert run_workload(active, Workload.is_running).result is True

    stopped = run_workload(active, Workload.stop)

    assert stopped.container.services["prowlarr"].current == pebble.ServiceStatus.INACTIVE


def test_stop_without_service_is_a_no_op(config_dir: Path):
    run = run_workload(container_for(config_dir), lambda wl: (wl.is_running(), wl.stop()))

    assert run.result == (False, None)


def test_restart_starts_the_service(config_dir: Path):
    inactive = running_container(config_dir, pebble.ServiceStatus.INACTIVE)

    run = run_workload(inactive, Workload.restart)

    assert run.container.services["prowlarr"].current == pebble.ServiceStatus.ACTIVE
