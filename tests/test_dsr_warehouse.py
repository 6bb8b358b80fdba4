"""Erasure against a warehouse really built by dbt (the dbt project's own fixture campaign).

Proves the erasure finds the person through the real ``int_identity``/``int_persons``, deletes
them from every table (intermediate, marts, restricted) of both the published and the build
database, and that the compacted databases keep every relation dbt made.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from test_dbt_build import ALICE, ALICE_PHONE, AS_OF, BOB, SECRET, key, land_campaign
from test_dsr import request

from socle import dsr, warehouse
from socle.config import paths

pytestmark = pytest.mark.integration


def relations(db: Path) -> dict[str, int]:
    """Every table and view with its row count (views count through the landing zone)."""
    from socle.dbt_plugin import register_udfs

    with register_udfs(duckdb.connect(str(db), read_only=True)) as con:
        names = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables order by 1"
        ).fetchall()
        return {name: con.execute(f"select count(*) from {name}").fetchone()[0] for (name,) in names}


def values(db: Path) -> str:
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE'"
        ).fetchall()
        return "\n".join(
            str(row)
            for schema, table in tables
            for row in con.execute(f'select * from "{schema}"."{table}"').fetchall()
        ).lower()


def test_erasure_removes_the_person_from_a_dbt_built_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    monkeypatch.setenv("SOCLE_PSEUDONYM_SECRET", SECRET)
    land_campaign(tmp_path)
    assert warehouse.build(as_of=AS_OF).success
    shutil.copy2(paths().build_db, paths().warehouse)
    before = relations(paths().warehouse)
    assert ALICE in values(paths().warehouse)

    request("req-wh-1", "erasure", datetime(2026, 11, 28, tzinfo=UTC), email=ALICE)
    run = dsr.apply_pending_requests(now=datetime(2026, 11, 29, tzinfo=UTC))

    assert run.done.get("erasure") == 1
    assert run.failed == 0
    for db in (paths().warehouse, paths().build_db):
        text = values(db)
        assert ALICE not in text
        assert ALICE_PHONE not in text
        assert key(ALICE) not in text
        assert key(BOB) in text  # everyone else stays
        raw = db.read_bytes().lower()
        assert ALICE.encode() not in raw
        after = relations(db)
        assert after.keys() == before.keys()  # compaction kept every table and view
    affected = json.loads(
        next(r for r in dsr.request_log_rows() if r["request_id"] == "req-wh-1")["rows_affected"]
    )
    for table in ("intermediate.int_persons", "marts.dim_supporter", "restricted.contact_list_email"):
        assert affected[f"warehouse:{table}"] >= 1
    for part in (tmp_path / "landing").rglob("*.parquet"):
        assert ALICE not in str(pq.read_table(part).to_pylist()).lower()
