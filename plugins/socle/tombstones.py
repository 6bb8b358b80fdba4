"""Tombstones: the keyed hashes of erased identifiers, so erased people never come back.

``<home>/compliance/tombstones.parquet`` holds one row per erased identifier:
``identifier_hash`` (``keyed_hash(normalised identifier, pseudonym secret)``), ``kind``
(``email``, ``phone``, or a declared social account ``facebook_id``/``x_user_id``),
``erased_at`` and ``request_id``. Never an identifier in clear: the list says "this person
was erased" to whoever holds the secret, and nothing to anyone else.

dbt filters every person-bearing staging model through it (contracts §5); the landing
writer filters incoming records with :class:`TombstoneFilter` so a source that sends an
erased person again lands nothing of them::

    erased = TombstoneFilter()
    records = erased.drop_erased(records, source)  # lazily filtered; erased.dropped counts them

Data-subject requests (``dsr/requests``) are not filtered: an erased person may ask again
and each request gets its answer; ``socle.dsr`` removes the row once it is answered.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from socle.config import paths, pseudonym_secret
from socle.identity import keyed_hash, normalise_email, normalise_phone

ACCOUNT_KINDS = ("facebook_id", "x_user_id")
TOMBSTONE_KINDS = frozenset({"email", "phone", *ACCOUNT_KINDS})
SCHEMA = pa.schema(
    [
        ("identifier_hash", pa.string()),
        ("kind", pa.string()),
        ("erased_at", pa.timestamp("us", tz="UTC")),
        ("request_id", pa.string()),
    ]
)
# Record fields the landing writer checks (contracts §4 columns holding a person's identifiers).
EMAIL_FIELDS = ("email", "contact_email", "volunteer_email")
PHONE_FIELDS = ("phone", "contact_phone")
# Per source, the fields holding the platform account of an interaction.
ACCOUNT_FIELDS = {
    "facebook": ("facebook_id", ("from_id", "user_id")),
    "x": ("x_user_id", ("author_id", "user_id")),
}


def tombstones_path() -> Path:
    return paths().tombstones


def classify(identifier: str) -> tuple[str, str] | None:
    """``(kind, normalised value)`` of a raw e-mail or phone, or None when it is neither."""
    if "@" in identifier:
        email = normalise_email(identifier)
        return ("email", email) if email else None
    phone = normalise_phone(identifier)
    return ("phone", phone) if phone else None


def account_identifier(kind: str, account_id: str) -> str:
    """The string hashed for a social account (namespaced so it never collides with a phone)."""
    if kind not in ACCOUNT_KINDS:
        raise ValueError(f"unknown account kind {kind!r}; expected one of {ACCOUNT_KINDS}")
    return f"{kind}:{account_id.strip().lower()}"


def _normalised(identifiers: Iterable[str | tuple[str, str]]) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for item in identifiers:
        if isinstance(item, tuple):
            kind, value = item
            if kind in ACCOUNT_KINDS:
                found.add((kind, account_identifier(kind, value)))
                continue
            item = value
        classified = classify(item) if item else None
        if classified:
            found.add(classified)
    return found


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise writers of a compliance file (the requests DAG and a manual CLI run)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read() -> pa.Table:
    """The store in :data:`SCHEMA` (a file written by other tools may lack kind/request_id)."""
    path = tombstones_path()
    if not path.exists():
        return SCHEMA.empty_table()
    table = pq.read_table(path)
    columns = {}
    for column in SCHEMA:
        if column.name in table.column_names:
            columns[column.name] = _cast(table.column(column.name), column.type)
        else:
            columns[column.name] = pa.nulls(table.num_rows, column.type)
    return pa.table(columns, schema=SCHEMA)


def add(
    identifiers: Iterable[str | tuple[str, str]],
    request_id: str,
    *,
    erased_at: datetime | None = None,
) -> int:
    """Tombstone identifiers; returns how many were new.

    ``identifiers`` are raw e-mails/phones (normalised here; anything unparseable is ignored)
    or ``(kind, value)`` pairs, where kind may also be a social account kind. Rewrites the
    file atomically; an identifier already tombstoned keeps its first erasure date.
    """
    secret = pseudonym_secret()
    moment = erased_at or datetime.now(UTC)
    with _locked(tombstones_path()):
        existing = _read()
        known = set(existing.column("identifier_hash").to_pylist())
        new_rows = {}
        for kind, value in sorted(_normalised(identifiers)):
            digest = keyed_hash(value, secret)
            if digest not in known:
                new_rows[digest] = kind
        if not new_rows:
            return 0
        added = pa.table(
            {
                "identifier_hash": list(new_rows),
                "kind": list(new_rows.values()),
                "erased_at": [moment] * len(new_rows),
                "request_id": [request_id] * len(new_rows),
            },
            schema=SCHEMA,
        )
        target = tombstones_path()
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            pq.write_table(pa.concat_tables([existing, added]), tmp, compression="zstd")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return len(new_rows)


def _cast(values: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray:
    try:
        return values.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # A date or naive timestamp written as text: read it as UTC; unreadable becomes null.
        try:
            return values.cast(pa.timestamp("us")).cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return pa.chunked_array([pa.nulls(len(values), target)])


def load_hashes() -> frozenset[str]:
    """Every tombstoned identifier hash (all kinds)."""
    return frozenset(_read().column("identifier_hash").to_pylist())


def count() -> int:
    return _read().num_rows


class TombstoneFilter:
    """Per-record check for the landing writer: loads the tombstones once, hashes lazily.

    With no tombstones every check returns False without hashing anything.
    """

    def __init__(self, hashes: frozenset[str] | None = None, secret: str | None = None):
        self._hashes = load_hashes() if hashes is None else hashes
        self._secret = secret or (pseudonym_secret() if self._hashes else "")
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._hashes)

    def _hit(self, value: str | None) -> bool:
        return value is not None and keyed_hash(value, self._secret) in self._hashes

    def is_erased(self, email: str | None, phone: str | None) -> bool:
        """True when the e-mail or the phone (raw or normalised) belongs to an erased person."""
        if not self._hashes:
            return False
        if email and self._hit(normalise_email(email)):
            return True
        if phone:
            value = phone if phone.startswith("+") and phone[1:].isdigit() else normalise_phone(phone)
            return self._hit(value)
        return False

    def is_erased_account(self, kind: str, account_id: str | None) -> bool:
        """True when a declared social account (``facebook_id``/``x_user_id``) was erased with its owner."""
        if not self._hashes or not account_id:
            return False
        return self._hit(account_identifier(kind, account_id))

    def is_erased_record(self, record: Mapping[str, object], source: str | None = None) -> bool:
        """True when any identifier field of a landing record (contracts §4) is tombstoned.

        With ``source`` (``facebook``/``x``) the interaction's account fields are checked too.
        """
        if not self._hashes:
            return False
        for name in EMAIL_FIELDS:
            value = record.get(name)
            if isinstance(value, str) and self.is_erased(value, None):
                return True
        for name in PHONE_FIELDS:
            value = record.get(name)
            if isinstance(value, str) and self.is_erased(None, value):
                return True
        kind, fields = ACCOUNT_FIELDS.get(source or "", ("", ()))
        return any(self.is_erased_account(kind, _text(record.get(name))) for name in fields)

    def drop_erased(
        self, records: Iterable[Mapping[str, object]], source: str | None = None
    ) -> Iterator[Mapping[str, object]]:
        """The records of non-erased people, streamed; ``self.dropped`` counts the others."""
        for record in records:
            if self.is_erased_record(record, source):
                self.dropped += 1
                continue
            yield record


def _text(value: object) -> str | None:
    return None if value is None else str(value)
