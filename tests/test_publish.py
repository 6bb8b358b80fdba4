"""Publishing: only a build with a passing gate verdict replaces the warehouse, atomically."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from test_gates_support import NOW, build_campaign, execute

from socle.config import Paths
from socle.gates import enforce, run_gates, seal_path
from socle.gates.core import GateFailure, file_state, settled_file_state
from socle.publish import PublishRefused, publish
from socle.report import write_compliance_report
from socle.warehouse import prepare_build_db


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    return tmp_path


def _seal(build_db: Path, passed: bool) -> None:
    seal = {
        "passed": passed,
        "file": settled_file_state(build_db),
        "failures": [] if passed else ["rule 1 (x): 1 rows"],
    }
    seal_path(build_db).write_text(json.dumps(seal))


def _published(home: Path, rows: int) -> Path:
    """A published warehouse with ``rows`` rows in marts.t."""
    target = Paths(home).warehouse
    with duckdb.connect(str(target)) as con:
        con.execute("create schema marts")
        con.execute(f"create table marts.t as select range as n from range({rows})")
    return target


def _build(home: Path, rows: int) -> Path:
    build = Paths(home).build_db
    build.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(build)) as con:
        con.execute("create schema marts")
        con.execute(f"create table marts.t as select range as n from range({rows})")
    return build


def test_validated_build_replaces_the_published_warehouse(home: Path):
    _published(home, 1)
    build = _build(home, 5)
    _seal(build, passed=True)
    validated = build.read_bytes()
    target = publish()
    assert target == Paths(home).warehouse
    assert target.read_bytes() == validated
    with duckdb.connect(str(target), read_only=True) as con:
        assert con.execute("select count(*) from marts.t").fetchone()[0] == 5
    # Renamed into place, not copied: the build and its verdict are gone with it.
    assert not build.exists()
    assert not seal_path(build).exists()
    assert not list(target.parent.glob(".*.tmp"))


def test_a_build_is_published_once(home: Path):
    build = _build(home, 5)
    _seal(build, passed=True)
    published = publish().read_bytes()
    with pytest.raises(PublishRefused, match="nothing to publish"):
        publish()  # an Airflow retry of a publish that went through
    assert Paths(home).warehouse.read_bytes() == published


REFUSED = ["failed", "no verdict", "changed since validated", "rewritten in place", "replaced by a twin"]


@pytest.mark.parametrize("case", REFUSED)
def test_unvalidated_build_leaves_published_file_byte_identical(home: Path, case: str):
    before = _published(home, 3).read_bytes()
    build = _build(home, 5)
    if case == "failed":
        _seal(build, passed=False)
    elif case == "changed since validated":
        _seal(build, passed=True)
        execute(build, "insert into marts.t values (99)")
    elif case == "rewritten in place":
        # Same size, and the modification time set back: only the change time tells.
        _seal(build, passed=True)
        sealed = file_state(build)
        with build.open("r+b") as handle:
            handle.seek(sealed["size"] // 2)
            byte = handle.read(1)
            handle.seek(sealed["size"] // 2)
            handle.write(bytes([byte[0] ^ 0xFF]))
        os.utime(build, ns=(sealed["mtime_ns"], sealed["mtime_ns"]))
        now = file_state(build)
        assert (now["size"], now["mtime_ns"]) == (sealed["size"], sealed["mtime_ns"])
    elif case == "replaced by a twin":
        _seal(build, passed=True)
        twin = build.with_name("twin.duckdb")
        shutil.copy2(build, twin)  # same bytes, same modification time: still not what was validated
        os.replace(twin, build)
    with pytest.raises(PublishRefused):
        publish()
    assert Paths(home).warehouse.read_bytes() == before
    assert not list(home.glob(".*.tmp"))


def test_refusal_message_names_the_failing_rule_and_count(home: Path):
    build = _build(home, 1)
    _seal(build, passed=False)
    with pytest.raises(PublishRefused, match=r"rule 1 \(x\): 1 rows"):
        publish()


def test_reader_with_the_old_file_open_is_unaffected_by_publish(home: Path):
    target = _published(home, 3)
    build = _build(home, 7)
    _seal(build, passed=True)
    # A separate process, as an analyst's session would be: reads, waits, reads again.
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, duckdb
            con = duckdb.connect({str(target)!r}, read_only=True)
            print(con.execute("select count(*) from marts.t").fetchone()[0], flush=True)
            sys.stdin.readline()
            print(con.execute("select count(*), sum(n) from marts.t").fetchone()[0], flush=True)
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "3"
        publish()
        reader.stdin.write("go\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "3"  # still the old, complete file
        assert reader.wait(timeout=30) == 0
    finally:
        reader.kill()
    with duckdb.connect(str(target), read_only=True) as con:
        assert con.execute("select count(*) from marts.t").fetchone()[0] == 7


@pytest.mark.integration
def test_gate_verdict_decides_what_is_published(home: Path):
    """End to end with the real gates: a passing build is published, a failing one is not."""
    build = build_campaign(home)
    report = run_gates(build, now=NOW)
    assert report.passed, report.failures()
    published = publish()
    first = published.read_bytes()
    # The next build starts from the published warehouse and lets an opted-out person into a
    # contact list.
    build = prepare_build_db()
    execute(build, "update intermediate.int_consent_current set status = 'withdrawn' where purpose = 'sms'")
    report = run_gates(build, now=NOW)
    with pytest.raises(
        GateFailure, match=r"^GDPR gate failed: rule 1 \(contact lists hold only consented people\): 2 rows"
    ):
        enforce(report)
    with pytest.raises(PublishRefused):
        publish()
    assert published.read_bytes() == first


def test_a_gate_run_that_crashes_leaves_no_verdict_to_publish(home: Path):
    build = _build(home, 2)
    _seal(build, passed=True)
    # The next gate run crashes (here the build file is briefly missing): no verdict survives it.
    build_gone = build.rename(build.with_name("moved.duckdb"))
    with pytest.raises(FileNotFoundError):
        run_gates(build)
    build_gone.rename(build)
    assert not seal_path(build).exists()
    with pytest.raises(PublishRefused, match="no gate verdict"):
        publish()


@pytest.mark.integration
def test_the_report_reads_the_published_warehouse_once_the_build_has_moved_there(home: Path):
    build = build_campaign(home)
    # A request recorded only inside the warehouse (an imported ledger table).
    execute(build, "create schema if not exists compliance")
    execute(
        build,
        "create table compliance.imported_requests as select 'dsr-in-warehouse' as request_id, "
        "'access' as request_type, ?::timestamptz as received_at, null::timestamptz as answered_at",
        [NOW],
    )
    assert run_gates(build, now=NOW).passed
    publish()
    assert not build.exists()
    html = write_compliance_report(manifest=home / "absent.json", now=NOW).read_text()
    assert "dsr-in-warehouse" in html
