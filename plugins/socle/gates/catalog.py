"""What the build database holds: tables and columns the rules adapt to.

The rules are written against the contract (docs/contracts.md §5) but the warehouse grows:
a rule checks every table that carries the columns it cares about, and a missing table
means there is nothing of that kind to violate (not an error).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from socle.config import duckdb_memory_limit, pseudonym_secret
from socle.identity import register_sql_functions


@dataclass(frozen=True)
class Catalog:
    """Relations and their columns. ``tables()`` lists base tables only (staging is tables;
    the views over them, such as ``int_person_records``, hold nothing of their own)."""

    columns: dict[tuple[str, str], dict[str, str]]
    views: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection) -> Catalog:
        rows = con.execute(
            """
            select c.table_schema, c.table_name, c.column_name, c.data_type, t.table_type
            from information_schema.columns as c
            inner join information_schema.tables as t
                on c.table_catalog = t.table_catalog
                and c.table_schema = t.table_schema
                and c.table_name = t.table_name
            where c.table_catalog = current_database()
                and c.table_schema not in ('information_schema', 'pg_catalog')
            order by c.table_schema, c.table_name, c.ordinal_position
            """
        ).fetchall()
        columns: dict[tuple[str, str], dict[str, str]] = {}
        views = set()
        for schema, table, column, data_type, table_type in rows:
            columns.setdefault((schema, table), {})[column] = data_type
            if table_type == "VIEW":
                views.add((schema, table))
        return cls(columns, frozenset(views))

    def has(self, schema: str, table: str, *cols: str) -> bool:
        found = self.columns.get((schema, table))
        return found is not None and all(c in found for c in cols)

    def tables(self, schemas: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
        """Base tables, optionally of some schemas only."""
        return [
            key for key in self.columns if key not in self.views and (schemas is None or key[0] in schemas)
        ]

    def cols(self, schema: str, table: str) -> dict[str, str]:
        return self.columns.get((schema, table), {})


def connect_read_only(build_db: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection with the identifier UDFs of ``socle.dbt_plugin`` (the staging
    views call them; rule 2 hashes identifiers with them).

    Read-only never takes the writer's lock, so the gates can run beside any reader.
    """
    if not build_db.exists():
        raise FileNotFoundError(f"no build database at {build_db}: run the dbt build first")
    # The build's memory limit too: unset, DuckDB would take 80 % of the machine's memory.
    con = duckdb.connect(
        str(build_db),
        read_only=True,
        config={"memory_limit": duckdb_memory_limit()},
    )
    con.execute("set enable_progress_bar = false")  # at scale it floods the task log
    # The same functions as the dbt plugin, registered without importing dbt (seconds).
    return register_sql_functions(con, pseudonym_secret())


def quote(*parts: str) -> str:
    """A qualified identifier, quoted (names come from the catalog, never from data)."""
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
