"""The Airflow installation Socle runs in: environment, metadata DB, pool.

Airflow reads its configuration from the environment when it is imported, so the CLI
computes this environment first and runs Airflow in processes that inherit it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from socle.config import DAGS_DIR, PLUGINS_DIR, Paths

WAREHOUSE_POOL_SLOTS = 1  # DuckDB has one writer: every warehouse write goes through this pool


def airflow_environ(paths: Paths, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for every Airflow process of this data home (SQLite metadata DB under it)."""
    env = dict(os.environ if base is None else base)
    airflow_home = paths.airflow_home
    env.update(
        {
            "SOCLE_HOME": str(paths.home),
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_DIR),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
        }
    )
    env.setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "True")
    env.setdefault("AIRFLOW__API__PORT", "8080")
    # Task processes talk to the API server; standalone starts it on the configured port.
    env.setdefault(
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL", f"http://localhost:{env['AIRFLOW__API__PORT']}/execution/"
    )
    # `airflow standalone` starts its components by name: the venv's bin must be on PATH.
    venv_bin = str(Path(sys.executable).parent)
    if venv_bin not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = os.pathsep.join([venv_bin, env.get("PATH", "")])
    return env


def airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def ensure_metadata_db(paths: Paths, env: dict[str, str]) -> None:
    """Migrate the metadata DB and create the warehouse pool, once per Airflow version."""
    import airflow

    stamp = paths.airflow_home / ".socle-migrated"
    if stamp.exists() and stamp.read_text() == airflow.__version__:
        return
    paths.airflow_home.mkdir(parents=True, exist_ok=True)
    log = paths.airflow_home / "setup.log"
    with log.open("a") as out:
        for args in (
            ["db", "migrate"],
            ["pools", "set", "warehouse", str(WAREHOUSE_POOL_SLOTS), "DuckDB single writer"],
        ):
            result = subprocess.run(  # noqa: S603 (our own airflow binary, fixed arguments)
                [airflow_bin(), *args], env=env, stdout=out, stderr=subprocess.STDOUT, check=False
            )
            if result.returncode != 0:
                raise RuntimeError(f"airflow {' '.join(args)} failed; see {log}")
    stamp.write_text(airflow.__version__)
