"""GDPR rules as SQL: each rule catches its planted violation, with pseudonymous keys only."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from test_gates_support import (
    ERASED_EMAIL,
    NOW,
    PEOPLE,
    build_campaign,
    execute,
    ident_hash,
    key,
)

from socle import landing as landing_module
from socle.config import EXPECTATIONS_DIR, Paths
from socle.dsr import LEDGER_SCHEMA, ledger_path
from socle.gates.catalog import connect_read_only
from socle.gates.core import CheckResult, GateFailure, GateReport, RuleResult, enforce, measure
from socle.gates.quality import CHECKS
from socle.gates.rules import IDENTIFIER_COLUMNS, RULES
from socle.landing import Batch, Rejection, write_partition, write_rejections
from socle.tombstones import TombstoneFilter

IDENTIFIERS = [v for person in PEOPLE.values() for v in person[:2] if v] + [ERASED_EMAIL]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def db(home: Path) -> Path:
    return build_campaign(home)


def violations(db: Path) -> dict[str, int]:
    found = measure(db, now=NOW)
    assert not [r for r, f in found.rules.items() if f.error], "a rule could not be computed"
    return {rule_id: finding.violations for rule_id, finding in found.rules.items()}


def finding(db: Path, rule_id: str):
    return measure(db, now=NOW).rules[rule_id]


def rows_to_read(p: Paths, relation: str, row_id: str, *, stamped: bool) -> list | None:
    """The ids of the rows rule 2's ledger would have it read of an e-mail table (None: none)."""
    from socle.gates.catalog import Catalog
    from socle.gates.rules import Context, _Verified
    from socle.retention import retention_windows

    with connect_read_only(p.build_db) as con:
        ctx = Context(con, Catalog.read(con), p, retention_windows(NOW.date()), NOW)
        where = _Verified(ctx, p.tombstones.read_bytes()).unverified_rows(
            relation, ['"email"'], stamped=stamped
        )
        if where is None:
            return None
        return sorted(r for (r,) in con.execute(f"select {row_id} from {relation} where {where}").fetchall())


def assert_no_identifier(payload: object) -> None:
    text = json.dumps(payload, default=str).lower()
    leaked = [i for i in IDENTIFIERS if i.lower() in text]
    assert not leaked, f"{len(leaked)} identifiers leaked"


def only(counts: dict[str, int], **expected: int) -> None:
    """Exactly the named rules fire, with these counts; every other rule is clean."""
    assert counts == {rule.rule_id: expected.get(rule.rule_id, 0) for rule in RULES}


def test_compliant_campaign_passes_every_rule_and_check(db: Path):
    found = measure(db, now=NOW)
    only(violations(db))
    assert found.check_errors == {}
    assert found.metrics["dq_dim_supporter_rows"] == len(PEOPLE)


def test_contact_list_person_without_current_consent_breaks_rule_1(db: Path):
    execute(
        db,
        "update intermediate.int_consent_current set status = 'withdrawn' where person_key = ? "
        "and purpose = 'email'",
        [key("chloe")],
    )
    execute(
        db, "insert into restricted.contact_list_sms values (?, ?, 'x')", [key("bruno"), PEOPLE["bruno"][1]]
    )
    result = finding(db, "rule_1")
    assert result.violations == 2
    assert set(result.examples) == {key("chloe"), key("bruno")}
    assert result.details == {
        "restricted.contact_list_email: no current granted email consent": 1,
        "restricted.contact_list_sms: no current granted sms consent": 1,
    }
    assert_no_identifier(result.__dict__)


def test_invalid_grant_does_not_count_as_consent(db: Path):
    execute(
        db,
        "update intermediate.int_consent_current set is_valid = false where person_key = ?",
        [key("chloe")],
    )
    assert finding(db, "rule_1").violations == 1


def test_erased_person_found_in_warehouse_landing_and_quarantine_breaks_rule_2(
    db: Path, home: Path, monkeypatch: pytest.MonkeyPatch
):
    p = Paths(home)
    erased = ident_hash(ERASED_EMAIL)
    # An erased person back in landing, quarantine (raw spelling) and the build, as a restored
    # backup would bring them: the landing writer's own tombstone filter is bypassed to plant it.
    monkeypatch.setattr(landing_module, "TombstoneFilter", lambda *_: TombstoneFilter(frozenset()))
    batch = Batch("events", NOW - timedelta(days=1), NOW, "http://127.0.0.1/api")
    write_partition(
        batch,
        "rsvps",
        [
            {
                "id": "r-9",
                "event_id": "e-1",
                "email": ERASED_EMAIL,
                "status": "going",
                "updated_at": NOW.isoformat(),
            }
        ],
        root=p.landing,
    )
    write_rejections(
        batch,
        "rsvps",
        [
            Rejection("bad date", ("updated_at",), {"email": " Gaelle.Roux@Example.org "}),
            Rejection("bad email", ("email",), {"email": "not an address", "phone": "12"}),
        ],
        root=p.landing,
    )
    execute(
        db, "insert into intermediate.int_persons (person_key, email) values (?, ?)", [erased, ERASED_EMAIL]
    )
    result = finding(db, "rule_2")
    assert result.details == {
        "intermediate.int_persons: person_key of an erased person": 1,
        "intermediate.int_persons: email of an erased person": 1,
        "landing events/rsvps: email of an erased person": 1,
        "quarantine events/rsvps: email of an erased person": 1,
    }
    assert result.examples == (erased,)
    assert_no_identifier(result.__dict__)


def test_erasing_a_listed_person_flags_every_table_that_holds_them(db: Path, home: Path):
    from test_gates_support import _tombstones

    _tombstones(Paths(home), [PEOPLE["alice"][0]])
    result = finding(db, "rule_2")
    assert result.examples == (key("alice"),)
    assert result.details["restricted.contact_list_email: email of an erased person"] == 1
    assert result.details["landing crm/people: email of an erased person"] == 1
    assert result.details["marts.supporter_scores: person_key of an erased person"] == 1


def test_erased_phone_is_recognised_whatever_its_spelling(
    db: Path, home: Path, monkeypatch: pytest.MonkeyPatch
):
    from test_gates_support import _tombstones

    p = Paths(home)
    # Planted as a restored backup would bring it back: past the landing writer's own filter.
    monkeypatch.setattr(landing_module, "TombstoneFilter", lambda *_: TombstoneFilter(frozenset()))
    _tombstones(p, [PEOPLE["david"][1]])  # +33612345604, in E.164 in the warehouse and landing
    batch = Batch("signin", NOW - timedelta(days=1), NOW, "file://sheet.csv")
    write_rejections(
        batch,
        "attendance",
        [
            Rejection("no date", ("signed_at",), {"phone": "06.12.34.56.04"}),
            Rejection("no date", ("signed_at",), {"phone": "0033 6 12 34 56 04"}),
        ],
        root=p.landing,
    )
    result = finding(db, "rule_2")
    assert result.details == {
        "intermediate.int_persons: person_key of an erased person": 1,
        "intermediate.int_persons: phone of an erased person": 1,
        "intermediate.int_consent_current: person_key of an erased person": 1,
        "marts.dim_supporter: person_key of an erased person": 1,
        "marts.fct_engagement: person_key of an erased person": 1,
        "restricted.contact_list_sms: person_key of an erased person": 1,
        "restricted.contact_list_sms: phone of an erased person": 1,
        "landing crm/people: phone of an erased person": 1,
        "quarantine signin/attendance: phone of an erased person": 2,
    }
    assert result.examples == (key("david"),)


def test_bare_social_account_of_an_erased_person_is_caught_in_landing_and_warehouse(db: Path, home: Path):
    from test_gates_support import _tombstones

    # alice declared facebook account fb-1001; a tombstone of no kind (another tool's) holds
    # its bare id.
    _tombstones(Paths(home), ["fb-1001"])
    result = finding(db, "rule_2")
    assert result.details == {
        "intermediate.int_social_accounts_linked: account_id of an erased person": 1,
        "landing facebook/comments: from_id of an erased person": 1,
    }
    assert result.examples == (ident_hash("fb-1001"),)


def test_account_tombstoned_by_an_erasure_is_caught_under_its_namespaced_hash(db: Path, home: Path):
    from socle import tombstones

    # What an erasure writes (socle.dsr): the account hashed as "facebook_id:<id>", never bare.
    assert tombstones.add([("facebook_id", "fb-1001")], "req-1") == 1
    namespaced = ident_hash("facebook_id:fb-1001")
    # A ledger written by the gate before it hashed accounts namespaced, which found every
    # landed file clean against these very tombstones, is not trusted.
    p = Paths(home)
    checked = p.tombstones.read_bytes() + json.dumps(IDENTIFIER_COLUMNS, sort_keys=True).encode()
    files = {str(f): [f.stat().st_size, f.stat().st_mtime_ns] for f in p.landing.rglob("*.parquet")}
    ledger = {"checked_against": hashlib.sha256(checked).hexdigest(), "files": files}
    p.build_dir.mkdir(parents=True, exist_ok=True)
    (p.build_dir / "rule_2_verified_files.json").write_text(json.dumps(ledger))
    result = finding(db, "rule_2")
    assert result.details == {
        "intermediate.int_social_accounts_linked: account_id of an erased person": 1,
        "landing facebook/comments: from_id of an erased person": 1,
    }
    assert result.examples == (namespaced,)


def test_rule_2_reads_only_files_new_or_rewritten_since_the_last_clean_run(db: Path, home: Path):
    from test_gates_support import _tombstones

    p = Paths(home)
    people_files = sorted((p.landing / "crm" / "people").rglob("*.parquet"))
    assert finding(db, "rule_2").violations == 0
    ledger = json.loads((p.build_dir / "rule_2_verified_files.json").read_text())
    assert str(people_files[0]) in ledger["files"]

    # A verified file is not read again: garbage of the same size and time goes unnoticed...
    original = people_files[0].read_bytes()
    stat = people_files[0].stat()
    people_files[0].write_bytes(b"\0" * len(original))
    os.utime(people_files[0], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert finding(db, "rule_2").error is None
    # ... but a rewritten one is read (erasure and retention rewrite files): here with Alice back.
    people_files[0].write_bytes(original)
    os.utime(people_files[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    _tombstones(p, [ERASED_EMAIL])  # same list: the ledger still holds
    assert finding(db, "rule_2").violations == 0
    # A new tombstone makes every file suspect again: Alice, erased now, is found in the old file.
    _tombstones(p, [ERASED_EMAIL, PEOPLE["alice"][0]])
    assert finding(db, "rule_2").details["landing crm/people: email of an erased person"] == 1


def test_rule_2_reads_only_the_warehouse_rows_staged_since_the_last_clean_run(db: Path, home: Path):
    from test_gates_support import _tombstones

    p = Paths(home)
    _tombstones(p, [ERASED_EMAIL])
    rsvps, detail = '"staging"."stg_events__rsvps"', "staging.stg_events__rsvps: email of an erased person"
    execute(db, f"create table {rsvps} (rsvp_id varchar, email varchar, loaded_at timestamptz)")
    staged = [NOW - timedelta(days=2), NOW - timedelta(days=1)]
    execute(
        db,
        f"insert into {rsvps} values ('r-1', ?, ?), ('r-2', ?, ?)",
        [PEOPLE["alice"][0], staged[0], PEOPLE["chloe"][0], staged[1]],
    )
    assert finding(db, "rule_2").violations == 0
    stamp = json.loads(p.rule_2_ledger.read_text())["tables"][rsvps]
    assert (stamp["bits"], stamp["watermark"]) == (0, int(staged[1].timestamp() * 1_000_000))

    # Unchanged since the clean run: not read at all.
    assert rows_to_read(p, rsvps, "rsvp_id", stamped=True) is None
    # Staged since: only the new row is read, and the erased person in it is found.
    execute(db, f"insert into {rsvps} values ('r-3', ?, ?)", [ERASED_EMAIL, NOW])
    assert rows_to_read(p, rsvps, "rsvp_id", stamped=True) == ["r-3"]
    assert finding(db, "rule_2").details[detail] == 1
    # A run that found something remembers nothing: the next one reads r-3 again.
    assert finding(db, "rule_2").details[detail] == 1
    # An old row rewritten in place (a restored copy of the table) changes the fingerprint of
    # the rows found clean: the whole table is read again.
    execute(db, f"delete from {rsvps} where rsvp_id = 'r-3'")
    assert finding(db, "rule_2").violations == 0
    execute(db, f"update {rsvps} set email = ? where rsvp_id = 'r-1'", [ERASED_EMAIL])
    assert rows_to_read(p, rsvps, "rsvp_id", stamped=True) == ["r-1", "r-2"]
    assert finding(db, "rule_2").details[detail] == 1


def test_rule_2_reads_again_only_the_buckets_of_a_rebuilt_table_that_changed(db: Path, home: Path):
    from test_gates_support import _tombstones

    p = Paths(home)
    _tombstones(p, [ERASED_EMAIL])
    # A table rebuilt every run, with no load time: 1 000 people, 32 buckets of ~31.
    people, detail = '"intermediate"."int_people"', "intermediate.int_people: email of an erased person"
    emails = "select i, 'person' || i || '@example.org' as email from range(1000) r(i)"
    execute(db, f"create table {people} as {emails}")
    assert finding(db, "rule_2").violations == 0
    ledger = json.loads(p.rule_2_ledger.read_text())
    assert ledger["tables"][people]["bits"] == 5
    buckets = p.build_dir / ledger["buckets"]
    assert p.rule_2_ledger_files() == [p.rule_2_ledger, buckets]
    # No bucket is one row's hash: 32 fingerprints of ~31 rows, summed.
    sizes = f"select count(*), min(n), sum(n) from read_parquet('{buckets}') where relation = '{people}'"
    [(count, smallest, total)] = duckdb.sql(sizes).fetchall()
    assert (count, total) == (32, 1000)
    assert smallest >= 10

    # Rebuilt the same: nothing read.
    execute(db, f"create or replace table {people} as select * from {people} order by email desc")
    assert rows_to_read(p, people, "i", stamped=False) is None
    # One person's e-mail changed to an erased one: only that person's new bucket and the old
    # one are read, and the erased e-mail is found.
    execute(db, f"update {people} set email = ? where i = 500", [ERASED_EMAIL])
    read = rows_to_read(p, people, "i", stamped=False)
    assert 500 in read
    assert 2 <= len(read) <= 120
    assert finding(db, "rule_2").details == {detail: 1}
    # Back to clean: the ledger is written anew, its old bucket file gone.
    execute(db, f"update {people} set email = 'person500@example.org' where i = 500")
    assert finding(db, "rule_2").violations == 0
    assert not buckets.exists()
    assert len(p.rule_2_ledger_files()) == 2
    assert rows_to_read(p, people, "i", stamped=False) is None
    # A ledger of the version before buckets (same check, no bucket file) or a damaged one
    # vouches for no table: it is read whole, and the rule still runs.
    ledger = json.loads(p.rule_2_ledger.read_text())
    buckets = p.build_dir / ledger["buckets"]
    older = {k: v for k, v in ledger.items() if k != "buckets"}
    bad_watermark = {**ledger, "tables": {people: {**ledger["tables"][people], "watermark": "x"}}}
    for damaged in (older, {**ledger, "buckets": "../x.parquet"}, {**ledger, "tables": []}, bad_watermark):
        p.rule_2_ledger.write_text(json.dumps(damaged))
        assert len(rows_to_read(p, people, "i", stamped=False)) == 1000
    p.rule_2_ledger.write_text(json.dumps(ledger))
    buckets.write_bytes(b"not parquet")
    assert len(rows_to_read(p, people, "i", stamped=False)) == 1000
    assert finding(db, "rule_2").error is None


def test_rule_2_bucket_fingerprints_are_keyed_with_the_pseudonym_secret(
    db: Path, home: Path, monkeypatch: pytest.MonkeyPatch
):
    from test_gates_support import _tombstones

    p = Paths(home)
    _tombstones(p, [ERASED_EMAIL])
    # A table of one row is one bucket of one row: its fingerprint is that row's hash alone.
    member = "member@example.org"
    members = '"intermediate"."int_members"'
    execute(db, f"create table {members} as select 1 as i, ? as email", [member])
    assert finding(db, "rule_2").violations == 0
    buckets = p.build_dir / json.loads(p.rule_2_ledger.read_text())["buckets"]
    stored = f"select n, fingerprint from read_parquet('{buckets}') where relation = '{members}'"
    [(n, fingerprint)] = duckdb.sql(stored).fetchall()
    # Keyed: not the hash anyone can compute from a candidate e-mail.
    with duckdb.connect() as con:
        unkeyed = con.execute(
            "select hash(?::varchar), hash(?::varchar, 'gate rule 2 buckets')", [member, member]
        ).fetchone()
    assert n == 1
    assert fingerprint not in {str(h) for h in unkeyed}
    assert rows_to_read(p, members, "i", stamped=False) is None
    # Another secret gives other fingerprints: what the ledger vouched for is read again.
    monkeypatch.setenv("SOCLE_PSEUDONYM_SECRET", "another-secret-for-this-test")
    assert rows_to_read(p, members, "i", stamped=False) == [1]


def test_rule_2_bucket_ledger_reads_new_rows_beside_changed_buckets_and_follows_renamed_columns(
    db: Path, home: Path
):
    from test_gates_support import _tombstones

    p = Paths(home)
    _tombstones(p, [ERASED_EMAIL])
    # A staged table of 1 000 rows: an old row changes and a new row lands in the same run.
    staged, detail = '"staging"."stg_people"', "staging.stg_people: email of an erased person"
    rows = "select i, 'person' || i || '@example.org', ?::timestamptz from range(1000) r(i)"
    execute(db, f"create table {staged} (i bigint, email varchar, loaded_at timestamptz)")
    execute(db, f"insert into {staged} {rows}", [NOW - timedelta(days=2)])
    assert finding(db, "rule_2").violations == 0
    execute(db, f"update {staged} set email = 'moved@example.org' where i = 10")
    execute(db, f"insert into {staged} values (1000, ?, ?)", [ERASED_EMAIL, NOW])
    assert finding(db, "rule_2").details == {detail: 1}
    execute(db, f"delete from {staged} where i = 1000")
    assert finding(db, "rule_2").violations == 0

    # What an erasure writes: e-mail tombstones only, so an account column is not checked.
    # Renamed to an e-mail column, its values hash the same, but it must be checked now.
    erased = {"identifier_hash": [ident_hash(ERASED_EMAIL)], "kind": ["email"], "erased_at": [str(NOW)]}
    pq.write_table(pa.table(erased), p.tombstones)
    users = '"intermediate"."int_platform_users"'
    execute(db, f"create table {users} as select 'u' || i || '@example.org' as user_id from range(100) r(i)")
    execute(db, f"insert into {users} values (?)", [ERASED_EMAIL])
    assert finding(db, "rule_2").violations == 0
    execute(db, f"create or replace table {users} as select user_id as email from {users}")
    assert finding(db, "rule_2").details == {"intermediate.int_platform_users: email of an erased person": 1}


def test_gates_connection_keeps_the_builds_memory_limit(db: Path, monkeypatch: pytest.MonkeyPatch):
    def setting(con: duckdb.DuckDBPyConnection) -> str:
        return con.execute("select current_setting('memory_limit')").fetchone()[0]

    def limit(**config: str) -> str:
        with duckdb.connect(config=config) as con:
            return setting(con)

    monkeypatch.setenv("SOCLE_DUCKDB_MEMORY", "123MB")
    with connect_read_only(db) as con:
        assert setting(con) == limit(memory_limit="123MB")
    monkeypatch.delenv("SOCLE_DUCKDB_MEMORY")
    with connect_read_only(db) as con:
        assert setting(con) == limit(memory_limit="3GB")
    assert limit(memory_limit="3GB") != limit()  # DuckDB's own default is 80 % of the machine


def test_minor_in_scores_or_with_a_tier_breaks_rule_3(db: Path):
    execute(
        db,
        "insert into marts.supporter_scores values (?, '1', '1', 3, 9, 'sympathisant', ?)",
        [key("emma"), NOW.date()],
    )
    execute(db, "update marts.dim_supporter set tier = 'sympathisant' where person_key = ?", [key("emma")])
    result = finding(db, "rule_3")
    assert result.details == {
        "marts.supporter_scores: person under 18": 1,
        "marts.dim_supporter: under-18 with a tier or score": 1,
    }
    assert result.examples == (key("emma"),)


def test_identifiers_in_analyst_marts_break_rule_4_by_value_and_by_column(db: Path):
    execute(db, "alter table marts.fct_engagement add column note varchar")
    planted = {
        "act-0": "écrire à alice.martin@example.org",
        "act-1": "rappeler au 06 12 34 56 02",
        "act-2": "virement FR76 3000 6000 0112 3456 7890 189",
        "act-3": "habite 12 rue de la République",
        "act-4": "tel +33612345605",
    }
    for action_id, note in planted.items():
        execute(db, "update marts.fct_engagement set note = ? where action_id = ?", [note, action_id])
    execute(db, "create table marts.leak (person_key varchar, telephone varchar)")
    result = finding(db, "rule_4")
    assert result.details == {
        "marts.fct_engagement.note: value looks like an e-mail": 1,
        "marts.fct_engagement.note: value looks like a phone number": 2,
        "marts.fct_engagement.note: value looks like an IBAN": 1,
        "marts.fct_engagement.note: value looks like a street address": 1,
        "marts.leak.telephone: column named like a phone number": 1,
    }
    assert_no_identifier(result.__dict__)


def test_a_key_column_holding_an_identifier_is_shown_only_hashed(db: Path):
    # A model bug: an e-mail where the person key should be.
    execute(
        db,
        "insert into marts.supporter_scores values (?, '1', '1', 4, 3, 'militant', ?)",
        [PEOPLE["chloe"][0], NOW.date()],
    )
    found = measure(db, now=NOW)
    assert found.rules["rule_5"].violations == 1
    assert found.rules["rule_5"].examples[0].startswith("key-")
    assert found.rules["rule_4"].details == {
        "marts.supporter_scores.person_key: value looks like an e-mail": 1
    }
    assert found.metrics["dq_scores_without_supporter"] == 1
    assert_no_identifier({r: f.__dict__ for r, f in found.rules.items()})


def test_ordinary_mart_values_are_not_mistaken_for_identifiers(db: Path):
    execute(db, "alter table marts.fct_engagement add column note varchar")
    harmless = [
        "2026-11-29T06:00:00+01:00",
        "130550101",
        "13055_0001",
        "militant assidu",
        "rue",
        "3 portes",
        "Réunion du 12/10 à 19h30",
        "score 12.5",
    ]
    for index, note in enumerate(harmless):
        execute(
            db, "update marts.fct_engagement set note = ? where action_id = ?", [note, f"act-{index % 6}"]
        )
    assert finding(db, "rule_4").violations == 0


def test_score_or_support_level_without_lawful_basis_breaks_rule_5(db: Path):
    execute(
        db,
        "insert into marts.supporter_scores values (?, '1', '1', 4, 3, 'sympathisant', ?)",
        [key("chloe"), NOW.date()],
    )
    execute(db, "update intermediate.int_persons set support_level = 2 where person_key = ?", [key("david")])
    result = finding(db, "rule_5")
    assert set(result.examples) == {key("chloe"), key("david")}
    assert result.details == {
        "marts.supporter_scores: score/tier/rank_in_bureau without consent or membership": 1,
        "intermediate.int_persons: support_level without consent or membership": 1,
    }


def test_withdrawn_profiling_consent_makes_an_existing_score_a_violation(db: Path):
    assert finding(db, "rule_5").violations == 0
    execute(
        db,
        "update intermediate.int_consent_current set status = 'withdrawn' where person_key = ? "
        "and purpose = 'profiling'",
        [key("bruno")],
    )
    result = finding(db, "rule_5")
    assert result.examples == (key("bruno"),)
    assert result.violations == 2  # the score row and the tier shown in dim_supporter


def test_inactive_person_and_old_comment_text_break_rule_6(db: Path, home: Path):
    execute(
        db,
        "update marts.dim_supporter set last_activity_at = ? where person_key = ?",
        [NOW - timedelta(days=4 * 365), key("chloe")],
    )
    old = NOW - timedelta(days=100)
    batch = Batch("facebook", old - timedelta(days=1), old, "http://127.0.0.1/graph", fetched_at=old)
    write_partition(
        batch,
        "comments",
        [
            {
                "id": "c-old",
                "post_id": "p-1",
                "from_id": "fb-9",
                "message": "Non merci",
                "created_time": old.strftime("%Y-%m-%dT%H:%M:%S+0000"),
            }
        ],
        root=Paths(home).landing,
    )
    write_rejections(
        batch, "comments", [Rejection("no id", ("id",), {"message": "?"})], root=Paths(home).landing
    )
    # The campaign's own old posts are not comments by people.
    write_partition(
        Batch("facebook", old - timedelta(days=1), old, "http://127.0.0.1/graph"),
        "posts",
        [{"id": "p-1", "message": "Meeting", "created_time": old.isoformat()}],
        root=Paths(home).landing,
    )
    result = finding(db, "rule_6")
    assert result.details == {
        "marts.dim_supporter: no activity for more than 36 months": 1,
        "landing facebook/comments: comment text older than 90 days": 1,
        "quarantine facebook/comments: row kept more than 90 days": 1,
    }
    assert key("chloe") in result.examples


def test_prospects_kept_after_the_campaign_ended_break_rule_6(db: Path, monkeypatch: pytest.MonkeyPatch):
    assert finding(db, "rule_6").violations == 0
    monkeypatch.setenv("SOCLE_CAMPAIGN_END", (NOW - timedelta(days=1)).date().isoformat())
    execute(db, "delete from marts.fct_engagement where person_key = ?", [key("farid")])
    result = finding(db, "rule_6")
    # farid withdrew his only consent and never came to anything: a prospect, now past his window.
    assert result.examples == (key("farid"),)
    assert result.violations == 1


def test_social_link_or_social_action_without_matching_consent_breaks_rule_7(db: Path):
    execute(
        db,
        "insert into intermediate.int_social_accounts_linked values ('x', 'x-77', ?, 'declared_handle')",
        [key("chloe")],
    )
    execute(
        db,
        "insert into marts.fct_engagement values ('act-x', ?, null, 'x_retweet', 1, ?, ?)",
        [key("bruno"), NOW, NOW.date()],
    )
    result = finding(db, "rule_7")
    assert set(result.examples) == {key("chloe"), key("bruno")}
    assert result.violations == 2


def test_request_open_past_one_month_breaks_rule_8_until_answered(db: Path, home: Path):
    execute(
        db,
        "insert into staging.stg_dsr__requests values ('dsr-1', 'erasure', ?, null, ?)",
        [PEOPLE["chloe"][0], NOW - timedelta(days=40)],
    )
    execute(
        db,
        "insert into staging.stg_dsr__requests values ('dsr-2', 'access', ?, null, ?)",
        [PEOPLE["bruno"][0], NOW - timedelta(days=10)],
    )
    result = finding(db, "rule_8")
    assert (result.violations, result.examples) == (1, ("dsr-1",))
    assert result.details == {"erasure request open past its due date": 1}
    # The ledger socle.dsr keeps: the request was answered (its landed row may be gone).
    answered = {
        "request_id": "dsr-1",
        "request_type": "erasure",
        "received_at": NOW - timedelta(days=40),
        "due_at": NOW - timedelta(days=10),
        "done_at": NOW - timedelta(days=12),
        "status": "done",
    }
    pq.write_table(pa.Table.from_pylist([answered], schema=LEDGER_SCHEMA), ledger_path())
    assert finding(db, "rule_8").violations == 0


def test_request_reference_that_could_be_personal_is_hashed(db: Path):
    # A volunteer typed the requester's phone as the id and their e-mail as the type.
    execute(
        db,
        "insert into staging.stg_dsr__requests values ('0612345602', ?, null, null, ?)",
        [PEOPLE["bruno"][0], NOW - timedelta(days=40)],
    )
    result = finding(db, "rule_8")
    assert result.violations == 1
    assert result.examples[0].startswith("request-")
    assert result.details == {"unrecognised request open past its due date": 1}
    assert_no_identifier(result.__dict__)
    assert "0612345602" not in json.dumps(result.__dict__)


def test_ledger_request_still_pending_past_due_breaks_rule_8(db: Path):
    pending = {
        "request_id": "dsr-5",
        "request_type": "access",
        "received_at": NOW - timedelta(days=45),
        "due_at": NOW - timedelta(days=15),
        "status": "overdue",
    }
    pq.write_table(pa.Table.from_pylist([pending], schema=LEDGER_SCHEMA), ledger_path())
    result = finding(db, "rule_8")
    assert (result.violations, result.examples) == (1, ("dsr-5",))


def test_objector_or_opted_out_person_in_a_list_breaks_rule_9(db: Path):
    execute(
        db, "insert into restricted.contact_list_email values (?, ?, 'x')", [key("farid"), PEOPLE["farid"][0]]
    )
    # An objection request the models missed is still caught: the request names the person.
    execute(
        db,
        "insert into staging.stg_dsr__requests values ('dsr-3', 'objection', null, ?, ?)",
        [PEOPLE["david"][1], NOW - timedelta(days=2)],
    )
    result = finding(db, "rule_9")
    assert result.details == {
        "restricted.contact_list_email: person who objected": 1,
        "restricted.contact_list_email: person who opted out of email": 1,
        "restricted.contact_list_sms: person who objected": 1,
    }
    assert set(result.examples) == {key("farid"), key("david")}
    counts = violations(db)
    assert counts["rule_1"] == 1  # farid has no email grant either


def test_rule_that_cannot_be_computed_fails_closed_without_quoting_data(db: Path):
    # A consent table whose purpose is not text: the comparison fails at run time.
    execute(db, "alter table intermediate.int_consent_current alter purpose type integer using 1")
    found = measure(db, now=NOW)
    assert found.rules["rule_1"].error
    assert found.rules["rule_1"].count is None
    assert_no_identifier(found.rules["rule_1"].__dict__)


def test_a_missing_warehouse_is_an_explicit_error(home: Path):
    with pytest.raises(FileNotFoundError, match="no build database"):
        measure(home / "build" / "warehouse.duckdb", now=NOW)


def test_suites_name_every_rule_and_check_and_severities_are_committed():
    gdpr = json.loads((EXPECTATIONS_DIR / "gdpr.json").read_text())
    quality = json.loads((EXPECTATIONS_DIR / "data_quality.json").read_text())
    assert [e["kwargs"]["column"] for e in gdpr["expectations"]] == [r.column for r in RULES]
    assert [e["meta"]["rule_id"] for e in gdpr["expectations"]] == [r.rule_id for r in RULES]
    assert all(
        e["kwargs"] == {"column": e["kwargs"]["column"], "min_value": 0, "max_value": 0}
        for e in gdpr["expectations"]
    )
    assert [e["kwargs"]["column"] for e in quality["expectations"]] == [c.check_id for c in CHECKS]
    severities = yaml.safe_load((EXPECTATIONS_DIR / "severity.yml").read_text())["data_quality"]
    assert set(severities) == {c.check_id for c in CHECKS}
    assert set(severities.values()) <= {"fail", "warn"}


def test_rules_read_the_build_while_another_reader_holds_it_open(db: Path):
    # Another process (an analyst, a second check) has the build open read-only: the rules
    # never ask for the writer's lock, so they run beside it.
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(db)!r}, read_only=True); "
            "print('open', flush=True); sys.stdin.readline()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "open"
        only(violations(db))
    finally:
        reader.communicate("done\n", timeout=30)


def test_failure_message_names_each_failing_rule_and_check_with_counts_only():
    rules = tuple(
        RuleResult(
            r.rule_id,
            r.number,
            r.name,
            passed=r.number not in (1, 4),
            violations={1: 3, 4: 0}.get(r.number, 0),
            error="ConversionException" if r.number == 4 else None,
        )
        for r in RULES
    )
    checks = (
        CheckResult("dq_a", "people listed twice", "fail", False, 2.0, "0"),
        CheckResult("dq_b", "freshness", "warn", False, 40.0, "between 0 and 14"),
    )
    report = GateReport("run", NOW, Path("build.duckdb"), rules, checks)
    with pytest.raises(GateFailure) as failure:
        enforce(report)
    assert str(failure.value) == (
        "GDPR gate failed: rule 1 (contact lists hold only consented people): 3 rows; "
        "rule 4 (no direct identifiers in analyst schemas): could not be computed (ConversionException); "
        "check dq_a (people listed twice): observed 2, expected 0"
    )


def test_suite_explanations_match_the_rules():
    gdpr = json.loads((EXPECTATIONS_DIR / "gdpr.json").read_text())
    assert [e["meta"]["explanation"] for e in gdpr["expectations"]] == [r.explanation for r in RULES]
