"""An erased person never lands again, whichever connector brings them back."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow.parquet as pq

from socle import tombstones
from socle.landing import Batch, Rejection, write_partition, write_rejections

ERASED = "erased.person@example.org"


def _batch() -> Batch:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return Batch(source="events", interval_start=start, interval_end=start, source_uri="test")


def test_landing_writer_drops_tombstoned_people_and_counts_them(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    tombstones.add([ERASED], request_id="DSR-1")
    records = [
        {"id": "1", "event_id": "e", "email": ERASED, "status": "going", "updated_at": "2026-11-01"},
        {
            "id": "2",
            "event_id": "e",
            "email": "kept@example.org",
            "status": "going",
            "updated_at": "2026-11-01",
        },
    ]
    assert write_partition(_batch(), "rsvps", records) == 1
    [part] = (tmp_path / "landing" / "events" / "rsvps").rglob("part-*.parquet")
    assert pq.read_table(part).column("id").to_pylist() == ["2"]
    manifest = json.loads((part.parent / "_manifest.json").read_text())
    assert manifest["parts"][part.name]["erased_dropped"] == 1


def test_quarantine_drops_tombstoned_people_too(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    tombstones.add([ERASED], request_id="DSR-1")
    rejections = [
        Rejection("unparseable date", ("updated_at",), {"id": "1", "email": ERASED, "updated_at": "x"}),
        Rejection(
            "unparseable date", ("updated_at",), {"id": "2", "email": "kept@example.org", "updated_at": "x"}
        ),
    ]
    assert write_rejections(_batch(), "rsvps", rejections) == 1
    found = any(ERASED.encode() in p.read_bytes() for p in (tmp_path / "landing").rglob("*") if p.is_file())
    assert not found


def test_without_tombstones_everything_lands(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    records = [{"id": str(i), "event_id": "e", "email": ERASED, "status": "going"} for i in range(3)]
    assert write_partition(_batch(), "rsvps", records) == 3
