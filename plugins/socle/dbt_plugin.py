"""dbt-duckdb plugin: the identifier functions of ``socle.identity`` on every dbt connection.

Registered through ``profiles.yml`` (``plugins: [{module: socle.dbt_plugin}]``) so SQL and
Python share one definition of an e-mail, a phone and a person key.
"""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from socle.config import pseudonym_secret
from socle.identity import hmac_sql_macro, register_sql_functions


class Plugin(BasePlugin):
    """Adds ``socle_email``, ``socle_phone`` and ``socle_hmac`` to the connection and its cursors."""

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        register_udfs(conn)

    def configure_cursor(self, cursor: DuckDBPyConnection) -> None:
        # Python UDFs are shared with cursors; temp macros are not.
        cursor.execute(hmac_sql_macro(pseudonym_secret()))


def register_udfs(conn: DuckDBPyConnection) -> DuckDBPyConnection:
    """The three functions on any DuckDB connection (the secret read once); returns it."""
    return register_sql_functions(conn, pseudonym_secret())
