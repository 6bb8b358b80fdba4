"""A small, compliant campaign built directly in DuckDB and the landing zone (no dbt).

The gates' tests start from this clean state, plant one violation, and prove the rule that
must catch it does. Columns follow docs/contracts.md §5. The people are invented; tests
assert counts and person keys, never print a record.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from socle.config import Paths, pseudonym_secret
from socle.identity import keyed_hash
from socle.landing import Batch, write_partition

NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
TODAY = NOW.date()
# name: (email, phone, age, member, objector)
PEOPLE = {
    "alice": ("alice.martin@example.org", "+33612345601", 44, True, False),
    "bruno": ("bruno.petit@example.org", "+33612345602", 31, False, False),
    "chloe": ("chloe.durand@example.org", None, 27, False, False),
    "david": (None, "+33612345604", 58, False, False),
    "emma": ("emma.leroy@example.org", "+33612345605", 16, False, False),
    "farid": ("farid.benali@example.org", "+33612345606", 39, False, True),
}
# Current consent per person: (purpose, status, lawful_basis).
CONSENTS = {
    "alice": [
        ("email", "granted", "membership"),
        ("sms", "granted", "membership"),
        ("social_matching", "granted", "consent"),
    ],
    "bruno": [("email", "granted", "consent"), ("profiling", "granted", "consent")],
    "chloe": [("email", "granted", "consent")],
    "david": [("sms", "granted", "consent")],
    "emma": [("email", "granted", "consent")],
    "farid": [("email", "withdrawn", "consent")],
}
SCORED = ("alice", "bruno")
EMAIL_LIST = ("alice", "bruno", "chloe")
SMS_LIST = ("alice", "david")
ERASED_EMAIL = "gaelle.roux@example.org"


def key(name: str) -> str:
    """The person key of an invented person (HMAC of the anchor identifier)."""
    email, phone, *_ = PEOPLE[name]
    return keyed_hash(email or phone, pseudonym_secret())


def ident_hash(identifier: str) -> str:
    return keyed_hash(identifier, pseudonym_secret())


def build_campaign(home: Path) -> Path:
    """Create the build database and landing zone of a compliant campaign; returns the DB path."""
    p = Paths(home)
    p.build_dir.mkdir(parents=True, exist_ok=True)
    db = p.build_db
    with duckdb.connect(str(db)) as con:
        for schema in ("staging", "intermediate", "marts", "restricted"):
            con.execute(f"create schema {schema}")
        con.execute(
            """create table intermediate.int_persons (person_key varchar, email varchar, phone varchar,
            first_name varchar, last_name varchar, birth_date date, age integer, is_minor boolean,
            is_member boolean, leads_cell boolean, is_objector boolean, support_level integer,
            last_seen_at timestamptz)"""
        )
        con.execute(
            """create table intermediate.int_consent_current (person_key varchar, purpose varchar,
            status varchar, lawful_basis varchar, wording_version varchar, occurred_at timestamptz,
            is_valid boolean)"""
        )
        con.execute(
            "create table intermediate.int_social_accounts_linked "
            "(platform varchar, account_id varchar, person_key varchar, link_basis varchar)"
        )
        con.execute(
            """create table marts.dim_supporter (person_key varchar, tier varchar, commune_code varchar,
            iris_code varchar, bureau_code varchar, is_member boolean, age_band varchar,
            has_consent_email boolean, has_consent_sms boolean, has_consent_phone boolean,
            has_consent_canvassing boolean, has_consent_profiling boolean,
            has_consent_social_matching boolean, is_objector boolean, first_seen_at timestamptz,
            last_activity_at timestamptz)"""
        )
        con.execute(
            """create table marts.supporter_scores (person_key varchar, bureau_code varchar,
            iris_code varchar, score double, rank_in_bureau integer, tier varchar, as_of_date date)"""
        )
        con.execute(
            """create table marts.fct_engagement (action_id varchar, person_key varchar, event_id varchar,
            action_type varchar, points double, event_at timestamptz, event_date date)"""
        )
        con.execute(
            "create table restricted.contact_list_email "
            "(person_key varchar, email varchar, first_name varchar)"
        )
        con.execute(
            "create table restricted.contact_list_sms (person_key varchar, phone varchar, first_name varchar)"
        )
        con.execute(
            """create table staging.stg_dsr__requests (request_id varchar, request_type varchar,
            email varchar, phone varchar, received_at timestamptz)"""
        )
        recent = NOW - timedelta(days=3)
        for index, (name, (email, phone, age, member, objector)) in enumerate(PEOPLE.items()):
            k = key(name)
            birth = TODAY.replace(year=TODAY.year - age) - timedelta(days=10)
            con.execute(
                "insert into intermediate.int_persons values (?, ?, ?, ?, ?, ?, ?, ?, ?, false, ?, ?, ?)",
                [
                    k,
                    email,
                    phone,
                    name.title(),
                    "Test",
                    birth,
                    age,
                    age < 18,
                    member,
                    objector,
                    1 if member else None,
                    recent,
                ],
            )
            purposes = {purpose for purpose, _, _ in CONSENTS[name]}
            for purpose, status, basis in CONSENTS[name]:
                con.execute(
                    "insert into intermediate.int_consent_current values (?, ?, ?, ?, 'v1', ?, true)",
                    [k, purpose, status, basis, recent],
                )
            band = "under_18" if age < 18 else "25_34"
            tier = "militant" if name in SCORED else None
            con.execute(
                "insert into marts.dim_supporter values (?, ?, '13055', '130550101', '1305500"
                + str(index)
                + "', ?, ?, ?, ?, false, false, ?, ?, ?, ?, ?)",
                [
                    k,
                    tier,
                    member,
                    band,
                    "email" in purposes and name != "farid",
                    "sms" in purposes,
                    "profiling" in purposes,
                    "social_matching" in purposes,
                    objector,
                    recent,
                    recent,
                ],
            )
            con.execute(
                "insert into marts.fct_engagement values (?, ?, 'evt-1', 'attendance', 5, ?, ?)",
                [f"act-{index}", k, recent, recent.date()],
            )
        for rank, name in enumerate(SCORED, start=1):
            con.execute(
                "insert into marts.supporter_scores "
                "values (?, '130550001', '130550101', ?, ?, 'militant', ?)",
                [key(name), 20.0 - rank, rank, TODAY],
            )
        for name in EMAIL_LIST:
            con.execute(
                "insert into restricted.contact_list_email values (?, ?, ?)",
                [key(name), PEOPLE[name][0], name],
            )
        for name in SMS_LIST:
            con.execute(
                "insert into restricted.contact_list_sms values (?, ?, ?)", [key(name), PEOPLE[name][1], name]
            )
        con.execute(
            "insert into intermediate.int_social_accounts_linked "
            "values ('facebook', 'fb-1001', ?, 'declared_handle')",
            [key("alice")],
        )
        con.execute(
            "insert into marts.fct_engagement values ('act-fb', ?, null, 'facebook_comment', 1, ?, ?)",
            [key("alice"), recent, recent.date()],
        )
    _land(p)
    _tombstones(p, [ERASED_EMAIL])
    return db


def _land(p: Paths) -> None:
    batch = Batch("crm", NOW - timedelta(days=1), NOW, "file://people.csv", part="people")
    people = [
        {
            "crm_id": f"crm-{i}",
            "email": email,
            "phone": phone,
            "first_name": name,
            "updated_at": NOW.isoformat(),
        }
        for i, (name, (email, phone, *_)) in enumerate(PEOPLE.items())
    ]
    write_partition(batch, "people", people, root=p.landing)
    comments = Batch("facebook", NOW - timedelta(days=1), NOW, "http://127.0.0.1/graph")
    write_partition(
        comments,
        "comments",
        [
            {
                "id": "c-1",
                "post_id": "p-1",
                "from_id": "fb-1001",
                "message": "Bravo !",
                "created_time": (NOW - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S+0000"),
            }
        ],
        root=p.landing,
    )


def _tombstones(p: Paths, identifiers: list[str]) -> None:
    p.compliance_store.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "identifier_hash": [ident_hash(i) for i in identifiers],
            "erased_at": [NOW.isoformat()] * len(identifiers),
        }
    )
    pq.write_table(table, p.compliance_store / "tombstones.parquet")


def execute(db: Path, sql: str, params: list | None = None) -> None:
    """Plant something in the build database."""
    with duckdb.connect(str(db)) as con:
        con.execute(sql, params or [])
