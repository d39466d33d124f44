"""Tests for src/workload.py: the Pebble layer, config.xml, the Pebble workload and the client.

The layer and config.xml are tested as pure functions; `Workload` runs inside a tiny dummy charm
under ops.testing with /config mounted from tmp_path; `ProwlarrClient` talks to the fake Prowlarr
(a real HTTP server on 127.0.0.1).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import ops
import pytest
from ops import pebble, testing

import workload
from workload import (
    ConfigXmlError,
    Ensured,
    LogLevel,
    OwnershipError,
    ProwlarrConfig,
    Workload,
    WorkloadSpec,
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
    [("", "http://localhost:9696/ping"), ("/prowlarr", "http://localhost:9696/prowlarr/ping")],
)
def test_layer_runs_prowlarr_as_abc_with_checks(level: LogLevel, url_base: str, ping: str):
    layer = pebble_layer(WorkloadSpec(level, url_base)).to_dict()

    service = layer.get("services", {})["prowlarr"]
    assert service.get("override") == "replace"
    assert service.get("command") == "/app/prowlarr/bin/Prowlarr -nobrowser -data=/config"
    assert service.get("startup") == "enabled"
    assert (service.get("user"), service.get("group")) == ("abc", "abc")
    assert service.get("working-dir") == "/app/prowlarr/bin"
    expected = {
        "HOME": "/config",
        "TMPDIR": "/tmp",  # noqa: S108
        "XDG_CONFIG_HOME": "/config/xdg",
        "COMPlus_EnableDiagnostics": "0",
        "PROWLARR__LOG__LEVEL": level.value,
        "PROWLARR__SERVER__PORT": "9696",
        "PROWLARR__SERVER__BINDADDRESS": "*",
        "PROWLARR__AUTH__METHOD": "Forms",
        "PROWLARR__AUTH__REQUIRED": "Enabled",
    }
    if url_base:
        expected["PROWLARR__SERVER__URLBASE"] = url_base
    assert service.get("environment") == expected
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
    text = str(pebble_layer(WorkloadSpec(LogLevel.DEBUG, "/x")))
    assert "ApiKey" not in text
    assert "APIKEY" not in text.upper()
    assert not HEX32.search(text)


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [("", ""), ("/", ""), ("prowlarr", "/prowlarr"), ("/a/b/", "/a/b"), ("x-1.2_~", "/x-1.2_~")],
)
def test_a_plain_url_path_is_a_url_base(raw: str, parsed: str):
    assert workload.parse_url_base(raw) == parsed


@pytest.mark.parametrize(
    "raw",
    ["my prowlarr", "/prowlarr?x=1", "http://host/prowlarr", "/a//b", "/a#b", "/é", "/a\nb"],
)
def test_anything_else_is_not_a_url_base(raw: str):
    with pytest.raises(ValueError, match="plain URL path"):
        workload.parse_url_base(raw)


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

    assert elements(text) == {
        "ApiKey": USER_KEY,
        "UrlBase": "",
        "Port": "9696",
        "BindAddress": "*",
    }
    assert parse_config_xml(text) == ProwlarrConfig(api_key=USER_KEY, url_base="")


def test_user_config_is_adopted():
    config = parse_config_xml(USER_CONFIG)

    assert config == ProwlarrConfig(api_key=USER_KEY, url_base="/prowlarr")


def test_render_keeps_every_element_and_comment():
    new_key = "f" * 32

    text = render_config_xml(USER_CONFIG, new_key, "/prowlarr")

    before, after = elements(USER_CONFIG), elements(text)
    assert after.pop("ApiKey") == new_key
    assert after.pop("BindAddress") == "*", "added because it was absent"
    assert after.pop("UrlBase") == "prowlarr"
    before.pop("ApiKey")
    before.pop("UrlBase")
    assert after == before, "every other element kept, Port 8080 not overridden"
    assert "<!-- seeded by hand -->" in text
    assert parse_config_xml(text) == ProwlarrConfig(new_key, "/prowlarr")


def test_render_sets_the_url_base_the_charm_decided():
    text = render_config_xml(USER_CONFIG, USER_KEY, "")

    assert elements(text)["UrlBase"] == ""
    assert parse_config_xml(text) == ProwlarrConfig(USER_KEY, "")


def test_render_round_trip_is_stable():
    once = render_config_xml(USER_CONFIG, USER_KEY, "/p")
    assert render_config_xml(once, USER_KEY, "/p") == once


def test_prowlarrs_rewritten_format_parses():
    assert parse_config_xml(PROWLARR_CONFIG) == ProwlarrConfig(USER_KEY, "")
    assert parse_config_xml(PROWLARR_CONFIG.encode()) == ProwlarrConfig(USER_KEY, "")
    assert parse_config_xml("\ufeff" + PROWLARR_CONFIG) == ProwlarrConfig(USER_KEY, "")


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
    # The XML parser's error is not kept alive (CPython 3.12.1 can crash on it: PITFALLS §13).
    assert info.value.__context__ is None


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

    assert run.result == ProwlarrConfig(USER_KEY, "/prowlarr")


SPEC = WorkloadSpec()


def ensure(spec: WorkloadSpec = SPEC) -> Callable[[Workload], object]:
    return lambda wl: wl.ensure(spec)


def owned_container(config_dir: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: Any):
    """The container with /config already belonging to abc (no chown needed)."""
    owner = os.lstat(config_dir)
    monkeypatch.setattr(workload, "UID", owner.st_uid)
    monkeypatch.setattr(workload, "GID", owner.st_gid)
    return container_for(config_dir, **kwargs)


def test_ensure_seeds_a_fresh_key_owned_by_abc_and_starts_prowlarr(
    config_dir: Path, pushes: list[dict[str, Any]]
):
    container = container_for(config_dir, execs={testing.Exec(["chown"], return_code=0)})

    run = run_workload(container, ensure())

    ensured = run.result
    assert isinstance(ensured, Ensured)
    assert (ensured.seeded, ensured.started) == (True, True)
    assert HEX32.fullmatch(ensured.config.api_key)
    on_disk = (config_dir / "config.xml").read_text()
    assert elements(on_disk) == {
        "ApiKey": ensured.config.api_key,
        "UrlBase": "",
        "Port": "9696",
        "BindAddress": "*",
    }
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
    assert run.execs == [["chown", "-R", "911:911", "/config"]], "ownership fixed before"
    assert run.container.services["prowlarr"].current == pebble.ServiceStatus.ACTIVE


def test_ensure_in_the_steady_state_only_reads(
    config_dir: Path, pushes: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
):
    (config_dir / "config.xml").write_text(PROWLARR_CONFIG)
    layers = {"prowlarr": pebble_layer(SPEC)}
    container = owned_container(
        config_dir,
        monkeypatch,
        layers=layers,
        service_statuses={"prowlarr": pebble.ServiceStatus.ACTIVE},
    )

    run = run_workload(container, ensure())

    assert run.result == Ensured(ProwlarrConfig(USER_KEY))
    assert pushes == []
    assert run.execs == []
    assert run.container.layers == layers
    assert (config_dir / "config.xml").read_text() == PROWLARR_CONFIG


def test_ensure_starts_a_stopped_service_without_a_new_layer(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    (config_dir / "config.xml").write_text(PROWLARR_CONFIG)
    layers = {"prowlarr": pebble_layer(SPEC)}
    container = owned_container(
        config_dir,
        monkeypatch,
        layers=layers,
        service_statuses={"prowlarr": pebble.ServiceStatus.INACTIVE},
    )

    run = run_workload(container, ensure())

    assert run.result == Ensured(ProwlarrConfig(USER_KEY), started=True)
    assert run.container.layers == layers
    assert run.container.services["prowlarr"].current == pebble.ServiceStatus.ACTIVE


def test_ensure_adds_a_key_keeping_the_users_elements(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    user_file = USER_CONFIG.replace(f"<ApiKey>{USER_KEY}</ApiKey>", "<ApiKey></ApiKey>")
    (config_dir / "config.xml").write_text(user_file)

    container = owned_container(config_dir, monkeypatch)

    run = run_workload(container, ensure(WorkloadSpec(url_base="/p")))

    ensured = run.result
    assert isinstance(ensured, Ensured)
    assert ensured.seeded is True
    assert ensured.config.url_base == "/p"
    after = elements((config_dir / "config.xml").read_text())
    assert after.pop("ApiKey") == ensured.config.api_key
    assert after.pop("BindAddress") == "*"
    assert after.pop("UrlBase") == "p"
    before = elements(user_file)
    before.pop("ApiKey")
    before.pop("UrlBase")
    assert after == before


def test_ensure_puts_the_charms_url_base_into_config_xml_without_a_restart(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    # Someone set a URL base in the UI: config.xml changed, the running Prowlarr did not.
    (config_dir / "config.xml").write_text(
        PROWLARR_CONFIG.replace("<UrlBase></UrlBase>", "<UrlBase>ui</UrlBase>")
    )
    container = owned_container(
        config_dir,
        monkeypatch,
        layers={"prowlarr": pebble_layer(SPEC)},
        service_statuses={"prowlarr": pebble.ServiceStatus.ACTIVE},
    )

    run = run_workload(container, ensure())

    assert run.result == Ensured(ProwlarrConfig(USER_KEY))
    assert elements((config_dir / "config.xml").read_text())["UrlBase"] == ""
    assert elements((config_dir / "config.xml").read_text())["ApiKey"] == USER_KEY


def test_ensure_never_overwrites_a_corrupt_file(config_dir: Path, pushes: list[dict[str, Any]]):
    corrupt = f"<Config><ApiKey>{USER_KEY}</ApiKey>"
    (config_dir / "config.xml").write_text(corrupt)

    run = run_workload(container_for(config_dir), ensure())

    assert isinstance(run.result, ConfigXmlError)
    assert USER_KEY not in str(run.result)
    assert pushes == []
    assert (config_dir / "config.xml").read_text() == corrupt
    assert isinstance(
        run_workload(container_for(config_dir), Workload.read_config).result, ConfigXmlError
    )


@pytest.mark.parametrize("text", ["", PROWLARR_CONFIG[:120]], ids=["empty", "half-written"])
def test_ensure_waits_for_prowlarr_to_finish_saving_config_xml(
    config_dir: Path,
    pushes: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    text: str,
):
    # Prowlarr saves config.xml by truncating and rewriting it: a running one may be mid-save.
    monkeypatch.setattr(workload, "CONFIG_READ_DELAY", 0.0)
    (config_dir / "config.xml").write_text(text)
    container = owned_container(
        config_dir,
        monkeypatch,
        layers={"prowlarr": pebble_layer(SPEC)},
        service_statuses={"prowlarr": pebble.ServiceStatus.ACTIVE},
    )

    run = run_workload(container, ensure())

    assert isinstance(run.result, ConfigXmlError)
    assert run.result.blocked is False  # Waiting: the next hook finds the file whole
    assert "waiting for Prowlarr to finish saving it" in str(run.result)
    assert pushes == []
    assert (config_dir / "config.xml").read_text() == text


def test_ensure_reads_config_xml_again_when_a_save_ends_meanwhile(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    (config_dir / "config.xml").write_text("")
    reads: list[float] = []

    def sleep(seconds: float) -> None:  # the save ends during the charm's first pause
        reads.append(seconds)
        (config_dir / "config.xml").write_text(PROWLARR_CONFIG)

    monkeypatch.setattr(workload.time, "sleep", sleep)
    container = owned_container(
        config_dir,
        monkeypatch,
        layers={"prowlarr": pebble_layer(SPEC)},
        service_statuses={"prowlarr": pebble.ServiceStatus.ACTIVE},
    )

    run = run_workload(container, ensure())

    assert run.result == Ensured(ProwlarrConfig(USER_KEY))
    assert reads == [workload.CONFIG_READ_DELAY]


def test_an_empty_config_xml_blocks_when_prowlarr_is_not_running(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    (config_dir / "config.xml").write_text("")
    container = owned_container(config_dir, monkeypatch)

    run = run_workload(container, ensure())

    assert isinstance(run.result, ConfigXmlError)
    assert run.result.blocked is True  # Prowlarr would not start with it: the operator acts
    assert str(run.result) == "the file is empty"


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


def test_ensure_adds_the_layer_and_replans(config_dir: Path, monkeypatch: pytest.MonkeyPatch):
    (config_dir / "config.xml").write_text(render_config_xml(None, USER_KEY, "/prowlarr"))
    spec = WorkloadSpec(LogLevel.DEBUG, "/prowlarr")

    run = run_workload(owned_container(config_dir, monkeypatch), ensure(spec))

    assert run.result == Ensured(ProwlarrConfig(USER_KEY, "/prowlarr"), started=True)
    plan = run.container.plan
    service = plan.services["prowlarr"]
    assert service.environment["PROWLARR__LOG__LEVEL"] == "debug"
    assert service.environment["PROWLARR__SERVER__URLBASE"] == "/prowlarr"
    assert set(plan.checks) == {"ready", "alive"}
    assert plan.checks["ready"].http == {"url": "http://localhost:9696/prowlarr/ping"}
    assert run.container.services["prowlarr"].current == pebble.ServiceStatus.ACTIVE


def test_ensure_ignores_defaults_pebble_fills_in(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    # Real Pebble echoes defaults (e.g. a check timeout) in the plan: not a difference.
    (config_dir / "config.xml").write_text(PROWLARR_CONFIG)
    raw = pebble_layer(SPEC).to_dict()
    for check in raw.get("checks", {}).values():
        check["timeout"] = "3s"
        check.pop("override", None)
    raw.get("services", {})["prowlarr"]["backoff-delay"] = "500ms"
    container = owned_container(
        config_dir,
        monkeypatch,
        layers={"base": pebble.Layer(raw)},
        service_statuses={"prowlarr": pebble.ServiceStatus.ACTIVE},
    )

    run = run_workload(container, ensure())

    assert run.result == Ensured(ProwlarrConfig(USER_KEY))


@pytest.mark.parametrize(
    ("level", "url_base"), [(LogLevel.TRACE, ""), (LogLevel.INFO, "/prowlarr")]
)
def test_ensure_replans_on_a_change(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch, level: LogLevel, url_base: str
):
    (config_dir / "config.xml").write_text(PROWLARR_CONFIG)
    container = owned_container(
        config_dir,
        monkeypatch,
        layers={"prowlarr": pebble_layer(SPEC)},
        service_statuses={"prowlarr": pebble.ServiceStatus.ACTIVE},
    )

    run = run_workload(container, ensure(WorkloadSpec(level, url_base)))

    assert isinstance(run.result, Ensured) and run.result.started is True
    plan = run.container.plan
    assert plan.services["prowlarr"].environment["PROWLARR__LOG__LEVEL"] == level.value
    assert plan.checks["alive"].http == {"url": f"http://localhost:9696{url_base}/ping"}


def running_container(config_dir: Path, status: pebble.ServiceStatus) -> testing.Container:
    return container_for(
        config_dir,
        layers={"prowlarr": pebble_layer(SPEC)},
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


# ------------------------------------------------------------------ before the first start


def first_start_probe(calls: list[str], error: Exception | None = None) -> Callable[[], None]:
    def before() -> None:
        calls.append("before_first_start")
        if error is not None:
            raise error

    return before


def test_before_first_start_runs_in_a_new_container_before_anything_starts(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    calls: list[str] = []
    container = owned_container(config_dir, monkeypatch)  # a new pod: an empty plan

    run = run_workload(
        container, lambda wl: wl.ensure(SPEC, before_first_start=first_start_probe(calls))
    )

    assert calls == ["before_first_start"]
    assert isinstance(run.result, Ensured) and run.result.started


def test_a_failing_before_first_start_writes_and_starts_nothing(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    calls: list[str] = []
    failure = workload.FileAccessError("cannot copy: no space left on device")
    container = owned_container(config_dir, monkeypatch)

    run = run_workload(
        container, lambda wl: wl.ensure(SPEC, before_first_start=first_start_probe(calls, failure))
    )

    assert run.result is failure
    assert not (config_dir / "config.xml").exists(), "no key seeded either"
    assert "prowlarr" not in run.container.plan.services


@pytest.mark.parametrize("status", [pebble.ServiceStatus.ACTIVE, pebble.ServiceStatus.INACTIVE])
def test_before_first_start_is_skipped_once_the_service_is_planned(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch, status: pebble.ServiceStatus
):
    (config_dir / "config.xml").write_text(PROWLARR_CONFIG)
    calls: list[str] = []
    container = owned_container(
        config_dir,
        monkeypatch,
        layers={"prowlarr": pebble_layer(SPEC)},
        service_statuses={"prowlarr": status},
    )

    run = run_workload(
        container, lambda wl: wl.ensure(SPEC, before_first_start=first_start_probe(calls))
    )

    assert calls == []
    assert run.container.services["prowlarr"].current == pebble.ServiceStatus.ACTIVE


# ------------------------------------------------------------------ files under /config


def test_copy_file_streams_owned_private_and_says_what_it_copied(config_dir: Path):
    data = os.urandom(200_000)
    (config_dir / "prowlarr.db").write_bytes(data)

    def copy(wl: Workload) -> object:
        wl.make_private_dir("/config/Backups/pre-refresh/x")
        copied = wl.copy_file("/config/prowlarr.db", "/config/Backups/pre-refresh/x/prowlarr.db")
        return copied, wl.list_dir("/config/Backups/pre-refresh"), wl.list_dir("/config/none")

    run = run_workload(container_for(config_dir), copy)

    copied, listed, missing = cast("tuple[workload.CopiedFile, list[str], list[str]]", run.result)
    target = config_dir / "Backups/pre-refresh/x/prowlarr.db"
    assert target.read_bytes() == data
    assert copied == workload.CopiedFile(
        "/config/Backups/pre-refresh/x/prowlarr.db", len(data), hashlib.sha256(data).hexdigest()
    )
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert (listed, missing) == (["x"], [])

    removed = run_workload(container_for(config_dir), lambda wl: wl.remove_tree("/config/Backups"))
    assert removed.result is None and not (config_dir / "Backups").exists()


def test_copying_a_missing_file_is_a_clear_error(config_dir: Path):
    run = run_workload(
        container_for(config_dir), lambda wl: wl.copy_file("/config/prowlarr.db", "/config/x")
    )

    assert isinstance(run.result, workload.FileAccessError)
    assert str(run.result).startswith("cannot copy /config/prowlarr.db to /config/x: ")
