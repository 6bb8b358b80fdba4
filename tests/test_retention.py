"""Retention purges exactly what is past its window: one record planted just inside, one just outside."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from socle import retention
from socle.landing import Batch, Rejection, write_partition, write_rejections

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    for name in ("SOCLE_CAMPAIGN_END", "SOCLE_RETENTION_CONTACT_MONTHS", "SOCLE_RETENTION_COMMENT_TEXT_DAYS"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _batch(source: str, fetched: datetime = NOW, part: str | None = None) -> Batch:
    day = fetched - timedelta(days=1)
    return Batch(source, day, fetched, f"test://{source}", fetched_at=fetched, part=part)


def months_ago(months: int) -> str:
    return retention.subtract_months(NOW, months).isoformat()


def rows(home: Path, entity: str) -> list[dict]:
    found = []
    for part in sorted((home / "landing").glob(f"{entity}/dt=*/part-*.parquet")):
        found += pq.read_table(part).to_pylist()
    return found


def plant_social(home: Path) -> None:
    write_partition(
        _batch("facebook"),
        "comments",
        [
            {"id": "in", "post_id": "p", "from_id": "1", "message": "inside", "created_time": _days(89)},
            {"id": "out", "post_id": "p", "from_id": "2", "message": "outside", "created_time": _days(91)},
        ],
    )
    write_partition(
        _batch("x"),
        "tweets",
        [
            {"id": "in", "author_id": "1", "text": "inside", "created_at": _days(89), "kind": "mention"},
            {"id": "out", "author_id": "2", "text": "outside", "created_at": _days(91), "kind": "reply"},
            {"id": "own", "author_id": "9", "text": "our post", "created_at": _days(300), "kind": "post"},
        ],
    )


def _days(n: int) -> str:
    return (NOW - timedelta(days=n)).isoformat()


def plant_people(home: Path) -> None:
    write_partition(
        _batch("crm", part="people"),
        "people",
        [
            {"crm_id": "inside", "email": "a@example.org", "is_member": "true", "updated_at": months_ago(35)},
            {
                "crm_id": "outside",
                "email": "b@example.org",
                "is_member": "true",
                "updated_at": months_ago(37),
            },
            # Old CRM record, but the same person (through the phone) RSVPed last week.
            {
                "crm_id": "linked",
                "email": "c@example.org",
                "phone": "+33611111111",
                "updated_at": months_ago(37),
            },
        ],
    )
    write_partition(
        _batch("events"),
        "rsvps",
        [{"id": "r1", "event_id": "e1", "phone": "+33611111111", "status": "going", "updated_at": _days(7)}],
    )
    write_partition(
        _batch("canvass", part="tour.csv"),
        "visits",
        [
            # A door where nobody agreed to be contacted: a prospect who never answered.
            {"row_number": "1", "session_id": "s", "contact_email": "p@example.org", "consent_contact": "non",
             "volunteer_email": "v@example.org", "session_date": _days(10)},
            {"row_number": "2", "session_id": "s", "contact_email": "q@example.org", "consent_contact": "oui",
             "volunteer_email": "v@example.org", "session_date": _days(10)},
        ],
    )  # fmt: skip


def test_comment_text_past_its_window_is_nulled_and_the_interaction_kept(home: Path):
    plant_social(home)

    run = retention.apply_retention(NOW)

    assert run.comment_texts_nulled == {"facebook/comments": 1, "x/tweets": 1}
    comments = {r["id"]: r["message"] for r in rows(home, "facebook/comments")}
    assert comments == {"in": "inside", "out": None}
    tweets = {r["id"]: r["text"] for r in rows(home, "x/tweets")}
    assert tweets == {"in": "inside", "out": None, "own": "our post"}


def test_contacts_are_purged_after_their_window_since_last_activity(home: Path):
    plant_people(home)

    run = retention.apply_retention(NOW)

    assert run.person_rows_purged == {"crm/people": 1}
    assert {r["crm_id"] for r in rows(home, "crm/people")} == {"inside", "linked"}
    assert len(rows(home, "events/rsvps")) == 1
    assert len(rows(home, "canvass/visits")) == 2  # the campaign is not over: prospects stay


def test_social_activity_of_a_declared_account_keeps_a_person_and_a_request_does_not(home: Path):
    write_partition(
        _batch("crm", part="people"),
        "people",
        [
            {"crm_id": "social", "email": "s@example.org", "facebook_id": "777", "is_member": "true",
             "updated_at": months_ago(37)},
            {"crm_id": "asked", "email": "r@example.org", "is_member": "true", "updated_at": months_ago(37)},
        ],
    )  # fmt: skip
    write_partition(
        _batch("facebook"),
        "comments",
        [{"id": "c", "post_id": "p", "from_id": "777", "message": "bravo", "created_time": _days(10)}],
    )
    write_partition(
        _batch("dsr", part="req.csv"),
        "requests",
        [{"request_id": "q", "type": "access", "email": "r@example.org", "received_at": _days(3)}],
    )

    run = retention.apply_retention(NOW)

    assert [r["crm_id"] for r in rows(home, "crm/people")] == ["social"]
    assert run.person_rows_purged == {"crm/people": 1, "dsr/requests": 1}
    assert len(rows(home, "facebook/comments")) == 1


def test_nothing_of_a_person_with_an_open_request_is_purged(home: Path):
    import pyarrow as pa

    from socle.dsr import LEDGER_SCHEMA, ledger_path

    write_partition(
        _batch("crm", part="people"),
        "people",
        [{"crm_id": "asked", "email": "r@example.org", "is_member": "true", "updated_at": months_ago(37)}],
    )
    write_partition(
        _batch("dsr", part="req.csv"),
        "requests",
        [{"request_id": "q", "type": "access", "email": "r@example.org", "received_at": _days(3)}],
    )
    received = NOW - timedelta(days=3)
    entry = {"request_id": "q", "request_type": "access", "received_at": received,
             "due_at": received + timedelta(30), "done_at": None, "status": "pending", "rows_affected": "{}",
             "note": None}  # fmt: skip
    ledger_path().parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist([entry], schema=LEDGER_SCHEMA), ledger_path())

    run = retention.apply_retention(NOW)

    assert run.person_rows_purged == {}
    assert len(rows(home, "crm/people")) == 1


def test_a_shared_household_phone_does_not_keep_an_inactive_person(home: Path):
    household = "+33155555555"
    write_partition(
        _batch("crm", part="people"),
        "people",
        [
            {"crm_id": "old", "email": "o@example.org", "phone": household, "is_member": "true",
             "updated_at": months_ago(40)},
            {"crm_id": "new", "email": "n@example.org", "phone": household, "is_member": "true",
             "updated_at": months_ago(1)},
        ],
    )  # fmt: skip

    retention.apply_retention(NOW)

    assert [r["crm_id"] for r in rows(home, "crm/people")] == ["new"]


def test_prospects_who_never_answered_are_purged_when_the_campaign_ends(home: Path, monkeypatch):
    plant_people(home)
    monkeypatch.setenv("SOCLE_CAMPAIGN_END", (NOW.date() - timedelta(days=1)).isoformat())

    run = retention.apply_retention(NOW)

    visits = rows(home, "canvass/visits")
    assert [v["row_number"] for v in visits] == ["2"]  # the door that agreed to be contacted stays
    assert run.person_rows_purged["canvass/visits"] == 1
    assert {r["crm_id"] for r in rows(home, "crm/people")} == {"inside", "linked"}  # members answered


def test_prospects_stay_until_the_campaign_end_day_itself(home: Path, monkeypatch):
    plant_people(home)
    monkeypatch.setenv("SOCLE_CAMPAIGN_END", NOW.date().isoformat())

    retention.apply_retention(NOW)

    assert len(rows(home, "canvass/visits")) == 2


def test_quarantined_rows_are_purged_after_their_window(home: Path):
    for age in (89, 91):
        write_rejections(
            _batch("signin", NOW - timedelta(days=age), part=f"sheet-{age}.csv"),
            "attendance",
            [Rejection("bad_date", ("signed_at",), {"email": f"r{age}@example.org"})],
        )

    run = retention.apply_retention(NOW)

    assert run.rejected_rows_purged == {"_rejected/signin/attendance": 1}
    assert len(rows(home, "_rejected/signin/attendance")) == 1


def test_manifests_follow_the_rows_left(home: Path):
    plant_people(home)
    retention.apply_retention(NOW)

    for manifest_path in (home / "landing").rglob("_manifest.json"):
        for part, entry in json.loads(manifest_path.read_text())["parts"].items():
            assert pq.read_metadata(manifest_path.parent / part).num_rows == entry["rows"]


def test_retention_log_has_one_line_per_action_with_counts_only(home: Path):
    plant_social(home)
    plant_people(home)

    retention.apply_retention(NOW)

    lines = [json.loads(line) for line in retention.retention_log_path().read_text().splitlines()]
    actions = [(line["action"], line.get("entity")) for line in lines]
    assert ("comment_text_nulled", "facebook/comments") in actions
    assert ("person_rows_purged", "crm/people") in actions
    assert actions[-1] == ("run", None)
    text = retention.retention_log_path().read_text()
    assert "@" not in text
    assert "outside" not in text


def test_second_run_purges_nothing_more(home: Path):
    plant_social(home)
    plant_people(home)
    retention.apply_retention(NOW)

    again = retention.apply_retention(NOW)

    assert again.summary()["files_rewritten"] == 0


def test_windows_have_documented_defaults_and_env_overrides(monkeypatch):
    for name in ("SOCLE_CAMPAIGN_END", "SOCLE_RETENTION_CONTACT_MONTHS", "SOCLE_RETENTION_COMMENT_TEXT_DAYS"):
        monkeypatch.delenv(name, raising=False)
    windows = retention.retention_windows(date(2026, 11, 29))
    assert windows.contact_months == 36
    assert windows.comment_text_days == 90
    assert windows.campaign_end == date(2027, 3, 29)

    monkeypatch.setenv("SOCLE_CAMPAIGN_END", "2026-03-22")
    monkeypatch.setenv("SOCLE_RETENTION_CONTACT_MONTHS", "24")
    windows = retention.retention_windows(date(2026, 11, 29))
    assert windows.campaign_end == date(2026, 3, 22)
    assert windows.contact_months == 24
    assert windows.contact_cutoff(NOW) == datetime(2024, 11, 29, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "value"), [("SOCLE_RETENTION_CONTACT_MONTHS", "three"), ("SOCLE_CAMPAIGN_END", "soon")]
)
def test_a_bad_window_setting_names_the_variable(monkeypatch, name: str, value: str):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        retention.retention_windows()


def test_purged_people_leave_the_warehouse_history_too(home: Path):
    import duckdb

    from socle.config import paths, pseudonym_secret
    from socle.identity import keyed_hash

    plant_people(home)
    secret = pseudonym_secret()
    gone, kept = keyed_hash("b@example.org", secret), keyed_hash("a@example.org", secret)
    paths().build_dir.mkdir(parents=True)
    with duckdb.connect(str(paths().build_db)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.supporter_scores_history (person_key varchar, score double)")
        con.executemany(
            "insert into marts.supporter_scores_history values (?, ?)", [(gone, 1), (gone, 2), (kept, 3)]
        )

    run = retention.apply_retention(NOW)

    assert run.warehouse_rows_purged == {"marts.supporter_scores_history": 2}
    with duckdb.connect(str(paths().build_db), read_only=True) as con:
        assert con.execute("select person_key from marts.supporter_scores_history").fetchall() == [(kept,)]


def test_expired_comment_texts_are_nulled_in_the_incremental_staging_tables(home: Path):
    """Staging keeps what was landed (incremental), so retention must reach its copies too."""
    import duckdb

    from socle.config import paths

    paths().build_dir.mkdir(parents=True)
    old, recent = NOW - timedelta(days=91), NOW - timedelta(days=89)
    with duckdb.connect(str(paths().build_db)) as con:
        con.execute("create schema staging")
        con.execute(
            "create table staging.stg_facebook__comments "
            "(comment_id varchar, comment_text varchar, created_at timestamptz)"
        )
        con.execute(
            "create table staging.stg_x__tweets "
            "(tweet_id varchar, tweet_kind varchar, tweet_text varchar, created_at timestamptz)"
        )
        con.executemany(
            "insert into staging.stg_facebook__comments values (?, ?, ?)",
            [("out", "old", old), ("in", "new", recent)],
        )
        con.executemany(
            "insert into staging.stg_x__tweets values (?, ?, ?, ?)",
            [("out", "reply", "old", old), ("in", "reply", "new", recent), ("own", "post", "ours", old)],
        )

    run = retention.apply_retention(NOW)

    assert run.comment_texts_nulled == {
        "warehouse staging.stg_facebook__comments": 1,
        "warehouse staging.stg_x__tweets": 1,
    }
    with duckdb.connect(str(paths().build_db), read_only=True) as con:
        comments = dict(
            con.execute("select comment_id, comment_text from staging.stg_facebook__comments").fetchall()
        )
        tweets = dict(con.execute("select tweet_id, tweet_text from staging.stg_x__tweets").fetchall())
    assert comments == {"out": None, "in": "new"}
    assert tweets == {"out": None, "in": "new", "own": "ours"}  # the campaign's own posts are not comments
