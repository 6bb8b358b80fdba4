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


@pytest.mark.parametrize("secret", ["short", "k" * 64, "a much longer secret " * 5, "clé-àccentuée"])
def test_native_hmac_matches_python_for_any_secret(secret: str) -> None:
    """The SQL macro must give exactly keyed_hash: tombstones are written from Python."""
    from socle.identity import register_sql_functions

    con = register_sql_functions(duckdb.connect(), secret)
    values = ["jean.dupont@example.fr", "+33612345678", "facebook_id:1000", "éloïse@exemple.fr", ""]
    got = con.execute("select socle_hmac(v) from unnest(?) as t(v)", [values]).fetchall()
    assert [row[0] for row in got] == [keyed_hash(v, secret) for v in values]


def test_cursors_get_the_hmac_macro(monkeypatch: pytest.MonkeyPatch) -> None:
    """dbt-duckdb runs models on cursors; a temp macro does not follow a cursor by itself."""
    monkeypatch.setenv("SOCLE_PSEUDONYM_SECRET", SECRET)
    plugin = Plugin(name="dbt_plugin", plugin_config={})
    connection = duckdb.connect()
    plugin.configure_connection(connection)
    cursor = connection.cursor()
    plugin.configure_cursor(cursor)
    assert cursor.execute("select socle_hmac('a@b.fr'), socle_email(' A@B.FR ')").fetchone() == (
        keyed_hash("a@b.fr", SECRET),
        "a@b.fr",
    )
