"""Access requests (art. 15): one JSON and one readable HTML with everything held about the person."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from test_dsr import ERASED, KEPT, NOW, build_inbox, build_landing, build_warehouse, request

from socle import dsr
from socle.config import paths


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    build_landing(NOW - timedelta(days=3))
    build_inbox()
    build_warehouse(paths().warehouse)
    return tmp_path


def test_access_export_holds_the_person_from_every_source(home: Path):
    # The person asks with their phone only, written the national way.
    request("req-access-9", "access", NOW - timedelta(days=1), phone=ERASED["phone_national"])

    run = dsr.apply_pending_requests(now=NOW)

    assert run.done == {"access": 1}
    export = json.loads((dsr.access_exports_dir() / "req-access-9.json").read_text(encoding="utf-8"))
    assert export["subject"]["emails"] == [ERASED["email"]]  # found through the records linking both
    assert export["subject"]["facebook_ids"] == [ERASED["facebook_id"]]
    landing = {key: len(rows) for key, rows in export["landing"].items()}
    assert landing == {
        "_rejected/signin/attendance": 2,
        "canvass/visits": 2,
        "crm/consents": 1,
        "crm/people": 1,
        "dsr/requests": 1,
        "events/rsvps": 1,
        "facebook/comments": 1,
        "signin/attendance": 1,
        "x/tweets": 1,
    }
    warehouse = {key: len(rows) for key, rows in export["warehouse"].items()}
    assert warehouse == {
        "intermediate.int_identity": 2,
        "intermediate.int_person_records": 1,
        "intermediate.int_persons": 1,
        "marts.dim_supporter": 1,
        "restricted.contact_list_email": 1,
        "snapshots.scores_history": 2,
    }
    assert len(export["consent_history"]) == 1
    [entry] = export["requests"]["ledger"]  # the request itself, still open while its answer is written
    assert entry["request_id"] == "req-access-9"
    assert entry["status"] == "pending"
    assert export["processing"]["retention"]["contact_months"] == 36
    # Nobody else's data in the export.
    assert KEPT["email"] not in json.dumps(export)


def test_access_export_html_is_self_contained_and_escaped(home: Path):
    request("req-access-10", "access", NOW - timedelta(days=1), email=KEPT["email"])
    dsr.apply_pending_requests(now=NOW)

    page = (dsr.access_exports_dir() / "req-access-10.html").read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>")
    assert KEPT["email"] in page
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page
    assert page.count("<table>") >= 4


def test_access_request_ledger_entry_counts_exported_rows(home: Path):
    request("req-access-11", "access", NOW - timedelta(days=1), email=KEPT["email"])
    dsr.apply_pending_requests(now=NOW)

    [row] = dsr.request_log_rows()
    assert row["status"] == "done"
    assert row["answered_in_time"] is True
    assert json.loads(row["rows_affected"])["landing:crm/people"] == 1
