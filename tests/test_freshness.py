"""A source that stops landing is reported silent; a quiet but recent one is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from socle.freshness import silent_sources
from socle.landing import Batch, write_partition

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


def _land(root, source: str, entity: str, fetched_at: datetime, rows: int = 1) -> None:
    batch = Batch(
        source=source,
        interval_start=fetched_at,
        interval_end=fetched_at,
        source_uri="t",
        fetched_at=fetched_at,
    )
    write_partition(batch, entity, [{"id": str(i)} for i in range(rows)], root=root)


@pytest.fixture
def landing(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    for family in ("SOCIAL", "EVENTS", "FIELD", "CRM"):
        monkeypatch.delenv(f"SOCLE_FRESHNESS_{family}_HOURS", raising=False)
    root = tmp_path / "landing"
    _land(root, "events", "rsvps", NOW - timedelta(hours=2))
    _land(root, "signin", "attendance", NOW - timedelta(hours=2))
    _land(root, "crm", "people", NOW - timedelta(hours=2))
    return root


def test_social_silent_past_its_threshold_is_reported(landing):
    _land(landing, "facebook", "comments", NOW - timedelta(hours=7))
    [silence] = silent_sources(landing, NOW)
    assert silence.family == "social"
    assert silence.hours_silent == 7.0


def test_an_empty_interval_does_not_count_as_landing(landing):
    _land(landing, "x", "tweets", NOW - timedelta(hours=8))
    _land(landing, "facebook", "comments", NOW - timedelta(hours=1), rows=0)
    assert [s.family for s in silent_sources(landing, NOW)] == ["social"]


def test_recent_data_is_not_silent_and_thresholds_are_configurable(landing, monkeypatch):
    _land(landing, "facebook", "comments", NOW - timedelta(hours=5))
    assert silent_sources(landing, NOW) == []
    monkeypatch.setenv("SOCLE_FRESHNESS_SOCIAL_HOURS", "4")
    assert [s.family for s in silent_sources(landing, NOW)] == ["social"]


def test_a_source_that_never_landed_is_silent(landing):
    [silence] = silent_sources(landing, NOW)
    assert (silence.family, silence.hours_silent) == ("social", None)
