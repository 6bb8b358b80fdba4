"""The benchmark harness: its generated campaign follows the landing contract and passes the pipeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from socle import bench
from socle.landing import METADATA_COLUMNS
from socle.warehouse import FAILED_STATUSES

AS_OF = datetime(2026, 11, 1, 12, tzinfo=UTC)
# A whole campaign goes through the gates, whose retention windows (rule 6) run on the real
# clock: its interactions must be recent, not dated from a fixed day that ages out.
TODAY = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
# The models that resume from the state in their table comment (macros/resume_state.sql).
RESUMING_MODELS = [
    "social_accounts_watch",
    "int_identity",
    "int_identity_conflicts",
    "int_consent_current",
    "consent_state_history",
    "int_persons",
    "fct_engagement",
]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    return tmp_path


def _scan(landing: Path, entity: str) -> str:
    return f"read_parquet('{landing}/{entity}/*/*.parquet', hive_partitioning = false)"


def test_generated_landing_follows_the_contract_layout_columns_and_manifests(tmp_path: Path):
    landing = tmp_path / "landing"
    landed = bench.generate(landing, 300, 3000, as_of=AS_OF)

    assert set(landed) == {"crm/people", "crm/consents", "facebook/posts", "events/events"} | {
        f"{s}/{e}" for s, e in bench.MIX
    }
    with duckdb.connect() as con:
        for entity, rows in landed.items():
            files = sorted((landing / entity).glob("dt=*/part-bench-*.parquet"))
            assert files, entity
            schema = con.execute(f"describe select * from {_scan(landing, entity)}").fetchall()
            assert {t for _, t, *_ in schema} == {"VARCHAR"}, entity  # every column is text
            assert set(METADATA_COLUMNS) <= {c for c, *_ in schema}
            assert con.execute(f"select count(*) from {_scan(landing, entity)}").fetchone()[0] == rows
            manifest_rows = 0
            for manifest in (landing / entity).glob("dt=*/_manifest.json"):
                parts = json.loads(manifest.read_text())["parts"]
                assert {p for p in parts} == {f.name for f in manifest.parent.glob("*.parquet")}
                for entry in parts.values():
                    assert set(METADATA_COLUMNS) <= set(entry)
                    assert entry["sha256"]
                    assert not set(entry["columns"]) & set(METADATA_COLUMNS)
                    manifest_rows += entry["rows"]
            assert manifest_rows == rows, entity
        people = _scan(landing, "crm/people")
        checks = con.execute(f"""
            select count(*) filter (where not regexp_full_match(phone, '\\+336[0-9]{{8}}')),
                   count(*) filter (where not regexp_full_match(email, '[a-z0-9.-]+@[a-z.]+')),
                   count(distinct email), count(*) filter (where is_member = 'true'),
                   count(*) filter (where cast(birth_date as date) > date '2008-11-01')
            from {people}
        """).fetchone()
    bad_phones, bad_emails, distinct_emails, members, minors = checks
    assert (bad_phones, bad_emails, distinct_emails) == (0, 0, 300)
    assert 0 < members < 300
    assert 0 < minors < 300


def test_an_increment_adds_new_parts_beside_the_first_load(tmp_path: Path):
    landing = tmp_path / "landing"
    first = bench.generate(landing, 100, 1000, as_of=AS_OF)
    added = bench.generate(
        landing, 100, 100, as_of=AS_OF, offset=2000, part_prefix="part-bench-inc", with_people=False
    )
    assert "crm/people" not in added
    with duckdb.connect() as con:
        tweets = _scan(landing, "x/tweets")
        total, distinct = con.execute(f"select count(*), count(distinct id) from {tweets}").fetchone()
    assert total == distinct == first["x/tweets"] + added["x/tweets"]


def test_unknown_scale_is_refused(home: Path):
    with pytest.raises(ValueError, match="unknown scale"):
        bench.run("XL")


def test_the_data_home_itself_is_never_used_as_the_scratch_home(home: Path):
    (home / "warehouse.duckdb").write_bytes(b"published")
    with pytest.raises(ValueError, match="must not be the data home"):
        bench.run("custom", people=10, interactions=10, root=home)
    with pytest.raises(ValueError, match="must not be the data home"):
        bench.run("custom", people=10, interactions=10, root=home.parent)
    assert (home / "warehouse.duckdb").read_bytes() == b"published"


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_tiny_campaign_runs_every_stage_and_passes_the_gates(home: Path):
    report = bench.run("custom", people=300, interactions=3000, as_of=TODAY)

    assert report["gates_passed"] is True
    assert report["gate_failures"] == []
    assert report["incremental_gates_passed"] is True
    stages = [s["stage"] for s in report["stages"]]
    assert stages == [
        "generate landing",
        "landing -> staging",
        "full build",
        "gates",
        "publish",
        "incremental (+1%)",
        "incremental gates",
        "yardstick query",
        "publish incremental",
        "re-delivered (0.1%)",
    ]
    for stage in report["stages"]:
        assert stage["rows"] >= 0
        assert stage["seconds"] >= 0
        assert stage["peak_rss_mb"] > 0
    assert report["full_build_over_yardstick"] > 0
    # The +1 % run split into its parts, which add up to the stage.
    split = report["incremental_split"]
    assert list(split) == ["landing", "build copy and checks", "dbt"]
    assert all(seconds >= 0 for seconds in split.values())
    incremental = next(s for s in report["stages"] if s["stage"] == "incremental (+1%)")
    assert sum(split.values()) == pytest.approx(incremental["seconds"], abs=0.1)
    assert "incremental (+1%): landing" in bench.format_table(report)
    assert report["dbt_nodes_full"]
    assert report["dbt_nodes_incremental"]
    # Records delivered again with their identifiers: every resuming model follows them.
    redelivered = next(s for s in report["stages"] if s["stage"] == "re-delivered (0.1%)")
    assert redelivered["rows"] == 2  # a CRM person and an RSVP, at this size
    assert report["redelivered_modes"] == dict.fromkeys(RESUMING_MODELS, "resumed")
    assert not [n for n in report["dbt_nodes_full"] if n["status"] in FAILED_STATUSES]
    # Start offsets show what ran side by side: the first node at 0, a model after its parents.
    started = {n["node"].rsplit(".", 1)[-1]: n["started"] for n in report["dbt_nodes_full"]}
    assert min(started.values()) == 0
    assert started["int_identity"] < started["int_persons"] < started["dim_supporter"]
    # The report is on disk under the caller's home, the scratch campaign under bench/.
    written = json.loads(Path(report["report_path"]).read_text())
    assert Path(report["report_path"]).parent == home / "reports"
    assert written["stages"] == report["stages"]
    assert (home / "bench" / "custom" / "warehouse.duckdb").exists()
    # The erased people are tombstoned as an erasure does: identifiers and declared accounts,
    # so staging and gate rule 2 pay for every kind a real campaign's tombstones hold.
    tombstones = home / "bench" / "custom" / "compliance" / "tombstones.parquet"
    with duckdb.connect() as con:
        kinds = con.execute(f"select distinct kind from read_parquet('{tombstones}')").fetchall()
    assert {k for (k,) in kinds} == {"email", "phone", "facebook_id", "x_user_id"}
    with duckdb.connect(str(home / "bench" / "custom" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from marts.dim_supporter").fetchone()[0] > 0


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_a_stage_that_runs_out_of_memory_is_reported_and_the_report_still_written(
    home: Path, monkeypatch: pytest.MonkeyPatch
):
    # 16 MB lets DuckDB generate the tiny campaign but not build staging: a real out-of-memory
    # failure, as the +1 % run of L had, not a simulated one.
    monkeypatch.setenv("SOCLE_DUCKDB_MEMORY", "16MB")
    report = bench.run("custom", people=300, interactions=3000, as_of=TODAY)

    stages = report["stages"]
    assert [s["stage"] for s in stages] == ["generate landing", "landing -> staging"]
    assert stages[0]["error"] == ""
    failed = stages[-1]
    assert report["failed_stage"] == failed["stage"]
    assert failed["error"].startswith("WarehouseBuildError: dbt build")
    assert failed["seconds"] > 0
    assert failed["peak_children_rss_mb"] > 0
    assert report["full_build_over_yardstick"] is None
    written = json.loads(Path(report["report_path"]).read_text())
    assert written["failed_stage"] == "landing -> staging"
    assert written["stages"] == stages
    table = bench.format_table(report)
    assert "FAILED" in table
    assert "stopped: landing -> staging failed" in table
