"""End to end: `socle demo` on a small generated campaign, through Airflow, twice."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from socle.identity import keyed_hash, normalise_email

pytestmark = pytest.mark.e2e

PEOPLE = 600


def _socle(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SOCLE_"))}
    env["SOCLE_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "socle.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


def _mart_fingerprints(warehouse: Path) -> dict[str, str]:
    """A digest of every analyst and restricted table's sorted contents."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema in ('marts', 'restricted') order by 1"
        ).fetchall()
        digests = {}
        for (table,) in tables:
            rows = con.execute(f"select * from {table}").fetchall()
            digests[table] = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
        return digests


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    home = tmp_path_factory.mktemp("demo") / "data"
    return home, _socle(home, "demo", "--people", str(PEOPLE))


def test_demo_succeeds_and_prints_the_summary(demo_home):
    home, result = demo_home
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    for expected in ("Rows landed this run", "Published tables", "Gates:", "Pipeline succeeded."):
        assert expected in result.stdout
    assert str(home / "warehouse.duckdb") in result.stdout
    assert (home / "reports" / "compliance" / "index.html").exists()


def test_demo_publishes_the_marts_and_contact_lists(demo_home):
    home, _ = demo_home
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        supporters = con.execute("select count(*) from marts.dim_supporter").fetchone()[0]
        scores = con.execute("select count(*) from marts.supporter_scores").fetchone()[0]
        emails = con.execute("select count(*) from restricted.contact_list_email").fetchone()[0]
    assert 0 < scores <= supporters
    assert 0 < emails <= supporters


def test_every_dag_ran_and_the_data_home_matches_the_contract(demo_home):
    home, result = demo_home
    for dag_id in (
        "ingest_social",
        "ingest_events",
        "ingest_field",
        "ingest_crm",
        "ingest_opendata",
        "gdpr_requests",
        "build_warehouse",
    ):
        assert f"{dag_id}" in result.stdout
    for path in ("landing", "inbox", "warehouse.duckdb", "build", "reports"):
        assert (home / path).exists(), path


def test_running_the_demo_again_gives_the_same_marts(demo_home):
    home, _ = demo_home
    before = _mart_fingerprints(home / "warehouse.duckdb")
    again = _socle(home, "demo", "--people", str(PEOPLE))
    assert again.returncode == 0, again.stdout[-4000:]
    assert _mart_fingerprints(home / "warehouse.duckdb") == before


# --- the planted cases (sandbox/truth.json). Assertions compare booleans and counts only, so a
# failure never prints an e-mail or phone number.


def _truth(home: Path) -> dict:
    return json.loads((home / "sandbox" / "truth.json").read_text())["planted"]


def _key(home: Path, email: str) -> str:
    secret = (home / ".pseudonym_secret").read_text().strip()
    return keyed_hash(normalise_email(email), secret)


def _keys(home: Path, table: str) -> set[str]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        return {row[0] for row in con.execute(f"select person_key from {table}").fetchall()}


def test_withdrawn_sms_consent_removes_exactly_that_person_from_the_sms_list(demo_home):
    home, _ = demo_home
    key = _key(home, _truth(home)["withdrawn_sms"]["email"])
    in_sms = key in _keys(home, "restricted.contact_list_sms")
    in_email = key in _keys(home, "restricted.contact_list_email")
    in_supporters = key in _keys(home, "marts.dim_supporter")
    assert not in_sms
    assert in_email
    assert in_supporters


def test_duplicates_across_sources_merge_into_one_person(demo_home):
    home, _ = demo_home
    supporters = _keys(home, "marts.dim_supporter")
    for duplicate in _truth(home)["duplicates"]:
        merged = _key(home, duplicate["email"]) in supporters
        assert merged


def test_minors_are_in_no_score_and_no_contact_list(demo_home):
    home, _ = demo_home
    minors = {_key(home, m["email"]) for m in _truth(home)["minors"] if m.get("email")}
    assert minors
    for table in ("marts.supporter_scores", "restricted.contact_list_email", "restricted.contact_list_sms"):
        leaked = len(minors & _keys(home, table))
        assert leaked == 0, f"{leaked} minors in {table}"


def test_the_erased_person_is_in_no_file_of_the_data_home(demo_home):
    home, _ = demo_home
    erased = _truth(home)["erasure"]
    needles = [v for v in (erased["email"], erased["phone"]) if v]
    offending = []
    for path in home.rglob("*"):
        # The sandbox stands for the outside world (the services that still hold the person).
        if not path.is_file() or (home / "sandbox") in path.parents:
            continue
        blob = path.read_bytes()
        if any(n.encode() in blob for n in needles):
            offending.append(path.relative_to(home))
    assert offending == []
    # Parquet pages are compressed: read the values back too.
    with duckdb.connect() as con:
        hits = con.execute(
            "select count(*) from read_parquet(?, union_by_name=true) t "
            "where position(? in cast(t as varchar)) > 0 or position(? in cast(t as varchar)) > 0",
            [str(home / "landing" / "**" / "*.parquet"), needles[0], needles[-1]],
        ).fetchone()[0]
    assert hits == 0
