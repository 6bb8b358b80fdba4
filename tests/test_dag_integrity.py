"""Every DAG imports cleanly, declares what operators rely on, and does no work at parse time."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from socle.config import DAGS_DIR
from socle.runner import PIPELINE

DAG_FILES = sorted(DAGS_DIR.glob("*.py"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_every_dag_file_imports_without_error(dagbag):
    assert dagbag.import_errors == {}


def test_the_pipeline_dags_all_exist(dagbag):
    assert set(PIPELINE) <= set(dagbag.dag_ids)


def test_every_dag_has_tags_an_owner_retries_and_a_timeout(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        for task in dag.tasks:
            assert task.owner not in (None, "", "airflow"), f"{dag_id}.{task.task_id} has no owner"
            assert task.execution_timeout is not None, f"{dag_id}.{task.task_id} has no timeout"
            if task.task_id != "run_gates":  # a failed gate is a verdict, not a glitch: never retried
                assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_parses_fast_without_network_or_database(dag_file: Path, monkeypatch):
    import duckdb

    def forbidden(*_args, **_kwargs):
        raise AssertionError(f"{dag_file.name} does I/O at import time")

    monkeypatch.setattr(socket, "create_connection", forbidden)
    monkeypatch.setattr(duckdb, "connect", forbidden)
    from airflow.dag_processing.dagbag import DagBag

    started = time.perf_counter()
    bag = DagBag(dag_folder=str(dag_file))
    elapsed = time.perf_counter() - started
    assert bag.import_errors == {}
    assert bag.dags, f"{dag_file.name} defines no DAG"
    assert elapsed < 1.0, f"{dag_file.name} took {elapsed:.2f}s to parse"


def test_warehouse_writers_share_the_single_slot_pool(dagbag):
    from socle.orchestration import WAREHOUSE_POOL
    from socle.warehouse import DBT_LAYERS

    build = dagbag.dags["build_warehouse"]
    writers = ("prepare_build", *(f"dbt_{layer}" for layer in DBT_LAYERS), "run_gates", "publish")
    for task_id in writers:
        assert build.get_task(task_id).pool == WAREHOUSE_POOL
    assert not any(
        task.pool == WAREHOUSE_POOL
        for t in dagbag.dags.values()
        for task in t.tasks
        if t.dag_id.startswith("ingest_")
    ), "ingest tasks must never open the warehouse"


def test_publish_waits_for_passing_gates_and_the_report_it_moves_the_build_from_under(dagbag):
    build = dagbag.dags["build_warehouse"]
    publish = build.get_task("publish")
    report = build.get_task("write_compliance_report")
    # The report reads the build file, which publish renames: never both at once.
    assert publish.upstream_task_ids == {"run_gates", "write_compliance_report"}
    assert publish.trigger_rule == "all_success"
    assert report.upstream_task_ids == {"run_gates"}
    assert report.trigger_rule == "all_done"  # a failed gate is reported too


def test_build_is_scheduled_on_every_landing_asset(dagbag):
    from socle.orchestration import LANDING_ASSETS

    build = dagbag.dags["build_warehouse"]
    uris = {asset.uri for asset in build.timetable.asset_condition.objects}
    assert uris == {asset.uri for asset in LANDING_ASSETS.values()}
    for family, asset in LANDING_ASSETS.items():
        producers = [
            dag_id
            for dag_id, dag in dagbag.dags.items()
            if any(getattr(o, "uri", None) == asset.uri for t in dag.tasks for o in t.outlets)
        ]
        assert producers, f"no ingest DAG updates the {family} landing Asset"
