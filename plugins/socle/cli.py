"""``socle``: the one command-line entry point (DESIGN.md, 'CLI')."""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from socle import summary
from socle.airflow_env import airflow_bin, airflow_environ, ensure_metadata_db
from socle.config import Paths, paths

CONNECTION_IDS = ("socle_facebook", "socle_x", "socle_events", "socle_opendata")
DEMO_PEOPLE = 3000
DEMO_SEED = 2026
# The demo's first load fetches the whole generated campaign in one window.
DEMO_HISTORY = timedelta(days=90)


def _connections_configured(env: dict[str, str]) -> bool:
    return any(f"AIRFLOW_CONN_{conn.upper()}" in env for conn in CONNECTION_IDS)


@contextlib.contextmanager
def _sources(p: Paths, env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The connections a run uses: the user's, or the sandbox served for the run."""
    if _connections_configured(env):
        yield env
        return
    if not (p.sandbox / "truth.json").exists():
        raise SystemExit(
            "No source connections are configured and no sandbox campaign exists in "
            f"{p.home}. Run `socle demo` (or `socle sandbox`) first, or set "
            "AIRFLOW_CONN_SOCLE_FACEBOOK and friends (see README, 'Pointing Socle at real services')."
        )
    from socle.sandbox.server import SandboxServer

    with SandboxServer(p.home, host="127.0.0.1", port=0) as server:
        served = dict(env)
        for conn_id, uri in server.connection_uris().items():
            served[f"AIRFLOW_CONN_{conn_id.upper()}"] = uri
        print(f"Sandbox serving the generated campaign at {server.base_url}")
        yield served


def run(window: tuple[datetime, datetime] | None = None, as_of: date | None = None) -> int:
    p = paths()
    env = airflow_environ(p)
    ensure_metadata_db(p, env)
    started = datetime.now(UTC)
    log_dir = p.airflow_home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%S")
    log_file = log_dir / f"socle-run-{stamp}.log"
    result_file = log_dir / f"socle-run-{stamp}.json"
    args = [sys.executable, "-m", "socle.runner", "--result", str(result_file)]
    if window:
        args += ["--window-start", window[0].isoformat(), "--window-end", window[1].isoformat()]
    if as_of:
        args += ["--as-of", as_of.isoformat()]
    with _sources(p, env) as run_env, log_file.open("w") as log:
        print(f"Running the pipeline through Airflow (log: {log_file})", flush=True)
        code = subprocess.run(args, env=run_env, stdout=log, stderr=subprocess.STDOUT, check=False).returncode  # noqa: S603
    outcomes = json.loads(result_file.read_text()) if result_file.exists() else []
    print(summary.render(p, outcomes, since=started, log_file=log_file))
    return code if outcomes else (code or 1)


def demo(people: int, seed: int) -> int:
    from socle.sandbox.generator import generate

    p = paths()
    today = datetime.now(UTC).date()
    print(f"Generating a demo campaign ({people} people, seed {seed}) in {p.sandbox}", flush=True)
    # The demo plants an overdue request too: answered late by this run, it shows in the report.
    generate(p.home, people=people, seed=seed, today=today, plant_overdue=True)
    window_end = datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC)
    return run(window=(window_end - DEMO_HISTORY, window_end), as_of=today)


def sandbox(people: int, seed: int, port: int, generate_only: bool) -> int:
    from socle.sandbox.generator import generate
    from socle.sandbox.server import SandboxServer

    p = paths()
    counts = generate(p.home, people=people, seed=seed)
    print(f"Generated a campaign in {p.sandbox}: {json.dumps(counts, sort_keys=True)}")
    if generate_only:
        return 0
    with SandboxServer(p.home, host="127.0.0.1", port=port) as server:
        print(f"Serving at {server.base_url} (Ctrl-C to stop). Connections:")
        for conn_id, uri in server.connection_uris().items():
            print(f"  export AIRFLOW_CONN_{conn_id.upper()}='{uri}'")
        with contextlib.suppress(KeyboardInterrupt):
            server.wait()
    return 0


def record_request(
    kind: str, email: str | None, phone: str | None, field: str | None, value: str | None
) -> int:
    """Drop the request in ``inbox/dsr/`` like any other; the next run applies it."""
    if not (email or phone):
        raise SystemExit("give --email or --phone")
    if kind == "rectification" and not (field and value):
        raise SystemExit("a rectification needs --field and --value")
    p = paths()
    request_id = f"cli-{uuid.uuid4().hex[:12]}"
    target = p.inbox / "dsr" / f"{request_id}.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["request_id", "type", "email", "phone", "received_at", "field", "new_value"])
        received = datetime.now(UTC).isoformat()
        writer.writerow([request_id, kind, email or "", phone or "", received, field or "", value or ""])
    print(f"Recorded {kind} request {request_id}; the next `socle run` applies it.")
    return 0


def airflow_passthrough(args: list[str]) -> int:
    p = paths()
    env = airflow_environ(p)
    ensure_metadata_db(p, env)
    return subprocess.run([airflow_bin(), *args], env=env, check=False).returncode  # noqa: S603


def airflow_standalone() -> int:
    """Airflow's UI on this machine, DAGs loaded, connections on the sandbox."""
    p = paths()
    env = airflow_environ(p)
    ensure_metadata_db(p, env)
    with _sources(p, env) as run_env:
        port = run_env["AIRFLOW__API__PORT"]
        print(f"Airflow UI: http://localhost:{port}")
        passwords = p.airflow_home / "simple_auth_manager_passwords.json.generated"
        print(f"Login: user 'admin', password in {passwords} (written when Airflow starts)")
        return subprocess.run([airflow_bin(), "standalone"], env=run_env, check=False).returncode  # noqa: S603


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="socle", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p_demo = sub.add_parser("demo", help="generate a demo campaign, serve it, run every DAG once")
    p_demo.add_argument("--people", type=int, default=DEMO_PEOPLE)
    p_demo.add_argument("--seed", type=int, default=DEMO_SEED)

    p_run = sub.add_parser("run", help="run every DAG once for the current interval")
    p_run.add_argument("--window-start", type=datetime.fromisoformat)
    p_run.add_argument("--window-end", type=datetime.fromisoformat)
    p_run.add_argument("--as-of", type=date.fromisoformat)

    p_sandbox = sub.add_parser("sandbox", help="generate a campaign and serve it as the real APIs")
    p_sandbox.add_argument("--people", type=int, default=DEMO_PEOPLE)
    p_sandbox.add_argument("--seed", type=int, default=DEMO_SEED)
    p_sandbox.add_argument("--port", type=int, default=8765)
    p_sandbox.add_argument("--generate-only", action="store_true")

    p_request = sub.add_parser("request", help="record a data-subject request")
    p_request.add_argument("kind", choices=["erasure", "access", "objection", "rectification"])
    who = p_request.add_mutually_exclusive_group(required=True)
    who.add_argument("--email")
    who.add_argument("--phone")
    p_request.add_argument("--field", help="rectification: the field to correct")
    p_request.add_argument("--value", help="rectification: the corrected value")

    sub.add_parser("report", help="rebuild the compliance report from the last gate runs")
    p_bench = sub.add_parser("bench", help="time every stage on a campaign generated at scale")
    p_bench.add_argument("--scale", choices=["S", "M", "L"], default="S")
    p_bench.add_argument(
        "--reuse-landing",
        action="store_true",
        help="keep the generated landing zone and reuse it in later runs of the same scale",
    )
    sub.add_parser("airflow", help="start Airflow standalone with the project's DAGs")
    p_cli = sub.add_parser("airflow-cli", help="run an airflow CLI command in Socle's environment")
    p_cli.add_argument("args", nargs=argparse.REMAINDER)

    args = parser.parse_args(argv)
    os.environ.setdefault("SOCLE_HOME", str(Path("data").resolve()))
    if args.command == "demo":
        return demo(args.people, args.seed)
    if args.command == "run":
        window = (args.window_start, args.window_end) if args.window_start and args.window_end else None
        return run(window=window, as_of=args.as_of)
    if args.command == "sandbox":
        return sandbox(args.people, args.seed, args.port, args.generate_only)
    if args.command == "request":
        return record_request(args.kind, args.email, args.phone, args.field, args.value)
    if args.command == "report":
        from socle.report import write_compliance_report

        print(f"Compliance report: {write_compliance_report()}")
        return 0
    if args.command == "bench":
        from socle.bench import main as bench

        return bench(args.scale, reuse_landing=args.reuse_landing)
    if args.command == "airflow":
        return airflow_standalone()
    if args.command == "airflow-cli":
        return airflow_passthrough(args.args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
