"""Run the gates on the build database, record the verdict, and enforce it.

``run_gates`` computes the nine GDPR rules and the data-quality checks in DuckDB (read-only),
has Great Expectations validate the results and publish Data Docs, then records the verdict
three times: in the build database (``compliance.gate_results``, published with it), in the
history file ``<home>/compliance/gate_history.jsonl`` (trends), and in a seal beside the build
file (``warehouse.duckdb.gate.json``: verdict, and the build file's identity and change time
as validated) that ``socle.publish`` checks before publishing.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from socle.config import Paths, paths
from socle.gates import settings
from socle.gates.catalog import Catalog, connect_read_only
from socle.gates.quality import CHECKS
from socle.gates.rules import RULES, Context, Rule
from socle.gates.validation import validate
from socle.retention import retention_windows

log = logging.getLogger(__name__)

MAX_EXAMPLES = 5
# Errors whose message names only SQL objects, never a value read from the data.
_SAFE_ERRORS = (duckdb.BinderException, duckdb.CatalogException, duckdb.ParserException)


class GateFailure(Exception):
    """The build must not be published: names each failing rule or check and its count."""


@dataclass(frozen=True)
class RuleResult:
    rule_id: str
    number: int
    name: str
    passed: bool
    violations: int
    examples: tuple[str, ...] = ()
    details: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def label(self) -> str:
        return f"rule {self.number} ({self.name})"


@dataclass(frozen=True)
class CheckResult:
    check_id: str
    name: str
    severity: str
    passed: bool
    observed: float | None
    expected: str
    error: str | None = None


@dataclass(frozen=True)
class GateReport:
    run_id: str
    run_at: datetime
    build_db: Path
    rules: tuple[RuleResult, ...]
    checks: tuple[CheckResult, ...]
    data_docs: Path | None = None

    @property
    def passed(self) -> bool:
        """True only when every GDPR rule and every ``fail``-severity check passed."""
        return all(r.passed for r in self.rules) and all(
            c.passed for c in self.checks if c.severity == "fail"
        )

    def failures(self) -> list[str]:
        """One line per blocking failure, with counts only."""
        lines = [
            f"{r.label}: " + (f"could not be computed ({r.error})" if r.error else f"{r.violations} rows")
            for r in self.rules
            if not r.passed
        ]
        lines += [
            f"check {c.check_id} ({c.name}): "
            + (
                f"could not be computed ({c.error})"
                if c.error
                else f"observed {_num(c.observed)}, expected {c.expected}"
            )
            for c in self.checks
            if not c.passed and c.severity == "fail"
        ]
        return lines

    def summary(self) -> dict:
        """JSON-ready: the history line, the task's XCom, what the report reads."""
        return {
            "run_id": self.run_id,
            "run_at": self.run_at.isoformat(),
            "build_db": str(self.build_db),
            "passed": self.passed,
            "rules": [{"rule": r.label, **asdict(r), "examples": list(r.examples)} for r in self.rules],
            "checks": [asdict(c) for c in self.checks],
            "data_docs": str(self.data_docs) if self.data_docs else None,
        }


def _num(value: float | None) -> str:
    if value is None:
        return "nothing"
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def _safe_error(error: Exception) -> str:
    name = type(error).__name__
    if isinstance(error, _SAFE_ERRORS):
        return f"{name}: {str(error).splitlines()[0][:200]}"
    return name  # a conversion error may quote a value: keep the type only


def _evaluate_rule(ctx: Context, rule: Rule) -> Finding:
    started = time.perf_counter()
    try:
        return _find(ctx, rule)
    finally:
        # Rule and seconds only: what a slow gate costs, never what it found.
        log.info("gate %s evaluated in %.1fs", rule.rule_id, time.perf_counter() - started)


def _find(ctx: Context, rule: Rule) -> Finding:
    try:
        queries = rule.queries(ctx)
        if not queries:
            return Finding()
        union = " union all ".join(f"({q})" for q in queries)
        # One scan: the violations are materialised once, then counted and sampled.
        rows = ctx.con.execute(
            f"""
            with found as materialized ({union}),
            per_detail as (select detail, count(*) as n from found group by detail),
            sample as (select distinct key from found where key is not null order by key limit {MAX_EXAMPLES})
            select 'detail' as part, detail as value, n from per_detail
            union all
            select 'example', key, null from sample
            """
        ).fetchall()
        details = dict(sorted((value, n) for part, value, n in rows if part == "detail"))
        examples = tuple(sorted(value for part, value, _ in rows if part == "example"))
        return Finding(sum(details.values()), examples, details)
    except duckdb.Error as error:
        return Finding(error=_safe_error(error))


def _measure(ctx: Context) -> tuple[dict[str, float | None], dict[str, str]]:
    metrics: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    for check in CHECKS:
        try:
            sql = check.metric(ctx)
            value = ctx.con.execute(sql).fetchone()[0] if sql else None
            metrics[check.check_id] = None if value is None else float(value)
        except duckdb.Error as error:
            metrics[check.check_id] = None
            errors[check.check_id] = _safe_error(error)
    return metrics, errors


def _expected(expectation: dict) -> str:
    low, high = expectation["kwargs"].get("min_value"), expectation["kwargs"].get("max_value")
    if low is not None and high is not None:
        return f"{_num(low)}" if low == high else f"between {_num(low)} and {_num(high)}"
    return f"at least {_num(low)}" if low is not None else f"at most {_num(high)}"


@dataclass(frozen=True)
class Finding:
    """What one rule's SQL found, before GX judges it."""

    violations: int = 0
    examples: tuple[str, ...] = ()
    details: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def count(self) -> int | None:
        """The count GX judges; an uncomputable rule has none, which its expectation fails."""
        return None if self.error else self.violations


@dataclass(frozen=True)
class Measurements:
    rules: dict[str, Finding]
    metrics: dict[str, float | None]
    check_errors: dict[str, str]


def measure(build_db: Path | None = None, *, now: datetime | None = None) -> Measurements:
    """Compute every rule and check on a read-only connection to the build database."""
    p = paths()
    con = connect_read_only(Path(build_db or p.build_db))
    try:
        now = now or datetime.now(UTC)
        ctx = Context(con, Catalog.read(con), p, retention_windows(now.date()), now)
        evaluated = {rule.rule_id: _evaluate_rule(ctx, rule) for rule in RULES}
        metrics, check_errors = _measure(ctx)
    finally:
        con.close()
    return Measurements(evaluated, metrics, check_errors)


def run_gates(build_db: Path | None = None, *, now: datetime | None = None) -> GateReport:
    """Validate the build database; record and return the verdict (does not raise on failure).

    ``now`` is the reference time of retention and due dates (default: the current time).
    """
    p = paths()
    build_db = Path(build_db or p.build_db)
    now = now or datetime.now(UTC)
    severities = settings.severities()
    # No verdict until this run gives one: a crash below leaves nothing publish could trust.
    seal_path(build_db).unlink(missing_ok=True)
    found = measure(build_db, now=now)
    evaluated, metrics, check_errors = found.rules, found.metrics, found.check_errors
    counts = {rule.column: evaluated[rule.rule_id].count for rule in RULES}
    run_id = uuid.uuid4().hex
    outcomes = validate(p, counts, metrics, severities, run_name=f"gate-{run_id[:12]}")
    rules = tuple(
        RuleResult(
            rule_id=rule.rule_id,
            number=rule.number,
            name=rule.name,
            passed=outcomes[rule.column].success and evaluated[rule.rule_id].error is None,
            violations=evaluated[rule.rule_id].violations,
            examples=evaluated[rule.rule_id].examples,
            details=evaluated[rule.rule_id].details,
            error=evaluated[rule.rule_id].error,
        )
        for rule in RULES
    )
    checks = tuple(
        CheckResult(
            check_id=check.check_id,
            name=check.name,
            severity=severities.get(check.check_id, "fail"),
            passed=outcomes[check.check_id].success and check.check_id not in check_errors,
            observed=metrics[check.check_id],
            expected=_expected(outcomes[check.check_id].expectation),
            error=check_errors.get(check.check_id),
        )
        for check in CHECKS
    )
    report = GateReport(run_id, now, build_db, rules, checks, p.data_docs / "index.html")
    _record(report, p)
    return report


def enforce(report: GateReport) -> None:
    """Raise ``GateFailure`` unless the report passed; the message names rules and counts only."""
    if report.passed:
        return
    gdpr_failed = any(not r.passed for r in report.rules)
    title = "GDPR gate failed" if gdpr_failed else "Data-quality gate failed"
    raise GateFailure(f"{title}: " + "; ".join(report.failures()))


# --- recording the verdict -------------------------------------------------------------------


def seal_path(build_db: Path) -> Path:
    """The verdict on a build, beside it: publish refuses a build without a passing seal."""
    return build_db.with_name(build_db.name + ".gate.json")


# Linux stamps file times from a clock that advances in ticks of 1-10 ms (the kernel's HZ),
# whole seconds on file systems without nanosecond times: two writes within one tick can
# leave the same times. Sealing waits until the clock is two ticks past the file's last
# change, so any later write gets a later change time.
_CLOCK_TICK_NS = 10_000_000
_SECOND_NS = 1_000_000_000


def file_state(path: Path) -> dict[str, int]:
    """Which file this is (device, inode) and its size, modification and change times (ns).

    Every write changes the change time (ctime), which no user-space call can set back
    (``touch`` and ``os.utime`` set the modification time only): an unchanged state is an
    unwritten file. Reading it costs nothing; hashing the file cost 11 s at M (2.4 GB).
    """
    st = path.stat()
    return {
        "device": st.st_dev,
        "inode": st.st_ino,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
    }


def settled_file_state(path: Path) -> dict[str, int]:
    """``file_state`` once the clock has moved two ticks past the last change (see above)."""
    state = file_state(path)
    tick = _SECOND_NS if state["ctime_ns"] % _SECOND_NS == 0 else _CLOCK_TICK_NS
    wait_ns = state["ctime_ns"] + 2 * tick - time.time_ns()
    if wait_ns > 0:
        time.sleep(min(wait_ns, 2 * _SECOND_NS) / 1e9)  # bounded: a clock set back waits no longer
    return state


def _record(report: GateReport, p: Paths) -> None:
    _write_results_table(report)
    summary = report.summary()
    p.compliance_store.mkdir(parents=True, exist_ok=True)
    with (p.compliance_store / "gate_history.jsonl").open("a") as history:
        history.write(json.dumps(summary, sort_keys=True) + "\n")
    # Sealed after the results table is written and the file closed: the seal names the
    # exact file, in the exact state, that publish may put in place.
    seal = {
        "run_id": report.run_id,
        "run_at": report.run_at.isoformat(),
        "passed": report.passed,
        "file": settled_file_state(report.build_db),
        "failures": report.failures(),
    }
    target = seal_path(report.build_db)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(seal, indent=2, sort_keys=True))
    tmp.replace(target)


def _write_results_table(report: GateReport) -> None:
    rows = [
        (
            report.run_id,
            report.run_at,
            "gdpr",
            r.rule_id,
            r.name,
            "fail",
            r.passed,
            r.violations,
            None,
            list(r.examples),
            json.dumps(r.details, sort_keys=True),
            r.error,
        )
        for r in report.rules
    ] + [
        (
            report.run_id,
            report.run_at,
            "data_quality",
            c.check_id,
            c.name,
            c.severity,
            c.passed,
            None,
            c.observed,
            [],
            None,
            c.error,
        )
        for c in report.checks
    ]
    with duckdb.connect(str(report.build_db)) as con:
        con.execute("create schema if not exists compliance")
        con.execute(
            """
            create or replace table compliance.gate_results (
                run_id varchar, run_at timestamptz, suite varchar, check_id varchar, name varchar,
                severity varchar, passed boolean, violations bigint, observed double,
                example_keys varchar[], details json, error varchar
            )
            """
        )
        con.executemany(
            "insert into compliance.gate_results values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
        )
        con.execute("checkpoint")
