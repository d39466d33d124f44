"""Tags by label (tags.py) and the tag API of the client, against the fake Prowlarr."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from prowlarr import ProwlarrClient, ProwlarrResponseError, ProwlarrValidationError
from tags import TagLabelError, ensure_tags
from tests.unit.fake_prowlarr import FakeProwlarr
from workload import render_config_xml

USER_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def started(fake: FakeProwlarr, config_dir: Path) -> FakeProwlarr:
    (config_dir / "config.xml").write_text(render_config_xml(None, USER_KEY))
    fake.start()
    return fake


@pytest.fixture
def client(started: FakeProwlarr) -> Iterator[ProwlarrClient]:
    with ProwlarrClient(USER_KEY, base_url=started.url) as c:
        yield c


def tag_requests(fake: FakeProwlarr) -> list[str]:
    return [r.method for r in fake.requests if r.path.startswith("/api/v1/tag")]


def test_ensure_tags_creates_only_the_missing_labels(
    client: ProwlarrClient, started: FakeProwlarr
):
    uhd = started.store.add_tag("uhd")

    ids = ensure_tags(client, ["uhd", "anime", "uhd"])

    assert ids["uhd"] == uhd
    assert {t.label for t in client.list_tags()} == {"uhd", "anime"}
    assert ids["anime"] == next(t.id for t in client.list_tags() if t.label == "anime")
    assert tag_requests(started) == ["GET", "POST", "GET", "GET"]


def test_ensure_tags_for_existing_labels_is_one_get(client: ProwlarrClient, started: FakeProwlarr):
    started.store.add_tag("uhd")
    started.store.add_tag("private")

    ensure_tags(client, ["private", "uhd"])

    assert tag_requests(started) == ["GET"]


def test_no_labels_no_request(client: ProwlarrClient, started: FakeProwlarr):
    assert ensure_tags(client, []) == {}
    assert tag_requests(started) == []


@pytest.mark.parametrize("label", ["UHD", "4k hdr", "tv_shows", ""])
def test_labels_prowlarr_would_refuse_or_respell_send_nothing(
    client: ProwlarrClient, started: FakeProwlarr, label: str
):
    with pytest.raises(TagLabelError):
        ensure_tags(client, ["ok", label])
    assert tag_requests(started) == []


def test_a_label_differing_only_by_case_is_a_conflict_in_prowlarr(client: ProwlarrClient):
    uhd = client.create_tag("uhd")

    assert client.create_tag("uhd") == uhd, "the existing tag on an exact match"
    with pytest.raises(ProwlarrResponseError) as caught:
        client.create_tag("UHD")
    assert caught.value.status_code == 409


def test_a_label_with_other_characters_is_refused(client: ProwlarrClient):
    with pytest.raises(ProwlarrValidationError):
        client.create_tag("a b")


def test_a_tag_used_by_an_application_cannot_be_deleted(started: FakeProwlarr):
    used = started.store.add_tag("used")
    free = started.store.add_tag("free")
    started.add_application("Radarr", tags=[used])

    with ProwlarrClient(USER_KEY, base_url=started.url) as client:
        with pytest.raises(ProwlarrResponseError) as caught:
            client._call("DELETE", f"/api/v1/tag/{used}")  # the charm never deletes tags
        assert caught.value.status_code == 409
        client._call("DELETE", f"/api/v1/tag/{free}")
        assert [t.label for t in client.list_tags()] == ["used"]
