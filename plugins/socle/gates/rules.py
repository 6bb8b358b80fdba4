"""The nine GDPR rules of docs/design.md, each one SQL over the build database.

Every rule is a list of queries returning the violating rows as two columns: ``key`` (a
pseudonymous person key, a keyed hash, or a request/table id — never an identifier) and
``detail`` (where and why, never a value). The rules compute in DuckDB on a read-only
connection; only their counts and a few keys ever leave it.

A rule checks every table that carries the columns it is about, so a new mart is covered
the day it appears; a table that does not exist has nothing to violate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from socle.config import Paths
from socle.gates.catalog import Catalog, literal, quote
from socle.retention import RetentionWindows
from socle.tombstones import ACCOUNT_KINDS, TOMBSTONE_KINDS

log = logging.getLogger(__name__)

ANALYST_SCHEMAS = ("marts",)
WAREHOUSE_SCHEMAS = ("staging", "intermediate", "marts", "restricted")
# Columns holding something a tombstone can name (socle.tombstones): a normalised e-mail or
# E.164 phone, or a social account the person declared (hashed as sent by the platform).
IDENTIFIER_COLUMNS = {
    "email": "email",
    "phone": "phone",
    "contact_email": "email",
    "contact_phone": "phone",
    "volunteer_email": "email",
    "facebook_id": "account",
    "x_user_id": "account",
    "account_id": "account",
    "from_id": "account",
    "author_id": "account",
    "user_id": "account",
}
# A person-level column that states or infers a political opinion (GDPR art. 9).
OPINION_COLUMNS = ("score", "tier", "support_level", "opinion", "political_opinion", "rank_in_bureau")
# Tables that score or select people: minors and objectors must never be in them.
SELECTION_TABLE = re.compile(r"score|contact_list|cell_leader|candidate")
COMMENT_TEXT_COLUMNS = ("message", "text", "comment_text", "tweet_text", "body")
COMMENT_TIME_COLUMNS = ("created_time", "created_at", "commented_at", "posted_at", "event_at", "occurred_at")
ANSWERED_STATUSES = ("done", "completed", "complete", "applied", "answered", "closed", "rejected", "refused")
ANSWERED_COLUMNS = ("done_at", "answered_at", "completed_at", "applied_at", "closed_at", "responded_at")
# GDPR art. 12(3): a request is answered within one month of receipt.
REQUEST_DUE_MONTHS = 1
REQUEST_TYPES = "'erasure', 'access', 'objection', 'rectification'"

# Rule 4: column names that name a direct identifier (matched on the lower-cased name).
IDENTIFIER_NAME_PATTERNS = {
    "an e-mail": r"e_?mail|courriel",
    "a phone number": r"phone|telephone|^tel$|^tel_|_tel$|mobile|portable|^gsm",
    "a name": r"^(first_?name|last_?name|full_?name|given_name|family_name|surname|prenom|nom|name)$",
    "a social handle": r"handle$|username|screen_name|^from_name$|^user_name$",
    "a street address": r"^(address|adresse|street|rue|street_address|address_line_?\d?)$",
    "a birth date": r"birth_?date|date_of_birth|^dob$|naissance",
    "a bank account": r"iban|^bic$",
}
# Flags and counts about an identifier (``has_consent_email``) are not the identifier.
NOT_AN_IDENTIFIER_NAME = re.compile(r"^(has|is|n|nb|count|with)_|_(count|flag)$")
# Rule 4: values that look like a direct identifier (RE2 syntax, DuckDB regexp_matches).
IDENTIFIER_VALUE_PATTERNS = {
    "an e-mail": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    "a phone number": (
        r"(^|[^0-9A-Za-z+])((\+|00)[1-9][0-9]([ .-]?[0-9]){6,13}"
        r"|0[1-9]([ .-]?[0-9]{2}){4})($|[^0-9A-Za-z])"
    ),
    "an IBAN": r"(^|[^A-Za-z0-9])[A-Z]{2}[0-9]{2} ?([A-Z0-9]{4} ?){2,7}[A-Z0-9]{1,4}($|[^A-Za-z0-9])",
    "a street address": (
        r"(?i:(^|[^a-z0-9])[0-9]{1,4}( ?(bis|ter))?,? +(rue|avenue|av\.|boulevard|bd|chemin|impasse"
        r"|all[ée]e|place|quai|route|cours|square|passage|traverse|mont[ée]e|r[ée]sidence|lotissement)[ ,])"
    ),
}
# One pass finds the rows worth naming: RE2 matches the alternation in a single scan.
ANY_IDENTIFIER_VALUE = "|".join(f"({p})" for p in IDENTIFIER_VALUE_PATTERNS.values())
NOTHING = "select cast(null as varchar) as person_key where false"
# Rule 2's ledger (Paths.rule_2_ledger): a table's rows fall into up to 2**16 buckets by a
# 64-bit hash of their identifiers, 16-32 rows each on average from 32 rows up (a smaller table
# is one bucket): few enough to re-read after a scattered change. The hash is keyed with a
# value derived from the pseudonym secret (ROW_HASH_KEY, computed in SQL, never written): a
# bucket may hold a single row (rows sharing an identifier share one), and an unkeyed
# fingerprint of it could be tested against a list of candidate e-mails. DuckDB's hash is
# not a cryptographic MAC, but without the key no candidate can be checked. Not storing the
# small buckets instead made every table holding one be read in part at every run (at M, the
# CRM consents for one bucket of two rows). An erasure deletes the file.
BUCKET_BITS_MAX = 16
ROWS_PER_BUCKET = 16
ROW_HASH_KEY = "socle_hmac('gate rule 2 buckets')"
BUCKET_FILE = re.compile(r"rule_2_verified_tables-[0-9a-f]{32}\.parquet")


@dataclass(frozen=True)
class Context:
    """What a rule may look at."""

    con: duckdb.DuckDBPyConnection
    catalog: Catalog
    paths: Paths
    retention: RetentionWindows
    now: datetime

    @property
    def now_sql(self) -> str:
        return f"cast({literal(self.now.isoformat())} as timestamptz)"


@dataclass(frozen=True)
class Rule:
    number: int
    name: str
    explanation: str
    queries: Callable[[Context], list[str]]

    @property
    def rule_id(self) -> str:
        return f"rule_{self.number}"

    @property
    def label(self) -> str:
        return f"rule {self.number} ({self.name})"

    @property
    def column(self) -> str:
        """The rule's column in the summary GX validates (readable in Data Docs)."""
        return f"rule_{self.number}_" + re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_")


# --- building blocks -------------------------------------------------------------------------


def _consents(ctx: Context, where: str, *, granted: bool = True) -> str:
    """Person keys with a current consent event matching ``where`` (granted and valid, or withdrawn)."""
    cols = ctx.catalog.cols("intermediate", "int_consent_current")
    if "person_key" not in cols:
        return NOTHING
    if not granted:
        state = "status = 'withdrawn'"
    elif "is_valid" in cols:
        state = "status = 'granted' and coalesce(is_valid, false)"
    elif "is_granted" in cols:
        state = "coalesce(is_granted, false)"
    else:
        state = "status = 'granted'"
    return (
        f"select person_key from intermediate.int_consent_current "
        f"where person_key is not null and {state} and ({where})"
    )


def _not_in(column: str, keys_sql: str) -> str:
    keys = f"select person_key from ({keys_sql}) where person_key is not null"
    return f"({column} is null or {column} not in ({keys}))"


def _in(column: str, keys_sql: str) -> str:
    return f"{column} in (select person_key from ({keys_sql}) where person_key is not null)"


def _minors(ctx: Context) -> str:
    cols = ctx.catalog.cols("intermediate", "int_persons")
    tests = []
    if "is_minor" in cols:
        tests.append("coalesce(is_minor, false)")
    if "age" in cols:
        tests.append("coalesce(age < 18, false)")
    if not tests or "person_key" not in cols:
        return NOTHING
    return f"select person_key from intermediate.int_persons where {' or '.join(tests)}"


def _objectors(ctx: Context) -> str:
    parts = []
    for schema, table in (("intermediate", "int_persons"), ("marts", "dim_supporter")):
        if ctx.catalog.has(schema, table, "person_key", "is_objector"):
            parts.append(f"select person_key from {quote(schema, table)} where coalesce(is_objector, false)")
    # Independently of the models: an objection request names the person's anchor identifier.
    requests = ctx.catalog.cols("staging", "stg_dsr__requests")
    if {"request_type", "email", "phone"} <= requests.keys() and _readable(
        ctx, "staging", "stg_dsr__requests"
    ):
        parts.append(
            "select socle_hmac(coalesce(email, phone)) as person_key from staging.stg_dsr__requests "
            "where request_type = 'objection' and coalesce(email, phone) is not null"
        )
    return " union ".join(parts) or NOTHING


def _readable(ctx: Context, schema: str, view: str) -> bool:
    """Whether a staging relation can be read now. A view over landed files (as staging was
    before it became tables, and a warehouse published then still has) fails once erasure or
    retention removed them: a source with nothing left is not a violation, and the request
    ledger still lists every request."""
    if (schema, view) not in ctx.catalog.columns:
        return False
    try:
        ctx.con.execute(f"select 1 from {quote(schema, view)} limit 1").fetchall()
    except duckdb.IOException:
        return False
    return True


def _ts(column: str) -> str:
    """A timestamp from a typed column or an ISO string (Graph API writes ``+0000`` offsets)."""
    text = f"cast({column} as varchar)"
    return f"coalesce(try_cast({text} as timestamptz), try_strptime({text}, '%Y-%m-%dT%H:%M:%S%z'))"


def _entity_files(root: Path) -> dict[str, list[Path]]:
    """Parquet files of every landed entity under ``root``, by ``source/entity`` label."""
    found: dict[str, list[Path]] = {}
    if not root.exists():
        return found
    for entity_dir in sorted(root.glob("*/*")):
        if entity_dir.is_dir() and not entity_dir.parts[-2].startswith("_"):
            files = sorted(entity_dir.rglob("*.parquet"))
            if files:
                found[f"{entity_dir.parts[-2]}/{entity_dir.parts[-1]}"] = files
    return found


def _read_parquet(files: list[Path]) -> str:
    listed = ", ".join(literal(str(f)) for f in files)
    return f"read_parquet([{listed}], union_by_name = true)"


def _landing_entities(root: Path) -> list[tuple[str, str]]:
    """(``source/entity`` label, parquet relation) of every landed entity under ``root``."""
    return [(label, _read_parquet(files)) for label, files in _entity_files(root).items()]


def _columns_of(ctx: Context, relation: str) -> dict[str, str]:
    rows = ctx.con.execute(f"describe select * from {relation}").fetchall()
    return {row[0]: row[1] for row in rows}


def _key(expression: str) -> str:
    """An example key as shown: a person key (or keyed hash) is 64 hex digits; anything else in
    a key column (a model bug putting an e-mail there) is shown only as its keyed hash.
    Literal keys (table names) are ours and shown as they are."""
    if expression.startswith("'"):
        return expression
    value = f"cast({expression} as varchar)"
    hashed = f"'key-' || left(socle_hmac({value}), 12)"
    return f"case when regexp_full_match({value}, '[0-9a-f]{{64}}') then {value} else {hashed} end"


def _select(key: str, detail: str, source: str, where: str) -> str:
    return f"select {_key(key)} as key, {literal(detail)} as detail from {source} where {where}"


# --- the rules -------------------------------------------------------------------------------


def rule_1(ctx: Context) -> list[str]:
    """Every contact list ``restricted.contact_list_<channel>`` against current granted consent."""
    queries = []
    for schema, table in ctx.catalog.tables(("restricted",)):
        match = re.fullmatch(r"contact_list_(\w+)", table)
        if match and ctx.catalog.has(schema, table, "person_key"):
            channel = match.group(1)
            granted = _consents(ctx, f"purpose = {literal(channel)}")
            detail = f"{schema}.{table}: no current granted {channel} consent"
            queries.append(
                _select("person_key", detail, quote(schema, table), _not_in("person_key", granted))
            )
    return queries


def _hash_of(column: str, kind: str) -> str:
    """The keyed hash a tombstone holds for this e-mail or phone, whatever its spelling.

    Equal to ``keyed_hash`` of ``socle.identity``'s normalisation: an e-mail normalises to
    ``lower(trim())``; a phone already in E.164 is its own normal form, so only other
    spellings pay for a phone-number parse.
    """
    if kind == "normalised":
        return f"socle_hmac({column})"
    if kind == "email":
        return f"socle_hmac(lower(trim({column})))"
    e164 = f"regexp_full_match(trim({column}), '\\+[1-9][0-9]{{6,14}}')"
    parsed = f"coalesce(socle_phone({column}), trim({column}))"
    return f"socle_hmac(case when {e164} then trim({column}) else {parsed} end)"


def _account_hashes(column: str, tombstone_kinds: set[str]) -> list[str]:
    """The keyed hashes a tombstone may hold for a social account id, for the kinds listed.

    ``socle.tombstones`` hashes a declared account namespaced (``facebook_id:<id>``); a
    tombstone of no known kind (written by another tool) may hold the bare id. Only the forms
    some tombstone could hold are computed: each costs a hash of every distinct account.
    """
    unknown = bool(tombstone_kinds - TOMBSTONE_KINDS)
    hashes = [f"socle_hmac(trim({column}))"] if unknown else []
    for kind in ACCOUNT_KINDS:
        if unknown or kind in tombstone_kinds:
            hashes.append(f"socle_hmac({literal(kind + ':')} || lower(trim({column})))")
    return hashes


def _tombstone_kinds(tombstones: bytes) -> set[str]:
    """The kinds of the tombstones, ``unknown`` for a tombstone (or a file) that names none."""
    table = pq.read_table(pa.BufferReader(tombstones))
    if "kind" not in table.column_names:
        return {"unknown"}
    return {kind or "unknown" for kind in table.column("kind").to_pylist()}


def _hash_forms(tombstones: bytes) -> dict[str, list[str]]:
    """By spelling, the keyed hashes of a value ``v`` that a tombstone could hold."""
    return {
        "normalised": [_hash_of("v", "normalised")],
        "email": [_hash_of("v", "email")],
        "phone": [_hash_of("v", "phone")],
        "account": _account_hashes("v", _tombstone_kinds(tombstones)),
    }


class _Verified:
    """What rule 2 found free of erased identifiers at its last clean run, for one tombstone list.

    Files: a landed or quarantined file is read again when it is new, rewritten (size or
    modification time changed: erasure and retention rewrite files), or when the tombstone
    list or the identifier columns changed.

    Tables: each row of a warehouse table falls into a bucket by a 64-bit hash of its
    identifiers, and each bucket is fingerprinted by its count and the sum of those hashes
    (one scan, keyed with ``ROW_HASH_KEY``, no value kept; 16-32 rows a bucket on average
    from 32 rows up). Rows staged after the watermark (the newest
    ``loaded_at`` at the clean run) are read; of the rows found clean, only those of a bucket
    whose fingerprint changed are read again. So a table rebuilt every run with a few rows
    changed (the persons, the contact lists) costs those rows' buckets, an unchanged one
    nothing, and a restored or rewritten one is read whole. A DuckDB upgrade that changes the
    hash, or a new pseudonym secret, costs one full read.

    The hourly gate run thus reads what landed and was staged since the last clean run.
    """

    def __init__(self, ctx: Context, tombstones: bytes):
        self.con = ctx.con
        self.paths = ctx.paths
        self.path = ctx.paths.rule_2_ledger
        # The hashes computed come from the very tombstones the ledger is stamped with.
        self.hashes = _hash_forms(tombstones)
        # What was checked against: the tombstones, the columns read and the hashes computed
        # (a ledger of another check, such as one that hashed accounts bare, is not trusted).
        checked = json.dumps([IDENTIFIER_COLUMNS, self.hashes], sort_keys=True).encode()
        self.checked_against = hashlib.sha256(tombstones + checked).hexdigest()
        self.stamps: dict[str, list[int]] = {}
        self.table_stamps: dict[str, dict] = {}
        try:
            ledger = json.loads(self.path.read_text())
        except (OSError, ValueError):
            ledger = {}
        ledger = ledger if isinstance(ledger, dict) else {}
        same_check = ledger.get("checked_against") == self.checked_against
        self.verified = ledger.get("files", {}) if same_check else {}
        # The buckets found clean, and those of this run (written if it finds nothing).
        self.con.execute(
            "create or replace temp table rule_2_clean_buckets "
            "(relation varchar, bucket ubigint, n bigint, fingerprint varchar)"
        )
        self.con.execute("create or replace temp table rule_2_seen_buckets as from rule_2_clean_buckets")
        self.verified_tables: dict = {}
        # A ledger without its bucket file (an older version's, or a damaged one) vouches for no table.
        name = str(ledger.get("buckets"))
        buckets = self.path.with_name(name) if same_check and BUCKET_FILE.fullmatch(name) else None
        if buckets is not None and buckets.is_file():
            try:
                clean = f"from read_parquet({literal(str(buckets))})"
                self.con.execute(f"insert into rule_2_clean_buckets {clean}")
                tables = ledger.get("tables")
                self.verified_tables = tables if isinstance(tables, dict) else {}
            except duckdb.Error:
                self.con.execute("delete from rule_2_clean_buckets")
        # How much is read again, for the log: counts only.
        self.read: Counter[str] = Counter()

    def unverified(self, files: list[Path]) -> list[Path]:
        fresh = []
        for file in files:
            stat = file.stat()
            stamp = self.stamps[str(file)] = [stat.st_size, stat.st_mtime_ns]
            if self.verified.get(str(file)) != stamp:
                fresh.append(file)
        self.read.update({"files": len(files), "files read": len(fresh)})
        return fresh

    def unverified_rows(self, relation: str, columns: list[str], stamped: bool) -> str | None:
        """The rows of a table to read (a SQL condition), or None when none need reading."""
        entry = self.verified_tables.get(relation)
        valid = (
            isinstance(entry, dict)
            and isinstance(entry.get("bits"), int)
            and isinstance(entry.get("watermark"), int | None)
            # The same columns: a column renamed to another kind (an account id to an e-mail)
            # keeps its values' hash but is checked against other tombstones.
            and entry.get("columns") == columns
        )
        entry = entry if valid else None  # never verified, or malformed: read whole
        watermark = entry["watermark"] if entry and stamped else None
        staged = "epoch_us(loaded_at)" if stamped else "null"
        after = f"coalesce({staged} > {watermark}, false)" if watermark is not None else "false"
        (rows,) = self.con.execute(f"select count(*) from {relation}").fetchone()
        bits = min(max((rows // ROWS_PER_BUCKET).bit_length() - 1, 0), BUCKET_BITS_MAX)
        if entry and entry["bits"] in range(BUCKET_BITS_MAX + 1) and abs(entry["bits"] - bits) <= 1:
            bits = entry["bits"]
        else:
            entry = None  # grown or shrunk 4-fold since (or damaged): bucketed anew, read whole once
        # The scan and the condition on the rows to read must bucket alike: one expression.
        row_hash = f"hash({', '.join(columns)}, {ROW_HASH_KEY})"
        bucket = f"{row_hash} >> {64 - bits}" if bits else "0::ubigint"
        table_index = len(self.table_stamps)
        # Per bucket, the rows found clean (up to the watermark) and all rows (for the ledger).
        self.con.execute(
            f"""
            create or replace temp table rule_2_scan as
            select
                bucket,
                count(*) filter (where not after) as clean_n,
                cast(coalesce(sum(h) filter (where not after), 0) as varchar) as clean_fingerprint,
                count(*) as n,
                cast(sum(h) as varchar) as fingerprint,
                max(staged) as newest
            from (
                select {bucket} as bucket, {row_hash} as h, {staged} as staged, {after} as after
                from {relation}
            )
            group by bucket
            """
        )
        self.con.execute(
            f"insert into rule_2_seen_buckets "
            f"select {literal(relation)}, bucket, n, fingerprint from rule_2_scan"
        )
        (newest, new_rows) = self.con.execute(
            "select max(newest), sum(n - clean_n) from rule_2_scan"
        ).fetchone()
        self.table_stamps[relation] = {"watermark": newest, "bits": bits, "columns": columns}
        if entry is None:
            self.read["tables read whole"] += 1
            return "true"
        changed = f"rule_2_changed_buckets_{table_index}"
        self.con.execute(
            f"""
            create or replace temp table {changed} as
            select bucket from (
                select bucket, clean_n as n, clean_fingerprint as fingerprint
                from rule_2_scan
                where clean_n > 0
            ) as now
            full outer join (
                select bucket, n, fingerprint from rule_2_clean_buckets where relation = {literal(relation)}
            ) as clean using (bucket)
            where now.n is distinct from clean.n or now.fingerprint is distinct from clean.fingerprint
            """
        )
        (changed_buckets,) = self.con.execute(f"select count(*) from {changed}").fetchone()
        self.read["buckets read again"] += changed_buckets
        if not changed_buckets and not new_rows:
            self.read["tables unchanged"] += 1
            return None
        self.read["tables read in part"] += 1
        if not changed_buckets:
            return after
        return f"({after} or {bucket} in (select bucket from {changed}))"

    def all_clean(self) -> None:
        """Every file and table seen is free of erased identifiers: remember them (atomically)."""
        old = set(self.paths.rule_2_ledger_files()) - {self.path}
        buckets = self.path.with_name(f"rule_2_verified_tables-{uuid.uuid4().hex}.parquet")
        ledger = {
            "checked_against": self.checked_against,
            "files": self.stamps,
            "tables": self.table_stamps,
            "buckets": buckets.name,
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.con.execute(f"copy rule_2_seen_buckets to {literal(str(buckets))} (format parquet)")
            tmp.write_text(json.dumps(ledger))
            os.replace(tmp, self.path)
            for stale in old:
                stale.unlink(missing_ok=True)
        except (OSError, duckdb.Error):
            pass  # a read-only home: the next run reads everything again, which is only slower


def rule_2(ctx: Context) -> list[str]:
    """Tombstoned identifiers in warehouse tables, landed Parquet and quarantined rows.

    Every identifier is hashed once, however many tables and files carry it: the distinct
    values of each spelling (normalised, raw e-mail, raw phone, social account) everywhere are
    hashed in one pass to find the erased ones (usually none); only then are the rows carrying
    them counted, per table and column, by plain equality. Hashing per column and table cost
    a minute at 1 M people. Landed and quarantined files, and warehouse rows, already found
    clean against the same tombstones are not read again (``_Verified``).
    """
    tombstones = ctx.paths.tombstones
    if not tombstones.exists():
        return []
    erased = (
        f"(select lower(trim(identifier_hash)) as h from read_parquet({literal(str(tombstones))}) "
        "where identifier_hash is not null)"
    )
    verified = _Verified(ctx, tombstones.read_bytes())
    hashes = verified.hashes
    queries = []
    # (relation, value expression, spelling, where it is, for the detail)
    carriers: list[tuple[str, str, str, str]] = []

    def carry(relation: str, column: str, kind: str, where: str) -> None:
        if hashes[kind]:  # no tombstone could hold this spelling's hash
            carriers.append((relation, column, kind, where))

    for schema, table in ctx.catalog.tables(WAREHOUSE_SCHEMAS):
        cols = ctx.catalog.cols(schema, table)
        if "person_key" in cols:
            detail = f"{schema}.{table}: person_key of an erased person"
            queries.append(_select("person_key", detail, quote(schema, table), f"person_key in {erased}"))
        carried = [(c, k) for c, k in IDENTIFIER_COLUMNS.items() if c in cols and cols[c] == "VARCHAR"]
        if not carried:
            continue
        stamped = cols.get("loaded_at") == "TIMESTAMP WITH TIME ZONE"
        relation = quote(schema, table)
        rows = verified.unverified_rows(relation, [quote(c) for c, _ in carried], stamped)
        if rows is None:
            continue
        if rows != "true":
            relation = f"(select * from {relation} where {rows})"
        for column, kind in carried:
            # The warehouse holds normalised e-mails and phones: hashed as they are.
            spelling = "account" if kind == "account" else "normalised"
            carry(relation, quote(column), spelling, f"{schema}.{table}: {column}")
    for label, files in _entity_files(ctx.paths.landing).items():
        if fresh := verified.unverified(files):
            relation = _read_parquet(fresh)
            cols = _columns_of(ctx, relation)
            for column, kind in IDENTIFIER_COLUMNS.items():
                if column in cols:
                    carry(relation, quote(column), kind, f"landing {label}: {column}")
    for label, files in _entity_files(ctx.paths.rejected).items():
        fresh = verified.unverified(files)
        if fresh and "_record" in _columns_of(ctx, relation := _read_parquet(fresh)):
            for column, kind in IDENTIFIER_COLUMNS.items():
                value = f"json_extract_string(_record, {literal('$.' + column)})"
                source = f"(select {value} as v from {relation} where json_valid(_record))"
                carry(source, "v", kind, f"quarantine {label}: {column}")
    log.info("gate rule_2 reads %s", ", ".join(f"{what}: {n}" for what, n in sorted(verified.read.items())))
    if not carriers:
        verified.all_clean()
        return queries
    # The distinct values of each spelling, deduplicated on the value alone (deduplicating
    # (value, spelling) pairs across every carrier cost twice as much: 4.7 s at M, not 2.1 s).
    spellings = sorted({kind for _, _, kind, _ in carriers})
    values = " union all ".join(
        f"select distinct v, {literal(kind)} as kind from ("
        + " union all ".join(
            f"select {column} as v from {relation} where {column} is not null"
            for relation, column, carried, _ in carriers
            if carried == kind
        )
        + ")"
        for kind in spellings
    )
    forms = (
        "case kind "
        + " ".join(f"when {literal(kind)} then [{', '.join(hashes[kind])}]" for kind in spellings)
        + " end"
    )
    # Deduplicated into a temp table first: in one query DuckDB pushes the filter on the hash
    # below the dedup and hashes every row (~37 M at M), not each distinct value (~4 M). The
    # temp table belongs to this read-only connection and is dropped at once (DuckDB may
    # spill it, as any large operator, to its temp directory).
    ctx.con.execute(f"create or replace temp table rule_2_values as {values}")
    try:
        found = ctx.con.execute(
            f"""
            select v, kind, min(h) from (select v, kind, unnest({forms}) as h from rule_2_values)
            where h in {erased}
            group by v, kind
            """
        ).fetchall()
    finally:
        ctx.con.execute("drop table if exists rule_2_values")  # never masks the error of a failed create
    if not found:
        verified.all_clean()
        return queries
    # The erased values stay in this process: a registered Arrow table, never SQL text or a log.
    ctx.con.register(
        "rule_2_erased_values",
        pa.table({"v": [r[0] for r in found], "kind": [r[1] for r in found], "h": [r[2] for r in found]}),
    )
    for relation, column, kind, where in carriers:
        detail = literal(where + " of an erased person")
        queries.append(
            f"select erased.h as key, {detail} as detail from {relation} as carrier "
            f"inner join rule_2_erased_values as erased on carrier.{column} = erased.v "
            f"and erased.kind = {literal(kind)}"
        )
    return queries


def rule_3(ctx: Context) -> list[str]:
    """Minors in scores, cell-leader candidates and contact lists; a tier shown for an under-18."""
    minors = _minors(ctx)
    queries = []
    for schema, table in ctx.catalog.tables(("marts", "restricted")):
        cols = ctx.catalog.cols(schema, table)
        if "person_key" in cols and SELECTION_TABLE.search(table):
            detail = f"{schema}.{table}: person under 18"
            queries.append(_select("person_key", detail, quote(schema, table), _in("person_key", minors)))
        scored = [c for c in ("tier", "score") if c in cols]
        if "age_band" in cols and scored:
            key = "person_key" if "person_key" in cols else literal(f"{schema}.{table}")
            held = " or ".join(f"{quote(c)} is not null" for c in scored)
            where = f"age_band = 'under_18' and ({held})"
            queries.append(
                _select(key, f"{schema}.{table}: under-18 with a tier or score", quote(schema, table), where)
            )
    return queries


def rule_4(ctx: Context) -> list[str]:
    """Analyst-facing schemas: identifier-like column names and identifier-like values."""
    queries = []
    for schema, table in ctx.catalog.tables(ANALYST_SCHEMAS):
        cols = ctx.catalog.cols(schema, table)
        for column, data_type in cols.items():
            if data_type == "BOOLEAN" or NOT_AN_IDENTIFIER_NAME.search(column.lower()):
                continue
            for kind, pattern in IDENTIFIER_NAME_PATTERNS.items():
                if re.search(pattern, column.lower()):
                    queries.append(
                        f"select {literal(f'{schema}.{table}.{column}')} as key, "
                        f"{literal(f'{schema}.{table}.{column}: column named like {kind}')} as detail"
                    )
                    break
        key = "person_key" if "person_key" in cols else literal(f"{schema}.{table}")
        for column, data_type in cols.items():
            if data_type != "VARCHAR":
                continue
            # One pass per column; the first pattern that matches names the finding.
            cases = " ".join(
                f"when regexp_matches({quote(column)}, {literal(pattern)}) "
                f"then {literal(f'{schema}.{table}.{column}: value looks like {kind}')}"
                for kind, pattern in IDENTIFIER_VALUE_PATTERNS.items()
            )
            suspects = f"regexp_matches({quote(column)}, {literal(ANY_IDENTIFIER_VALUE)})"
            queries.append(
                f"select {_key(key)} as key, case {cases} end as detail "
                f"from {quote(schema, table)} where {suspects}"
            )
    return queries


def _lawful_basis(ctx: Context) -> str:
    """People whose opinion may be kept: members, membership grants, profiling consent; minus
    anyone who currently withdrew profiling."""
    parts = []
    if ctx.catalog.has("intermediate", "int_persons", "person_key", "is_member"):
        parts.append("select person_key from intermediate.int_persons where coalesce(is_member, false)")
    cols = ctx.catalog.cols("intermediate", "int_consent_current")
    basis = "purpose = 'profiling'" + (" or lawful_basis = 'membership'" if "lawful_basis" in cols else "")
    parts.append(_consents(ctx, basis))
    withdrawn = _consents(ctx, "purpose = 'profiling'", granted=False)
    return f"({' union '.join(parts)}) except ({withdrawn})"


def rule_5(ctx: Context) -> list[str]:
    """Person-level scores, tiers and support levels for people without a lawful basis."""
    basis = _lawful_basis(ctx)
    queries = []
    for schema, table in ctx.catalog.tables(("intermediate", "marts", "restricted")):
        cols = ctx.catalog.cols(schema, table)
        opinions = [c for c in OPINION_COLUMNS if c in cols]
        if "person_key" in cols and opinions:
            held = " or ".join(f"{quote(c)} is not null" for c in opinions)
            detail = f"{schema}.{table}: {'/'.join(opinions)} without consent or membership"
            queries.append(
                _select(
                    "person_key", detail, quote(schema, table), f"({held}) and {_not_in('person_key', basis)}"
                )
            )
    return queries


def rule_6(ctx: Context) -> list[str]:
    """People inactive past the contact window; comment text and quarantined rows past theirs.

    The windows are those ``socle.retention`` applies, so the gate checks what the retention
    task promises.
    """
    windows = ctx.retention
    queries = []
    person_limit = f"cast({literal(windows.contact_cutoff(ctx.now).isoformat())} as timestamptz)"
    person_detail = f"no activity for more than {windows.contact_months} months"
    if ctx.catalog.has("marts", "dim_supporter", "person_key", "last_activity_at"):
        where = f"{_ts('last_activity_at')} < {person_limit}"
        queries.append(
            _select("person_key", f"marts.dim_supporter: {person_detail}", "marts.dim_supporter", where)
        )
    elif ctx.catalog.has("intermediate", "int_persons", "person_key", "last_seen_at"):
        where = f"{_ts('last_seen_at')} < {person_limit}"
        detail = f"intermediate.int_persons: {person_detail}"
        queries.append(_select("person_key", detail, "intermediate.int_persons", where))
    if windows.campaign_over(ctx.now) and ctx.catalog.has("marts", "dim_supporter", "person_key"):
        queries.append(_prospects_after_campaign(ctx))
    text_limit = f"cast({literal(windows.comment_cutoff(ctx.now).isoformat())} as timestamptz)"

    def comment_query(relation: str, cols: dict[str, str], where_label: str) -> str | None:
        text = next((c for c in COMMENT_TEXT_COLUMNS if c in cols), None)
        moment = next((c for c in COMMENT_TIME_COLUMNS if c in cols), None)
        if text is None or moment is None:
            return None
        ident = next((c for c in ("comment_id", "tweet_id", "id") if c in cols), None)
        key = f"socle_hmac(cast({quote(ident)} as varchar))" if ident else literal(where_label)
        own_posts = next((c for c in ("kind", "tweet_kind") if c in cols), None)
        where = f"{quote(text)} is not null and {_ts(quote(moment))} < {text_limit}"
        if own_posts:  # the campaign's own posts are not comments by people
            where += f" and coalesce({quote(own_posts)}, '') <> 'post'"
        detail = f"{where_label}: comment text older than {windows.comment_text_days} days"
        return _select(key, detail, relation, where)

    for schema, table in ctx.catalog.tables(WAREHOUSE_SCHEMAS):
        if "post" in table and "comment" not in table:
            continue
        query = comment_query(quote(schema, table), ctx.catalog.cols(schema, table), f"{schema}.{table}")
        if query:
            queries.append(query)
    for label, relation in _landing_entities(ctx.paths.landing):
        if label.endswith("/posts"):
            continue
        query = comment_query(relation, _columns_of(ctx, relation), f"landing {label}")
        if query:
            queries.append(query)
    rejected_limit = f"cast({literal(windows.rejected_cutoff(ctx.now).isoformat())} as timestamptz)"
    for label, relation in _landing_entities(ctx.paths.rejected):
        if "_fetched_at" in _columns_of(ctx, relation):
            detail = f"quarantine {label}: row kept more than {windows.rejected_days} days"
            where = f"{_ts('_fetched_at')} < {rejected_limit}"
            queries.append(_select(literal(f"quarantine {label}"), detail, relation, where))
    return queries


def _prospects_after_campaign(ctx: Context) -> str:
    """After the campaign, people who never answered (not a member, no consent granted, no
    RSVP, attendance or volunteering) are kept no longer (CNIL: until the end of the election)."""
    answered = [_consents(ctx, "true")]
    if ctx.catalog.has("marts", "dim_supporter", "person_key", "is_member"):
        answered.append("select person_key from marts.dim_supporter where coalesce(is_member, false)")
    if ctx.catalog.has("marts", "fct_engagement", "person_key", "action_type"):
        answered.append(
            "select person_key from marts.fct_engagement "
            "where action_type in ('rsvp', 'attendance', 'volunteer_shift')"
        )
    detail = f"marts.dim_supporter: prospect kept after the campaign ended ({ctx.retention.campaign_end})"
    return _select(
        "person_key", detail, "marts.dim_supporter", _not_in("person_key", " union ".join(answered))
    )


def rule_7(ctx: Context) -> list[str]:
    """Social accounts or social actions attached to a person without social_matching consent."""
    allowed = _consents(ctx, "purpose = 'social_matching'")
    queries = []
    for schema, table in ctx.catalog.tables(("intermediate", "marts", "restricted")):
        cols = ctx.catalog.cols(schema, table)
        if "person_key" not in cols:
            continue
        linked = next(
            (c for c in ("account_id", "platform_account_id", "social_account_id") if c in cols), None
        )
        social = []
        if linked:
            social.append(f"{quote(linked)} is not null")
        if "action_type" in cols:
            social.append("regexp_matches(action_type, '^(facebook|x|twitter|instagram)_')")
        if not social:
            continue
        detail = f"{schema}.{table}: social account linked without social_matching consent"
        where = f"person_key is not null and ({' or '.join(social)}) and {_not_in('person_key', allowed)}"
        queries.append(_select("person_key", detail, quote(schema, table), where))
    return queries


def _ledger_sources(ctx: Context) -> list[str]:
    """Every place a request or its answer is recorded, as ``(request_id, request_type,
    received_at, due_at, answered)`` selects."""
    relations: list[tuple[str, dict[str, str]]] = []
    if _readable(ctx, "staging", "stg_dsr__requests"):
        relations.append(("staging.stg_dsr__requests", ctx.catalog.cols("staging", "stg_dsr__requests")))
    for schema, table in ctx.catalog.tables(("compliance",)):
        if re.search(r"request", table) and "request_id" in ctx.catalog.cols(schema, table):
            relations.append((quote(schema, table), ctx.catalog.cols(schema, table)))
    store = ctx.paths.compliance_store
    # socle.dsr keeps request_ledger.parquet; other spellings are accepted for imported ledgers.
    for pattern in (
        "request_ledger*.parquet",
        "requests*.parquet",
        "requests/**/*.parquet",
        "request_log*.parquet",
    ):
        for path in sorted(store.glob(pattern)):
            relation = f"read_parquet({literal(str(path))})"
            relations.append((relation, _columns_of(ctx, relation)))
    for pattern in ("requests*.jsonl", "requests/**/*.jsonl", "request_log*.jsonl"):
        for path in sorted(store.glob(pattern)):
            if path.stat().st_size:
                relation = f"read_json_auto({literal(str(path))}, format = 'newline_delimited')"
                relations.append((relation, _columns_of(ctx, relation)))
    selects = []
    for relation, cols in relations:
        if "request_id" not in cols:
            continue
        kind = next((c for c in ("request_type", "type") if c in cols), None)
        answered = [f"{quote(c)} is not null" for c in ANSWERED_COLUMNS if c in cols]
        if "status" in cols:
            statuses = ", ".join(literal(s) for s in ANSWERED_STATUSES)
            answered.append(f"lower(cast(status as varchar)) in ({statuses})")
        selects.append(
            f"select cast(request_id as varchar) as request_id, "
            f"{f'cast({quote(kind)} as varchar)' if kind else 'null'} as request_type, "
            f"{_ts('received_at') if 'received_at' in cols else 'null'} as received_at, "
            f"{_ts('due_at') if 'due_at' in cols else 'null'} as due_at, "
            f"{' or '.join(answered) if answered else 'false'} as answered "
            f"from {relation}"
        )
    return selects


def requests_sql(ctx: Context) -> str | None:
    """One row per data-subject request: type, received, due date, answered, overdue."""
    selects = _ledger_sources(ctx)
    if not selects:
        return None
    months = REQUEST_DUE_MONTHS
    return f"""
        with entries as ({" union all ".join(selects)}),
        per_request as (
            select
                request_id,
                any_value(request_type) filter (where request_type is not null) as request_type,
                min(received_at) as received_at,
                min(due_at) as due_at,
                bool_or(coalesce(answered, false)) as answered
            from entries
            where request_id is not null
            group by request_id
        )
        select
            -- Ids and types come from dropped files: show only what cannot be an identifier.
            case
                when regexp_full_match(request_id, '[A-Za-z][A-Za-z0-9._:-]{{0,63}}') then request_id
                else 'request-' || left(socle_hmac(request_id), 12)
            end as request_id,
            case
                when lower(request_type) in ({REQUEST_TYPES}) then lower(request_type) else 'unrecognised'
            end as request_type,
            received_at,
            coalesce(due_at, received_at + to_months({months})) as due_at,
            answered,
            not answered and coalesce(due_at, received_at + to_months({months})) < {ctx.now_sql} as overdue
        from per_request
    """


def rule_8(ctx: Context) -> list[str]:
    """Open data-subject requests past their due date (one month after receipt)."""
    requests = requests_sql(ctx)
    if requests is None:
        return []
    return [
        f"select request_id as key, request_type || ' request open past its due date' as detail "
        f"from ({requests}) where overdue"
    ]


def rule_9(ctx: Context) -> list[str]:
    """Objectors anywhere people are scored or contacted; channel opt-outs in contact lists."""
    objectors = _objectors(ctx)
    queries = []
    for schema, table in ctx.catalog.tables(("marts", "restricted")):
        if "person_key" not in ctx.catalog.cols(schema, table) or not SELECTION_TABLE.search(table):
            continue
        detail = f"{schema}.{table}: person who objected"
        queries.append(_select("person_key", detail, quote(schema, table), _in("person_key", objectors)))
        match = re.fullmatch(r"contact_list_(\w+)", table)
        if match:
            withdrawn = _consents(ctx, f"purpose = {literal(match.group(1))}", granted=False)
            detail = f"{schema}.{table}: person who opted out of {match.group(1)}"
            queries.append(_select("person_key", detail, quote(schema, table), _in("person_key", withdrawn)))
    return queries


RULES: tuple[Rule, ...] = (
    Rule(
        1,
        "contact lists hold only consented people",
        "Every person in an e-mail or SMS contact list has a current, valid opt-in for that channel.",
        rule_1,
    ),
    Rule(
        2,
        "no erased person anywhere",
        "Nobody who asked for erasure is found again in the warehouse, the landing zone or quarantine.",
        rule_2,
    ),
    Rule(
        3,
        "no minor in scores or contact lists",
        "People under 18 are never scored, proposed as cell leaders or put on a contact list.",
        rule_3,
    ),
    Rule(
        4,
        "no direct identifiers in analyst schemas",
        "Analyst tables hold no e-mail, phone, name, bank account or street address, by column or by value.",
        rule_4,
    ),
    Rule(
        5,
        "political opinion only with a lawful basis",
        "A score, tier or support level about a person exists only for members or people who consented to "
        "profiling (GDPR art. 9(2)(a) and (d)).",
        rule_5,
    ),
    Rule(
        6,
        "retention windows respected",
        "No person kept past the inactivity window, no prospect after the campaign, "
        "no comment text or quarantined row past its shorter window.",
        rule_6,
    ),
    Rule(
        7,
        "social accounts linked only with social_matching consent",
        "A social-media account or action is attached to a person only when they declared it and consented.",
        rule_7,
    ),
    Rule(
        8,
        "data-subject requests answered within one month",
        "No erasure, access, objection or rectification request is still open past its due date.",
        rule_8,
    ),
    Rule(
        9,
        "objections and opt-outs respected on every channel",
        "People who objected are never scored or contacted; an opt-out removes them from that channel.",
        rule_9,
    ),
)
