"""The `socle` command line: requests are recorded as inbox drops; clear errors otherwise."""

from __future__ import annotations

import csv
import os

import pytest

from socle import cli


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    for name in list(os.environ):
        if name.startswith("AIRFLOW_CONN_SOCLE_"):
            monkeypatch.delenv(name)
    return tmp_path


def test_request_is_recorded_as_a_dsr_drop_for_the_next_run(home, capsys):
    assert cli.main(["request", "objection", "--phone", "06 12 34 56 78"]) == 0
    [drop] = (home / "inbox" / "dsr").glob("*.csv")
    with drop.open(newline="", encoding="utf-8") as handle:
        [row] = list(csv.DictReader(handle))
    assert row["type"] == "objection"
    assert row["phone"] == "06 12 34 56 78"
    out = capsys.readouterr().out
    assert row["request_id"] in out
    assert "06 12" not in out  # the confirmation never echoes the identifier


def test_rectification_needs_a_field_and_a_value(home):
    with pytest.raises(SystemExit, match="--field and --value"):
        cli.main(["request", "rectification", "--email", "a@example.org"])


def test_run_without_connections_or_sandbox_says_what_to_do(home):
    with pytest.raises(SystemExit, match="socle demo"), cli._sources(cli.paths(), {}):
        pass


def test_report_is_written_even_before_any_run(home, capsys):
    assert cli.main(["report"]) == 0
    assert (home / "reports" / "compliance" / "index.html").exists()
