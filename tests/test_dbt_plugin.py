"""The dbt-duckdb plugin registers the same identifier functions as ``socle.identity``."""

from __future__ import annotations

import duckdb
import pytest

from socle.dbt_plugin import Plugin, register_udfs
from socle.identity import keyed_hash

SECRET = "plugin-test-secret"


@pytest.fixture
def con(monkeypatch: pytest.MonkeyPatch) -> duckdb.DuckDBPyConnection:
    monkeypatch.setenv("SOCLE_PSEUDONYM_SECRET", SECRET)
    connection = duckdb.connect()
    Plugin(name="dbt_plugin", plugin_config={}).configure_connection(connection)
    return connection


def test_udfs_normalise_like_the_python_functions(con: duckdb.DuckDBPyConnection) -> None:
    row = con.execute(
        "select socle_email(' Jean.Dupont@Example.FR '), socle_phone('06 12 34 56 78'), "
        "socle_phone('0033 6 12 34 56 78'), socle_email('not an address'), socle_phone('12')"
    ).fetchone()
    assert row == ("jean.dupont@example.fr", "+33612345678", "+33612345678", None, None)


def test_hmac_udf_uses_the_pseudonymisation_secret(con: duckdb.DuckDBPyConnection) -> None:
    (value,) = con.execute("select socle_hmac('jean.dupont@example.fr')").fetchone()
    assert value == keyed_hash("jean.dupont@example.fr", SECRET)


def test_udfs_are_null_safe(con: duckdb.DuckDBPyConnection) -> None:
    row = con.execute(
        "select socle_email(null), socle_phone(null), socle_hmac(null), "
        "count(socle_hmac(x)) from (values (null::varchar), ('a@b.fr')) as t(x)"
    ).fetchone()
    assert row == (None, None, None, 1)


def test_register_udfs_serves_readers_outside_dbt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOCLE_PSEUDONYM_SECRET", SECRET)
    reader = register_udfs(duckdb.connect())
    assert reader.execute("select socle_hmac('+33612345678')").fetchone() == (
        keyed_hash("+33612345678", SECRET),
    )
