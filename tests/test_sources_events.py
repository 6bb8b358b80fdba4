"""Event platform connector against a loopback JSON:API server."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from fixtures.sources.loopback import Loopback, Reply, pages

from socle.http import SourceError
from socle.orchestration import ConnectionSettings
from socle.sources import events
from socle.sources.common import RejectRatioError

TOKEN = "events-SECRET"
START = datetime(2026, 3, 1, 10, tzinfo=UTC)
END = datetime(2026, 3, 1, 11, tzinfo=UTC)


def event(n: int, updated: str = "2026-03-01T10:30:00+00:00", **attributes) -> dict:
    return {
        "type": "events",
        "id": f"e{n}",
        "attributes": {
            "title": f"Réunion {n}",
            "kind": "public_meeting",
            "starts_at": "2026-03-10T19:00:00+01:00",
            "ends_at": "2026-03-10T21:00:00+01:00",
            "bureau_code": "0012",
            "postal_code": "01000",
            "updated_at": updated,
            **attributes,
        },
    }


def rsvp(n: int, **attributes) -> dict:
    return {
        "type": "rsvps",
        "id": f"r{n}",
        "attributes": {
            "email": f" Person{n}@Example.org ",
            "phone": "06 12 34 56 78",
            "status": "going",
            "attended": n % 2 == 0,
            "volunteer": False,
            "checked_in_at": None,
            "updated_at": "2026-03-01T10:45:00+00:00",
            **attributes,
        },
        "relationships": {"event": {"data": {"type": "events", "id": "e1"}}},
    }


def settings(server: Loopback) -> ConnectionSettings:
    return ConnectionSettings("socle_events", server.url, TOKEN, {})


def run(server: Loopback, root: Path, **kw):
    client = events.client_for(settings(server), sleep=lambda s: None, timeout=(1, 2), max_attempts=3)
    return events.ingest(settings(server), START, END, landing_root=root, client=client, **kw)


def serve(server: Loopback, event_items: list[dict], rsvp_items: list[dict], size: int = 2) -> None:
    for path, items in (("/api/v1/events", event_items), ("/api/v1/rsvps", rsvp_items)):
        server.route(
            path, pages(items, size, lambda n, p=path: {"links": {"next": f"{server.url}{p}?cursor={n}"}})
        )


def landed(root: Path, entity: str) -> list[dict]:
    files = [str(f) for f in sorted((root / "events" / entity).glob("dt=*/*.parquet"))]
    rel = duckdb.sql(f"select * from read_parquet({files}, union_by_name=true)")
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


@pytest.mark.integration
def test_events_and_rsvps_follow_links_next_and_flatten_relationships(tmp_path):
    late = event(9, updated="2026-03-01T11:00:00+00:00")  # the next interval's
    with Loopback() as server:
        serve(server, [event(1), event(2), event(3), late], [rsvp(n) for n in range(5)])
        result = run(server, tmp_path)
        first = server.hits("/api/v1/events")[0]
    assert result.landed == {"events": 3, "rsvps": 5}
    assert first.query["updated_since"] == START.isoformat()
    assert first.query["page[size]"] == "100"
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    rows = {r["id"]: r for r in landed(tmp_path, "rsvps")}
    assert rows["r0"]["event_id"] == "e1"
    assert rows["r0"]["email"] == "person0@example.org"
    assert rows["r0"]["phone"] == "+33612345678"
    assert (rows["r0"]["attended"], rows["r1"]["attended"]) == ("true", "false")
    assert rows["r0"]["checked_in_at"] is None
    assert {r["postal_code"] for r in landed(tmp_path, "events")} == {"01000"}


@pytest.mark.integration
def test_5xx_then_success_and_rerun_give_the_same_partition(tmp_path):
    with Loopback() as server:
        serve(server, [event(1)], [rsvp(1)])
        ok = server.routes["/api/v1/events"]
        failures = iter([Reply(502, "bad gateway"), Reply(503, {})])
        server.route("/api/v1/events", lambda q, h: next(failures, None) or ok(q, h))
        run(server, tmp_path)
        first = {p.name for p in tmp_path.rglob("*.parquet")}
        run(server, tmp_path)
    assert {p.name for p in tmp_path.rglob("*.parquet")} == first
    assert len(landed(tmp_path, "events")) == 1


@pytest.mark.integration
def test_malformed_json_page_fails_after_bounded_retries_naming_the_path(tmp_path):
    with Loopback() as server:
        serve(server, [event(1)], [])
        server.route("/api/v1/rsvps", Reply(200, '{"data": [{"type": "rsvps", '))
        with pytest.raises(SourceError, match="/api/v1/rsvps") as caught:
            run(server, tmp_path)
        assert len(server.hits("/api/v1/rsvps")) == 3
    assert TOKEN not in str(caught.value)


@pytest.mark.integration
def test_unknown_event_kind_is_rejected_and_a_new_attribute_kept(tmp_path):
    items = [event(n, capacity=str(50 + n)) for n in range(20)] + [event(99, kind="barbecue")]
    with Loopback() as server:
        serve(server, items, [], size=50)
        result = run(server, tmp_path, max_reject_ratio=0.1)
    assert result.rejected["events"] == 1
    assert result.landed["events"] == 20
    assert {r["capacity"] for r in landed(tmp_path, "events")} >= {"50", "69"}
    files = [str(f) for f in (tmp_path / "_rejected").rglob("*.parquet")]
    reason, fields, record = duckdb.sql(
        f"select _reason, _fields, _record from read_parquet({files})"
    ).fetchall()[0]
    assert (reason, fields) == ("invalid value", "kind")
    assert json.loads(record)["id"] == "e99"


@pytest.mark.integration
def test_rsvps_without_event_relationship_beyond_threshold_fail_with_counts(tmp_path):
    broken = [{**rsvp(n), "relationships": {}} for n in range(3)]
    with Loopback() as server:
        serve(server, [], [rsvp(10), *broken])
        with pytest.raises(RejectRatioError, match="3 of 4") as caught:
            run(server, tmp_path)
    assert "@" not in str(caught.value)
