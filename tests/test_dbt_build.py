"""The dbt project built for real on a small fixture campaign landed with ``write_partition``.

The campaign plants every case the marts must get right: one person written three ways
(e-mail spelling, phone format), a withdrawn SMS consent, a minor, a member activist, a
grant without wording version, an objector, an erased person, a household phone shared by
two people and an engaged person with no lawful basis for profiling. Assertions use
counts and pseudonymous keys only.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from socle import warehouse
from socle.config import DBT_PROJECT_DIR, paths
from socle.dbt_plugin import register_udfs
from socle.identity import keyed_hash
from socle.landing import Batch, write_partition

SECRET = "fixture-secret-not-a-real-one"
AS_OF = date(2026, 11, 28)

pytestmark = pytest.mark.integration


def key(identifier: str) -> str:
    return keyed_hash(identifier, SECRET)


ALICE = "alice.martin@example.org"  # member activist, three spellings, withdrew SMS
BOB = "bob@example.org"  # profiling consent, SMS opt-in
CHLOE = "chloe@example.org"  # minor with a valid e-mail opt-in
DAVID = "david@example.org"  # e-mail grant without wording version
EVE = "eve@example.org"  # sign-in sheet only, ticked the e-mail box
GASTON = "gaston@example.org"  # erased: tombstoned
HUGO = "hugo@example.org"  # shares a landline with Ines
INES = "ines@example.org"
JULES = "jules@example.org"  # objected
KARIM = "karim@example.org"  # very engaged, no lawful basis for profiling
ALICE_PHONE = "+33612345678"
BOB_PHONE = "+33611111111"
HOUSEHOLD_PHONE = "+33155555555"


def _batch(source: str, day: date, fetched: datetime | None = None) -> Batch:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return Batch(
        source=source,
        interval_start=start,
        interval_end=start.replace(hour=23, minute=59),
        source_uri=f"fixture://{source}",
        fetched_at=fetched or start.replace(hour=23, minute=59),
    )


def _person(crm_id: str, email: str | None, phone: str | None, **attrs: object) -> dict[str, object]:
    return {
        "crm_id": crm_id,
        "first_name": attrs.pop("first_name", crm_id.title()),
        "last_name": "Fixture",
        "email": email,
        "phone": phone,
        "birth_date": attrs.pop("birth_date", "1985-06-15"),
        "address": "1 rue de la Paix",
        "postal_code": "92160",
        "city": "Antony",
        "commune_code": "92002",
        "iris_code": "920020101",
        "bureau_code": attrs.pop("bureau_code", "0001"),
        "is_member": attrs.pop("is_member", False),
        "leads_cell": False,
        "source": "web_form",
        "created_at": "2026-09-01T10:00:00+02:00",
        "updated_at": attrs.pop("updated_at", "2026-10-01T10:00:00+02:00"),
        **attrs,
    }


def _consent(
    consent_id: str,
    email: str | None,
    purpose: str,
    status: str = "granted",
    occurred_at: str = "2026-10-01T12:00:00+02:00",
    wording: str | None = "web-v2",
    phone: str | None = None,
    basis: str = "consent",
) -> dict[str, object]:
    return {
        "consent_id": consent_id,
        "email": email,
        "phone": phone,
        "purpose": purpose,
        "status": status,
        "lawful_basis": basis,
        "wording_version": wording,
        "source": "web_form",
        "occurred_at": occurred_at,
    }


def land_campaign(home: Path) -> None:
    """Land the fixture campaign under ``home/landing`` and its tombstone list."""
    crm = _batch("crm", date(2026, 10, 1))
    write_partition(
        crm,
        "people",
        [
            # Alice as the CRM has her: odd case and spaces, phone in national format.
            _person(
                "c1",
                " Alice.Martin@Example.ORG ",
                "06 12 34 56 78",
                is_member=True,
                support_level="1",
                facebook_id="fb-alice",
                first_name="Alice",
            ),
            _person("c2", BOB, "06.11.11.11.11", first_name="Bob"),
            _person("c3", CHLOE, None, birth_date="2012-03-01"),
            _person("c4", DAVID, None),
            _person("c5", GASTON, None),
            _person("c6", HUGO, "01 55 55 55 55"),
            _person("c7", INES, "01 55 55 55 55"),
            _person("c8", JULES, None),
            _person("c9", KARIM, None, facebook_id="fb-karim", support_level="2"),
        ],
    )
    write_partition(
        crm,
        "consents",
        [
            _consent("k1", ALICE, "email"),
            _consent("k2", ALICE, "sms", phone=ALICE_PHONE, occurred_at="2026-10-01T12:00:00+02:00"),
            _consent("k3", ALICE, "sms", status="withdrawn", occurred_at="2026-11-10T09:00:00+01:00"),
            _consent("k4", ALICE, "social_matching"),
            _consent("k5", BOB, "email"),
            _consent("k6", BOB, "sms", phone=BOB_PHONE),
            _consent("k7", BOB, "profiling"),
            _consent("k8", CHLOE, "email"),
            _consent("k9", CHLOE, "profiling"),
            _consent("k10", DAVID, "email", wording=None),
            _consent("k11", GASTON, "email"),
            _consent("k12", JULES, "email"),
            _consent("k13", KARIM, "email"),
            _consent("k14", KARIM, "social_matching"),
        ],
    )
    # A later CRM export repeats Bob with a new first name: the latest fetch wins.
    later = _batch("crm", date(2026, 11, 1))
    write_partition(
        later,
        "people",
        [_person("c2", BOB, "06.11.11.11.11", first_name="Robert", updated_at="2026-11-01T10:00:00+01:00")],
    )

    events = _batch("events", date(2026, 11, 1))
    write_partition(
        events,
        "events",
        [
            {
                "id": "e1",
                "title": "Réunion publique",
                "kind": "public_meeting",
                "starts_at": "2026-11-20T19:00:00+01:00",
                "bureau_code": "0001",
                "updated_at": "2026-11-01T10:00:00+01:00",
            },
        ],
    )
    write_partition(
        events,
        "rsvps",
        [
            # Alice again, as typed on the event platform (no phone).
            {
                "id": "r1",
                "event_id": "e1",
                "email": "ALICE.martin@example.org",
                "first_name": "Alice",
                "status": "going",
                "attended": True,
                "checked_in_at": "2026-11-20T19:05:00+01:00",
                "volunteer": True,
                "role": "accueil",
                "updated_at": "2026-11-15T10:00:00+01:00",
            },
            {
                "id": "r2",
                "event_id": "e1",
                "email": KARIM,
                "status": "going",
                "attended": True,
                "checked_in_at": "2026-11-20T19:10:00+01:00",
                "volunteer": True,
                "updated_at": "2026-11-15T10:00:00+01:00",
            },
        ],
    )
    signin = _batch("signin", date(2026, 11, 20))
    write_partition(
        signin,
        "attendance",
        [
            # Alice a third time: phone only, international format; same event as her RSVP.
            {
                "sheet": "reunion-20.csv",
                "row_number": 1,
                "event_id": "e1",
                "signed_at": "2026-11-20T19:00:00+01:00",
                "first_name": "Alice",
                "phone": "+33 6 12 34 56 78",
                "optin_email": "non",
                "optin_sms": "non",
            },
            {
                "sheet": "reunion-20.csv",
                "row_number": 2,
                "event_id": "e1",
                "signed_at": "2026-11-20T19:00:00+01:00",
                "first_name": "Eve",
                "email": EVE,
                "phone": "pas de tel",  # unparseable: null, the row still counts
                "optin_email": "oui",
                "optin_sms": "non",
            },
        ],
    )
    facebook = _batch("facebook", date(2026, 11, 21))
    write_partition(
        facebook,
        "comments",
        [
            {
                "id": "fc1",
                "post_id": "p1",
                "from_id": "fb-alice",
                "from_name": "A",
                "message": "Bravo",
                "created_time": "2026-11-21T08:00:00+0000",
            },
            {
                "id": "fc2",
                "post_id": "p1",
                "from_id": "fb-stranger",
                "from_name": "S",
                "message": "Bof",
                "created_time": "2026-11-21T09:00:00+0000",
            },
        ],
    )
    dsr = _batch("dsr", date(2026, 11, 5))
    write_partition(
        dsr,
        "requests",
        [
            {
                "request_id": "d1",
                "type": "objection",
                "email": JULES,
                "received_at": "2026-11-05T10:00:00+01:00",
            },
            {
                "request_id": "d2",
                "type": "rectification",
                "email": BOB,
                "received_at": "2026-11-06T10:00:00+01:00",
                "field": "first_name",
                "new_value": "Bobby",
            },
        ],
    )
    # Gaston erased; and an erased person's declared Facebook account, as socle.tombstones writes it.
    write_tombstones(home, [GASTON, "facebook_id:fb-stranger"])


def write_tombstones(home: Path, identifiers: list[str]) -> None:
    target = home / "compliance" / "tombstones.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "identifier_hash": [key(i) for i in identifiers],
            "erased_at": [datetime(2026, 11, 25, tzinfo=UTC)] * len(identifiers),
        }
    )
    pq.write_table(table, target)


@pytest.fixture(scope="module")
def built_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real build of the fixture campaign, shared by the assertions below."""
    home = tmp_path_factory.mktemp("socle_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOCLE_HOME", str(home))
        mp.setenv("SOCLE_PSEUDONYM_SECRET", SECRET)
        land_campaign(home)
        result = warehouse.build(as_of=AS_OF)
        assert result.success
        shutil.copy2(result.target_dir / "run_results.json", home / "first_build_results.json")
        shutil.copy2(paths().build_db, paths().warehouse)  # publish, as the gate DAG would
    return home


@pytest.fixture
def home_copy(built_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the built home, set as the data home, for a test that builds again."""
    home = tmp_path / "home"
    shutil.copytree(built_home, home)
    monkeypatch.setenv("SOCLE_HOME", str(home))
    monkeypatch.setenv("SOCLE_PSEUDONYM_SECRET", SECRET)
    return home


def query(home: Path, sql: str) -> list[tuple]:
    """Read the build database as an analyst would: read-only, with the identifier functions registered."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOCLE_PSEUDONYM_SECRET", SECRET)
        con = register_udfs(duckdb.connect(str(home / "build" / "warehouse.duckdb"), read_only=True))
    with con:
        return con.execute(sql).fetchall()


def keys(home: Path, relation: str) -> set[str]:
    return {row[0] for row in query(home, f"select person_key from {relation}")}


def test_build_passes_every_dbt_test_and_unit_test(built_home: Path) -> None:
    results = json.loads((built_home / "first_build_results.json").read_text())["results"]
    statuses = Counter((r["unique_id"].split(".")[0], r["status"]) for r in results)
    assert statuses[("unit_test", "pass")] >= 3
    assert statuses[("test", "pass")] >= 100
    assert not [r["unique_id"] for r in results if r["status"] not in ("success", "pass", "no-op")]


def test_every_built_column_is_documented(built_home: Path) -> None:
    documented: dict[str, set[str]] = {}
    for path in DBT_PROJECT_DIR.glob("*/**/*.yml"):
        spec = yaml.safe_load(path.read_text())
        for node in [*(spec.get("models") or []), *(spec.get("snapshots") or []), *(spec.get("seeds") or [])]:
            documented[node["name"]] = {column["name"] for column in node.get("columns", [])}
    built: dict[str, set[str]] = {}
    for table, column in query(
        built_home,
        "select table_name, column_name from information_schema.columns "
        "where table_schema in ('staging', 'intermediate', 'marts', 'restricted')",
    ):
        built.setdefault(table, set()).add(column)
    assert set(built) <= set(documented)
    assert {
        table: columns ^ documented[table] for table, columns in built.items() if columns ^ documented[table]
    } == {}


def test_one_person_despite_email_spelling_and_phone_format(built_home: Path) -> None:
    rows = query(
        built_home,
        f"select count(*), max(record_count) from intermediate.int_persons where person_key = '{key(ALICE)}'",
    )
    assert rows == [(1, 4 + 3)]  # CRM row, 4 ledger rows, RSVP, sign-in line
    identity = query(
        built_home,
        f"select count(distinct person_key) from intermediate.int_identity "
        f"where person_key = '{key(ALICE)}' or identifier = '{ALICE_PHONE}'",
    )
    assert identity == [(1,)]


def test_shared_household_phone_does_not_merge_two_people(built_home: Path) -> None:
    assert {key(HUGO), key(INES)} <= keys(built_home, "marts.dim_supporter")
    conflicts = query(
        built_home, "select identifier_hash, distinct_email_count from intermediate.int_identity_conflicts"
    )
    assert conflicts == [(key(HOUSEHOLD_PHONE), 2)]


def test_persons_count_excludes_the_erased_person(built_home: Path) -> None:
    persons = keys(built_home, "marts.dim_supporter")
    assert len(persons) == 9
    assert key(GASTON) not in persons
    for relation in (
        "intermediate.int_persons",
        "restricted.contact_list_email",
        "intermediate.int_consent_events",
    ):
        assert key(GASTON) not in keys(built_home, relation)


def test_email_list_holds_only_valid_adult_unobjected_opt_ins(built_home: Path) -> None:
    # Chloe is a minor, David's grant has no wording version, Jules objected, Gaston is erased.
    assert keys(built_home, "restricted.contact_list_email") == {key(ALICE), key(BOB), key(EVE), key(KARIM)}


def test_withdrawn_sms_consent_removes_person_from_sms_list(built_home: Path) -> None:
    assert keys(built_home, "restricted.contact_list_sms") == {key(BOB)}
    state = query(
        built_home,
        f"select status, is_valid, is_granted from intermediate.int_consent_current "
        f"where person_key = '{key(ALICE)}' and purpose = 'sms'",
    )
    assert state == [("withdrawn", True, False)]


def test_grant_without_wording_version_is_invalid(built_home: Path) -> None:
    state = query(
        built_home,
        f"select status, is_valid from intermediate.int_consent_current "
        f"where person_key = '{key(DAVID)}' and purpose = 'email'",
    )
    assert state == [("granted", False)]
    flags = query(
        built_home, f"select has_consent_email from marts.dim_supporter where person_key = '{key(DAVID)}'"
    )
    assert flags == [(False,)]


def test_rectification_request_overrides_the_sources(built_home: Path) -> None:
    # Bob's CRM first name changed to Robert on a later export; he then asked to be called Bobby.
    rows = query(
        built_home, f"select first_name from restricted.contact_list_email where person_key = '{key(BOB)}'"
    )
    assert rows == [("Bobby",)]


def test_signin_optin_is_a_consent_event_with_signin_wording(built_home: Path) -> None:
    state = query(
        built_home,
        f"select status, wording_version, is_granted from intermediate.int_consent_current "
        f"where person_key = '{key(EVE)}'",
    )
    assert state == [("granted", "signin-v1", True)]


def test_scores_only_for_members_or_profiling_consent_and_adults(built_home: Path) -> None:
    # Alice is a member, Bob consented to profiling; Chloe consented but is a minor; Karim
    # is engaged but has no lawful basis for profiling.
    rows = query(built_home, "select person_key, profiling_basis, as_of_date from marts.supporter_scores")
    assert {(r[0], r[1]) for r in rows} == {(key(ALICE), "membership"), (key(BOB), "consent")}
    assert {r[2] for r in rows} == {AS_OF}
    tiers = dict(query(built_home, "select person_key, tier from marts.dim_supporter where tier is not null"))
    assert set(tiers) == {key(ALICE), key(BOB)}


def test_support_level_kept_only_with_a_lawful_basis(built_home: Path) -> None:
    levels = dict(query(built_home, "select person_key, support_level from intermediate.int_persons"))
    assert levels[key(ALICE)] == 1  # member
    assert levels[key(KARIM)] is None  # given in the CRM, but no membership or profiling consent
    columns = {r[0] for r in query(built_home, "describe intermediate.int_person_records_resolved")}
    assert "support_level" not in columns


def test_attendance_counted_once_and_social_actions_only_through_declared_handles(built_home: Path) -> None:
    actions = query(
        built_home,
        f"select action_type, count(*) from marts.fct_engagement "
        f"where person_key = '{key(ALICE)}' group by 1",
    )
    assert dict(actions) == {"rsvp": 1, "attendance": 1, "volunteer_shift": 1, "facebook_comment": 1}
    # The stranger's comment is nobody's action.
    assert query(
        built_home, "select count(*) from marts.fct_engagement where action_id = 'fb_comment:fc2'"
    ) == [(0,)]


def test_erased_social_account_is_filtered_from_staging(built_home: Path) -> None:
    comments = query(built_home, "select account_id from staging.stg_facebook__comments")
    assert comments == [("fb-alice",)]


def test_marts_hold_no_direct_identifiers(built_home: Path) -> None:
    for table in ("dim_supporter", "supporter_scores", "fct_engagement"):
        columns = {r[0] for r in query(built_home, f"describe marts.{table}")}
        assert not columns & {
            "email",
            "phone",
            "first_name",
            "last_name",
            "address",
            "birth_date",
            "facebook_id",
        }
    ages = dict(query(built_home, "select person_key, age_band from marts.dim_supporter"))
    assert ages[key(CHLOE)] == "under_18"
    assert ages[key(EVE)] == "unknown"


def test_incremental_rerun_is_stable_and_forgets_a_newly_erased_person(
    built_home: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(built_home, home)
    snapshot_sql = {
        "scores": "select person_key, score, rank_in_bureau, tier from marts.supporter_scores order by 1",
        "engagement": "select person_key, action_id, points, event_at from marts.fct_engagement order by 2",
        "email": "select person_key from restricted.contact_list_email order by 1",
    }
    before = {name: query(home, sql) for name, sql in snapshot_sql.items()}
    assert key(KARIM) in keys(home, "intermediate.consent_state_history")
    # The published table is where the incremental run starts from: plant a stale points
    # value and an action that no longer exists upstream; the rerun must heal both.
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute("update marts.fct_engagement set points = 99 where action_id = 'rsvp:r1'")
        con.execute(
            "insert into marts.fct_engagement select 'rsvp:gone', person_key, event_id, action_type, points, "
            "event_at, event_date from marts.fct_engagement where action_id = 'rsvp:r1'"
        )
    write_tombstones(home, [GASTON, "facebook_id:fb-stranger", KARIM])  # Karim is erased between the two runs
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOCLE_HOME", str(home))
        mp.setenv("SOCLE_PSEUDONYM_SECRET", SECRET)
        result = warehouse.build(as_of=AS_OF)
    assert result.success
    after = {name: query(home, sql) for name, sql in snapshot_sql.items()}
    assert after == {name: [r for r in rows if r[0] != key(KARIM)] for name, rows in before.items()}
    assert len(after["engagement"]) == len(before["engagement"]) - 3
    assert key(KARIM) not in keys(home, "intermediate.consent_state_history")
    # Same scoring date: the history row is replaced, not duplicated.
    history = query(home, "select count(distinct as_of_date), count(*) from marts.supporter_scores_history")
    assert history == [(1, len(after["scores"]))]


def test_contact_lists_leave_out_an_identifier_tombstoned_after_staging(home_copy: Path) -> None:
    # Staging drops the rows of erased identifiers; the lists check the tombstones again, for
    # a person whose rows are still there (a warehouse restored from before the erasure).
    lists = "select person_key from restricted.contact_list_{}"
    emails = {k for (k,) in query(home_copy, lists.format("email"))}
    texts = {k for (k,) in query(home_copy, lists.format("sms"))}
    assert key(EVE) in emails
    assert key(BOB) in texts  # by his phone: his key is his e-mail's
    with duckdb.connect(str(paths().build_db)) as con:
        con.executemany(
            "insert into staging.stg_compliance__tombstones values (?, now())",
            [[key(EVE)], [key(BOB_PHONE)]],
        )
    result = warehouse.dbt(["run", "--select", "contact_list_email", "contact_list_sms"], as_of=AS_OF)
    assert result.success
    assert {k for (k,) in query(home_copy, lists.format("email"))} == emails - {key(EVE)}
    assert {k for (k,) in query(home_copy, lists.format("sms"))} == texts - {key(BOB)}


def test_incremental_engagement_heals_the_loaded_table(home_copy: Path) -> None:
    home = home_copy
    engagement = "select * from marts.fct_engagement order by action_id"
    before = query(home, engagement)
    # The published table the run starts from: a stale points value, an action that no
    # longer exists upstream, and one action missing (as if it had landed late). An hourly
    # build that resumes trusts its table; the first build of a day compares every action
    # (the scoring date changed), and heals it.
    with duckdb.connect(str(home / "warehouse.duckdb")) as con:
        con.execute("update marts.fct_engagement set points = 99 where action_id = 'rsvp:r1'")
        con.execute(
            "insert into marts.fct_engagement select 'rsvp:gone', person_key, event_id, action_type, points, "
            "event_at, event_date from marts.fct_engagement where action_id = 'rsvp:r1'"
        )
        con.execute("delete from marts.fct_engagement where action_id = 'fb_comment:fc2'")
    assert not warehouse.tombstones_changed()  # so the build is incremental, not a full refresh

    result = warehouse.build(as_of=AS_OF + timedelta(days=1), data_tests=False)

    assert result.success
    log = result.log_file.read_text()
    assert "fct_engagement: built from every row (the scoring date changed)" in log
    compiled = result.target_dir / "compiled/socle/models/marts/analysts/fct_engagement.sql"
    assert "full outer join" in compiled.read_text()  # the incremental branch ran, not a rebuild
    assert query(home, engagement) == before


def test_consent_history_keeps_a_version_per_change_through_a_full_refresh(home_copy: Path) -> None:
    home = home_copy
    history_sql = (
        "select purpose, status, dbt_valid_from, dbt_valid_to from intermediate.consent_state_history "
        f"where person_key = '{key(BOB)}' order by purpose, dbt_valid_from"
    )
    first = query(home, history_sql)
    assert [(purpose, status) for purpose, status, _, valid_to in first if valid_to is None] == [
        ("email", "granted"),
        ("profiling", "granted"),
        ("sms", "granted"),
    ]
    assert len(first) == 3
    # Bob withdraws his e-mail consent; the build is a full refresh, which must keep history.
    write_partition(
        _batch("crm", date(2026, 11, 27)),
        "consents",
        [_consent("k20", BOB, "email", status="withdrawn", occurred_at="2026-11-27T09:00:00+01:00")],
    )
    assert warehouse.build(as_of=AS_OF, data_tests=False, full_refresh=True).success
    second = query(home, history_sql)
    email = [row for row in second if row[0] == "email"]
    assert [status for _, status, _, _ in email] == ["granted", "withdrawn"]
    assert email[0][3] == email[1][2]  # closed when the next version opened
    assert email[1][3] is None
    assert [row for row in second if row[0] != "email"] == [row for row in first if row[0] != "email"]
    assert query(
        home, "select count(*) - count(distinct dbt_scd_id) from intermediate.consent_state_history"
    ) == [(0,)]


def test_person_tests_catch_a_split_person_number_and_a_lost_person(home_copy: Path) -> None:
    # The two singular tests guarding int_persons' grouping pass on the real build (the
    # module's build ran them); plant a phone numbered apart from its e-mail's person and a
    # person int_persons lost, and each must fail.
    tests = [
        "assert_build_person_number_names_one_person",
        "assert_every_person_record_counted_in_int_persons",
    ]
    assert all(node.status == "pass" for node in warehouse.dbt(["test", "--select", *tests]).nodes)
    with duckdb.connect(str(home_copy / "build" / "warehouse.duckdb")) as con:
        con.execute(
            "update intermediate.int_identity set build_person_number = -1 where identifier = ("
            "select min(identifier) from intermediate.int_identity "
            "where identifier_type = 'phone' and anchor_type = 'email')"
        )
        con.execute(
            "delete from intermediate.int_persons "
            "where person_key = (select min(person_key) from intermediate.int_persons)"
        )
    result = warehouse.dbt(["test", "--select", *tests], check=False)
    statuses = {node.unique_id.split(".")[2]: node.status for node in result.nodes}
    assert statuses == dict.fromkeys(tests, "fail")


def test_consent_events_test_catches_a_repeated_event_and_an_event_without_a_person(home_copy: Path) -> None:
    # int_consent_events is a view checked by one singular test. Plant a ledger row staged
    # twice and a person whose identifiers are gone from int_identity: one failing row for
    # the repeated event and one for each event of that person.
    test = "assert_consent_events_resolved_once"
    assert [node.status for node in warehouse.dbt(["test", "--select", test]).nodes] == ["pass"]
    with duckdb.connect(str(home_copy / "build" / "warehouse.duckdb")) as con:
        unresolved = "(select max(person_key) from intermediate.int_consent_events)"
        (events,) = con.execute(
            f"select count(*) from intermediate.int_consent_events where person_key = {unresolved}"
        ).fetchone()
        assert events >= 1
        con.execute(
            "insert into staging.stg_crm__consents select * from staging.stg_crm__consents "
            "where consent_id = (select min(consent_event_id) from intermediate.int_consent_events "
            f"where person_key <> {unresolved} and collected_via <> 'signin_sheet')"
        )
        con.execute(f"delete from intermediate.int_identity where person_key = {unresolved}")
    result = warehouse.dbt(["test", "--select", test], check=False)
    assert [(node.status, node.failures) for node in result.nodes] == [("fail", 1 + events)]


def test_points_seed_missing_an_action_kind_warns_and_an_unknown_kind_fails_to_compile(
    home_copy: Path,
) -> None:
    # fct_engagement joins the points seed, so a kind the seed lacks would lose its actions
    # silently: the test on the list of kinds warns. A kind outside that list is a compile error.
    test = "assert_every_action_type_has_points"
    assert [node.status for node in warehouse.dbt(["test", "--select", test]).nodes] == ["pass"]
    with duckdb.connect(str(home_copy / "build" / "warehouse.duckdb")) as con:
        con.execute("delete from intermediate.action_points where action_type = 'x_quote'")
    result = warehouse.dbt(["test", "--select", test], check=False)
    assert [(node.status, node.failures) for node in result.nodes] == [("warn", 1)]

    compiled = warehouse.dbt(["compile", "--inline", "select {{ action_type('x_like') }}"], check=False)
    assert compiled.return_code != 0
    assert "x_like is missing from engagement_action_types()" in compiled.log_file.read_text()


def _rebuilt_in_full(home: Path, copy: Path, queries: list[str], as_of: date = AS_OF) -> list[list[tuple]]:
    """What a full refresh of a copy of ``home`` gives for each of ``queries``."""
    shutil.copytree(home, copy)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOCLE_HOME", str(copy))
        result = warehouse.build(as_of=as_of, data_tests=False, full_refresh=True)
        assert result.success
    # The history, kept through a full refresh, compares every person on one.
    assert "consent_state_history: built from every row (a full refresh)" in result.log_file.read_text()
    return [query(copy, sql) for sql in queries]


def _hourly_build(*models: str, as_of: date = AS_OF) -> str | tuple[str, ...]:
    """Build and publish; returns how each of ``models`` was built (resumed or not), as its log line says."""
    result = warehouse.build(as_of=as_of, data_tests=False)
    assert result.success
    shutil.copy2(paths().build_db, paths().warehouse)  # publish, as the gate DAG would
    lines = result.log_file.read_text().splitlines()
    modes = tuple(line.split(f"{model}: ")[1] for model in models for line in lines if f"{model}: " in line)
    assert len(modes) == len(models)
    return modes[0] if len(models) == 1 else modes


def test_hourly_builds_equal_a_full_rebuild_as_people_move_and_split(home_copy: Path, tmp_path: Path) -> None:
    home = home_copy
    # build_person_number is the build's own numbering: never compared across builds.
    compared = [
        "select * exclude (build_person_number) from intermediate.int_identity order by all",
        # A resumed build keeps the numbers and gives new ones: still one number per person.
        "select count(distinct build_person_number), count(distinct person_key), "
        "count(distinct (build_person_number, person_key)) from intermediate.int_identity",
        "select * from intermediate.int_identity_conflicts order by all",
        "select * from intermediate.int_persons order by person_key",
        "select * from intermediate.int_consent_current order by person_key, purpose",
        "select * from marts.fct_engagement order by action_id",
        "select * from restricted.contact_list_email order by person_key",
    ]

    def signin(hour: int, rows: list[dict[str, object]]) -> None:
        # One interval per batch: a batch replaces the landed partition of its interval.
        batch = _batch("signin", date(2026, 11, hour + 17), fetched=datetime(2026, 11, 28, hour, tzinfo=UTC))
        sheet = {"sheet": f"reunion-{hour}.csv", "event_id": "e1", "optin_email": "non", "optin_sms": "non"}
        write_partition(
            batch, "attendance", [{**sheet, "row_number": i, **row} for i, row in enumerate(rows, 1)]
        )

    def hourly_build(as_of: date = AS_OF, engagement: str | None = None) -> str:
        """How int_persons was built; the identities, consents and engagement follow its persons."""
        persons, identities, conflicts, consents, history, engaged = _hourly_build(
            "int_persons",
            "int_identity",
            "int_identity_conflicts",
            "int_consent_current",
            "consent_state_history",
            "fct_engagement",
            as_of=as_of,
        )
        # No identity or consent depends on the date.
        assert identities == conflicts == consents == history == (persons if as_of == AS_OF else "resumed")
        assert engaged == (engagement or persons)
        # The history's open versions are the current consents, and it keeps no one else.
        states = "person_key, purpose, status, lawful_basis, wording_version, consent_event_id, occurred_at"
        current = f"select {states} from intermediate.int_consent_current order by all"
        opened = (
            f"select {states} from intermediate.consent_state_history where dbt_valid_to is null order by all"
        )
        assert query(home, opened) == query(home, current)
        kept = "select distinct person_key from intermediate.consent_state_history order by all"
        assert query(home, kept) == query(
            home, "select distinct person_key from intermediate.int_consent_current order by all"
        )
        return persons

    def as_a_full_rebuild(name: str, as_of: date = AS_OF) -> None:
        rebuilt = _rebuilt_in_full(home, tmp_path / name, compared, as_of)
        for sql, expected in zip(compared, rebuilt, strict=True):
            assert query(home, sql) == expected, sql

    def person(identifier: str, column: str) -> object:
        sql = f"select {column} from intermediate.int_persons where person_key = '{key(identifier)}'"
        return query(home, sql)[0][0]

    def consents(identifier: str) -> set[str]:
        sql = f"select purpose from intermediate.int_consent_current where person_key = '{key(identifier)}'"
        return {purpose for (purpose,) in query(home, sql)}

    def comments_scored() -> set[str]:
        sql = "select action_id from marts.fct_engagement where action_type = 'facebook_comment'"
        return {action_id for (action_id,) in query(home, sql)}

    def facebook_comments(hour: int, created: dict[str, str]) -> None:
        """Alice's account's comments, fetched at ``hour``: their ids and times."""
        batch = _batch("facebook", date(2026, 11, hour), fetched=datetime(2026, 11, 28, hour, tzinfo=UTC))
        row = {"post_id": "p1", "from_id": "fb-alice", "from_name": "A", "message": "Bravo"}
        write_partition(batch, "comments", [{**row, "id": i, "created_time": t} for i, t in created.items()])

    nina_phone = "+33699999999"
    # An hour later: Eve signs again with a postal code (her best source, the newest wins);
    # Karim signs in (a record more, his CRM name stays); a newcomer signs with a phone
    # alone and accepts SMS; and Oscar writes Bob's line beside his own e-mail, so that it
    # links nobody.
    signin(
        10,
        [
            {
                "signed_at": "2026-11-27T19:00:00+01:00",
                "first_name": "Eve",
                "email": EVE,
                "postal_code": "75011",
            },
            {"signed_at": "2026-11-27T19:01:00+01:00", "first_name": "Karim", "email": KARIM},
            {
                "signed_at": "2026-11-27T19:02:00+01:00",
                "first_name": "Nina",
                "phone": nina_phone,
                "optin_sms": "oui",
            },
            {
                "signed_at": "2026-11-27T19:03:00+01:00",
                "first_name": "Oscar",
                "email": "oscar@example.org",
                "phone": BOB_PHONE,
            },
        ],
    )
    # Karim also grants profiling, so his CRM support level becomes lawful; and Alice objects
    # by phone alone.
    crm = _batch("crm", date(2026, 11, 28), fetched=datetime(2026, 11, 28, 10, tzinfo=UTC))
    write_partition(
        crm, "consents", [_consent("k90", KARIM, "profiling", occurred_at="2026-11-28T09:00:00+01:00")]
    )
    # And the CRM delivers a new member, Zoé.
    crm = _batch("crm", date(2026, 11, 27), fetched=datetime(2026, 11, 28, 10, tzinfo=UTC))
    write_partition(crm, "people", [_person("c90", "zoe@example.org", None, first_name="Zoé")])
    dsr = _batch("dsr", date(2026, 11, 28), fetched=datetime(2026, 11, 28, 10, tzinfo=UTC))
    write_partition(
        dsr,
        "requests",
        [
            {
                "request_id": "d90",
                "type": "objection",
                "phone": ALICE_PHONE,
                "received_at": "2026-11-28T09:30:00+01:00",
            }
        ],
    )
    # Alice's account comments again: a new row of a linked account whose person is unchanged.
    facebook_comments(10, {"fc30": "2026-11-27T08:00:00+0000"})
    # And Eve knocks on a door.
    canvass = _batch("canvass", date(2026, 11, 27), fetched=datetime(2026, 11, 28, 10, tzinfo=UTC))
    visit = {"sheet": "tour-10.csv", "row_number": "1", "session_id": "s10", "volunteer_email": EVE}
    write_partition(canvass, "visits", [{**visit, "outcome": "absent", "session_date": "2026-11-27"}])
    assert person(KARIM, "support_level") is None
    assert person(ALICE, "is_objector") is False
    assert comments_scored() == {"fb_comment:fc1"}
    assert hourly_build() == "resumed"
    assert comments_scored() == {"fb_comment:fc1", "fb_comment:fc30"}
    eve_door = "select person_key from marts.fct_engagement where action_id = 'canvass:tour-10.csv:1'"
    assert query(home, eve_door) == [(key(EVE),)]
    assert person(KARIM, "support_level") == 2
    assert person(ALICE, "is_objector") is True
    assert person(EVE, "postal_code") == "75011"
    assert person(KARIM, "record_count") == 6
    assert person("zoe@example.org", "first_name") == "Zoé"
    assert person(KARIM, "first_name") == "C9"
    assert person(BOB, "phone") is None
    assert key(nina_phone) in keys(home, "intermediate.int_persons")
    as_a_full_rebuild("first")

    # The next hour the newcomer's phone comes with an e-mail: the person by phone moves to it.
    signin(
        11,
        [
            {
                "signed_at": "2026-11-27T20:00:00+01:00",
                "first_name": "Nina",
                "email": "nina@example.org",
                "phone": nina_phone,
            }
        ],
    )
    # Facebook delivers Alice's comments again: the new one with a corrected time, the first
    # with a time that cannot be read, so that it scores nothing now. The staged rows are
    # replaced, and the build still resumes.
    facebook_comments(11, {"fc30": "2026-11-27T09:00:00+0000", "fc1": "not a time"})
    assert hourly_build() == "resumed"
    assert comments_scored() == {"fb_comment:fc30"}
    sql = "select hour(event_at) from marts.fct_engagement where action_id = 'fb_comment:fc30'"
    assert query(home, sql) == [(9,)]
    moved = keys(home, "intermediate.int_persons")
    assert key("nina@example.org") in moved
    assert key(nina_phone) not in moved
    assert consents("nina@example.org") == {"sms"}  # her opt-in moved with the phone
    as_a_full_rebuild("moved")

    # Then Paul writes Nina's line beside his e-mail: it links nobody now, and the sheet
    # that carried it alone is a person of its own again, taken from Nina's.
    # Eve, who knocked on a door at 10, signs again: her door stays hers.
    signin(
        12,
        [
            {"signed_at": "2026-11-27T21:00:00+01:00", "email": "paul@example.org", "phone": nina_phone},
            {"signed_at": "2026-11-27T21:01:00+01:00", "email": EVE},
        ],
    )
    # And the CRM delivers Yann, who declares Alice's Facebook account too: it links nobody
    # now, and Alice's comments no longer count, though nothing else of hers changed.
    crm = _batch("crm", date(2026, 11, 26), fetched=datetime(2026, 11, 28, 12, tzinfo=UTC))
    write_partition(crm, "people", [_person("c91", "yann@example.org", None, facebook_id="fb-alice")])
    assert hourly_build() == "resumed"
    assert comments_scored() == set()
    assert query(home, eve_door) == [(key(EVE),)]
    assert key(nina_phone) in keys(home, "intermediate.int_persons")
    assert person("nina@example.org", "record_count") == 1
    assert person("nina@example.org", "phone") is None
    assert (consents("nina@example.org"), consents(nina_phone)) == (set(), {"sms"})  # and her opt-in with it
    as_a_full_rebuild("split")

    # A new event: no person changes, but its start time dates the shifts, so every action
    # is computed and compared.
    event = {"id": "e2", "title": "Porte-à-porte", "kind": "canvassing", "bureau_code": "0001"}
    write_partition(
        _batch("events", date(2026, 11, 2), fetched=datetime(2026, 11, 28, 12, 30, tzinfo=UTC)),
        "events",
        [{**event, "starts_at": "2026-11-29T10:00:00+01:00", "updated_at": "2026-11-28T10:00:00+01:00"}],
    )
    assert hourly_build(engagement="built from every row (stg_events__events has new rows)") == "resumed"
    as_a_full_rebuild("event")

    # Sources deliver records again with the identifiers they had: the CRM Karim, his first
    # name and support level edited, and Bob's e-mail grant, now withdrawn; the event
    # platform Karim's RSVP, checked in later and no longer volunteering; the canvassing app
    # Eve's door, its day now unreadable, so that it scores nothing. Each staged record is
    # replaced (macros/record_versions.sql) and the build still resumes: their persons are
    # those of their identifiers now.
    redelivered = datetime(2026, 11, 28, 12, 45, tzinfo=UTC)
    write_partition(
        _batch("crm", date(2026, 11, 25), fetched=redelivered),
        "people",
        [_person("c9", KARIM, None, facebook_id="fb-karim", support_level="3", first_name="Karim")],
    )
    write_partition(
        _batch("crm", date(2026, 11, 25), fetched=redelivered),
        "consents",
        [_consent("k5", BOB, "email", status="withdrawn", occurred_at="2026-11-28T08:00:00+01:00")],
    )
    rsvp = {"id": "r2", "event_id": "e1", "email": KARIM, "status": "going", "attended": True}
    write_partition(
        _batch("events", date(2026, 11, 25), fetched=redelivered),
        "rsvps",
        [{**rsvp, "checked_in_at": "2026-11-20T19:40:00+01:00", "updated_at": "2026-11-28T10:00:00+01:00"}],
    )
    write_partition(
        _batch("canvass", date(2026, 11, 25), fetched=redelivered),
        "visits",
        [{**visit, "outcome": "absent", "session_date": "bientôt"}],
    )
    assert BOB in {email for (email,) in query(home, "select email from restricted.contact_list_email")}
    assert hourly_build() == "resumed"
    assert (person(KARIM, "first_name"), person(KARIM, "support_level")) == ("Karim", 3)
    assert BOB not in {email for (email,) in query(home, "select email from restricted.contact_list_email")}
    assert query(home, eve_door) == []
    checked_in = (
        "select minute(event_at) from marts.fct_engagement "
        f"where person_key = '{key(KARIM)}' and action_type = 'attendance'"
    )
    assert query(home, checked_in) == [(40,)]
    as_a_full_rebuild("re-delivered")

    # The CRM delivers David and Zoé again with new e-mails: their staged records are
    # replaced, and a record with other identifiers may leave a person, so every person is
    # computed again. David's old e-mail keeps its consent record alone; Zoé's had no other
    # record, so her person by it is gone.
    crm = _batch("crm", date(2026, 11, 28), fetched=datetime(2026, 11, 28, 13, tzinfo=UTC))
    write_partition(
        crm,
        "people",
        [
            _person("c4", "dave@example.org", None, first_name="Dave", updated_at="2026-11-28T10:00:00Z"),
            _person("c90", "zoe.new@example.org", None, first_name="Zoé", updated_at="2026-11-28T10:00:00Z"),
        ],
    )
    reidentified = "built from every row (stg_crm__people re-delivered a record with other identifiers)"
    assert hourly_build() == reidentified
    assert person("dave@example.org", "first_name") == "Dave"
    assert person(DAVID, "first_name") is None
    assert key("zoe@example.org") not in keys(home, "intermediate.int_persons")
    as_a_full_rebuild("replaced")

    # Ages change with the scoring date.
    tomorrow = AS_OF + timedelta(days=1)
    assert hourly_build(tomorrow) == "built from every row (the scoring date changed)"
    assert hourly_build(tomorrow) == "resumed"
    as_a_full_rebuild("tomorrow", tomorrow)


def test_a_model_built_without_its_resuming_parent_takes_no_rows_past_it(home_copy: Path) -> None:
    # Karim grants profiling, and someone builds the consents' staging and the history alone:
    # int_consent_current, which the history compares with, has not taken that row yet.
    crm = _batch("crm", date(2026, 11, 28), fetched=datetime(2026, 11, 28, 10, tzinfo=UTC))
    write_partition(
        crm, "consents", [_consent("k90", KARIM, "profiling", occurred_at="2026-11-28T09:00:00+01:00")]
    )
    only = ["build", "--select", "stg_crm__consents", "consent_state_history", *warehouse._SKIP_TESTS]
    lines = warehouse.dbt(only, as_of=AS_OF).log_file.read_text()
    # int_identity too: a consent is a record, which may carry a new identifier.
    behind = "int_consent_current, int_identity not built since rows were staged"
    assert f"consent_state_history: built from every row ({behind})" in lines
    shutil.copy2(paths().build_db, paths().warehouse)  # published
    # So the next build, which takes the row in int_consent_current, compares every person.
    modes = _hourly_build("int_consent_current", "consent_state_history")
    assert modes == ("resumed", "built from every row (no state recorded)")
    states = "person_key, purpose, status, consent_event_id"
    karim = f"where person_key = '{key(KARIM)}' and purpose = 'profiling'"
    opened = query(
        home_copy, f"select {states} from intermediate.consent_state_history {karim} and dbt_valid_to is null"
    )
    assert opened == query(home_copy, f"select {states} from intermediate.int_consent_current {karim}")
    assert opened[0][2] == "granted"
    assert _hourly_build("consent_state_history") == "resumed"


def test_hourly_social_watch_equals_a_full_rebuild(home_copy: Path, tmp_path: Path) -> None:
    home = home_copy
    watch = "select * from marts.social_accounts_watch order by account_key"
    labels = "select account_key, label, comment_count, reaction_count from marts.social_accounts_watch"

    def as_a_full_rebuild(name: str, as_of: date = AS_OF) -> None:
        assert query(home, watch) == _rebuilt_in_full(home, tmp_path / name, [watch], as_of)[0]

    def account(account_id: str) -> str:
        return key(f"facebook:{account_id}")

    def comment(comment_id: str, account_id: str, message: str, created: str) -> dict[str, object]:
        return {
            "id": comment_id,
            "post_id": "p1",
            "from_id": account_id,
            "from_name": "S",
            "message": message,
            "created_time": created,
        }

    def reaction(post: int, account_id: str, kind: str) -> dict[str, object]:
        return {
            "post_id": f"p{post}",
            "user_id": account_id,
            "user_name": "N",
            "type": kind,
            "post_created_time": f"2026-11-2{post}T08:00:00+0000",
        }

    def land(entity: str, hour: int, day: date, rows: list[dict[str, object]]) -> None:
        # One interval per batch: a batch replaces the landed partition of its interval.
        batch = _batch("facebook", day, fetched=datetime(2026, 11, 28, hour, tzinfo=UTC))
        write_partition(batch, entity, rows)

    before = {row[0]: row[1:] for row in query(home, labels)}
    assert before[account("fb-alice")][1:] == (1, 0)
    # An hour later: Alice's account insults the page twice, a newcomer only reacts in anger, and
    # a comment older than the window lands late (it counts for nobody).
    land(
        "comments",
        10,
        date(2026, 11, 22),
        [
            comment("fc20", "fb-alice", "Incapables !", "2026-11-22T08:00:00+0000"),
            comment("fc21", "fb-alice", "Menteur", "2026-11-22T08:05:00+0000"),
            comment("fc22", "fb-old", "Incapables", "2026-09-01T08:00:00+0000"),
            comment("fc23", "fb-once", "Bonjour", "2026-11-22T09:00:00+0000"),
        ],
    )
    land(
        "reactions",
        10,
        date(2026, 11, 22),
        [reaction(i, "fb-angry", "ANGRY") for i in range(1, 6)],
    )
    assert _hourly_build("social_accounts_watch") == "resumed"
    after = {row[0]: row[1:] for row in query(home, labels)}
    assert after[account("fb-alice")] == ("hostile", 3, 0)
    assert after[account("fb-angry")] == ("hostile", 0, 5)
    assert account("fb-old") not in after
    assert {k: v for k, v in after.items() if k not in before} == {
        account("fb-angry"): ("hostile", 0, 5),
        account("fb-once"): ("neutral", 1, 0),
    }
    as_a_full_rebuild("insults")

    # Facebook delivers again what changed: her first comment, edited, the one comment of
    # another account, dated again before the window, and three of the reactions, now likes.
    # The staged rows are replaced, and each newer row touches its author's account: the
    # build resumes, the angry reactor is neutral now and the other account is gone.
    land(
        "comments",
        11,
        date(2026, 11, 23),
        [
            comment("fc1", "fb-alice", "Escroc", "2026-11-21T08:00:00+0000"),
            comment("fc23", "fb-once", "Bonjour", "2026-10-01T09:00:00+0000"),
        ],
    )
    land("reactions", 11, date(2026, 11, 23), [reaction(i, "fb-angry", "LIKE") for i in range(3, 6)])
    assert _hourly_build("social_accounts_watch") == "resumed"
    assert query(home, f"{labels} where account_key = '{account('fb-angry')}'")[0][1:] == ("neutral", 0, 5)
    assert query(home, f"{labels} where account_key = '{account('fb-once')}'") == []
    as_a_full_rebuild("redelivered")

    # The window moves with the scoring date: 26 days on, only the last two reactions are in it.
    later = date(2026, 12, 24)
    assert (
        _hourly_build("social_accounts_watch", as_of=later)
        == "built from every row (the scoring date changed)"
    )
    assert {row[0] for row in query(home, labels)} == {account("fb-angry")}
    assert _hourly_build("social_accounts_watch", as_of=later) == "resumed"
    as_a_full_rebuild("later", later)

    # A threshold changed (a var the model reads): every account is computed again, and the
    # reactor's two likes now make a supporter.
    assert query(home, f"{labels} where account_key = '{account('fb-angry')}'")[0][1:] == ("neutral", 0, 2)
    threshold = {"as_of": later.isoformat(), "social_supporter_min_reactions": 2}
    result = warehouse.dbt(["build", "--select", "social_accounts_watch", "--vars", json.dumps(threshold)])
    assert "social_accounts_watch: built from every row (the code changed)" in result.log_file.read_text()
    assert query(home, f"{labels} where account_key = '{account('fb-angry')}'")[0][1:] == ("supporter", 0, 2)

    # A build given no scoring date (by hand) takes today's, which could change between the
    # model's check and its pre-hook's: it does not resume.
    result = warehouse.build(data_tests=False)
    assert (
        "social_accounts_watch: built from every row (no scoring date given)" in result.log_file.read_text()
    )


def test_build_works_when_landing_sources_are_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    monkeypatch.setenv("SOCLE_PSEUDONYM_SECRET", SECRET)
    # Only the CRM has delivered; no social, events, sign-in, canvass, DSR, open data or tombstones.
    crm = _batch("crm", date(2026, 11, 1))
    write_partition(crm, "people", [_person("c1", BOB, None)])
    write_partition(crm, "consents", [_consent("k1", BOB, "email")])
    # Layer by layer, as the Airflow DAG runs it.
    warehouse.prepare_build_db()
    ran: list[str] = []
    for layer in warehouse.DBT_LAYERS:
        result = warehouse.build_layer(layer, as_of=AS_OF)
        assert result.success, layer
        ran += [node.unique_id for node in result.nodes]
    assert len(ran) == len(set(ran))  # no node built twice
    assert {"model.socle.dim_supporter", "model.socle.stg_x__tweets", "seed.socle.action_points"} <= set(ran)
    assert keys(tmp_path, "restricted.contact_list_email") == {key(BOB)}
    assert query(tmp_path, "select count(*) from staging.stg_facebook__comments") == [(0,)]


def test_incremental_staging_takes_only_new_landings_and_tests_follow_their_cadence(
    home_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = home_copy
    monkeypatch.delenv(warehouse.DATA_TESTS_EVERY_HOURS, raising=False)
    comments = "select comment_id, comment_text from staging.stg_facebook__comments order by 1"
    before = dict(query(home, comments))
    # An hour later: one new comment, and fc1 delivered again with its edited text.
    later = _batch("facebook", date(2026, 11, 22), fetched=datetime(2026, 11, 28, 10, tzinfo=UTC))
    edited = {"id": "fc1", "post_id": "p1", "from_id": "fb-alice", "from_name": "A", "message": "Bravo !"}
    new = {"id": "fc9", "post_id": "p1", "from_id": "fb-alice", "from_name": "A", "message": "Merci"}
    rows = [
        {**edited, "created_time": "2026-11-21T08:00:00+0000"},
        {**new, "created_time": "2026-11-22T08:00:00+0000"},
    ]
    write_partition(later, "comments", rows)

    assert not warehouse.data_tests_due()  # the fixture's build ran them a moment ago
    assert not warehouse.tombstones_changed()
    result = warehouse.build(as_of=AS_OF, data_tests=warehouse.data_tests_due())

    assert result.success
    ran = {node.resource_type for node in result.nodes}
    assert "model" in ran
    assert not ran & {"test", "unit_test"}  # no test ran
    after = dict(query(home, comments))
    assert after == {**before, "fc1": "Bravo !", "fc9": "Merci"}  # one row per comment, the latest kept
    compiled = result.target_dir / "compiled" / "socle" / "models" / "staging" / "facebook"
    compiled = compiled / "stg_facebook__comments.sql"
    assert (
        "_fetched_at > '2026-11-21T23:59:00" in compiled.read_text()
    )  # only what landed since the last build
    monkeypatch.setenv(warehouse.DATA_TESTS_EVERY_HOURS, "0")
    assert warehouse.data_tests_due()
