"""Identifiers: normalisation and the pseudonymous person key.

The same functions are registered as DuckDB UDFs for dbt, so Python (requests,
tombstones) and SQL (staging models) can never disagree on what an identifier is.
"""

from __future__ import annotations

import hashlib
import hmac
import re

import phonenumbers

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
