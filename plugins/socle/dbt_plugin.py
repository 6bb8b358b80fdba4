"""dbt-duckdb plugin: the identifier functions of ``socle.identity`` as DuckDB UDFs.

Registered on every dbt connection (``profiles.yml``: ``plugins: [{module: socle.dbt_plugin}]``)
so SQL and Python share one definition of an e-mail, a phone and a person key.
"""

from __future__ import annotations

from functools import lru_cache

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection
from duckdb.sqltypes import VARCHAR

from socle.config import pseudonym_secret
from socle.identity import keyed_hash, normalise_email, normalise_phone


class Plugin(BasePlugin):
    """Adds ``socle_email``, ``socle_phone`` and ``socle_hmac`` to the connection."""

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        register_udfs(conn)


def register_udfs(conn: DuckDBPyConnection) -> DuckDBPyConnection:
    """Register the three UDFs on any DuckDB connection; returns it.

    Staging views call these functions, so a reader outside dbt (an analyst, a gate) that
    queries a staging view registers them first: ``register_udfs(duckdb.connect(db, read_only=True))``.
    """
    # Read the secret once per connection, not once per row.
    secret = pseudonym_secret()

    @lru_cache(maxsize=1 << 18)
    def socle_hmac(identifier: str | None) -> str | None:
        return None if identifier is None else keyed_hash(identifier, secret)

    # "special" null handling: the functions receive NULL and may return NULL (an
    # identifier that does not parse); DuckDB's default forbids returning NULL.
    for name, function in (
        ("socle_email", normalise_email),
        ("socle_phone", _phone),
        ("socle_hmac", socle_hmac),
    ):
        conn.create_function(name, function, [VARCHAR], VARCHAR, null_handling="special", side_effects=False)
    return conn


# phonenumbers costs ~100 µs a value and dbt evaluates a staging view once per model and
# test that reads it: memoising makes each distinct value cost once per dbt process.
@lru_cache(maxsize=1 << 18)
def _phone(raw: str | None) -> str | None:
    return normalise_phone(raw)
