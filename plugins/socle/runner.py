"""Run every DAG once, in dependency order, through Airflow (``dag.test``).

``socle run`` starts this module in a child process whose environment points Airflow at
the data home (see ``socle.airflow_env``); Airflow's own chatter goes to a log file and
the child writes the outcome of each DAG run as JSON for the parent to summarise.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

from socle.config import DAGS_DIR

INGEST_DAGS = ("ingest_opendata", "ingest_crm", "ingest_events", "ingest_field", "ingest_social")
# Requests are applied before the build so an erased person never reaches a build.
PIPELINE = (*INGEST_DAGS, "gdpr_requests", "build_warehouse")


def run_pipeline(
    dag_ids: tuple[str, ...] = PIPELINE,
    *,
    window: tuple[datetime, datetime] | None = None,
    as_of: str | None = None,
) -> list[dict]:
    """Run the DAGs one after the other; stop at the first failed run."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    if bag.import_errors:
        files = ", ".join(sorted(Path(f).name for f in bag.import_errors))
        raise RuntimeError(f"DAG import errors in: {files}")
    outcomes = []
    for dag_id in dag_ids:
        dag = bag.dags[dag_id]
        conf: dict[str, str] = {}
        if window and dag_id in INGEST_DAGS:
            conf = {"window_start": window[0].isoformat(), "window_end": window[1].isoformat()}
        if as_of:
            conf["as_of"] = as_of
        started = datetime.now(UTC)
        try:
            run = dag.test(run_conf=conf or None)
            state = str(run.state) if run is not None else "failed"
            tasks = {ti.task_id: str(ti.state) for ti in run.get_task_instances()} if run else {}
        except Exception as error:  # a broken DAG is reported, not a traceback dump
            state, tasks = "failed", {"error": type(error).__name__}
            traceback.print_exc()
        outcomes.append(
            {
                "dag_id": dag_id,
                "state": state.rsplit(".", 1)[-1].lower(),
                "tasks": {k: v.rsplit(".", 1)[-1].lower() for k, v in tasks.items()},
                "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
            }
        )
        if outcomes[-1]["state"] != "success":
            break
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m socle.runner")
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("--dags", default=",".join(PIPELINE))
    parser.add_argument("--window-start")
    parser.add_argument("--window-end")
    parser.add_argument("--as-of")
    args = parser.parse_args(argv)
    window = None
    if args.window_start and args.window_end:
        window = (datetime.fromisoformat(args.window_start), datetime.fromisoformat(args.window_end))
    outcomes = run_pipeline(tuple(args.dags.split(",")), window=window, as_of=args.as_of)
    args.result.write_text(json.dumps(outcomes, indent=2))
    return 0 if all(o["state"] == "success" for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
