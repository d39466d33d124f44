"""The tester charm's fake Radarr calls Prowlarr back, as a real Radarr does (against the fake)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.unit.fake_prowlarr import FakeProwlarr

FAKE_RADARR = Path(__file__).resolve().parents[1] / "integration/tester/src/fake_radarr.py"


def load_fake_radarr() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tester_fake_radarr", FAKE_RADARR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def indexer_to_test(base_url: str, key: str) -> dict[str, Any]:
    """What Prowlarr asks Radarr to test: its test indexer at {prowlarrUrl}/0/."""
    return {
        "implementation": "Newznab",
        "fields": [
            {"name": "baseUrl", "value": f"{base_url}/0/"},
            {"name": "apiPath", "value": "/api"},
            {"name": "apiKey", "value": key},
        ],
    }


@pytest.fixture
def running(fake: FakeProwlarr) -> FakeProwlarr:
    fake.start()
    return fake


def test_the_indexer_test_fetches_prowlarrs_caps(running: FakeProwlarr, tmp_path: Path):
    radarr = load_fake_radarr().FakeRadarr(tmp_path)

    ok = radarr.route("POST", "/indexer/test", indexer_to_test(running.url, running.api_key))
    stale = radarr.route("POST", "/indexer/test", indexer_to_test(running.url, "stale-key"))
    lost = radarr.route("POST", "/indexer/test", indexer_to_test("http://127.0.0.1:9", "k"))

    assert ok[:2] == (200, "indexer-test")
    assert stale[:2] == (400, "indexer-test-failed")
    assert lost[:2] == (400, "indexer-test-failed")
    assert "stale-key" not in str(stale[2])
    assert [r.path for r in running.requests] == ["/0/api", "/0/api"]


def test_a_prowlarr_url_without_the_url_base_fails(fake: FakeProwlarr, tmp_path: Path):
    fake.config_path.write_text("<Config><UrlBase>prowlarr</UrlBase></Config>")
    fake.start()
    radarr = load_fake_radarr().FakeRadarr(tmp_path)

    missing = radarr.route("POST", "/indexer/test", indexer_to_test(fake.url, fake.api_key))
    whole = radarr.route(
        "POST", "/indexer/test", indexer_to_test(f"{fake.url}/prowlarr", fake.api_key)
    )

    assert missing[:2] == (400, "indexer-test-failed")  # a 307: no redirect is followed
    assert whole[:2] == (200, "indexer-test")
