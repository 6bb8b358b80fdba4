"""The warehouse runner: write-audit-publish build copies, dbt results and failures."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from socle import warehouse
from socle.config import paths
from socle.landing import Batch, write_partition

SECRET = "warehouse-test-secret"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    monkeypatch.setenv("SOCLE_PSEUDONYM_SECRET", SECRET)
    return tmp_path


def test_build_db_starts_fresh_when_nothing_is_published(home: Path) -> None:
    stale = paths().build_db
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half-built")
    build_db = warehouse.prepare_build_db()
    assert build_db == home / "build" / "warehouse.duckdb"
    assert not build_db.exists()  # dbt creates it


def test_build_db_is_a_copy_of_the_published_warehouse(home: Path) -> None:
    with duckdb.connect(str(paths().warehouse)) as con:
        con.execute("create schema marts; create table marts.fct_engagement as select 1 as n")
    build_db = warehouse.prepare_build_db()
    with duckdb.connect(str(build_db)) as con:
        assert con.execute("select n from marts.fct_engagement").fetchall() == [(1,)]
        con.execute("insert into marts.fct_engagement values (2)")
    with duckdb.connect(str(paths().warehouse), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_engagement").fetchone() == (1,)


def _appears(path: Path, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.timeout(60)
def test_build_copy_is_written_to_disk_in_the_background(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A copy leaves the file dirty in the page cache: the build must not wait for the disk,
    # and writing it must not drop the lock DuckDB holds on the file in this process.
    with duckdb.connect(str(paths().warehouse)) as con:
        con.execute("create table t as select 1 as n")
    writer = home / "writer"
    held = (
        'echo "$1" > "$0.started"; while [ ! -e "$0.release" ]; do sleep 0.02; done; '
        'sync --data "$1"; echo $? > "$0.done"'
    )
    monkeypatch.setattr(warehouse, "WRITEBACK_COMMAND", ("sh", "-c", held, str(writer)))
    build_db = warehouse.prepare_build_db()
    assert _appears(writer.with_suffix(".started"))
    assert writer.with_suffix(".started").read_text().strip() == str(build_db)
    assert not writer.with_suffix(".done").exists()  # the build went on while the disk works
    with duckdb.connect(str(build_db)) as con:
        writer.with_suffix(".release").touch()
        assert _appears(writer.with_suffix(".done"))
        assert writer.with_suffix(".done").read_text().strip() == "0"
        assert con.execute("select n from t").fetchall() == [(1,)]
        # The writer closed its descriptor in its own process: this one keeps DuckDB's lock.
        opened = subprocess.run(
            [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1])", str(build_db)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert opened.returncode != 0
        assert "lock" in opened.stderr.lower()


def test_build_copy_keeps_changes_left_in_the_published_wal(home: Path) -> None:
    # A writer (an erasure, say) that dies before its checkpoint leaves committed rows in the WAL.
    crash = (
        "import duckdb, os, sys\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "con.execute(\"set wal_autocheckpoint = '1TB'\")\n"
        "con.execute('create table t as select 1 as n')\n"
        "con.execute('checkpoint')\n"
        "con.execute('delete from t')\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", crash, str(paths().warehouse)], check=True)
    assert paths().warehouse.with_name("warehouse.duckdb.wal").exists()
    with duckdb.connect(str(warehouse.prepare_build_db())) as con:
        assert con.execute("select count(*) from t").fetchone() == (0,)


def test_clone_or_copy_copies_every_byte(tmp_path: Path) -> None:
    source = tmp_path / "warehouse.duckdb"
    source.write_bytes(os.urandom(5 << 20) + b"tail")
    warehouse.clone_or_copy(source, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == source.read_bytes()


@pytest.mark.parametrize("refusal", [errno.EXDEV, errno.EOPNOTSUPP])
def test_clone_or_copy_copies_by_hand_where_the_kernel_cannot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusal: int
) -> None:
    def refused(*args: object) -> int:
        raise OSError(refusal, os.strerror(refusal))

    monkeypatch.setattr(os, "copy_file_range", refused)
    source = tmp_path / "warehouse.duckdb"
    source.write_bytes(os.urandom(3 << 20))
    warehouse.clone_or_copy(source, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == source.read_bytes()


def test_clone_or_copy_copies_by_hand_where_the_kernel_copies_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "copy_file_range", lambda *args: 0)  # as some FUSE filesystems do
    source = tmp_path / "warehouse.duckdb"
    source.write_bytes(os.urandom(1 << 20))
    warehouse.clone_or_copy(source, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == source.read_bytes()


def test_clone_or_copy_fails_on_a_real_read_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> int:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "copy_file_range", broken)
    source = tmp_path / "warehouse.duckdb"
    source.write_bytes(b"x" * 1024)
    with pytest.raises(OSError, match="I/O error"):
        warehouse.clone_or_copy(source, tmp_path / "copy")


@pytest.mark.integration
def test_failing_dbt_test_raises_naming_the_node_without_row_values(home: Path) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    batch = Batch(source="events", interval_start=start, interval_end=start, source_uri="fixture://events")
    # An RSVP without its required event_id: a landing contract breach the build must stop on.
    write_partition(
        batch,
        "rsvps",
        [
            {
                "id": "r1",
                "event_id": None,
                "email": "leak.me@example.org",
                "status": "going",
                "updated_at": "x",
            }
        ],
    )
    warehouse.prepare_build_db()
    with pytest.raises(warehouse.WarehouseBuildError) as caught:
        warehouse.dbt(["build", "--select", "+stg_events__rsvps", "--indirect-selection", "buildable"])
    message = str(caught.value)
    assert "not_null_stg_events__rsvps_event_id" in message
    assert "leak.me" not in message
    result = caught.value.result
    assert not result.success
    assert result.counts["fail"] == 1
    assert [node.rsplit(".", 2)[1] for node in result.failed_nodes] == ["not_null_stg_events__rsvps_event_id"]
    assert result.node("stg_events__rsvps").status == "success"


@pytest.mark.integration
def test_generate_manifest_parses_the_project_without_a_database(home: Path, tmp_path: Path) -> None:
    manifest = warehouse.generate_manifest(target_dir=tmp_path / "target")
    assert manifest.exists()
    text = manifest.read_text()
    for model in ("model.socle.dim_supporter", "model.socle.contact_list_sms", "model.socle.int_identity"):
        assert model in text
    assert not paths().build_db.exists()


@pytest.mark.integration
def test_dbt_runs_one_model_at_a_time_unless_told(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Models side by side share one DuckDB memory limit: at 5 M people two ran out of it.
    compile_one = ["compile", "--select", "int_identity"]
    assert "Concurrency: 1 threads" in warehouse.dbt(compile_one).log_file.read_text()
    monkeypatch.setenv("SOCLE_DBT_THREADS", "2")
    assert "Concurrency: 2 threads" in warehouse.dbt(compile_one).log_file.read_text()
