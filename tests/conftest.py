"""Test-wide setup: Airflow points at a throw-away home before anything imports it."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from socle.airflow_env import airflow_environ, ensure_metadata_db
from socle.config import Paths

# Airflow reads its configuration at import time, and some test modules import DAG glue
# at collection time: give the whole session a private Airflow home under /tmp, never the
# user's data home.
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="socle-tests-"))
os.environ.update(airflow_environ(Paths(_SESSION_HOME)))
os.environ.setdefault("SOCLE_PSEUDONYM_SECRET", "test-secret-not-for-production")


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata DB (SQLite) for tests that run DAGs with ``dag.test()``."""
    paths = Paths(_SESSION_HOME)
    ensure_metadata_db(paths, dict(os.environ))
    return paths.airflow_home


@pytest.fixture
def webhook_server() -> Iterator[tuple[str, list[dict]]]:
    """A loopback HTTP server that records the JSON bodies POSTed to it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args):  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/alerts", received
    finally:
        server.shutdown()
