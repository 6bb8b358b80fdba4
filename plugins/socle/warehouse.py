"""The warehouse runner: dbt on a build copy of the warehouse (write-audit-publish).

``build()`` copies the published ``warehouse.duckdb`` to ``build/warehouse.duckdb`` (so
incremental models continue from the last good state) and runs ``dbt build`` on the copy.
The gates then validate the copy and only a passing copy is published (not this module's
job). dbt runs as a subprocess so its global state, logging and DuckDB lock stay out of
the caller's process.

Nothing here prints or raises with row values: results name nodes and count rows, dbt's
own output goes to a log file under the data home.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from socle.config import DBT_PROJECT_DIR, paths
from socle.tombstones import tombstones_path

log = logging.getLogger(__name__)

# run_results statuses that mean the build must not be published.
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})

# The build in layers, in dependency order, for Airflow (one task, log and retry per
# layer). Each selector builds the layer's nodes with their tests and unit tests; the
# seeds (points scale) go with staging so every later layer finds them.
LAYER_SELECTORS: dict[str, tuple[str, ...]] = {
    "staging": ("resource_type:seed", "path:models/staging"),
    "intermediate": ("path:models/intermediate",),
    "marts": ("path:models/marts",),
}
DBT_LAYERS: tuple[str, ...] = tuple(LAYER_SELECTORS)

# dbt's data and unit tests are run on a cadence, not by every hourly build: at national
# scale they cost more than the models (docs/benchmarks.md). Builds in between run the
# models only; the GDPR gates validate every build whatever the cadence. 0 = every build.
DATA_TESTS_EVERY_HOURS = "SOCLE_DATA_TESTS_EVERY_HOURS"
_SKIP_TESTS = ("--exclude-resource-type", "test", "unit_test")


class WarehouseBuildError(RuntimeError):
    """dbt did not succeed; the message names the failed nodes and where the log is."""

    def __init__(self, result: DbtRunResult) -> None:
        self.result = result
        failed = ", ".join(result.failed_nodes) or "no node result (dbt failed before running nodes)"
        super().__init__(
            f"dbt {' '.join(result.args)} failed (exit code {result.return_code}): {failed}. "
            f"Counts: {dict(result.counts)}. Details in {result.log_file}"
        )


@dataclass(frozen=True)
class NodeResult:
    """One node of run_results.json, without dbt's message (it may quote row values)."""

    unique_id: str
    status: str
    failures: int | None
    rows_affected: int | None
    execution_time: float
    started_at: float | None = None  # POSIX time of the node's first timing step

    @property
    def resource_type(self) -> str:
        return self.unique_id.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.unique_id.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class DbtRunResult:
    """What a dbt invocation did: exit code, per-node statuses and where its log is."""

    args: tuple[str, ...]
    return_code: int
    nodes: tuple[NodeResult, ...]
    elapsed_seconds: float
    log_file: Path
    target_dir: Path

    @property
    def success(self) -> bool:
        return self.return_code == 0 and not self.failed_nodes

    @property
    def counts(self) -> Counter[str]:
        """Number of nodes per status (``success``, ``pass``, ``warn``, ``fail``, ``error``...)."""
        return Counter(node.status for node in self.nodes)

    @property
    def failed_nodes(self) -> list[str]:
        return [node.unique_id for node in self.nodes if node.status in FAILED_STATUSES]

    def node(self, name: str) -> NodeResult:
        """The result of a node by unique id or by its last dotted part (model/test name)."""
        for candidate in self.nodes:
            if name in (candidate.unique_id, candidate.name):
                return candidate
        raise KeyError(name)


def build_target_dir() -> Path:
    """dbt's target dir for warehouse builds (compiled SQL, run_results.json)."""
    return paths().build_dir / "dbt_target"


def build_log_dir() -> Path:
    return paths().build_dir / "dbt_logs"


def prepare_build_db() -> Path:
    """Start a build: a copy of the published warehouse when there is one, else a fresh file.

    The copy is written under a temporary name and renamed, so a crash never leaves a
    half-copied build database; any earlier build file (and its WAL) is discarded.
    """
    p = paths()
    p.build_dir.mkdir(parents=True, exist_ok=True)
    build_db = p.build_db
    for stale in (build_db, build_db.with_name(build_db.name + ".wal")):
        stale.unlink(missing_ok=True)
    if p.warehouse.exists():
        # A WAL left by a writer that did not checkpoint (a crash) holds committed changes,
        # erasures included: it travels with the copy and DuckDB replays it on open.
        wal = p.warehouse.with_name(p.warehouse.name + ".wal")
        if wal.exists():
            _atomic_copy(wal, build_db.with_name(build_db.name + ".wal"))
        _atomic_copy(p.warehouse, build_db)
        start_writeback(build_db)
    return build_db


# Writes one file's dirty pages and waits for the disk (coreutils); the file is its argument.
WRITEBACK_COMMAND: tuple[str, ...] = ("sync", "--data")


def start_writeback(path: Path) -> subprocess.Popen[bytes] | None:
    """Start writing a file's dirty pages to disk in another process, and return at once.

    A copy that is not a reflink leaves the whole file dirty in the page cache: 2 GB at 1 M
    people, below the kernel's background threshold on a machine with memory to spare, so
    nothing writes it for 30 s and the build's first DuckDB checkpoint waits for all of it
    (docs/benchmarks.md). Started here, the writing overlaps dbt's start-up, which is CPU
    only. Another process, not a thread: closing any descriptor of a file drops every POSIX
    lock this process holds on it, DuckDB's among them. Durability is not the point: the
    copy is scratch until it is published. None (and a warning) when it cannot start.
    """
    try:
        writer = subprocess.Popen(  # noqa: S603 (fixed command, our own path)
            [*WRITEBACK_COMMAND, str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError as failed:
        log.warning("background writeback of %s not started: %s", path.name, failed.strerror)
        return None
    # Reaped when it ends (no zombie), by a thread that holds no descriptor of the file.
    threading.Thread(target=writer.wait, name=f"writeback-{path.name}", daemon=True).start()
    return writer


def _atomic_copy(source: Path, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        clone_or_copy(source, tmp)
        shutil.copystat(source, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


# copy_file_range refuses these for a pair of files it cannot copy between (two filesystems
# on an old kernel, a filesystem without it): the bytes are then copied by hand.
_NO_COPY_FILE_RANGE = frozenset({errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EPERM})


def clone_or_copy(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` with ``copy_file_range``.

    On a filesystem that shares blocks (XFS with reflink, the default since xfsprogs 5.1,
    or btrfs), the kernel makes the copy a reflink: the 2 GB build copy of a warehouse of
    1 M people takes no time and no space until the build writes (docs/benchmarks.md).
    Elsewhere the kernel copies, as ``shutil`` would.
    """
    with source.open("rb") as src, target.open("wb") as dst:
        size = os.fstat(src.fileno()).st_size
        copied = 0
        try:
            while copied < size and hasattr(os, "copy_file_range"):  # Linux only
                step = os.copy_file_range(src.fileno(), dst.fileno(), size - copied)
                if step == 0 and copied:
                    raise OSError(errno.EIO, f"{source.name} ended after {copied} of {size} bytes")
                if step == 0:
                    break  # some filesystems (FUSE, overlays) copy nothing: copy by hand
                copied += step
        except OSError as refused:
            if refused.errno not in _NO_COPY_FILE_RANGE or copied:
                raise
        if copied < size:
            shutil.copyfileobj(src, dst, 1 << 24)


def dbt_env() -> dict[str, str]:
    """The environment dbt runs with: data home, build database, log and target paths."""
    p = paths()
    env = dict(os.environ)
    env.update(
        {
            "SOCLE_HOME": str(p.home),
            "SOCLE_BUILD_DB": str(p.build_db),
            "DBT_TARGET_PATH": str(build_target_dir()),
            "DBT_LOG_PATH": str(build_log_dir()),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DBT_USE_COLORS": "false",
            "DBT_PRINTER_WIDTH": "110",
        }
    )
    return env


def dbt(
    args: list[str],
    *,
    as_of: date | None = None,
    check: bool = True,
    timeout: float | None = None,
    target_dir: Path | None = None,
) -> DbtRunResult:
    """Run one dbt command on the build database and return its per-node results.

    ``as_of`` sets the scoring date var (reruns for the same date give the same marts).
    Raises ``WarehouseBuildError`` when dbt fails and ``check`` is true.
    """
    env = dbt_env()
    target = target_dir or build_target_dir()
    env["DBT_TARGET_PATH"] = str(target)
    target.mkdir(parents=True, exist_ok=True)
    log_dir = build_log_dir()
    log_dir.mkdir(parents=True, exist_ok=True)
    paths().build_dir.mkdir(parents=True, exist_ok=True)

    command = [*args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    if as_of is not None:
        command += ["--vars", json.dumps({"as_of": as_of.isoformat()})]
    # `source freshness` reports in sources.json, every other command in run_results.json.
    run_results = target / ("sources.json" if args[:2] == ["source", "freshness"] else "run_results.json")
    run_results.unlink(missing_ok=True)  # never read a previous command's results
    log_file = log_dir / "dbt_output.log"

    started = time.monotonic()
    with log_file.open("w") as output:
        completed = subprocess.run(  # noqa: S603 (our own interpreter, fixed module)
            [sys.executable, "-m", "dbt.cli.main", *command],
            env=env,
            cwd=DBT_PROJECT_DIR,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    result = DbtRunResult(
        args=tuple(args),
        return_code=completed.returncode,
        nodes=read_run_results(run_results),
        elapsed_seconds=round(time.monotonic() - started, 3),
        log_file=log_file,
        target_dir=target,
    )
    # Node counts only: dbt's own output (which may quote values) stays in the log file.
    log.info(
        "dbt %s: exit %s, %s in %.1fs (log: %s)",
        " ".join(args[:2]),
        result.return_code,
        dict(result.counts),
        result.elapsed_seconds,
        log_file,
    )
    if check and not result.success:
        raise WarehouseBuildError(result)
    return result


def read_run_results(path: Path) -> tuple[NodeResult, ...]:
    """The nodes of a dbt run_results.json (none when the file is missing)."""
    if not path.exists():
        return ()
    payload = json.loads(path.read_text())
    return tuple(
        NodeResult(
            unique_id=item["unique_id"],
            status=str(item["status"]).lower(),
            failures=item.get("failures"),
            rows_affected=(item.get("adapter_response") or {}).get("rows_affected"),
            execution_time=float(item.get("execution_time") or 0.0),
            started_at=_started_at(item),
        )
        for item in payload.get("results", [])
    )


def _started_at(item: dict[str, object]) -> float | None:
    steps = [step["started_at"] for step in item.get("timing") or [] if step.get("started_at")]
    return min(datetime.fromisoformat(step).timestamp() for step in steps) if steps else None


def _data_tests_marker() -> Path:
    return paths().build_dir / "data_tests_passed.json"


def data_tests_due(now: datetime | None = None) -> bool:
    """Whether this build should run dbt's tests: none passed within the cadence yet."""
    hours = float(os.environ.get(DATA_TESTS_EVERY_HOURS) or 24)
    marker = _data_tests_marker()
    if hours <= 0 or not marker.exists():
        return True
    passed_at = datetime.fromisoformat(json.loads(marker.read_text())["passed_at"])
    return (now or datetime.now(UTC)) - passed_at >= timedelta(hours=hours)


def _record_data_tests_passed() -> None:
    marker = _data_tests_marker()
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"passed_at": datetime.now(UTC).isoformat()}))


def _options(data_tests: bool, full_refresh: bool) -> list[str]:
    return [*(() if data_tests else _SKIP_TESTS), *(("--full-refresh",) if full_refresh else ())]


def tombstones_changed() -> bool:
    """Whether an identifier was tombstoned since the published build.

    The incremental staging tables only filter *new* rows against the tombstones; an erasure
    through ``socle.dsr`` deletes the person's staged rows itself, but a tombstone that came
    another way (a restored warehouse) would leave them there. Any new tombstone therefore
    makes the next build a full refresh: rare (an erasure), and always correct.
    """
    p = paths()
    store = tombstones_path()
    if not store.exists() or not p.warehouse.exists():
        return False
    with duckdb.connect(str(p.warehouse), read_only=True) as con:
        try:
            (new,) = con.execute(
                "select count(*) from read_parquet(?) where lower(trim(identifier_hash)) not in "
                "(select identifier_hash from staging.stg_compliance__tombstones)",
                [str(store)],
            ).fetchone()
        except duckdb.CatalogException:
            return False  # no staging table yet: this build creates everything anew
    return new > 0


def build(
    as_of: date | None = None,
    *,
    data_tests: bool = True,
    full_refresh: bool | None = None,
    timeout: float | None = None,
) -> DbtRunResult:
    """Write step of write-audit-publish: prepare the build copy, then ``dbt build`` on it.

    ``data_tests=False`` builds the models without dbt's tests; see
    ``data_tests_due`` for the cadence the DAG follows. ``full_refresh`` rebuilds the
    incremental models from the whole landing zone (after a change of their columns);
    by default only when ``tombstones_changed()``.
    """
    if full_refresh is None:
        full_refresh = tombstones_changed()
    prepare_build_db()
    result = dbt(["build", *_options(data_tests, full_refresh)], as_of=as_of, timeout=timeout)
    if data_tests:
        _record_data_tests_passed()  # dbt() raised if anything failed
    return result


def build_layer(
    layer: str,
    *,
    as_of: date | None = None,
    data_tests: bool = True,
    full_refresh: bool = False,
    timeout: float | None = None,
) -> DbtRunResult:
    """``dbt build`` of one layer of ``DBT_LAYERS`` on the build database (prepared first).

    Running the layers in order is equivalent to ``build()``; a failed layer raises
    ``WarehouseBuildError`` and the later layers are not run by the DAG.
    """
    if layer not in LAYER_SELECTORS:
        raise ValueError(f"unknown dbt layer {layer!r}; expected one of {DBT_LAYERS}")
    # "buildable": a test spanning two layers (a relationship to a seed) runs with the later one.
    args = ["build", "--select", *LAYER_SELECTORS[layer], "--indirect-selection", "buildable"]
    result = dbt([*args, *_options(data_tests, full_refresh)], as_of=as_of, timeout=timeout)
    if data_tests and layer == DBT_LAYERS[-1]:
        _record_data_tests_passed()
    return result


def generate_manifest(target_dir: Path | None = None) -> Path:
    """``dbt parse`` into ``dbt_project/target`` (or ``target_dir``); returns manifest.json.

    Airflow renders the warehouse DAG from this file so DAG parsing never runs dbt.
    """
    target = target_dir or DBT_PROJECT_DIR / "target"
    dbt(["parse"], target_dir=target)
    return target / "manifest.json"
