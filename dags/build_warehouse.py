"""Build → gate → publish the warehouse whenever a source family lands new data.

Write-audit-publish: dbt builds a copy of the warehouse layer by layer (each layer its own
task, log and retry), the GDPR gates validate that copy, the compliance report is written
from it, and only a copy that passed is renamed over the published file. Every task that
writes the warehouse goes through the one-slot ``warehouse`` pool (DuckDB has a single
writer).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import AssetAny, dag, get_current_context, task

from socle.orchestration import DEFAULT_ARGS, LANDING_ASSETS, WAREHOUSE_ASSET, WAREHOUSE_POOL, as_of_date
from socle.warehouse import DBT_LAYERS


@dag(
    dag_id="build_warehouse",
    schedule=AssetAny(*LANDING_ASSETS.values()),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["socle", "warehouse", "gdpr"],
    doc_md=__doc__,
)
def build_warehouse():
    @task(pool=WAREHOUSE_POOL)
    def prepare_build() -> dict:
        from socle import warehouse

        # Decided once per run, so every layer agrees. dbt's tests run on a cadence, or when
        # asked; the incremental models are rebuilt after an erasure, or when asked
        # (conf {"full_refresh": true}).
        conf = get_current_context()["dag_run"].conf or {}
        return {
            "build_db": str(warehouse.prepare_build_db()),
            "data_tests": bool(conf.get("data_tests")) or warehouse.data_tests_due(),
            "full_refresh": bool(conf.get("full_refresh")) or warehouse.tombstones_changed(),
        }

    def dbt_layer(layer: str, build: dict):
        @task(task_id=f"dbt_{layer}", pool=WAREHOUSE_POOL)
        def build_layer(build: dict) -> dict:
            from socle import warehouse

            context = get_current_context()
            result = warehouse.build_layer(
                layer,
                as_of=as_of_date(context),
                data_tests=build["data_tests"],
                full_refresh=build["full_refresh"],
            )
            return dict(result.counts)

        return build_layer(build)

    @task(pool=WAREHOUSE_POOL, retries=0)
    def run_gates() -> dict:
        from socle import gates

        report = gates.run_gates()
        gates.enforce(report)
        return report.summary()

    @task(pool=WAREHOUSE_POOL, outlets=[WAREHOUSE_ASSET])
    def publish() -> str:
        from socle.publish import publish as publish_build

        return str(publish_build())

    @task(trigger_rule="all_done")
    def write_compliance_report() -> str:
        from socle.report import write_compliance_report as write

        return str(write())

    build = prepare_build()
    upstream = build
    for layer in DBT_LAYERS:
        step = dbt_layer(layer, build)
        upstream >> step
        upstream = step
    checked = run_gates()
    upstream >> checked
    # The report reads the build file, which publish renames into place: report first. It
    # runs whatever the verdict; publish needs the gates to have passed.
    reported = write_compliance_report()
    checked >> reported
    [checked, reported] >> publish()


build_warehouse()
