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


def test_inbox_archive_keeps_no_line_of_an_erased_person(tmp_path, monkeypatch):
    from socle.sources import inbox_files

    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    tombstones.add([ERASED, "06 11 22 33 44"], request_id="DSR-1")
    sheet = tmp_path / "inbox" / "signin" / "reunion.csv"
    sheet.parent.mkdir(parents=True)
    header = "Date;Événement;Nom;Prénom;Email;Téléphone;Code postal;Accepte emails;Accepte SMS\r\n"
    kept = "31/10/2026 19h30;EV1;Durand;Éloïse;kept@example.org;06 99 88 77 66;13001;oui;non\r\n"
    erased_by_mail = f"31/10/2026 19h30;EV1;Martin;Zoé;{ERASED.upper()};;13001;oui;non\r\n"
    erased_by_phone = "31/10/2026 19h30;EV1;Petit;Léa;;+33 6 11 22 33 44;13001;non;oui\r\n"
    sheet.write_bytes((header + kept + erased_by_mail + erased_by_phone).encode("cp1252"))
    start = datetime(2026, 10, 31, tzinfo=UTC)
    result = inbox_files.ingest(tmp_path / "inbox", start, start, kinds=("signin",))
    assert result.landed["signin/attendance"] == 1
    archived = (tmp_path / "inbox" / ".done" / "signin" / "reunion.csv").read_bytes()
    assert archived == (header + kept).encode("cp1252")


def test_a_new_request_from_an_erased_person_still_lands(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    tombstones.add([ERASED], request_id="DSR-1")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    batch = Batch(source="dsr", interval_start=start, interval_end=start, source_uri="test")
    request = {"request_id": "DSR-2", "type": "access", "email": ERASED, "received_at": "2026-11-01"}
    assert write_partition(batch, "requests", [request]) == 1
