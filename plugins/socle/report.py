"""The compliance report for the DPO: ``<home>/reports/compliance/index.html``.

One self-contained page (inline CSS and SVG, no script, no external asset): the verdict of
the last gate run rule by rule with its trend, pseudonymous examples, the data-quality
checks, open data-subject requests and their due dates, the latest retention actions, a
link to the Great Expectations Data Docs, and the register of processing (GDPR art. 30)
generated from the dbt models' ``meta``.

It is built from records that hold no personal data (gate history, request ledger,
retention log, dbt manifest), and example keys of people erased since are left out.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from socle.config import DBT_PROJECT_DIR, Paths, paths
from socle.dsr import request_log_rows
from socle.gates.catalog import Catalog, connect_read_only
from socle.gates.rules import RULES, Context, requests_sql
from socle.publish import last_build
from socle.retention import retention_windows

TREND_RUNS = 20
REGISTER_FIELDS = ("purpose", "lawful_basis", "retention", "audience", "data_categories", "recipients")
# Retention log fields shown (counts and names of entities, never a value from the data).
RETENTION_FIELDS = ("at", "action", "entity", "rows", "files")
OVERDUE = '<span class="badge fail">OVERDUE</span>'
IN_TIME = '<span class="badge pass">open, in time</span>'
ANSWERED_IN_TIME = '<span class="badge pass">in time</span>'
ANSWERED_LATE = '<span class="badge warn">answered late</span>'

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:72rem;
color:#1d2330;line-height:1.45;padding:0 1rem}
h1{margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:2px solid #e3e6ec;padding-bottom:.3rem}
.muted{color:#5d6678}.small{font-size:.85rem}
table{border-collapse:collapse;width:100%;margin:.6rem 0}th,td{border-bottom:1px solid #e3e6ec;
padding:.45rem .5rem;text-align:left;vertical-align:top}th{background:#f5f6f9;font-weight:600}
.badge{display:inline-block;padding:.1rem .55rem;border-radius:1rem;font-weight:600;font-size:.85rem}
.pass{background:#e3f5e8;color:#17622e}.fail{background:#fde5e5;color:#9b1c1c}
.warn{background:#fff3d6;color:#7a5300}.na{background:#eceef2;color:#4b5363}
.verdict{font-size:1.15rem;padding:.8rem 1rem;border-radius:.5rem;margin:1rem 0}
code{font-size:.8rem;background:#f5f6f9;padding:.05rem .3rem;border-radius:.25rem;word-break:break-all}
ul.tight{margin:.2rem 0;padding-left:1.1rem}
"""


def _read_history(p: Paths) -> list[dict]:
    history = p.compliance_store / "gate_history.jsonl"
    if not history.exists():
        return []
    runs = []
    for line in history.read_text().splitlines():
        if line.strip():
            try:
                runs.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line from a crash must not hide the others
    return runs


def _erased_keys(p: Paths) -> set[str]:
    tombstones = p.tombstones
    if not tombstones.exists():
        return set()
    column = pq.read_table(tombstones, columns=["identifier_hash"]).column(0).to_pylist()
    return {str(h).strip().lower() for h in column if h}


def _sparkline(values: list[int]) -> str:
    if len(values) < 2:
        return '<span class="muted small">first run</span>'
    width, height, top = 120, 26, max(max(values), 1)
    step = width / (len(values) - 1)
    points = " ".join(
        f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}" for i, v in enumerate(values)
    )
    colour = "#9b1c1c" if values[-1] else "#17622e"
    label = escape(f"violations over the last {len(values)} runs: " + ", ".join(map(str, values)))
    return (
        f'<svg width="{width}" height="{height}" role="img" aria-label="{label}"><title>{label}</title>'
        f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/></svg>'
    )


def _badge(passed: bool | None, *, severity: str = "fail") -> str:
    if passed is None:
        return '<span class="badge na">not run</span>'
    if passed:
        return '<span class="badge pass">passed</span>'
    return (
        '<span class="badge warn">warning</span>'
        if severity == "warn"
        else '<span class="badge fail">FAILED</span>'
    )


def _rules_section(runs: list[dict], erased: set[str]) -> str:
    latest = {r.get("rule_id"): r for r in (runs[-1].get("rules", []) if runs else [])}
    trend_runs = runs[-TREND_RUNS:]
    rows = []
    for rule in RULES:
        result = latest.get(rule.rule_id)
        counts = [
            next(
                (r.get("violations", 0) for r in run.get("rules", []) if r.get("rule_id") == rule.rule_id), 0
            )
            for run in trend_runs
        ]
        shown = (result or {}).get("examples", [])
        examples = [k for k in shown if str(k).lower() not in erased]
        hidden = len(shown) - len(examples)
        details = (result or {}).get("details", {}) or {}
        where = "".join(f"<li>{escape(d)}: {n}</li>" for d, n in details.items())
        keys = "".join(f"<li><code>{escape(str(k))}</code></li>" for k in examples)
        error = (result or {}).get("error")
        rows.append(
            "<tr>"
            f"<td><strong>Rule {rule.number}</strong><br>{escape(rule.name[0].upper() + rule.name[1:])}"
            f'<div class="muted small">{escape(rule.explanation)}</div></td>'
            f"<td>{_badge(result.get('passed') if result else None)}</td>"
            f"<td>{escape(str(result.get('violations', 0))) if result else '–'}</td>"
            f"<td>{_sparkline(counts) if result else ''}</td>"
            f'<td class="small">{f"<ul class=tight>{where}</ul>" if where else ""}'
            f"{f'<div>could not be computed: {escape(error)}</div>' if error else ''}</td>"
            f'<td class="small">{f"<ul class=tight>{keys}</ul>" if keys else ""}'
            f"{f'<div class=muted>{hidden} key(s) of erased people not shown</div>' if hidden else ''}</td>"
            "</tr>"
        )
    return (
        "<h2>GDPR rules</h2>"
        '<p class="muted">Each rule is checked on every build, before anything is published. '
        "A failing rule stops publication. Examples are pseudonymous person keys (or request ids): "
        "look a key up in the restricted warehouse if you need to act on it.</p>"
        "<table><tr><th>Rule</th><th>Status</th><th>Rows</th><th>Trend</th><th>Where</th>"
        "<th>Examples (pseudonymous)</th></tr>" + "".join(rows) + "</table>"
    )


def _checks_section(runs: list[dict]) -> str:
    checks = runs[-1].get("checks", []) if runs else []
    if not checks:
        return ""
    rows = "".join(
        "<tr>"
        f"<td>{escape(c.get('name', ''))}"
        f"<div class='muted small'><code>{escape(c.get('check_id', ''))}</code></div></td>"
        f"<td>{escape(c.get('severity', ''))}</td>"
        f"<td>{_badge(c.get('passed'), severity=c.get('severity', 'fail'))}</td>"
        f"<td>{escape(_number(c.get('observed')))}</td><td>{escape(str(c.get('expected', '')))}</td>"
        "</tr>"
        for c in checks
    )
    return (
        "<h2>Data quality</h2>"
        '<p class="muted">Checks marked <em>fail</em> block publication; '
        "<em>warn</em> checks are reported only "
        "(severities are set in <code>expectations/severity.yml</code>).</p>"
        "<table><tr><th>Check</th><th>Severity</th><th>Status</th><th>Observed</th><th>Expected</th></tr>"
        f"{rows}</table>"
    )


def _number(value: object) -> str:
    if value is None:
        return "not applicable"
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:.2f}"


def _runs_section(runs: list[dict]) -> str:
    if not runs:
        return ""
    rows = []
    for run in reversed(runs[-10:]):
        failed = [str(r.get("number")) for r in run.get("rules", []) if not r.get("passed")]
        rows.append(
            f"<tr><td>{escape(_when(run.get('run_at')))}</td><td>{_badge(run.get('passed'))}</td>"
            f"<td>{escape(', '.join(failed)) or '–'}</td></tr>"
        )
    return (
        "<h2>Recent gate runs</h2><table><tr><th>When (UTC)</th><th>Verdict</th><th>Failed rules</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _when(value: object) -> str:
    if not value:
        return "–"
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(value)


def _requests_section(p: Paths, build_db: Path, now: datetime) -> str:
    intro = "<h2>Data-subject requests</h2>"
    try:
        con = connect_read_only(build_db) if build_db.exists() else duckdb.connect()
    except duckdb.Error:
        return (
            intro
            + '<p class="muted">The warehouse could not be opened to list requests.</p>'
            + _answered_requests()
        )
    try:
        catalog = Catalog.read(con) if build_db.exists() else Catalog({})
        ctx = Context(con, catalog, p, retention_windows(now.date()), now)
        sql = requests_sql(ctx)
        rows = (
            con.execute(
                f"select request_id, request_type, received_at, due_at, overdue from ({sql}) "
                "where not answered order by due_at nulls last, request_id"
            ).fetchall()
            if sql
            else []
        )
        answered = con.execute(f"select count(*) from ({sql}) where answered").fetchone()[0] if sql else 0
    except duckdb.Error as error:
        unread = f'<p class="muted">Open requests could not be read ({escape(type(error).__name__)}).</p>'
        return intro + unread + _answered_requests()
    finally:
        con.close()
    return intro + _open_requests(rows, answered) + _answered_requests()


def _open_requests(rows: list[tuple], answered: int) -> str:
    if not rows:
        return f"<p>No open request. {answered} request(s) answered.</p>"
    table = "".join(
        f"<tr><td><code>{escape(str(rid))}</code></td><td>{escape(str(kind))}</td><td>{escape(_when(received))}</td>"
        f"<td>{escape(_when(due))}</td><td>{OVERDUE if overdue else IN_TIME}</td></tr>"
        for rid, kind, received, due, overdue in rows
    )
    return (
        f"<p>{len(rows)} open request(s), {answered} answered. A request is due one month after receipt "
        "(GDPR art. 12(3)).</p><table><tr><th>Request</th><th>Type</th><th>Received</th><th>Due</th>"
        f"<th>Status</th></tr>{table}</table>"
    )


def _answered_requests(limit: int = 20) -> str:
    """The latest answered requests, with whether the answer came in time (from the request ledger)."""
    answered = [r for r in request_log_rows() if r.get("done_at") is not None][-limit:]
    if not answered:
        return ""
    late = sum(1 for r in answered if not r["answered_in_time"])
    table = "".join(
        f"<tr><td><code>{escape(str(r['request_id']))}</code></td><td>{escape(str(r['request_type']))}</td>"
        f"<td>{escape(_when(r['received_at']))}</td><td>{escape(_when(r['due_at']))}</td>"
        f"<td>{escape(_when(r['done_at']))}</td>"
        f"<td>{ANSWERED_IN_TIME if r['answered_in_time'] else ANSWERED_LATE}</td></tr>"
        for r in reversed(answered)
    )
    summary = f"{late} answered after their due date." if late else "All answered in time."
    return (
        f"<h3>Answered requests</h3><p>The latest {len(answered)} answered. {summary}</p>"
        "<table><tr><th>Request</th><th>Type</th><th>Received</th><th>Due</th><th>Answered</th>"
        f"<th>In time?</th></tr>{table}</table>"
    )


def _retention_section(p: Paths, now: datetime) -> str:
    windows = retention_windows(now.date())
    intro = (
        "<h2>Retention</h2><p>Windows in force: supporters and members "
        f"{windows.contact_months} months after their last activity; prospects until the campaign ends "
        f"({escape(windows.campaign_end.isoformat())}); comment text {windows.comment_text_days} days; "
        f"quarantined rows {windows.rejected_days} days; "
        f"access-request exports {windows.access_export_days} days "
        "(CNIL délibération 2012-020 and 2023 guidance on social networks).</p>"
    )
    log = p.compliance_store / "retention_log.jsonl"
    if not log.exists():
        return intro + '<p class="muted">No retention run recorded yet.</p>'
    entries = []
    for line in log.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    if not entries:
        return intro + '<p class="muted">No retention run recorded yet.</p>'
    last = entries[-1].get("at")
    actions = [e for e in entries if e.get("at") == last and e.get("action") != "run"]
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(str(e.get(k, '')))}</td>" for k in RETENTION_FIELDS[1:]) + "</tr>"
        for e in actions
    )
    body = (
        f"<table><tr><th>Action</th><th>Entity</th><th>Rows</th><th>Files</th></tr>{rows}</table>"
        if rows
        else "<p>Nothing was past its window.</p>"
    )
    return intro + f"<p>Last retention run: {escape(_when(last))} UTC.</p>" + body


def _validation_pages(p: Paths, latest: dict | None, base: Path) -> str:
    """Links to the last run's validation pages (GX names them after the gate run)."""
    if not latest or not latest.get("run_id"):
        return ""
    links = []
    for suite, title in (("gdpr", "GDPR rules"), ("data_quality", "data-quality checks")):
        found = sorted(
            (p.data_docs / "validations" / suite / f"gate-{latest['run_id'][:12]}").rglob("*.html")
        )
        if found:
            links.append(f'<a href="{escape(os.path.relpath(found[-1], base))}">{title}</a>')
    return " Last run: " + ", ".join(links) + "." if links else ""


def _manifest_path(manifest: Path | None, p: Paths) -> Path | None:
    if manifest is not None:
        return manifest if manifest.exists() else None
    candidates = [p.build_dir / "dbt_target" / "manifest.json", DBT_PROJECT_DIR / "target" / "manifest.json"]
    found = [c for c in candidates if c.exists()]
    return max(found, key=lambda c: c.stat().st_mtime) if found else None


def _register_section(manifest: Path | None) -> str:
    intro = (
        "<h2>Register of processing (GDPR art. 30)</h2>"
        '<p class="muted">Generated from the documentation of each warehouse table '
        "(dbt model <code>meta</code>).</p>"
    )
    if manifest is None:
        return intro + (
            '<p class="verdict warn">The dbt manifest was not found, so the register could not be generated. '
            "It is written by every warehouse build (or <code>dbt parse</code>).</p>"
        )
    nodes = json.loads(manifest.read_text()).get("nodes", {})
    rows = []
    for node in sorted(nodes.values(), key=lambda n: (n.get("schema", ""), n.get("name", ""))):
        if node.get("resource_type") != "model":
            continue
        meta = {**(node.get("meta") or {}), **((node.get("config") or {}).get("meta") or {})}
        if not any(field in meta for field in REGISTER_FIELDS) and node.get("schema") not in (
            "marts",
            "restricted",
        ):
            continue
        cells = []
        for field in REGISTER_FIELDS:
            value = meta.get(field)
            if value is None:
                cells.append('<td><span class="badge warn">not documented</span></td>')
            elif isinstance(value, list):
                cells.append(
                    "<td><ul class=tight>"
                    + "".join(f"<li>{escape(str(v))}</li>" for v in value)
                    + "</ul></td>"
                )
            else:
                cells.append(f"<td>{escape(str(value))}</td>")
        rows.append(
            f"<tr><td><strong>{escape(node.get('schema', ''))}.{escape(node.get('name', ''))}</strong>"
            f'<div class="muted small">{escape(node.get("description", "") or "")}</div></td>'
            f"{''.join(cells)}</tr>"
        )
    if not rows:
        return intro + '<p class="muted">No documented model in the manifest.</p>'
    header = "".join(f"<th>{escape(f.replace('_', ' ').capitalize())}</th>" for f in REGISTER_FIELDS)
    return intro + f"<table><tr><th>Table</th>{header}</tr>{''.join(rows)}</table>"


def write_compliance_report(
    target: Path | None = None,
    *,
    build_db: Path | None = None,
    manifest: Path | None = None,
    now: datetime | None = None,
) -> Path:
    """Write the report (default ``<home>/reports/compliance/index.html``) atomically; returns its path.

    Works with whatever exists: no gate run yet, no request ledger, no manifest each give
    a clear note instead of a section.
    """
    p = paths()
    target = Path(target or p.compliance_report)
    build_db = last_build(build_db)
    now = now or datetime.now(UTC)
    runs = _read_history(p)
    latest = runs[-1] if runs else None
    if latest is None:
        verdict = '<div class="verdict na">No gate run recorded yet.</div>'
    elif latest.get("passed"):
        verdict = (
            '<div class="verdict pass">The last build passed every GDPR rule and blocking check: it was '
            f"cleared for publication ({escape(_when(latest.get('run_at')))} UTC).</div>"
        )
    else:
        rules = sum(1 for r in latest.get("rules", []) if not r.get("passed"))
        checks = sum(
            1 for c in latest.get("checks", []) if not c.get("passed") and c.get("severity") == "fail"
        )
        verdict = (
            '<div class="verdict fail">The last build was <strong>not published</strong>: '
            f"{rules} GDPR rule(s) and {checks} blocking check(s) failed "
            f"({escape(_when(latest.get('run_at')))} UTC). "
            "The previously published warehouse stays in place.</div>"
        )
    docs = os.path.relpath(p.data_docs / "index.html", target.parent)
    pages = _validation_pages(p, latest, target.parent)
    html = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Socle compliance report</title><style>{CSS}</style></head><body>"
        "<h1>Socle compliance report</h1>"
        f'<p class="muted">Generated {escape(now.astimezone(UTC).strftime("%Y-%m-%d %H:%M"))} UTC. '
        "This page holds no personal data: people appear only as pseudonymous keys.</p>"
        + verdict
        + _rules_section(runs, _erased_keys(p))
        + _checks_section(runs)
        + _runs_section(runs)
        + _requests_section(p, build_db, now)
        + _retention_section(p, now)
        + "<h2>Validation details</h2>"
        f'<p>The Great Expectations Data Docs show each expectation and its result: <a href="{escape(docs)}">'
        "open the Data Docs</a> (on this machine)."
        + pages
        + "</p>"
        + _register_section(_manifest_path(manifest, p))
        + "</body></html>"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, target)
    return target
