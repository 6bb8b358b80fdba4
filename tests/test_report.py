"""The DPO's compliance report: self-contained, complete, and free of personal data."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_gates_support import NOW, PEOPLE, _tombstones, build_campaign, execute, key

from socle.config import Paths
from socle.dsr import LEDGER_SCHEMA, ledger_path
from socle.gates import RULES, run_gates
from socle.report import write_compliance_report

PERSONAL = [v for person in PEOPLE.values() for v in person[:2] if v] + [n.title() for n in PEOPLE]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    return tmp_path


def _manifest(path: Path) -> Path:
    nodes = {
        "model.socle.contact_list_email": {
            "resource_type": "model",
            "schema": "restricted",
            "name": "contact_list_email",
            "description": "People who opted in to e-mails.",
            "config": {
                "meta": {
                    "purpose": "Send campaign e-mails.",
                    "lawful_basis": "art. 6(1)(a) consent",
                    "retention": "rebuilt every run",
                    "audience": "restricted (sending)",
                    "data_categories": ["e-mail", "first name"],
                    "recipients": ["e-mail provider"],
                }
            },
        },
        "model.socle.supporter_scores": {
            "resource_type": "model",
            "schema": "marts",
            "name": "supporter_scores",
            "description": "Scores.",
            "meta": {"purpose": "Organise volunteers."},
        },
        "test.socle.not_null": {"resource_type": "test", "schema": "marts", "name": "not_null"},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"nodes": nodes}))
    return path


def _assert_self_contained(html: str) -> None:
    assert "http://" not in html
    assert "https://" not in html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["']//""", html)


@pytest.mark.integration
def test_report_shows_every_rule_requests_retention_and_register_without_personal_data(home: Path):
    p = Paths(home)
    build = build_campaign(home)
    execute(
        build,
        "update intermediate.int_consent_current set status = 'withdrawn' "
        "where purpose = 'email' and person_key = ?",
        [key("chloe")],
    )
    execute(build, "alter table marts.fct_engagement add column note varchar")
    execute(
        build,
        "update marts.fct_engagement set note = ? where person_key = ?",
        [PEOPLE["bruno"][0], key("bruno")],
    )
    ledger = [
        {
            "request_id": "dsr-late",
            "request_type": "erasure",
            "received_at": NOW - timedelta(days=40),
            "due_at": NOW - timedelta(days=10),
            "status": "overdue",
        },
        {
            "request_id": "dsr-new",
            "request_type": "access",
            "received_at": NOW - timedelta(days=3),
            "due_at": NOW + timedelta(days=27),
            "status": "pending",
        },
    ]
    pq.write_table(pa.Table.from_pylist(ledger, schema=LEDGER_SCHEMA), ledger_path())
    (p.compliance_store / "retention_log.jsonl").write_text(
        json.dumps(
            {"at": NOW.isoformat(), "action": "comment_text_nulled", "entity": "facebook/comments", "rows": 4}
        )
        + "\n"
    )
    run_gates(build, now=NOW)
    report = write_compliance_report(manifest=_manifest(home / "target" / "manifest.json"), now=NOW)
    assert report == p.compliance_report
    html = report.read_text()
    _assert_self_contained(html)
    for rule in RULES:
        assert f"Rule {rule.number}</strong>" in html
        assert rule.name[1:] in html
    assert "not published" in html
    assert key("chloe") in html  # rule 1's pseudonymous example
    assert "dsr-late" in html
    assert "OVERDUE" in html
    assert "dsr-new" in html
    assert "comment_text_nulled" in html
    assert "facebook/comments" in html
    assert "Send campaign e-mails." in html
    assert "restricted.contact_list_email" in html
    assert "not documented" in html  # supporter_scores lacks lawful basis etc.
    assert 'href="../data_docs/index.html"' in html
    last_run = re.search(r'href="(\.\./data_docs/validations/gdpr/gate-[0-9a-f]{12}/[^"]+\.html)"', html)
    assert last_run, "no link to the last run's GDPR validation page"
    assert (report.parent / last_run.group(1)).exists()
    leaks = sum(value.lower() in html.lower() for value in PERSONAL)  # counted, never printed
    assert leaks == 0


def test_report_without_any_record_explains_what_is_missing(home: Path):
    html = write_compliance_report(manifest=home / "absent.json", now=NOW).read_text()
    _assert_self_contained(html)
    assert "No gate run recorded yet" in html
    assert "dbt manifest was not found" in html
    assert "No retention run recorded yet" in html
    assert all(f"Rule {rule.number}</strong>" in html for rule in RULES)


def test_report_never_shows_the_key_of_a_person_erased_since(home: Path):
    p = Paths(home)
    p.compliance_store.mkdir(parents=True)
    run = {
        "run_at": NOW.isoformat(),
        "passed": False,
        "checks": [],
        "rules": [
            {
                "rule_id": "rule_1",
                "number": 1,
                "passed": False,
                "violations": 2,
                "examples": [key("alice"), key("bruno")],
                "details": {"restricted.contact_list_email: x": 2},
            }
        ],
    }
    (p.compliance_store / "gate_history.jsonl").write_text(json.dumps(run) + "\n")
    _tombstones(p, [PEOPLE["alice"][0]])
    html = write_compliance_report(manifest=home / "absent.json", now=NOW).read_text()
    assert key("bruno") in html
    assert key("alice") not in html
    assert "1 key(s) of erased people not shown" in html


def test_trend_draws_the_violation_counts_of_recent_runs(home: Path):
    p = Paths(home)
    p.compliance_store.mkdir(parents=True)
    lines = [
        {
            "run_at": (NOW - timedelta(days=3 - i)).isoformat(),
            "passed": n == 0,
            "checks": [],
            "rules": [{"rule_id": "rule_3", "number": 3, "passed": n == 0, "violations": n, "examples": []}],
        }
        for i, n in enumerate([4, 2, 0])
    ]
    (p.compliance_store / "gate_history.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    html = write_compliance_report(manifest=home / "absent.json", now=NOW).read_text()
    assert "violations over the last 3 runs: 4, 2, 0" in html
    assert html.count("<polyline") == 1


def test_report_lists_answered_requests_and_flags_the_late_ones(home: Path):
    from datetime import UTC, datetime

    received = datetime(2026, 9, 1, tzinfo=UTC)
    ledger = [
        {
            "request_id": "DSR-LATE",
            "request_type": "access",
            "received_at": received,
            "due_at": received + timedelta(days=30),
            "done_at": received + timedelta(days=40),
            "status": "done",
            "rows_affected": "{}",
            "note": None,
        },
        {
            "request_id": "DSR-ONTIME",
            "request_type": "erasure",
            "received_at": received,
            "due_at": received + timedelta(days=30),
            "done_at": received + timedelta(days=2),
            "status": "done",
            "rows_affected": "{}",
            "note": None,
        },
    ]
    ledger_path().parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(ledger, schema=LEDGER_SCHEMA), ledger_path())
    html = write_compliance_report(now=received + timedelta(days=41)).read_text()
    section = html[html.index("Answered requests") :]
    assert "1 answered after their due date" in section
    late_row = section[section.index("DSR-LATE") :].split("</tr>", 1)[0]
    on_time_row = section[section.index("DSR-ONTIME") :].split("</tr>", 1)[0]
    assert "answered late" in late_row
    assert "answered late" not in on_time_row
