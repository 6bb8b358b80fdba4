"""Where things live. One place for every path and setting the pipeline reads.

The data home is ``SOCLE_HOME`` (default ``./data``); everything Socle writes is under it.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DAGS_DIR = PROJECT_ROOT / "dags"
PLUGINS_DIR = PROJECT_ROOT / "plugins"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"

SECRET_ENV = "SOCLE_PSEUDONYM_SECRET"  # noqa: S105 (the variable name, not a secret)
# DuckDB's memory limit for the build and the gates; it spills to disk past it. The dbt
# profile reads the same variable with the same default.
MEMORY_ENV = "SOCLE_DUCKDB_MEMORY"
DEFAULT_MEMORY = "3GB"


@dataclass(frozen=True)
class Paths:
    """The contract of the data home (DESIGN.md, 'data home')."""

    home: Path

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def rejected(self) -> Path:
        return self.landing / "_rejected"

    @property
    def inbox(self) -> Path:
        return self.home / "inbox"

    @property
    def inbox_done(self) -> Path:
        return self.inbox / ".done"

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def build_dir(self) -> Path:
        return self.home / "build"

    @property
    def build_db(self) -> Path:
        return self.build_dir / "warehouse.duckdb"

    @property
    def rule_2_ledger(self) -> Path:
        """What gate rule 2 found clean (JSON), beside its tables' bucket fingerprints."""
        return self.build_dir / "rule_2_verified_files.json"

    def rule_2_ledger_files(self) -> list[Path]:
        """The ledger and every bucket file it wrote (``rule_2_verified_tables-<id>.parquet``)."""
        return [self.rule_2_ledger, *sorted(self.build_dir.glob("rule_2_verified_tables-*.parquet"))]

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def compliance_report(self) -> Path:
        return self.reports / "compliance" / "index.html"

    @property
    def data_docs(self) -> Path:
        return self.reports / "data_docs"

    @property
    def compliance_store(self) -> Path:
        """Tombstones (keyed hashes only), request ledger, gate history."""
        return self.home / "compliance"

    @property
    def tombstones(self) -> Path:
        """The keyed hashes of erased identifiers (DESIGN.md, compliance store)."""
        return self.compliance_store / "tombstones.parquet"

    @property
    def sandbox(self) -> Path:
        return self.home / "sandbox"

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"


def home() -> Path:
    return Path(os.environ.get("SOCLE_HOME", "data")).resolve()


def paths() -> Paths:
    return Paths(home())


def duckdb_memory_limit() -> str:
    return os.environ.get(MEMORY_ENV) or DEFAULT_MEMORY


def pseudonym_secret() -> str:
    """The HMAC key behind every ``person_key``.

    Production sets ``SOCLE_PSEUDONYM_SECRET`` (an Airflow Variable exported to the
    environment, or the docker-compose ``.env``). For the demo a random key is created once
    in the data home, readable by its owner only; it is never in the repository.
    """
    value = os.environ.get(SECRET_ENV)
    if value:
        return value
    key_file = home() / ".pseudonym_secret"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return key_file.read_text().strip()
