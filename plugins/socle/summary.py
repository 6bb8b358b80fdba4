"""The short summary printed after a run: what landed, what was built, what the gates said."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from socle.config import Paths
from socle.landing import manifest_parts


def landed_rows(landing: Path, since: datetime | None = None) -> dict[str, dict[str, int]]:
    """Rows per source and entity from the partition manifests (optionally only recent batches)."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for source, entity, part in manifest_parts(landing):
        if since is None or datetime.fromisoformat(part["_fetched_at"]) >= since:
            counts[source][entity] += int(part.get("rows", 0))
    return {source: dict(entities) for source, entities in counts.items()}


def published_tables(warehouse: Path) -> dict[str, int]:
    """Row count of every table in the published warehouse's user-facing schemas."""
    if not warehouse.exists():
        return {}
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('marts', 'restricted', 'compliance') order by 1, 2"
        ).fetchall()
        return {
            f"{schema}.{name}": con.execute(f'select count(*) from "{schema}"."{name}"').fetchone()[0]
            for schema, name in tables
        }


def last_gate_run(compliance_store: Path) -> dict | None:
    history = compliance_store / "gate_history.jsonl"
    if not history.exists():
        return None
    lines = [line for line in history.read_text().splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else None


def render(p: Paths, outcomes: list[dict], *, since: datetime, log_file: Path) -> str:
    lines = ["", "Socle run summary", "================="]
    lines.append("DAG runs:")
    for outcome in outcomes:
        failed = [t for t, s in outcome["tasks"].items() if s not in ("success", "skipped")]
        detail = f" (failed: {', '.join(failed)})" if failed else ""
        lines.append(f"  {outcome['dag_id']:<18} {outcome['state']:<8} {outcome['seconds']:>6}s{detail}")
    landed = landed_rows(p.landing, since)
    rejected = landed_rows(p.rejected, since)
    lines.append("Rows landed this run (rejected):")
    for source in sorted(set(landed) | set(rejected)):
        for entity in sorted(set(landed.get(source, {})) | set(rejected.get(source, {}))):
            n, r = landed.get(source, {}).get(entity, 0), rejected.get(source, {}).get(entity, 0)
            lines.append(f"  {source + '/' + entity:<32} {n:>8} ({r})")
    tables = published_tables(p.warehouse)
    lines.append(f"Published tables ({len(tables)}):")
    lines.extend(f"  {name:<40} {rows:>8} rows" for name, rows in tables.items())
    gates = last_gate_run(p.compliance_store)
    if gates:
        rules = gates.get("rules", [])
        failed = [r for r in rules if not r.get("passed")]
        lines.append(f"Gates: {len(rules) - len(failed)} passed, {len(failed)} failed")
        lines.extend(f"  FAILED {r.get('rule')}: {r.get('violations')} rows" for r in failed)
    lines.append(f"Published warehouse: {p.warehouse}")
    lines.append(f"Compliance report:   {p.compliance_report}")
    lines.append(f"Airflow log:         {log_file}")
    ok = bool(outcomes) and all(o["state"] == "success" for o in outcomes)
    lines.append("Pipeline succeeded." if ok else "Pipeline FAILED: see the log above.")
    return "\n".join(lines)
