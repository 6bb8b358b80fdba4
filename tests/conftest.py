"""Test-wide setup: Airflow points at a throw-away home before anything imports it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from socle.airflow_env import airflow_environ
from socle.config import Paths

# Airflow reads its configuration at import time, and some test modules import DAG glue
# at collection time: give the whole session a private Airflow home under /tmp, never the
# user's data home.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="socle-tests-"))
os.environ.update(airflow_environ(Paths(_SESSION_HOME)))
os.environ.setdefault("SOCLE_PSEUDONYM_SECRET", "test-secret-not-for-production")
