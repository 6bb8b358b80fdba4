"""Data-subject requests (GDPR art. 15, 16, 17, 21): apply what landed, keep a ledger.

Requests arrive as CSV in ``inbox/dsr/`` and are landed by the CRM ingest as
``landing/dsr/requests`` (contracts §4). :func:`apply_pending_requests` reads the landed
requests not done yet and answers each one:

- **erasure** (art. 17): tombstones for the person's e-mail, phone and declared social
  accounts; every landing part holding them (``_rejected/`` included, whatever the column,
  the JSON ``_record`` too) rewritten atomically without their rows, manifests updated;
  inbox CSVs (``inbox/.done/`` archive included) rewritten without their rows; their rows
  deleted from the published and the build warehouse (by ``person_key`` found through
  ``intermediate.int_identity``/``int_persons`` and by identifier columns, in every schema,
  history included), each database then copied into a fresh file so no deleted bytes
  linger; their access exports deleted. The landed request row goes too (it holds their
  e-mail): only the ledger entry, which holds no personal data, remains.
  *Legal-obligation exception, decided*: Socle keeps nothing of an erased member. The
  party's membership register (dues, statutory records) is the legal record and lives
  outside Socle; the DPO answers the requester about it.
- **access** (art. 15): everything held about the person (landing rows of every source,
  rejected rows, warehouse rows by ``person_key`` and identifiers, consent history,
  requests) exported to ``exports/access/<request_id>.json`` and a self-contained
  ``.html``. DuckDB scans only; no table is loaded whole.
- **objection** (art. 21) and **rectification** (art. 16): marked done; dbt applies them
  from the landed requests (``stg_dsr__requests``: ``request_type``, e-mail/phone, and for
  rectifications ``rectified_field``/``rectified_value`` from the landed ``field``/``new_value``).
- **returning people**: after the requests, :func:`sweep_tombstoned` removes from the
  landing zone and the inbox anyone tombstoned who was landed again by a path that did not
  filter them (the hashes of the distinct landed identifiers are compared with the store).
  A request not answered yet keeps its landed row, even an erased person's.
- A request whose processing fails stays ``pending`` and becomes ``overdue`` once its due
  date (received + one month) has passed; the next run retries it. A request that cannot
  be acted on (no valid identifier, unknown type, rectification without a field) is
  ``rejected`` with a reason code: the DPO answers the requester directly.

The ledger ``compliance/request_ledger.parquet`` is keyed by ``request_id`` and holds no
personal data: type, dates, status, a reason code and the rows affected per table (JSON).
Writes to the warehouse files happen only here, and the DAG runs them in the ``warehouse`` pool.
"""

from __future__ import annotations

import calendar
import csv
import html
import io
import json
import logging
import os
import re
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import phonenumbers
import pyarrow as pa
import pyarrow.parquet as pq

from socle import tombstones
from socle.config import paths, pseudonym_secret
from socle.identity import keyed_hash, normalise_email, normalise_phone
from socle.landing import file_sha256

log = logging.getLogger(__name__)

REQUEST_TYPES = ("erasure", "access", "objection", "rectification")
LEDGER_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("request_type", pa.string()),
        ("received_at", pa.timestamp("us", tz="UTC")),
        ("due_at", pa.timestamp("us", tz="UTC")),
        ("done_at", pa.timestamp("us", tz="UTC")),
        ("status", pa.string()),
        ("rows_affected", pa.string()),  # JSON object: table -> rows
        ("note", pa.string()),  # reason code, never personal data
    ]
)
# Warehouse columns holding a person's identifiers (besides person_key).
WAREHOUSE_EMAIL_COLUMNS = ("email", "contact_email", "volunteer_email")
WAREHOUSE_PHONE_COLUMNS = ("phone", "contact_phone")
WAREHOUSE_IDENTIFIER_COLUMNS = ("identifier", "anchor_identifier")
# Where a declared social account shows up: landing source -> (account columns, declared column).
SOCIAL_COLUMNS = {
    "facebook": ("facebook_id", ("from_id", "user_id")),
    "x": ("x_user_id", ("author_id", "user_id")),
}
HANDLE_COLUMNS = ("x_handle", "author_username", "username")
# Landing sources of public reference data, without persons (their rejections are still searched).
REFERENCE_SOURCES = ("opendata",)


def ledger_path() -> Path:
    return paths().compliance_store / "request_ledger.parquet"


def access_exports_dir() -> Path:
    return paths().home / "exports" / "access"


# --------------------------------------------------------------------------- the person


@dataclass
class Subject:
    """The identifiers of the person a request is about (normalised), and their social accounts."""

    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    facebook_ids: set[str] = field(default_factory=set)
    x_user_ids: set[str] = field(default_factory=set)
    x_handles: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, email: str | None, phone: str | None) -> Subject:
        subject = cls()
        if e := normalise_email(email):
            subject.emails.add(e)
        if p := normalise_phone(phone):
            subject.phones.add(p)
        return subject

    def __bool__(self) -> bool:
        return bool(self.emails or self.phones)

    def identifier_hashes(self, secret: str) -> set[str]:
        return {keyed_hash(i, secret) for i in self.emails | self.phones}

    def tombstone_entries(self) -> list[tuple[str, str]]:
        return (
            [("email", e) for e in self.emails]
            + [("phone", p) for p in self.phones]
            + [("facebook_id", i) for i in self.facebook_ids]
            + [("x_user_id", i) for i in self.x_user_ids]
        )


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in_list(values: Iterable[str]) -> str:
    return "(" + ", ".join(_lit(v) for v in sorted(values)) + ")"


def _phone_forms(phone: str) -> set[str]:
    """How an E.164 number may be written once spaces/dots/dashes are removed."""
    forms = {phone, "00" + phone[1:]}
    try:
        number = phonenumbers.parse(phone)
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        forms.add(re.sub(r"[^0-9]", "", national))
    except phonenumbers.NumberParseException:
        pass
    return forms


def _email_regex(emails: set[str]) -> str:
    alternatives = "|".join(re.escape(e) for e in sorted(emails))
    return f"(^|[^a-z0-9._%+-])({alternatives})($|[^a-z0-9.-])"


def _phone_regex(phones: set[str]) -> str:
    forms = sorted({f for p in phones for f in _phone_forms(p)})
    return "(^|[^0-9])(" + "|".join(re.escape(f) for f in forms) + ")($|[^0-9])"


def landing_predicate(columns: Iterable[str], source: str, subject: Subject) -> str | None:
    """SQL true for a landing row holding the person, in any column; None if nothing can match.

    Text columns are searched for the e-mail (case-insensitive, whole address) and the
    phone in any usual spelling, which also covers free text and the JSON ``_record`` of a
    rejection; declared social accounts are matched on the account columns of their platform.
    """
    terms: list[str] = []
    columns = list(columns)
    searchable = [c for c in columns if not c.startswith("_") or c == "_record"]
    if subject.emails:
        pattern = _lit(_email_regex(subject.emails))
        terms += [f"regexp_matches(lower({_text(c)}), {pattern})" for c in searchable]
    if subject.phones:
        pattern = _lit(_phone_regex(subject.phones))
        terms += [
            f"regexp_matches(regexp_replace({_text(c)}, '[\\s.()/-]', '', 'g'), {pattern})"
            for c in searchable
        ]
    for platform, ids in (("facebook", subject.facebook_ids), ("x", subject.x_user_ids)):
        if not ids:
            continue
        declared, interaction_columns = SOCIAL_COLUMNS[platform]
        account_columns = [declared] + (list(interaction_columns) if source == platform else [])
        terms += [f"{_ident(c)} in {_in_list(ids)}" for c in account_columns if c in columns]
        if "_record" in columns and source == platform:
            keys = "|".join((declared, *interaction_columns))
            ids_re = "|".join(re.escape(i) for i in sorted(ids))
            record_re = '"(' + keys + ')": *"(' + ids_re + ')"'
            terms.append(f"regexp_matches(_record, {_lit(record_re)})")
    if subject.x_handles:
        handle_columns = [c for c in HANDLE_COLUMNS if c in columns and (source == "x" or c == "x_handle")]
        terms += [f"ltrim(lower({_ident(c)}), '@') in {_in_list(subject.x_handles)}" for c in handle_columns]
    if not terms:
        return None
    return "(" + " or ".join(f"coalesce({t}, false)" for t in terms) + ")"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(name: str) -> str:
    return f"cast({_ident(name)} as varchar)"


# --------------------------------------------------------------------------- landing parts


@dataclass(frozen=True)
class EntityParts:
    """The Parquet parts of one landed entity (``source/entity`` or ``_rejected/source/entity``)."""

    key: str
    source: str
    files: tuple[Path, ...]


def landing_entities(root: Path | None = None, *, people_only: bool = False) -> Iterator[EntityParts]:
    """Every landed entity with its part files (temporary files of running writers excluded).

    ``people_only`` leaves out the public reference data (open data holds no person), which
    is also the biggest: an erasure need not scan it.
    """
    root = root or paths().landing
    if not root.exists():
        return
    entity_dirs = sorted({d.parent for d in root.rglob("dt=*") if d.is_dir()})
    for entity_dir in entity_dirs:
        files = tuple(sorted(entity_dir.glob("dt=*/part-*.parquet")))
        if not files:
            continue
        relative = entity_dir.relative_to(root).parts
        source = relative[1] if relative[0] == "_rejected" and len(relative) > 1 else relative[0]
        if people_only and source in REFERENCE_SOURCES and relative[0] != "_rejected":
            continue
        yield EntityParts("/".join(relative), source, files)


def _file_list(files: Iterable[Path]) -> str:
    return "[" + ", ".join(_lit(str(f)) for f in files) + "]"


def parquet_scan(files: Path | Iterable[Path], *options: str) -> str:
    """``read_parquet`` over landing parts, never adding the ``dt=`` directory as a column."""
    listed = _lit(str(files)) if isinstance(files, Path) else _file_list(files)
    return f"read_parquet({', '.join([listed, 'hive_partitioning = false', *options])})"


def parquet_columns(con: duckdb.DuckDBPyConnection, files: Iterable[Path]) -> list[str]:
    rows = con.execute(f"describe select * from {parquet_scan(files, 'union_by_name = true')}").fetchall()
    return [r[0] for r in rows]


def rewrite_part(con: duckdb.DuckDBPyConnection, part: Path, keep_query: str, reason: str) -> int:
    """Replace one landing part by the rows of ``keep_query`` (a SELECT over the part), atomically.

    The manifest entry follows (rows, sha256, why it was rewritten). A part left with no rows
    stays as an empty file with its columns: staging views and gates read landing globs, and
    a glob matching no file is an error in DuckDB. Returns the rows kept.
    Raises :class:`PartChangedError` (nothing replaced) when an ingest task replaced the part
    meanwhile: its new rows are not lost, and the caller's retry rewrites the new part.
    """
    read = _signature(part)
    tmp = part.with_name(f".{part.name}.{uuid.uuid4().hex}.tmp")
    try:
        con.execute(f"copy ({keep_query}) to {_lit(str(tmp))} (format parquet, compression zstd)")
        kept = con.execute(f"select count(*) from {parquet_scan(tmp)}").fetchone()[0]
        if _signature(part) != read:
            raise PartChangedError(f"{part.parent.name}/{part.name} changed while it was rewritten; retry")
        os.replace(tmp, part)
    finally:
        tmp.unlink(missing_ok=True)
    _update_manifest(part, kept, reason)
    return kept


class PartChangedError(RuntimeError):
    """A landing part was replaced by its writer while it was being rewritten."""


def _signature(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def _update_manifest(part: Path, rows: int, reason: str) -> None:
    manifest_path = part.parent / "_manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"parts": {}}
    entry = manifest["parts"].setdefault(part.name, {})
    entry.update(rows=rows, sha256=file_sha256(part), rewritten_at=datetime.now(UTC).isoformat())
    entry["rewritten_for"] = reason
    tmp = manifest_path.with_name(f".{manifest_path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
    os.replace(tmp, manifest_path)


def _scrub_predicate(
    columns: list[str], entity: EntityParts, subject: Subject, keep_requests: Collection[str]
) -> str | None:
    """The person's rows, except the landed requests still waiting for their answer."""
    predicate = landing_predicate(columns, entity.source, subject)
    if predicate and keep_requests and entity.key == "dsr/requests" and "request_id" in columns:
        predicate = f"({predicate} and coalesce(request_id not in {_in_list(keep_requests)}, true))"
    return predicate


def _matching_files(
    con: duckdb.DuckDBPyConnection, entity: EntityParts, subject: Subject, keep_requests: Collection[str]
) -> dict[Path, int]:
    predicate = _scrub_predicate(parquet_columns(con, entity.files), entity, subject, keep_requests)
    if predicate is None:
        return {}
    source = parquet_scan(entity.files, "union_by_name = true", "filename = true")
    rows = con.execute(
        f"select filename, count(*) from {source} where {predicate} group by filename"
    ).fetchall()
    return {Path(name): n for name, n in rows}


def scrub_landing(subject: Subject, reason: str, keep_requests: Collection[str] = ()) -> dict[str, int]:
    """Rewrite every landing part holding the person without their rows; rows removed per entity.

    ``keep_requests``: request ids whose landed row stays (requests not answered yet, even
    from this person: an erased person may ask again, and each request gets its answer).
    """
    removed: dict[str, int] = {}
    with duckdb.connect() as con:
        # The requests last: while the person's request is landed, an interrupted erasure is retried.
        for entity in sorted(landing_entities(people_only=True), key=lambda e: e.key == "dsr/requests"):
            for part in _matching_files(con, entity, subject, keep_requests):
                predicate = _scrub_predicate(parquet_columns(con, [part]), entity, subject, keep_requests)
                before = con.execute(f"select count(*) from {parquet_scan(part)}").fetchone()[0]
                query = f"select * from {parquet_scan(part)} where not {predicate}"
                kept = rewrite_part(con, part, query, reason)
                removed[entity.key] = removed.get(entity.key, 0) + before - kept
    return removed


# Landing columns that pair an e-mail with a phone on one record (identity links, as in int_identity).
IDENTITY_PAIRS = (("email", "phone"), ("contact_email", "contact_phone"))


def resolve(subject: Subject) -> None:
    """Extend ``subject`` to the whole person: every identifier and declared social account.

    Identifiers follow the rule of ``int_identity``: an e-mail and a phone on one landed record
    are the same person, unless the phone is seen with several e-mails (a shared line, which
    links nothing). The warehouse's own resolution (``int_identity``, ``int_persons``) is
    added when a warehouse file can be read.
    """
    with duckdb.connect() as con:
        _link_landing_identifiers(con, subject)
        for entity in landing_entities():
            if entity.key != "crm/people":
                continue
            columns = parquet_columns(con, entity.files)
            predicate = landing_predicate(columns, entity.source, Subject(subject.emails, subject.phones))
            wanted = [c for c in ("facebook_id", "x_user_id", "x_handle") if c in columns]
            if predicate is None or not wanted:
                continue
            source = parquet_scan(entity.files, "union_by_name = true")
            rows = con.execute(f"select {', '.join(wanted)} from {source} where {predicate}").fetchall()
            for row in rows:
                _add_accounts(subject, dict(zip(wanted, row, strict=True)))
    secret = pseudonym_secret()
    for db in warehouse_files():
        try:
            with duckdb.connect(str(db), read_only=True) as con:
                _link_warehouse_identifiers(con, subject, secret)
                for row in _person_rows(con, subject, ("facebook_id", "x_user_id", "x_handle")):
                    _add_accounts(subject, row)
        except duckdb.Error as exc:  # a locked or unreadable file: erasure then fails on it and retries
            log.warning("could not read identities from %s: %s", db.name, type(exc).__name__)


def _link_landing_identifiers(con: duckdb.DuckDBPyConnection, subject: Subject) -> None:
    selects = []
    for entity in landing_entities():
        if entity.key.startswith("_rejected/"):
            continue
        columns = parquet_columns(con, entity.files)
        source = parquet_scan(entity.files, "union_by_name = true")
        for email, phone in IDENTITY_PAIRS:
            if email in columns and phone in columns:
                e, p = f"nullif(lower(trim({_text(email)})), '')", f"nullif(trim({_text(phone)}), '')"
                selects.append(
                    f"select {e} as email, {p} as phone from {source} where {e} || {p} is not null"
                )
    if not selects:
        return
    pairs = con.execute(
        f"""
        with pairs as (select distinct email, phone from ({" union all ".join(selects)})),
        shared as (select phone from pairs group by phone having count(*) > 1)
        select email, phone from pairs where phone not in (select phone from shared)
        """
    ).fetchall()
    changed = True
    while changed:  # a connected component: follow links until nothing new
        changed = False
        for email, phone in pairs:
            if (email in subject.emails) != (phone in subject.phones):
                subject.emails.add(email)
                subject.phones.add(phone)
                changed = True


def _link_warehouse_identifiers(con: duckdb.DuckDBPyConnection, subject: Subject, secret: str) -> None:
    columns = base_tables(con).get(("intermediate", "int_identity"), {})
    if not {"identifier", "identifier_type", "person_key"} <= set(columns):
        return
    keys = person_keys(con, subject, secret)
    if not keys:
        return
    shared = "coalesce(is_conflicting, false)" if "is_conflicting" in columns else "false"
    rows = con.execute(
        f"select identifier, identifier_type from intermediate.int_identity "
        f"where person_key in {_in_list(keys)} and not {shared}"
    ).fetchall()
    for identifier, kind in rows:
        (subject.emails if kind == "email" else subject.phones).add(identifier)


def _add_accounts(subject: Subject, row: dict[str, Any]) -> None:
    if row.get("facebook_id"):
        subject.facebook_ids.add(str(row["facebook_id"]).strip().lower())
    if row.get("x_user_id"):
        subject.x_user_ids.add(str(row["x_user_id"]).strip().lower())
    if row.get("x_handle"):
        subject.x_handles.add(str(row["x_handle"]).strip().lstrip("@").lower())


# --------------------------------------------------------------------------- inbox files


def _decode(raw: bytes) -> tuple[str, str]:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1"), "latin-1"


def _row_holds(cells: list[str], header: list[str], subject: Subject) -> bool:
    for name, cell in zip(header, cells, strict=False):
        value = cell.strip()
        if not value:
            continue
        if "@" in value and normalise_email(value) in subject.emails:
            return True
        if any(ch.isdigit() for ch in value) and subject.phones and normalise_phone(value) in subject.phones:
            return True
        lowered = value.lower()
        if name == "facebook_id" and lowered in subject.facebook_ids:
            return True
        if name == "x_user_id" and lowered in subject.x_user_ids:
            return True
        if name == "x_handle" and lowered.lstrip("@") in subject.x_handles:
            return True
    return False


def _quick_check(subject: Subject) -> Callable[[str], bool] | None:
    """A whole-file test that can only say "maybe there" or "certainly not" (skips parsing)."""
    if subject.facebook_ids or subject.x_user_ids or subject.x_handles:
        return None  # accounts are matched by column, not by shape
    email_re = re.compile(_email_regex(subject.emails)) if subject.emails else None
    phone_re = re.compile(_phone_regex(subject.phones)) if subject.phones else None

    def maybe(text: str) -> bool:
        if email_re and email_re.search(text.lower()):
            return True
        # Separators inside a number go; line ends stay, or two lines' digits would run together.
        return bool(phone_re and phone_re.search(re.sub(r"[^\S\r\n]|[.()/-]", "", text)))

    return maybe


def scrub_inbox(subject: Subject) -> int:
    """Rewrite inbox CSVs (pending drops and the ``.done`` archive) without the person's rows.

    The file keeps its encoding and separator; returns the rows removed.
    """
    inbox = paths().inbox
    removed = 0
    if not inbox.exists():
        return 0
    quick = _quick_check(subject)
    for path in sorted(p for p in inbox.rglob("*") if p.suffix.lower() == ".csv" and p.is_file()):
        raw = path.read_bytes()
        text, encoding = _decode(raw)
        if quick is not None and not quick(text):
            continue
        lines = text.splitlines(keepends=True)
        if not lines:
            continue
        delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        if not rows:
            continue
        header = [h.strip().lower() for h in rows[0]]
        kept = [rows[0]] + [r for r in rows[1:] if not _row_holds(r, header, subject)]
        if len(kept) == len(rows):
            continue
        out = io.StringIO(newline="")
        csv.writer(out, delimiter=delimiter, lineterminator="\r\n" if "\r\n" in lines[0] else "\n").writerows(
            kept
        )
        payload = out.getvalue().encode(encoding)
        if raw.startswith(b"\xef\xbb\xbf") and not payload.startswith(b"\xef\xbb\xbf"):
            payload = b"\xef\xbb\xbf" + payload
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(payload)
        os.replace(tmp, path)
        removed += len(rows) - len(kept)
    return removed


# --------------------------------------------------------------------------- warehouse files


def warehouse_files() -> list[Path]:
    """The published warehouse and every build database."""
    p = paths()
    found = [p.warehouse] if p.warehouse.exists() else []
    if p.build_dir.exists():
        found += sorted(p.build_dir.rglob("*.duckdb"))
    return found


def base_tables(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], dict[str, str]]:
    rows = con.execute(
        """
        select c.table_schema, c.table_name, c.column_name, c.data_type
        from information_schema.columns as c
        inner join information_schema.tables as t
            on c.table_catalog = t.table_catalog
            and c.table_schema = t.table_schema
            and c.table_name = t.table_name
        where t.table_type = 'BASE TABLE' and c.table_catalog = current_database()
        order by c.table_schema, c.table_name, c.ordinal_position
        """
    ).fetchall()
    tables: dict[tuple[str, str], dict[str, str]] = {}
    for schema, table, column, data_type in rows:
        tables.setdefault((schema, table), {})[column] = data_type
    return tables


def _person_rows(
    con: duckdb.DuckDBPyConnection, subject: Subject, wanted: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Rows of ``intermediate.int_persons`` for the person (only the wanted columns present)."""
    tables = base_tables(con)
    columns = tables.get(("intermediate", "int_persons"), {})
    present = [c for c in wanted if c in columns]
    predicate = _warehouse_predicate(columns, subject, set(), set())
    if not present or predicate is None:
        return []
    rows = con.execute(
        f"select {', '.join(present)} from intermediate.int_persons where {predicate}"
    ).fetchall()
    return [dict(zip(present, row, strict=True)) for row in rows]


def person_keys(con: duckdb.DuckDBPyConnection, subject: Subject, secret: str) -> set[str]:
    """The person_keys of the person: their anchors' HMACs, plus what identity resolution says."""
    keys = subject.identifier_hashes(secret)
    identifiers = subject.emails | subject.phones
    tables = base_tables(con)
    if identifiers and ("identifier" in tables.get(("intermediate", "int_identity"), {})):
        query = "select distinct person_key from intermediate.int_identity where identifier in "
        rows = con.execute(query + _in_list(identifiers)).fetchall()
        keys |= {r[0] for r in rows if r[0]}
    persons = tables.get(("intermediate", "int_persons"), {})
    predicate = _warehouse_predicate(persons, subject, set(), set())
    if "person_key" in persons and predicate:
        rows = con.execute(
            f"select distinct person_key from intermediate.int_persons where {predicate}"
        ).fetchall()
        keys |= {r[0] for r in rows if r[0]}
    return keys


def _warehouse_predicate(
    columns: dict[str, str], subject: Subject, keys: set[str], hashes: set[str]
) -> str | None:
    terms: list[str] = []
    text = {c for c, t in columns.items() if t == "VARCHAR"}
    if keys and "person_key" in text:
        terms.append(f"person_key in {_in_list(keys)}")
    for column in sorted(text):
        if subject.emails and (column in WAREHOUSE_EMAIL_COLUMNS or column.endswith("_email")):
            terms.append(f"lower(trim({_ident(column)})) in {_in_list(subject.emails)}")
        elif subject.phones and (column in WAREHOUSE_PHONE_COLUMNS or column.endswith("_phone")):
            terms.append(f"{_ident(column)} in {_in_list(subject.phones)}")
        elif column in WAREHOUSE_IDENTIFIER_COLUMNS and subject:
            terms.append(f"{_ident(column)} in {_in_list(subject.emails | subject.phones)}")
        elif hashes and (column == "identifier_hash" or column.endswith("_identifier_hash")):
            terms.append(f"{_ident(column)} in {_in_list(hashes)}")
        elif column == "facebook_id" and subject.facebook_ids:
            terms.append(f"lower({_ident(column)}) in {_in_list(subject.facebook_ids)}")
        elif column == "x_user_id" and subject.x_user_ids:
            terms.append(f"lower({_ident(column)}) in {_in_list(subject.x_user_ids)}")
        elif column == "account_id" and (subject.facebook_ids or subject.x_user_ids):
            # Social staging tables (incremental) keep the account id of each interaction.
            accounts = subject.facebook_ids | subject.x_user_ids
            terms.append(f"lower({_ident(column)}) in {_in_list(accounts)}")
        elif column == "x_handle" and subject.x_handles:
            terms.append(f"ltrim(lower({_ident(column)}), '@') in {_in_list(subject.x_handles)}")
    if not terms:
        return None
    return "(" + " or ".join(f"coalesce({t}, false)" for t in terms) + ")"


def erase_from_database(db: Path, subject: Subject, secret: str) -> dict[str, int]:
    """Delete the person from every base table of one DuckDB file; rows deleted per table.

    When anything was deleted the file is copied into a fresh one and swapped in atomically,
    so the deleted rows do not survive in free blocks of the old file.
    """
    deleted: dict[str, int] = {}
    with duckdb.connect(str(db)) as con:
        keys = person_keys(con, subject, secret)
        hashes = subject.identifier_hashes(secret)
        for (schema, table), columns in base_tables(con).items():
            predicate = _warehouse_predicate(columns, subject, keys, hashes)
            if predicate is None:
                continue
            name = f"{_ident(schema)}.{_ident(table)}"
            n = con.execute(f"select count(*) from {name} where {predicate}").fetchone()[0]
            if n:
                con.execute(f"delete from {name} where {predicate}")
                deleted[f"{schema}.{table}"] = n
        con.execute("checkpoint")
    if deleted:
        compact(db)
    return deleted


def compact(db: Path) -> None:
    """Copy a DuckDB file into a fresh one and swap it in: deleted values leave no free blocks."""
    tmp = db.with_name(f".{db.name}.{uuid.uuid4().hex}.tmp")
    try:
        with duckdb.connect() as con:
            con.execute(f"attach {_lit(str(db))} as src (read_only)")
            con.execute(f"attach {_lit(str(tmp))} as fresh")
            con.execute("copy from database src to fresh")
            con.execute("detach fresh")
            con.execute("detach src")
        os.replace(tmp, db)
    finally:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)


# --------------------------------------------------------------------------- access exports


def _landing_rows(subject: Subject, only: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """The person's landed rows per entity (``only``: just that entity)."""
    found: dict[str, list[dict[str, Any]]] = {}
    with duckdb.connect() as con:
        for entity in landing_entities(people_only=True):
            if only is not None and entity.key != only:
                continue
            predicate = landing_predicate(parquet_columns(con, entity.files), entity.source, subject)
            if predicate is None:
                continue
            source = parquet_scan(entity.files, "union_by_name = true")
            cursor = con.execute(f"select * from {source} where {predicate}")
            names = [d[0] for d in cursor.description]
            rows = [_clean(dict(zip(names, row, strict=True))) for row in cursor.fetchall()]
            if rows:
                found[entity.key] = rows
    return found


def _warehouse_rows(subject: Subject, secret: str) -> dict[str, list[dict[str, Any]]]:
    p = paths()
    db = p.warehouse if p.warehouse.exists() else (p.build_db if p.build_db.exists() else None)
    if db is None:
        return {}
    found: dict[str, list[dict[str, Any]]] = {}
    with duckdb.connect(str(db), read_only=True) as con:
        keys = person_keys(con, subject, secret)
        for (schema, table), columns in base_tables(con).items():
            predicate = _warehouse_predicate(columns, subject, keys, subject.identifier_hashes(secret))
            if predicate is None:
                continue
            cursor = con.execute(f"select * from {_ident(schema)}.{_ident(table)} where {predicate}")
            names = [d[0] for d in cursor.description]
            rows = [_clean(dict(zip(names, row, strict=True))) for row in cursor.fetchall()]
            if rows:
                found[f"{schema}.{table}"] = rows
    return found


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if v is None or isinstance(v, (str, int, float, bool)) else str(v)) for k, v in row.items()}


def export_access(request_id: str, subject: Subject, ledger: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Write ``exports/access/<request_id>.json`` and ``.html``; rows exported per table."""
    from socle.retention import retention_windows

    secret = pseudonym_secret()
    resolve(subject)
    landing_rows = _landing_rows(subject)
    warehouse_rows = _warehouse_rows(subject, secret)
    request_rows = landing_rows.get("dsr/requests", [])
    request_ids = {r.get("request_id") for r in request_rows} | {request_id}
    payload = {
        "request_id": request_id,
        "generated_at": datetime.now(UTC).isoformat(),
        "subject": {
            "emails": sorted(subject.emails),
            "phones": sorted(subject.phones),
            "facebook_ids": sorted(subject.facebook_ids),
            "x_user_ids": sorted(subject.x_user_ids),
            "x_handles": sorted(subject.x_handles),
        },
        "processing": {
            "controller": "the campaign running Socle",
            "purposes": [
                "political communication by the channels you consented to (e-mail, SMS, phone)",
                "organising events and door-to-door canvassing",
                "engagement scoring, only for members/regular contacts or with your profiling consent",
            ],
            "retention": retention_windows().as_dict(),
            "rights": "erasure, rectification, objection and access: send a request to the campaign's DPO",
        },
        "consent_history": landing_rows.get("crm/consents", []),
        "requests": {
            "landed": request_rows,
            "ledger": [_jsonable(ledger[i]) for i in sorted(x for x in request_ids if x in ledger)],
        },
        "landing": landing_rows,
        "warehouse": warehouse_rows,
    }
    target = access_exports_dir()
    target.mkdir(parents=True, exist_ok=True)
    _atomic_text(
        target / f"{request_id}.json", json.dumps(payload, indent=2, ensure_ascii=False, default=str)
    )
    _atomic_text(target / f"{request_id}.html", _render_html(payload))
    counts = {f"landing:{k}": len(v) for k, v in landing_rows.items()}
    counts.update({f"warehouse:{k}": len(v) for k, v in warehouse_rows.items()})
    return counts


def _jsonable(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in entry.items()}


def _atomic_text(target: Path, text: str) -> None:
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)


def _html_table(rows: list[dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape('' if r.get(c) is None else str(r.get(c)))}</td>" for c in columns)
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _render_html(payload: dict[str, Any]) -> str:
    esc = html.escape
    sections = [
        f"<h1>Your data held by the campaign</h1><p>Request {esc(payload['request_id'])}, "
        f"generated {esc(payload['generated_at'])}.</p>",
        "<h2>Who you are to us</h2>"
        + _html_table([{k: ", ".join(v) for k, v in payload["subject"].items()}]),
        "<h2>Why we hold it and for how long</h2><ul>"
        + "".join(f"<li>{esc(p)}</li>" for p in payload["processing"]["purposes"])
        + "</ul>"
        + _html_table([{k: str(v) for k, v in payload["processing"]["retention"].items()}])
        + f"<p>{esc(payload['processing']['rights'])}</p>",
    ]
    if payload["consent_history"]:
        sections.append("<h2>Your consents</h2>" + _html_table(payload["consent_history"]))
    sections.append(
        "<h2>Your requests</h2>"
        + _html_table(payload["requests"]["ledger"] or [{"requests": "none recorded"}])
    )
    for title, group in (("Collected records", payload["landing"]), ("Warehouse", payload["warehouse"])):
        sections.append(f"<h2>{title}</h2>")
        if not group:
            sections.append("<p>None.</p>")
        for name, rows in group.items():
            sections.append(f"<h3>{esc(name)} ({len(rows)})</h3>" + _html_table(rows))
    style = (
        "body{font-family:sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.85em}"
        "td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}"
        "th{background:#f3f3f3}"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Access request '
        f"{esc(payload['request_id'])}</title><style>{style}</style></head><body>"
        + "".join(sections)
        + "</body></html>"
    )


def delete_access_exports(subject: Subject, request_ids: Iterable[str]) -> int:
    """Delete the person's access exports (by request id, or by the identifiers they name)."""
    directory = access_exports_dir()
    if not directory.exists():
        return 0
    doomed = set(request_ids)
    for export in directory.glob("*.json"):
        try:
            named = json.loads(export.read_text(encoding="utf-8")).get("subject", {})
        except (OSError, ValueError):
            continue
        if subject.emails & set(named.get("emails", [])) or subject.phones & set(named.get("phones", [])):
            doomed.add(export.stem)
    deleted = 0
    for request_id in doomed:
        for suffix in (".json", ".html"):
            target = directory / f"{request_id}{suffix}"
            if target.exists():
                target.unlink()
                deleted += 1
    return deleted


# --------------------------------------------------------------------------- erasure


def erase(request_id: str, subject: Subject, keep_requests: Collection[str] = ()) -> dict[str, int]:
    """Apply an erasure everywhere Socle keeps data (see module docstring); rows removed per place.

    ``keep_requests``: other requests not answered yet, whose landed rows must stay.
    """
    secret = pseudonym_secret()
    resolve(subject)
    affected: dict[str, int] = {}
    # Tombstones first: if anything below fails, the person is already filtered from new loads.
    affected["compliance:tombstones"] = tombstones.add(subject.tombstone_entries(), request_id)
    requests = _landing_rows(Subject(subject.emails, subject.phones), only="dsr/requests")
    request_ids = {r.get("request_id") for r in requests.get("dsr/requests", [])}
    p = paths()
    for db in warehouse_files():
        label = "warehouse" if db == p.warehouse else f"build:{db.relative_to(p.build_dir)}"
        for table, n in erase_from_database(db, subject, secret).items():
            affected[f"{label}:{table}"] = n
    # Gate rule 2's ledger: its bucket fingerprints sum hashes of identifiers, the person's too.
    ledger_files = [file for file in p.rule_2_ledger_files() if file.exists()]
    for file in ledger_files:
        file.unlink()
    affected["build:rule_2_ledger_files"] = len(ledger_files)
    affected["exports:access_files"] = delete_access_exports(subject, {i for i in request_ids if i})
    affected["inbox:rows"] = scrub_inbox(subject)
    # Last, because it removes the landed request itself: a failure before here leaves the
    # request landed, so the next run retries it.
    for key, n in scrub_landing(subject, "erasure", set(keep_requests) - {request_id}).items():
        affected[f"landing:{key}"] = n
    return {k: v for k, v in affected.items() if v}


def sweep_tombstoned(keep_requests: Collection[str] = ()) -> dict[str, int]:
    """Remove from the landing zone and the inbox every tombstoned person who came back.

    The landing writer drops erased people as it lands; this catches what reached the landing
    zone another way (a part landed before the filter, an old file dropped again), so the
    build never sees them. Only hashes are stored: the distinct identifiers landed are hashed
    and compared. Requests in ``keep_requests`` (not answered yet) stay. Returns the rows
    removed per place.
    """
    erased = tombstones.TombstoneFilter()
    if not len(erased):
        return {}
    subject = Subject()
    try:
        with duckdb.connect() as con:
            for entity in landing_entities(people_only=True):
                _collect_returning(con, entity, erased, subject)
        if not (subject or subject.facebook_ids or subject.x_user_ids):
            return {}
        swept = scrub_landing(subject, "tombstone_sweep", keep_requests)
        removed = {f"landing:{key}": n for key, n in swept.items()}
        removed["inbox:rows"] = scrub_inbox(subject)
    except duckdb.Error as exc:  # its message may quote identifiers: name the failure only
        raise RuntimeError(f"tombstone sweep failed ({type(exc).__name__}); rerun the task") from None
    return {k: v for k, v in removed.items() if v}


def _collect_returning(
    con: duckdb.DuckDBPyConnection, entity: EntityParts, erased: tombstones.TombstoneFilter, subject: Subject
) -> None:
    columns = parquet_columns(con, entity.files)
    source = parquet_scan(entity.files, "union_by_name = true")

    def distinct(expression: str, relation: str = source) -> list[str]:
        query = f"select distinct {expression} as v from {relation} where {expression} is not null"
        return [row[0] for row in con.execute(query).fetchall()]

    for column in tombstones.EMAIL_FIELDS:
        if column in columns:
            subject.emails |= {
                normalise_email(v) for v in distinct(_text(column)) if erased.is_erased(v, None)
            }
    for column in tombstones.PHONE_FIELDS:
        if column in columns:
            subject.phones |= {
                normalise_phone(v) for v in distinct(_text(column)) if erased.is_erased(None, v)
            }
    kind, account_columns = tombstones.ACCOUNT_FIELDS.get(entity.source, ("", ()))
    for column in (c for c in account_columns if c in columns):
        found = {v.strip().lower() for v in distinct(_text(column)) if erased.is_erased_account(kind, v)}
        (subject.facebook_ids if kind == "facebook_id" else subject.x_user_ids).update(found)
    if "_record" in columns:  # a quarantined record keeps its raw fields as JSON
        records = f"(select _record from {source} where json_valid(_record)) as r, json_each(r._record) as j"
        for value in distinct("json_extract_string(j.value, '$')", records):
            if "@" in value and erased.is_erased(value, None):
                subject.emails.add(normalise_email(value))
            elif any(ch.isdigit() for ch in value) and erased.is_erased(None, value):
                subject.phones.add(normalise_phone(value))
    subject.emails.discard(None)
    subject.phones.discard(None)


# --------------------------------------------------------------------------- ledger and run


def add_one_month(moment: datetime) -> datetime:
    """Same day next month, clamped to the month's last day (31 Jan -> 28/29 Feb)."""
    year, month = moment.year + moment.month // 12, moment.month % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def load_ledger() -> dict[str, dict[str, Any]]:
    path = ledger_path()
    if not path.exists():
        return {}
    return {row["request_id"]: row for row in pq.read_table(path, schema=LEDGER_SCHEMA).to_pylist()}


def _save_ledger(ledger: dict[str, dict[str, Any]]) -> None:
    path = ledger_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([ledger[k] for k in sorted(ledger)], schema=LEDGER_SCHEMA)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def landed_requests() -> list[dict[str, Any]]:
    """The landed requests, one per request_id (latest load wins), oldest received first."""
    entity = next((e for e in landing_entities() if e.key == "dsr/requests"), None)
    if entity is None:
        return []
    with duckdb.connect() as con:
        cursor = con.execute(
            f"select * from {parquet_scan(entity.files, 'union_by_name = true')} "
            "qualify row_number() over (partition by request_id order by _fetched_at desc) = 1"
        )
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        row["_received"] = _aware(row.get("received_at"))
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(rows, key=lambda r: (r["_received"] or far, str(r.get("request_id"))))


@dataclass
class RequestsRun:
    """What one pass did, in counts (safe to log and to return through XCom)."""

    seen: int = 0
    done: dict[str, int] = field(default_factory=dict)
    rejected: int = 0
    failed: int = 0
    pending: int = 0
    overdue: int = 0
    rows_affected: int = 0
    swept_rows: int = 0  # rows of erased people that came back, removed again

    def summary(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "done": dict(self.done),
            "rejected": self.rejected,
            "failed": self.failed,
            "pending": self.pending,
            "overdue": self.overdue,
            "rows_affected": self.rows_affected,
            "swept_rows": self.swept_rows,
        }


def apply_pending_requests(now: datetime | None = None) -> RequestsRun:
    """Answer every landed request not answered yet; update the ledger after each one.

    Then sweep the landing zone for erased people who came back (:func:`sweep_tombstoned`).

    One request failing never stops the others: it stays pending (overdue past its due date)
    with the exception class as its note, and the next run retries it.
    """
    now = now or datetime.now(UTC)
    run = RequestsRun()
    with tombstones._locked(ledger_path()):
        ledger = load_ledger()
        landed = landed_requests()
        unanswered = {
            r["request_id"]
            for r in landed
            if r.get("request_id")
            and ledger.get(r["request_id"], {}).get("status") not in ("done", "rejected")
        }
        for row in landed:
            request_id = row.get("request_id")
            if not request_id:
                continue  # the ingest rejects rows without one (required column)
            run.seen += 1
            entry = ledger.get(request_id)
            if entry and entry["status"] in ("done", "rejected"):
                continue
            received = row["_received"] or _aware(row.get("_fetched_at")) or now
            if received > now:
                continue  # not received yet as of ``now`` (a rerun of an earlier day)
            request_type = str(row.get("type") or "").strip().lower()
            entry = entry or {
                "request_id": request_id,
                "request_type": request_type,
                "received_at": received,
                "due_at": add_one_month(received),
                "done_at": None,
                "status": "pending",
                "rows_affected": "{}",
                "note": None if row["_received"] else "received_at_unreadable_used_load_time",
            }
            ledger[request_id] = entry
            _answer(entry, row, request_type, now, run, ledger, unanswered - {request_id})
            if entry["status"] in ("done", "rejected"):
                unanswered.discard(request_id)
            _save_ledger(ledger)
        for entry in ledger.values():
            due = _aware(entry["due_at"])
            if entry["status"] == "pending" and due is not None and due < now:
                entry["status"] = "overdue"
        _save_ledger(ledger)
        run.swept_rows = sum(sweep_tombstoned(unanswered).values())
    statuses = [e["status"] for e in ledger.values()]
    run.pending, run.overdue = statuses.count("pending"), statuses.count("overdue")
    log.info("data-subject requests: %s", json.dumps(run.summary(), sort_keys=True))
    return run


def _answer(
    entry: dict[str, Any],
    row: dict[str, Any],
    request_type: str,
    now: datetime,
    run: RequestsRun,
    ledger: dict[str, dict[str, Any]],
    keep_requests: set[str],
) -> None:
    request_id = entry["request_id"]
    subject = Subject.of(row.get("email"), row.get("phone"))
    reason = None
    if request_type not in REQUEST_TYPES:
        reason = "unknown_request_type"
    elif not subject:
        reason = "no_valid_identifier"
    elif request_type == "rectification" and not (row.get("field") and row.get("new_value")):
        reason = "rectification_without_field_or_value"
    if reason:
        entry.update(status="rejected", done_at=now, note=reason)
        run.rejected += 1
        log.warning("request %s rejected: %s", request_id, reason)
        return
    try:
        if request_type == "erasure":
            affected = erase(request_id, subject, keep_requests)
        elif request_type == "access":
            affected = export_access(request_id, subject, ledger)
        else:
            affected = {}  # objection/rectification: dbt applies them from the landed request
    except Exception as exc:
        due = _aware(entry["due_at"])
        entry.update(
            status="overdue" if due and due < now else "pending", note=f"failed:{type(exc).__name__}"
        )
        run.failed += 1
        log.error(
            "request %s (%s) failed with %s; retried next run", request_id, request_type, type(exc).__name__
        )
        return
    note = "applied_by_dbt_from_landed_request" if request_type in ("objection", "rectification") else None
    entry.update(status="done", done_at=now, rows_affected=json.dumps(affected, sort_keys=True), note=note)
    run.done[request_type] = run.done.get(request_type, 0) + 1
    run.rows_affected += sum(affected.values())
    log.info("request %s (%s) done: %d rows/files affected", request_id, request_type, sum(affected.values()))


def request_log_rows() -> list[dict[str, Any]]:
    """The ledger as rows for ``compliance.request_log`` (no personal data).

    Keys: request_id, request_type, received_at, due_at, done_at, status, answered_in_time
    (None while open), rows_affected (JSON object table -> rows), note.
    """
    rows = []
    for entry in sorted(load_ledger().values(), key=lambda e: (e["received_at"], e["request_id"])):
        done, due = entry["done_at"], entry["due_at"]
        rows.append({**entry, "answered_in_time": None if done is None else done <= due})
    return rows
