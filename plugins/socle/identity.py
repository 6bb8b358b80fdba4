"""Identifiers: normalisation and the pseudonymous person key.

The same functions are registered as DuckDB UDFs for dbt, so Python (requests,
tombstones) and SQL (staging models) can never disagree on what an identifier is.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import lru_cache

import duckdb
import phonenumbers
from duckdb.sqltypes import VARCHAR

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(raw: str | None) -> str | None:
    """Trimmed, lower-cased e-mail, or None when it is not an address."""
    if raw is None:
        return None
    value = raw.strip().lower()
    return value if _EMAIL.match(value) else None


def normalise_phone(raw: str | None, region: str = "FR") -> str | None:
    """E.164 phone number (``+33612345678``), or None when it is not a valid number.

    Accepts what volunteers write: ``06 12 34 56 78``, ``06.12.34.56.78``,
    ``+33 6 12 34 56 78``, ``0033612345678``.
    """
    if raw is None:
        return None
    value = raw.strip()
    if not value:
        return None
    if value.startswith("00"):
        value = "+" + value[2:]
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def keyed_hash(identifier: str, secret: str) -> str:
    """HMAC-SHA256 of an already normalised identifier, hex-encoded."""
    return hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


# HMAC-SHA256 block size: a longer key is hashed first (RFC 2104).
_HMAC_BLOCK = 64


def hmac_sql_macro(secret: str) -> str:
    """``socle_hmac(identifier)`` as a DuckDB *temp* macro computing ``keyed_hash`` natively.

    HMAC is ``sha256(key ^ opad || sha256(key ^ ipad || message))``; DuckDB's vectorised
    ``sha256`` makes that ~30x faster than a Python UDF. The padded keys are derived from the
    secret, so the macro is temporary (never stored in a database file) and is defined on
    the connection, never written in model SQL (which dbt keeps in target/ and its logs).
    """
    key = secret.encode()
    if len(key) > _HMAC_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_HMAC_BLOCK, b"\0")
    inner = bytes(k ^ 0x36 for k in key).hex()
    outer = bytes(k ^ 0x5C for k in key).hex()
    return (
        "create or replace temp macro socle_hmac(identifier) as "
        f"sha256(from_hex('{outer}') || unhex(sha256(from_hex('{inner}') || encode(identifier))))"
    )


def register_sql_functions(con: duckdb.DuckDBPyConnection, secret: str) -> duckdb.DuckDBPyConnection:
    """Define ``socle_email``, ``socle_phone`` and ``socle_hmac`` on a DuckDB connection.

    One definition for dbt (``socle.dbt_plugin``), the gates and any reader. Temp macros are
    per connection: a cursor of this connection needs ``con.cursor().execute(hmac_sql_macro(...))``.
    """
    # "special" null handling: the functions receive NULL and may return NULL (an
    # identifier that does not parse); DuckDB's default forbids returning NULL.
    for name, function in (("socle_email", normalise_email), ("socle_phone", _cached_phone)):
        con.create_function(name, function, [VARCHAR], VARCHAR, null_handling="special", side_effects=False)
    con.execute(hmac_sql_macro(secret))
    return con


# phonenumbers costs ~220 µs a value; staging only calls it for phones not already in E.164.
@lru_cache(maxsize=1 << 18)
def _cached_phone(raw: str | None) -> str | None:
    return normalise_phone(raw)
