"""Data-subject requests on a real data home: Parquet landing zone, inbox files, DuckDB warehouses.

The planted person appears in every source, in rejected rows, in the inbox archive, in a
warehouse table keyed by person_key and in one keyed by identifiers; after the erasure
their identifiers and name must be nowhere under the data home. Assertions use counts and
booleans only: no record is ever printed.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from socle import dsr, tombstones
from socle.config import paths, pseudonym_secret
from socle.identity import keyed_hash
from socle.landing import Batch, Rejection, write_partition, write_rejections

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)

# The person who asks to be erased (unique strings, so a byte search cannot hit anything else).
ERASED = {
    "email": "zephyrine.quesnelvautrin@example.org",
    "phone": "+33612345678",
    "phone_national": "0612345678",
    "first_name": "Zephyrine",
    "last_name": "Quesnelvautrin",
    "facebook_id": "987650001",
    "x_user_id": "55500077",
    "x_handle": "zqvautrin",
}
KEPT = {
    "email": "bob.durand@example.org",
    "phone": "+33698765432",
    "first_name": "Bob",
    "last_name": "Durand",
}
NEEDLES = [
    ERASED["email"],
    ERASED["phone"],
    ERASED["phone_national"],
    "06 12 34 56 78",
    ERASED["first_name"],
    ERASED["last_name"],
    ERASED["x_handle"],
]


def _batch(source: str, day: datetime, part: str | None = None) -> Batch:
    return Batch(source, day, day + timedelta(days=1), f"test://{source}", part=part)


def _person_row(p: dict, **extra) -> dict:
    return {
        "email": p["email"],
        "phone": p["phone"],
        "first_name": p["first_name"],
        "last_name": p["last_name"],
        **extra,
    }


def build_landing(day: datetime) -> None:
    crm = _batch("crm", day, part="people-export")
    write_partition(
        crm,
        "people",
        [
            _person_row(
                ERASED,
                crm_id="c1",
                facebook_id=ERASED["facebook_id"],
                x_user_id=ERASED["x_user_id"],
                x_handle="@" + ERASED["x_handle"],
                is_member="true",
                updated_at=day.isoformat(),
            ),
            _person_row(KEPT, crm_id="c2", is_member="false", updated_at=day.isoformat()),
        ],
    )
    write_partition(
        _batch("crm", day, part="consents-export"),
        "consents",
        [
            {"consent_id": "k1", "email": ERASED["email"], "purpose": "email", "status": "granted"},
            {"consent_id": "k2", "email": KEPT["email"], "purpose": "email", "status": "granted"},
        ],
    )
    events = _batch("events", day)
    write_partition(
        events,
        "rsvps",
        [
            _person_row(ERASED, id="r1", event_id="e1", status="going", updated_at=day.isoformat()),
            _person_row(KEPT, id="r2", event_id="e1", status="going", updated_at=day.isoformat()),
        ],
    )
    write_partition(
        _batch("signin", day, part="sheet1.csv"),
        "attendance",
        [
            {
                "sheet": "sheet1.csv",
                "row_number": "1",
                "phone": ERASED["phone"],
                "last_name": ERASED["last_name"],
            },
            {
                "sheet": "sheet1.csv",
                "row_number": "2",
                "email": KEPT["email"],
                "last_name": KEPT["last_name"],
            },
        ],
    )
    write_partition(
        _batch("canvass", day, part="tour.csv"),
        "visits",
        [
            {"sheet": "tour.csv", "row_number": "1", "session_id": "s1", "contact_phone": ERASED["phone"]},
            {"sheet": "tour.csv", "row_number": "2", "session_id": "s1", "volunteer_email": ERASED["email"]},
            {"sheet": "tour.csv", "row_number": "3", "session_id": "s1", "contact_email": KEPT["email"]},
        ],
    )
    social = _batch("facebook", day)
    write_partition(
        social,
        "comments",
        [
            {
                "id": "fc1",
                "post_id": "p1",
                "from_id": ERASED["facebook_id"],
                "from_name": "Zephyrine Q",
                "message": "hi",
            },
            {"id": "fc2", "post_id": "p1", "from_id": "111", "from_name": "Someone", "message": "hello"},
        ],
    )
    write_partition(
        _batch("x", day),
        "tweets",
        [
            {
                "id": "t1",
                "author_id": ERASED["x_user_id"],
                "author_username": ERASED["x_handle"],
                "kind": "mention",
            },
            {"id": "t2", "author_id": "222", "author_username": "other", "kind": "mention"},
        ],
    )
    # Raw, unnormalised identifiers in the quarantined record itself.
    write_rejections(
        _batch("signin", day, part="sheet1.csv"),
        "attendance",
        [
            Rejection(
                "bad_date",
                ("signed_at",),
                {"email": " Zephyrine.QuesnelVautrin@Example.org ", "tel": "0612345678"},
            ),
            Rejection(
                "bad_date", ("signed_at",), {"telephone": "06 12 34 56 78", "nom": ERASED["last_name"]}
            ),
            Rejection("bad_date", ("signed_at",), {"email": KEPT["email"], "nom": KEPT["last_name"]}),
        ],
    )


def request(request_id: str, kind: str, received: datetime, **fields) -> None:
    write_partition(
        _batch("dsr", received, part=f"{request_id}.csv"),
        "requests",
        [{"request_id": request_id, "type": kind, "received_at": received.isoformat(), **fields}],
    )


def build_inbox() -> None:
    done = paths().inbox_done
    done.mkdir(parents=True, exist_ok=True)
    # A volunteer's sheet: semicolons, cp1252, French headers, the phone as written by hand.
    (done / "signin-sheet1.csv").write_bytes(
        (
            "Nom;Prénom;Téléphone;Courriel\r\n"
            f"{ERASED['last_name']};{ERASED['first_name']};06 12 34 56 78;\r\n"
            f"{KEPT['last_name']};{KEPT['first_name']};;{KEPT['email']}\r\n"
        ).encode("cp1252")
    )
    (done / "crm-people.csv").write_text(
        "crm_id,first_name,last_name,email,phone\n"
        f"c1,{ERASED['first_name']},{ERASED['last_name']},{ERASED['email'].upper()},{ERASED['phone']}\n"
        f"c2,{KEPT['first_name']},{KEPT['last_name']},{KEPT['email']},{KEPT['phone']}\n",
        encoding="utf-8",
    )


def build_warehouse(db: Path) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    secret = pseudonym_secret()
    erased_key, kept_key = keyed_hash(ERASED["email"], secret), keyed_hash(KEPT["email"], secret)
    with duckdb.connect(str(db)) as con:
        for schema in ("intermediate", "marts", "restricted", "snapshots", "staging"):
            con.execute(f"create schema {schema}")
        con.execute(
            "create table intermediate.int_identity "
            "(identifier varchar, identifier_type varchar, person_key varchar)"
        )
        con.executemany(
            "insert into intermediate.int_identity values (?, ?, ?)",
            [
                (ERASED["email"], "email", erased_key),
                (ERASED["phone"], "phone", erased_key),
                (KEPT["email"], "email", kept_key),
            ],
        )
        con.execute(
            "create table intermediate.int_persons (person_key varchar, email varchar, phone varchar, "
            "first_name varchar, last_name varchar, facebook_id varchar)"
        )
        con.executemany(
            "insert into intermediate.int_persons values (?, ?, ?, ?, ?, ?)",
            [
                (
                    erased_key,
                    ERASED["email"],
                    ERASED["phone"],
                    ERASED["first_name"],
                    ERASED["last_name"],
                    ERASED["facebook_id"],
                ),
                (kept_key, KEPT["email"], KEPT["phone"], KEPT["first_name"], KEPT["last_name"], None),
            ],
        )
        # Keyed by person_key only (a mart and a history table).
        con.execute("create table marts.dim_supporter (person_key varchar, tier varchar, score double)")
        con.executemany(
            "insert into marts.dim_supporter values (?, ?, ?)",
            [(erased_key, "militant", 12.0), (kept_key, "sympathisant", 2.0)],
        )
        con.execute("create table snapshots.scores_history (person_key varchar, as_of date, score double)")
        con.executemany(
            "insert into snapshots.scores_history values (?, ?, ?)",
            [
                (erased_key, "2026-10-01", 5.0),
                (erased_key, "2026-11-01", 12.0),
                (kept_key, "2026-11-01", 2.0),
            ],
        )
        # Keyed by identifiers only (no person_key column).
        con.execute(
            "create table intermediate.int_person_records "
            "(record_id varchar, email varchar, phone varchar, last_name varchar)"
        )
        con.executemany(
            "insert into intermediate.int_person_records values (?, ?, ?, ?)",
            [
                ("a", None, ERASED["phone"], ERASED["last_name"]),
                ("b", KEPT["email"], None, KEPT["last_name"]),
            ],
        )
        con.execute(
            "create table restricted.contact_list_email "
            "(person_key varchar, email varchar, first_name varchar)"
        )
        con.executemany(
            "insert into restricted.contact_list_email values (?, ?, ?)",
            [
                (erased_key, ERASED["email"], ERASED["first_name"]),
                (kept_key, KEPT["email"], KEPT["first_name"]),
            ],
        )
        con.execute("create view staging.v_people as select * from intermediate.int_persons")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def campaign(home: Path) -> Path:
    day = NOW - timedelta(days=3)
    build_landing(day)
    build_inbox()
    build_warehouse(paths().warehouse)
    build_warehouse(paths().build_db)
    return home


def text_values(home: Path) -> list[str]:
    """Every value readable under the data home: file bytes, Parquet values, DuckDB values."""
    values: list[str] = []
    for path in home.rglob("*"):
        if not path.is_file():
            continue
        raw = path.read_bytes()
        values += [raw.decode("utf-8", "replace"), raw.decode("cp1252", "replace")]
        if path.suffix == ".parquet":
            values += [str(v) for col in pq.read_table(path).to_pydict().values() for v in col]
        elif path.suffix == ".duckdb":
            with duckdb.connect(str(path), read_only=True) as con:
                tables = con.execute(
                    "select table_schema, table_name from information_schema.tables "
                    "where table_type = 'BASE TABLE'"
                ).fetchall()
                for schema, table in tables:
                    for row in con.execute(f'select * from "{schema}"."{table}"').fetchall():
                        values += [str(v) for v in row]
    return values


def leaks(home: Path) -> int:
    """How many needles still appear anywhere (count only: never print what was found)."""
    haystack = "\n".join(text_values(home)).lower()
    return sum(needle.lower() in haystack for needle in NEEDLES)


def parquet_rows(home: Path, pattern: str) -> int:
    return sum(pq.read_metadata(p).num_rows for p in (home / "landing").glob(pattern))


def test_fixture_holds_the_person_everywhere(campaign: Path):
    assert leaks(campaign) == len(NEEDLES)


def test_erasure_leaves_no_trace_of_the_person_under_the_data_home(campaign: Path):
    # Gate rule 2's ledger: its bucket fingerprints sum hashes of everyone's identifiers.
    ledger = [paths().rule_2_ledger, paths().build_dir / "rule_2_verified_tables-1.parquet"]
    for file in ledger:
        file.write_text("{}")
    request("req-erase-1", "erasure", NOW - timedelta(days=1), email=ERASED["email"], phone=ERASED["phone"])
    run = dsr.apply_pending_requests(now=NOW)
    assert not any(file.exists() for file in ledger)

    assert run.done == {"erasure": 1}
    assert run.failed == 0
    assert leaks(campaign) == 0
    # Everyone else is untouched.
    assert parquet_rows(campaign, "crm/people/*/*.parquet") == 1
    assert parquet_rows(campaign, "events/rsvps/*/*.parquet") == 1
    assert parquet_rows(campaign, "canvass/visits/*/*.parquet") == 1
    assert parquet_rows(campaign, "facebook/comments/*/*.parquet") == 1
    assert parquet_rows(campaign, "x/tweets/*/*.parquet") == 1
    assert parquet_rows(campaign, "_rejected/signin/attendance/*/*.parquet") == 1
    assert parquet_rows(campaign, "dsr/requests/*/*.parquet") == 0  # the request row went too
    for db in (paths().warehouse, paths().build_db):
        with duckdb.connect(str(db), read_only=True) as con:
            assert con.execute("select count(*) from marts.dim_supporter").fetchone()[0] == 1
            assert con.execute("select count(*) from snapshots.scores_history").fetchone()[0] == 1
            assert con.execute("select count(*) from intermediate.int_person_records").fetchone()[0] == 1
            assert con.execute("select count(*) from staging.v_people").fetchone()[0] == 1  # views survive
    inbox = paths().inbox_done
    assert (inbox / "signin-sheet1.csv").read_bytes().decode("cp1252").count("\n") == 2
    assert KEPT["email"] in (inbox / "crm-people.csv").read_text()


def test_erasure_updates_manifests_to_the_rows_left(campaign: Path):
    request("req-erase-2", "erasure", NOW - timedelta(days=1), email=ERASED["email"])
    dsr.apply_pending_requests(now=NOW)

    for manifest_path in (campaign / "landing").rglob("_manifest.json"):
        for part, entry in json.loads(manifest_path.read_text())["parts"].items():
            assert pq.read_metadata(manifest_path.parent / part).num_rows == entry["rows"]


def test_erasure_is_recorded_in_the_ledger_without_personal_data(campaign: Path):
    request("req-erase-3", "erasure", NOW - timedelta(days=2), phone=ERASED["phone_national"])
    dsr.apply_pending_requests(now=NOW)

    [row] = dsr.request_log_rows()
    assert row["request_id"] == "req-erase-3"
    assert row["status"] == "done"
    assert row["answered_in_time"] is True
    affected = json.loads(row["rows_affected"])
    assert affected["landing:crm/people"] == 1
    assert affected["warehouse:marts.dim_supporter"] == 1
    assert affected["warehouse:snapshots.scores_history"] == 2
    assert affected["inbox:rows"] == 2
    ledger_bytes = dsr.ledger_path().read_bytes().decode("latin-1").lower()
    assert not any(needle.lower() in ledger_bytes for needle in NEEDLES)


def test_tombstones_stop_the_erased_person_coming_back(campaign: Path):
    request("req-erase-4", "erasure", NOW - timedelta(days=1), email=ERASED["email"], phone=ERASED["phone"])
    dsr.apply_pending_requests(now=NOW)

    hashes = tombstones.load_hashes()
    secret = pseudonym_secret()
    assert keyed_hash(ERASED["email"], secret) in hashes
    assert keyed_hash(ERASED["phone"], secret) in hashes
    erased = tombstones.TombstoneFilter()
    incoming = [
        {"email": ERASED["email"].upper(), "first_name": "x"},
        {"contact_phone": "06.12.34.56.78"},
        {"email": KEPT["email"]},
    ]
    kept = list(erased.drop_erased(incoming))
    assert len(kept) == 1
    assert erased.dropped == 2
    assert erased.is_erased_record({"from_id": ERASED["facebook_id"]}, source="facebook")
    assert erased.is_erased_record({"author_id": ERASED["x_user_id"]}, source="x")
    assert not erased.is_erased_record({"from_id": "111"}, source="facebook")


def test_rerun_after_erasure_changes_nothing(campaign: Path):
    request("req-erase-5", "erasure", NOW - timedelta(days=1), email=ERASED["email"], phone=ERASED["phone"])
    dsr.apply_pending_requests(now=NOW)
    before = {p: p.read_bytes() for p in (campaign / "landing").rglob("*.parquet")}

    again = dsr.apply_pending_requests(now=NOW + timedelta(hours=1))

    assert again.done == {}
    assert again.failed == 0
    assert {p: p.read_bytes() for p in (campaign / "landing").rglob("*.parquet")} == before


def test_erasure_deletes_an_earlier_access_export(campaign: Path):
    request("req-access-1", "access", NOW - timedelta(days=2), email=ERASED["email"])
    dsr.apply_pending_requests(now=NOW - timedelta(days=1))
    exports = dsr.access_exports_dir()
    assert (exports / "req-access-1.json").exists()

    request("req-erase-6", "erasure", NOW - timedelta(hours=1), email=ERASED["email"])
    dsr.apply_pending_requests(now=NOW)

    assert not list(exports.glob("req-access-1.*"))
    assert leaks(campaign) == 0
    statuses = {r["request_id"]: r["status"] for r in dsr.request_log_rows()}
    assert statuses == {"req-access-1": "done", "req-erase-6": "done"}


def test_failed_request_past_its_due_date_is_overdue_and_retried(home: Path):
    build_landing(NOW - timedelta(days=50))
    request("req-old", "erasure", NOW - timedelta(days=40), email=ERASED["email"])
    request("req-new", "erasure", NOW - timedelta(days=2), email=KEPT["email"])
    paths().warehouse.write_bytes(b"not a duckdb file" * 100)  # the warehouse cannot be opened

    run = dsr.apply_pending_requests(now=NOW)

    assert run.failed == 2
    assert run.overdue == 1
    assert run.pending == 1
    log = {r["request_id"]: r for r in dsr.request_log_rows()}
    assert log["req-old"]["status"] == "overdue"
    assert log["req-old"]["note"].startswith("failed:")
    assert log["req-old"]["answered_in_time"] is None
    assert log["req-new"]["status"] == "pending"

    paths().warehouse.unlink()
    dsr.apply_pending_requests(now=NOW + timedelta(hours=1))

    log = {r["request_id"]: r for r in dsr.request_log_rows()}
    assert log["req-old"]["status"] == "done"
    assert log["req-old"]["answered_in_time"] is False
    assert log["req-new"]["status"] == "done"
    assert log["req-new"]["answered_in_time"] is True


def test_unanswered_request_becomes_overdue_after_one_month(home: Path, monkeypatch: pytest.MonkeyPatch):
    request("req-stuck", "access", datetime(2026, 1, 31, 9, tzinfo=UTC), email=KEPT["email"])

    def broken(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(dsr, "export_access", broken)
    dsr.apply_pending_requests(now=datetime(2026, 2, 27, tzinfo=UTC))
    assert dsr.request_log_rows()[0]["status"] == "pending"
    dsr.apply_pending_requests(now=datetime(2026, 3, 1, tzinfo=UTC))
    [row] = dsr.request_log_rows()
    assert row["status"] == "overdue"
    assert row["due_at"] == datetime(2026, 2, 28, 9, tzinfo=UTC)


def test_objection_and_rectification_are_marked_done_for_dbt(home: Path):
    request("req-obj", "objection", NOW - timedelta(days=1), email=KEPT["email"])
    request(
        "req-rect",
        "rectification",
        NOW - timedelta(days=1),
        email=KEPT["email"],
        field="last_name",
        new_value="D",
    )
    request("req-rect-bad", "rectification", NOW - timedelta(days=1), email=KEPT["email"])
    request("req-noid", "erasure", NOW - timedelta(days=1), email="not an e-mail")

    run = dsr.apply_pending_requests(now=NOW)

    log = {r["request_id"]: r for r in dsr.request_log_rows()}
    assert run.done == {"objection": 1, "rectification": 1}
    assert log["req-obj"]["status"] == log["req-rect"]["status"] == "done"
    assert log["req-rect-bad"]["status"] == "rejected"
    assert log["req-noid"]["status"] == "rejected"
    assert log["req-noid"]["note"] == "no_valid_identifier"
    # Objections and rectifications stay landed: dbt applies them.
    assert parquet_rows(home, "dsr/requests/*/*.parquet") == 4


def test_one_month_due_date_clamps_to_the_month_end():
    assert dsr.add_one_month(datetime(2026, 1, 31, tzinfo=UTC)) == datetime(2026, 2, 28, tzinfo=UTC)
    assert dsr.add_one_month(datetime(2026, 12, 15, tzinfo=UTC)) == datetime(2027, 1, 15, tzinfo=UTC)


def test_inbox_scrub_keeps_encoding_bom_and_separator_and_finds_any_spelling(home: Path):
    done = paths().inbox_done / "crm"
    done.mkdir(parents=True)
    sheet = done / "EXPORT.CSV"
    sheet.write_bytes(
        (
            "\ufeffid;nom;telephone\r\n"
            f"12;{KEPT['last_name']};06 98 76 54 32\r\n"
            f"13;{ERASED['last_name']};06.12.34.56.78\r\n"
            f"14;{KEPT['last_name']};\r\n"
        ).encode()
    )
    untouched = done / "other.csv"
    untouched.write_text("id,email\n1,someone@example.org\n", encoding="utf-8")
    before = untouched.stat().st_mtime_ns

    removed = dsr.scrub_inbox(dsr.Subject.of(None, ERASED["phone"]))

    assert removed == 1
    raw = sheet.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfid;nom;telephone\r\n")
    assert raw.count(b"\r\n") == 3
    assert ERASED["last_name"].encode() not in raw
    assert untouched.stat().st_mtime_ns == before


def test_an_erased_person_landed_again_is_swept_before_the_build(campaign: Path, tmp_path_factory):
    request("req-erase-7", "erasure", NOW - timedelta(days=2), email=ERASED["email"])
    backup = tmp_path_factory.mktemp("backup") / "landing"
    shutil.copytree(campaign / "landing", backup)
    dsr.apply_pending_requests(now=NOW - timedelta(days=1))
    assert leaks(campaign) == 0
    # They come back by a path the landing writer's filter does not see: an old backup restored.
    shutil.copytree(backup, campaign / "landing", dirs_exist_ok=True)
    assert leaks(campaign) > 0

    run = dsr.apply_pending_requests(now=NOW)

    assert run.swept_rows == 11  # their 10 rows, and their request, answered already
    assert leaks(campaign) == 0
    assert parquet_rows(campaign, "crm/people/*/*.parquet") == 1  # Bob stays


def test_sweep_does_nothing_without_tombstones(campaign: Path):
    before = {p: p.stat().st_mtime_ns for p in (campaign / "landing").rglob("*.parquet")}

    assert dsr.sweep_tombstoned() == {}
    assert {p: p.stat().st_mtime_ns for p in (campaign / "landing").rglob("*.parquet")} == before


def test_a_request_landed_after_an_erasure_of_the_same_person_still_gets_its_answer(campaign: Path):
    request("req-erase-8", "erasure", NOW - timedelta(days=2), email=ERASED["email"])
    request("req-access-8", "access", NOW - timedelta(days=1), email=ERASED["email"])

    run = dsr.apply_pending_requests(now=NOW)

    assert run.done == {"erasure": 1, "access": 1}
    export = json.loads((dsr.access_exports_dir() / "req-access-8.json").read_text(encoding="utf-8"))
    assert set(export["landing"]) == {"dsr/requests"}  # only the request itself was still held
    assert export["warehouse"] == {}
    # Once answered, the erased person's request row is swept like the rest.
    assert parquet_rows(campaign, "dsr/requests/*/*.parquet") == 0


def test_a_part_replaced_by_its_writer_during_a_rewrite_is_left_alone(home: Path):
    from duckdb.sqltypes import BOOLEAN, VARCHAR

    build_landing(NOW)
    [part] = (home / "landing/events/rsvps").glob("*/*.parquet")
    newer = [_person_row(KEPT, id="r9", event_id="e2", status="going", updated_at=NOW.isoformat())]
    landed_again = []

    def ingest_meanwhile(_value: str) -> bool:  # an ingest task lands the same interval again
        if not landed_again:
            landed_again.append(write_partition(_batch("events", NOW), "rsvps", newer))
        return True

    with duckdb.connect() as con:
        con.create_function("ingest_meanwhile", ingest_meanwhile, [VARCHAR], BOOLEAN, side_effects=True)
        query = f"select * from {dsr.parquet_scan(part)} where ingest_meanwhile(id) and id <> 'r1'"
        with pytest.raises(dsr.PartChangedError):
            dsr.rewrite_part(con, part, query, "erasure")

    assert landed_again == [1]
    assert [r["id"] for r in pq.read_table(part).to_pylist()] == ["r9"]  # the newer landing survives
