"""The new marts built for real on a generated sandbox campaign, checked against its planted cases.

The campaign is generated, landed by the connectors over loopback HTTP and from the inbox,
its data-subject requests applied, then ``dbt build`` runs (every data test and unit test).
Assertions use counts and pseudonymous keys only; ``truth.json`` is read, never printed.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from socle import dsr, warehouse
from socle.config import DBT_PROJECT_DIR
from socle.dbt_plugin import register_udfs
from socle.identity import keyed_hash, normalise_email
from socle.orchestration import ConnectionSettings
from socle.sandbox.generator import generate
from socle.sandbox.server import SandboxServer
from socle.sources import events, facebook, inbox_files, opendata, x

pytestmark = pytest.mark.integration

SECRET = "marts-test-secret-not-a-real-one"
TODAY = date(2026, 11, 29)
NOW = datetime(TODAY.year, TODAY.month, TODAY.day, tzinfo=UTC)
AS_OF = TODAY - timedelta(days=1)
NEW_MARTS = ("cell_leader_candidates", "social_accounts_watch", "canvass_targets", "campaign_funnel")
# Column names GDPR gate rule 4 treats as identifiers in marts.
IDENTIFIER_WORDS = ("email", "phone", "name", "handle", "username", "address", "text", "message", "birth")


def _settings(server: SandboxServer) -> dict[str, ConnectionSettings]:
    """Connector settings pointing at the sandbox, as the Airflow connections would."""
    config = server.campaign.config
    files = config["opendata"]["files"]
    url = server.base_url
    return {
        "facebook": ConnectionSettings(
            "socle_facebook",
            url,
            config["facebook"]["token"],
            {"page_id": config["facebook"]["page_id"], "api_version": config["facebook"]["api_version"]},
        ),
        "x": ConnectionSettings("socle_x", url, config["x"]["token"], {"user_id": config["x"]["user_id"]}),
        "events": ConnectionSettings("socle_events", url, config["events"]["token"], {}),
        "opendata": ConnectionSettings(
            "socle_opendata",
            url,
            None,
            {
                "election_results": {
                    config["opendata"]["election"]: f"/opendata/{files['election_results']}"
                },
                "iris_population": f"/opendata/{files['iris_population']}",
                "reu_addresses": f"/opendata/{files['reu_addresses']}",
            },
        ),
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Generate, land, apply requests and build once; shared by the assertions below."""
    home = tmp_path_factory.mktemp("marts_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOCLE_HOME", str(home))
        mp.setenv("SOCLE_PSEUDONYM_SECRET", SECRET)
        generate(home, people=400, today=TODAY, plant_overdue=True)
        start = NOW - timedelta(days=90)
        with SandboxServer(home, host="127.0.0.1", port=0) as server:
            settings = _settings(server)
            for source in (events, facebook, x, opendata):
                source.ingest(settings[source.__name__.rsplit(".", 1)[-1]], start, NOW)
        inbox_files.ingest(home / "inbox", start, NOW)
        dsr.apply_pending_requests(now=NOW)
        result = warehouse.build(as_of=AS_OF)
        assert result.success
        truth = json.loads((home / "sandbox" / "truth.json").read_text(encoding="utf-8"))
    return home, truth


def query(home: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Read the build as an analyst would: read-only, with the identifier functions registered."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SOCLE_PSEUDONYM_SECRET", SECRET)
        con = register_udfs(duckdb.connect(str(home / "build" / "warehouse.duckdb"), read_only=True))
    with con:
        return con.execute(sql, params or []).fetchall()


def scalar(home: Path, sql: str) -> object:
    return query(home, sql)[0][0]


def person_key(identity: dict) -> str:
    return keyed_hash(normalise_email(identity["email"]), SECRET)


def test_build_passes_every_test_and_unit_test_of_the_new_marts(built: tuple[Path, dict]) -> None:
    home, _ = built
    results = json.loads((home / "build" / "dbt_target" / "run_results.json").read_text())["results"]
    ours = [r for r in results if any(m in r["unique_id"] for m in (*NEW_MARTS, "request_log", "register"))]
    assert len([r for r in ours if r["unique_id"].startswith("unit_test.")]) >= 4
    assert len([r for r in ours if r["unique_id"].startswith("test.")]) >= 40
    assert not [r["unique_id"] for r in results if r["status"] not in ("success", "pass", "no-op")]


def test_planted_activist_is_a_cell_leader_candidate_in_their_bureau(built: tuple[Path, dict]) -> None:
    home, truth = built
    activist = truth["planted"]["activist"]
    rows = query(
        home,
        "select bureau_code, iris_code, candidate_rank from marts.cell_leader_candidates"
        " where person_key = ?",
        [person_key(activist)],
    )
    assert rows == [(activist["bureau_code"], activist["iris_code"], 1)]


def test_objector_minors_and_erased_are_never_cell_leader_candidates(built: tuple[Path, dict]) -> None:
    home, truth = built
    planted = truth["planted"]
    excluded = [planted["objection"], planted["erasure"], *planted["minors"]]
    keys = [person_key(p) for p in excluded if p["email"]]
    assert len(keys) >= 3
    placeholders = ",".join("?" * len(keys))
    sql = f"select count(*) from marts.cell_leader_candidates where person_key in ({placeholders})"
    assert query(home, sql, keys) == [(0,)]


def test_every_neighbourhood_is_listed_even_without_candidate(built: tuple[Path, dict]) -> None:
    home, _ = built
    bureaux, with_candidate, empty = query(
        home,
        "select count(distinct bureau_code), count(distinct bureau_code) filter (where has_candidate),"
        " count(*) filter (where not has_candidate) from marts.cell_leader_candidates",
    )[0]
    register_bureaux = query(
        home, "select count(distinct bureau_code) from staging.stg_opendata__reu_addresses"
    )
    assert bureaux >= register_bureaux[0][0] > 0
    assert 0 < with_candidate < bureaux
    assert empty == bureaux - with_candidate


def test_planted_hostile_accounts_are_labelled_hostile(built: tuple[Path, dict]) -> None:
    home, truth = built
    for platform, ids in truth["planted"]["hostile_accounts"].items():
        keys = [keyed_hash(f"{platform}:{account_id}", SECRET) for account_id in ids]
        labels = query(
            home,
            "select label from marts.social_accounts_watch"
            f" where account_key in ({','.join('?' * len(keys))})",
            keys,
        )
        assert [label for (label,) in labels] == ["hostile"] * len(ids), platform
    hostile = query(home, "select count(*) from marts.social_accounts_watch where label = 'hostile'")[0][0]
    supporters = query(home, "select count(*) from marts.social_accounts_watch where label = 'supporter'")[0][
        0
    ]
    planted = sum(len(ids) for ids in truth["planted"]["hostile_accounts"].values())
    assert planted <= hostile <= planted + 2  # a handful of angry fans at most, never the crowd
    assert supporters > hostile


def test_new_marts_carry_no_identifier_column(built: tuple[Path, dict]) -> None:
    home, _ = built
    columns = query(
        home,
        "select table_name, column_name from information_schema.columns"
        " where table_schema = 'marts' and table_name in ({})".format(",".join("?" * len(NEW_MARTS))),
        list(NEW_MARTS),
    )
    assert {table for table, _ in columns} == set(NEW_MARTS)
    assert not [c for _, c in columns if any(word in c.lower() for word in IDENTIFIER_WORDS)]


def test_canvass_targets_one_ranked_row_per_bureau_of_the_latest_election(built: tuple[Path, dict]) -> None:
    home, truth = built
    rows = query(
        home,
        "select count(*), count(distinct priority_rank), min(priority_rank), max(priority_rank),"
        " count(distinct election), any_value(election), sum(doors_knocked), count(iris_population)"
        " from marts.canvass_targets",
    )[0]
    bureaux = query(home, "select count(distinct bureau_key) from staging.stg_opendata__election_results")[0][
        0
    ]
    visits = query(home, "select count(*) from staging.stg_canvass__visits")[0][0]
    count, ranks, first, last, elections, election, knocked, with_population = rows
    assert count == ranks == last == bureaux > 0
    assert first == 1
    assert (elections, election) == (1, truth["campaign"]["election"])
    assert knocked == visits > 0  # every visit's bureau maps through the register
    assert with_population == count
    ordered = query(
        home, "select remaining_mobilisable_voters from marts.canvass_targets order by priority_rank"
    )
    assert [r[0] for r in ordered] == sorted((r[0] for r in ordered), reverse=True)


def test_funnel_runs_daily_to_the_scoring_date_with_growing_totals(built: tuple[Path, dict]) -> None:
    home, _ = built
    rows = query(
        home,
        "select activity_date, cumulative_reactions, cumulative_identified_supporters, cumulative_rsvps"
        " from marts.campaign_funnel order by activity_date",
    )
    assert rows[-1][0] == AS_OF
    assert len(rows) == (rows[-1][0] - rows[0][0]).days + 1
    for column in (1, 2, 3):
        totals = [r[column] for r in rows]
        assert totals == sorted(totals)
        assert totals[-1] > 0
    identified = scalar(home, "select count(*) from marts.dim_supporter")
    assert rows[-1][2] == identified


def test_request_log_shows_the_overdue_access_request_late(built: tuple[Path, dict]) -> None:
    home, truth = built
    rows = dict(query(home, "select request_id, is_late from compliance.request_log"))
    assert rows[truth["planted"]["overdue"]["request_id"]] is True
    assert rows[truth["planted"]["erasure"]["request_id"]] is False


def test_register_of_processing_documents_every_published_table(built: tuple[Path, dict]) -> None:
    home, _ = built
    register = query(
        home,
        "select model_name, schema_name from compliance.register_of_processing"
        " where purpose is not null and lawful_basis is not null and retention is not null",
    )
    names = {name for name, _ in register}
    assert {
        *NEW_MARTS,
        "dim_supporter",
        "contact_list_email",
        "request_log",
        "register_of_processing",
    } <= names
    assert {schema for _, schema in register} == {"marts", "restricted", "compliance"}


def test_sqlfluff_lint_of_the_models_is_clean() -> None:
    sqlfluff = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "sqlfluff"
    lint = subprocess.run(
        [str(sqlfluff), "lint", "models/marts", "--nofail", "--format", "json"],
        cwd=DBT_PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    files = json.loads(lint.stdout)
    assert files
    assert [(f["filepath"], len(f["violations"])) for f in files if f["violations"]] == []
