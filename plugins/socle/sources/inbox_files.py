"""CSV drops in ``<home>/inbox/<kind>/``: sign-in sheets, canvassing, CRM exports, requests.

Volunteers' files vary (docs/contracts.md §3): ``,`` or ``;``, UTF-8 with or without BOM
or cp1252, French headers with any case and accents, blank lines, header lines repeated
after a copy-paste, trailing empty columns. Each file is read as a stream in chunks,
cleaned, and landed as one part named after the file, so dropping the same file again
replaces its rows. A landed file moves to ``inbox/.done/<kind>/``; a file that cannot be
trusted (schema drift, too many bad rows) stays in the inbox and fails the task, after
the other files are processed.
"""

from __future__ import annotations

import csv
import logging
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from socle.landing import Batch, Rejection
from socle.sources.common import (
    EntitySpec,
    IngestResult,
    RejectRatioError,
    SchemaDriftError,
    check_drift,
    detect_delimiter,
    detect_encoding,
    land_stream,
    normalise_header,
)
from socle.tombstones import TombstoneFilter

log = logging.getLogger(__name__)

CHUNK_ROWS = 50_000
FILE_COLUMNS = ("sheet", "row_number")


def _spec(source: str, entity: str, columns: tuple[str, ...], required: tuple[str, ...], **kw) -> EntitySpec:
    # Every file row carries its sheet and line: the key a volunteer can find it by.
    columns, required = (*FILE_COLUMNS, *columns), (*FILE_COLUMNS, *required)
    return EntitySpec(source, entity, columns, required, FILE_COLUMNS, **kw)


ATTENDANCE = _spec(
    "signin",
    "attendance",
    (
        "event_id",
        "signed_at",
        "last_name",
        "first_name",
        "email",
        "phone",
        "postal_code",
        "optin_email",
        "optin_sms",
    ),
    ("signed_at",),
    emails=("email",),
    phones=("phone",),
    timestamps=("signed_at",),
    booleans=("optin_email", "optin_sms"),
)
VISITS = _spec(
    "canvass",
    "visits",
    (
        "session_id",
        "session_date",
        "volunteer_email",
        "bureau_code",
        "address",
        "door_opened",
        "outcome",
        "contact_email",
        "contact_phone",
        "consent_contact",
    ),
    ("session_id", "session_date", "bureau_code"),
    emails=("contact_email",),
    phones=("contact_phone",),
    other_emails=("volunteer_email",),
    dates=("session_date",),
    booleans=("door_opened", "consent_contact"),
    enums={"outcome": frozenset({"absent", "refus", "sympathisant", "indecis", "opposant"})},
)
PEOPLE = _spec(
    "crm",
    "people",
    (
        "crm_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "birth_date",
        "address",
        "postal_code",
        "city",
        "commune_code",
        "iris_code",
        "bureau_code",
        "is_member",
        "leads_cell",
        "facebook_id",
        "x_handle",
        "x_user_id",
        "support_level",
        "source",
        "created_at",
        "updated_at",
    ),
    ("crm_id", "updated_at"),
    emails=("email",),
    phones=("phone",),
    dates=("birth_date",),
    timestamps=("created_at", "updated_at"),
    booleans=("is_member", "leads_cell"),
    enums={"support_level": frozenset({"1", "2", "3", "4", "5"})},
)
CONSENTS = _spec(
    "crm",
    "consents",
    (
        "consent_id",
        "email",
        "phone",
        "purpose",
        "status",
        "lawful_basis",
        "wording_version",
        "source",
        "occurred_at",
    ),
    ("consent_id", "purpose", "status"),
    emails=("email",),
    phones=("phone",),
    timestamps=("occurred_at",),
    enums={
        "purpose": frozenset({"email", "sms", "phone", "canvassing", "social_matching", "profiling"}),
        "status": frozenset({"granted", "withdrawn"}),
        "lawful_basis": frozenset({"consent", "membership"}),
    },
)
REQUESTS = _spec(
    "dsr",
    "requests",
    ("request_id", "type", "email", "phone", "received_at", "field", "new_value"),
    ("request_id", "type", "received_at"),
    emails=("email",),
    phones=("phone",),
    timestamps=("received_at",),
    enums={"type": frozenset({"erasure", "access", "objection", "rectification"})},
)

# Accepted headers (after ``normalise_header``) -> contract column, per kind (contracts §3).
ALIASES: dict[str, dict[str, str]] = {
    "signin": {
        "evenement": "event_id",
        "reunion": "event_id",
        "date": "signed_at",
        "date_heure": "signed_at",
        "nom": "last_name",
        "prenom": "first_name",
        "e_mail": "email",
        "courriel": "email",
        "mail": "email",
        "telephone": "phone",
        "tel": "phone",
        "portable": "phone",
        "code_postal": "postal_code",
        "cp": "postal_code",
        "accepte_emails": "optin_email",
        "accepte_email": "optin_email",
        "accepte_e_mails": "optin_email",
        "accepte_e_mail": "optin_email",
        "accepte_sms": "optin_sms",
    },
    "canvass": {
        "session": "session_id",
        "date": "session_date",
        "benevole": "volunteer_email",
        "email_benevole": "volunteer_email",
        "bureau": "bureau_code",
        "bureau_de_vote": "bureau_code",
        "adresse": "address",
        "porte_ouverte": "door_opened",
        "resultat": "outcome",
        "email": "contact_email",
        "e_mail": "contact_email",
        "telephone": "contact_phone",
        "tel": "contact_phone",
        "accepte_contact": "consent_contact",
    },
    "crm": {"e_mail": "email", "telephone": "phone", "nom": "last_name", "prenom": "first_name"},
    "dsr": {"e_mail": "email", "telephone": "phone"},
}
# Codes spreadsheets turned into numbers: pad back the leading zeros they lost.
ZERO_PADDED = {"postal_code": 5, "commune_code": 5, "iris_code": 9}


class InboxError(RuntimeError):
    """Some dropped files could not be landed; they stay in the inbox for a human."""


@dataclass(frozen=True)
class Drop:
    kind: str
    path: Path
    spec: EntitySpec


def spec_for(kind: str, name: str) -> EntitySpec | None:
    stem = name.lower()
    if kind == "signin":
        return ATTENDANCE
    if kind == "canvass":
        return VISITS
    if kind == "dsr":
        return REQUESTS
    if kind == "crm" and stem.startswith("people"):
        return PEOPLE
    if kind == "crm" and stem.startswith("consent"):
        return CONSENTS
    return None


def canonical_headers(kind: str, raw: list[str]) -> list[str]:
    aliases = ALIASES.get(kind, {})
    names: list[str] = []
    for index, cell in enumerate(raw):
        name = normalise_header(cell) or f"column_{index + 1}"
        name = aliases.get(name, name)
        names.append(name if name not in names else f"{name}_{index + 1}")
    return names


def read_rows(path: Path, kind: str) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The canonical header and an iterator of (line number, cells) for the data rows."""
    encoding = detect_encoding(path)
    handle = path.open(encoding=encoding, errors="replace" if encoding == "cp1252" else "strict", newline="")
    first = ""
    consumed = 0
    for line in handle:
        consumed += 1
        if line.strip().strip(",;\t"):
            first = line
            break
    delimiter = detect_delimiter(first)
    raw_header = next(csv.reader([first], delimiter=delimiter), [])
    while raw_header and not raw_header[-1].strip():  # trailing empty columns
        raw_header.pop()
    header = canonical_headers(kind, raw_header)
    header_key = [normalise_header(c) for c in raw_header]

    def rows() -> Iterator[tuple[int, list[str]]]:
        # Line numbers count from the header line: what a volunteer sees in a spreadsheet.
        offset = consumed
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            for cells in reader:
                line_number = reader.line_num + offset
                if not any(c.strip() for c in cells):
                    continue
                if [normalise_header(c) for c in cells[: len(header_key)]] == header_key:
                    continue  # a header line pasted again mid-file
                yield line_number, cells
        finally:
            handle.close()

    if not first:
        handle.close()
        return header, iter(())
    return header, rows()


def _record(sheet: str, line_number: int, header: list[str], cells: list[str]) -> tuple[dict, bool]:
    while len(cells) > len(header) and not cells[-1].strip():
        cells = cells[:-1]
    # Short rows get nulls: every record of a file has the same columns (one Parquet schema).
    record: dict[str, str | None] = {"sheet": sheet, "row_number": str(line_number), **dict.fromkeys(header)}
    record.update(zip(header, cells, strict=False))
    for name, width in ZERO_PADDED.items():
        value = (record.get(name) or "").strip()
        if value.isdigit() and len(value) < width:
            record[name] = value.zfill(width)
    return record, len(cells) > len(header)


def land_file(
    drop: Drop,
    start: datetime,
    end: datetime,
    *,
    landing_root: Path | None,
    max_reject_ratio: float,
    result: IngestResult,
    chunk_rows: int = CHUNK_ROWS,
) -> int:
    """Land one dropped file as one part; returns the rows landed. Raises on drift or ratio."""
    spec = drop.spec
    name = drop.path.name
    header, rows = read_rows(drop.path, drop.kind)
    where = f"the header of {name}"
    check_drift(spec, [*FILE_COLUMNS, *header], 1 if header else 0, where=where, min_records=1)
    batch = Batch(spec.source, start, end, source_uri=f"inbox/{drop.kind}/{name}", part=name)

    def records() -> Iterator[dict | Rejection]:
        for line_number, cells in rows:
            record, overflow = _record(name, line_number, header, cells)
            yield Rejection("more cells than header columns", (), record) if overflow else record

    return land_stream(
        batch,
        spec,
        records(),
        root=landing_root,
        max_reject_ratio=max_reject_ratio,
        result=result,
        label=f"{spec.source}/{spec.entity}",
        chunk_rows=chunk_rows,
    )


def ingest(
    settings: Path,
    start: datetime,
    end: datetime,
    *,
    landing_root: Path | None = None,
    max_reject_ratio: float = 0.05,
    kinds: tuple[str, ...] = ("signin", "canvass", "crm", "dsr"),
    chunk_rows: int = CHUNK_ROWS,
) -> IngestResult:
    """Land every CSV waiting in ``<settings>/<kind>/`` (``settings`` is the inbox root).

    Raises ``InboxError`` listing the files left in the inbox (and why, without their
    content) once every other file has been landed and moved to ``.done``.
    """
    inbox = Path(settings)
    result = IngestResult("inbox")
    failures: list[str] = []
    ignored = 0
    for kind in kinds:
        folder = inbox / kind
        for path in sorted(folder.glob("*")) if folder.is_dir() else []:
            if not path.is_file() or path.name.startswith("."):
                continue
            spec = spec_for(kind, path.name) if path.suffix.lower() in (".csv", ".txt") else None
            if spec is None:
                ignored += 1
                continue
            result.landed.setdefault(f"{spec.source}/{spec.entity}", 0)
            try:
                landed = land_file(
                    Drop(kind, path, spec),
                    start,
                    end,
                    landing_root=landing_root,
                    max_reject_ratio=max_reject_ratio,
                    result=result,
                    chunk_rows=chunk_rows,
                )
            except (SchemaDriftError, RejectRatioError, UnicodeDecodeError, csv.Error) as error:
                failures.append(f"{kind}/{path.name}: {type(error).__name__}: {error}")
                log.error("inbox %s/%s not landed: %s", kind, path.name, type(error).__name__)
                continue
            archive(path, inbox / ".done" / kind)
            log.info("inbox %s/%s: %d rows landed", kind, path.name, landed)
    result.details["files_ignored"] = ignored
    result.details["files_failed"] = len(failures)
    if failures:
        raise InboxError(
            f"{len(failures)} dropped file(s) left in the inbox, others landed:\n" + "\n".join(failures)
        )
    return result


_EMAIL_TOKEN = re.compile(r"[^\s;,\"']+@[^\s;,\"']+")
_PHONE_TOKEN = re.compile(r"(?:\+|00)?\d[\d .\-]{7,}\d")


def archive(path: Path, done_dir: Path) -> None:
    """Move a landed drop to ``inbox/.done/``, without the lines of erased people.

    The landing writer already refused their rows; the archive must not keep them either.
    Lines are filtered on the raw bytes (read as latin-1, which maps every byte to one
    character), so whatever the file's encoding the lines kept are byte-identical.
    """
    done_dir.mkdir(parents=True, exist_ok=True)
    target = done_dir / path.name
    tombstones = TombstoneFilter()
    if not len(tombstones):
        os.replace(path, target)
        return
    lines = path.read_bytes().decode("latin-1").splitlines(keepends=True)
    kept = [line for line in lines if not _mentions_erased(line, tombstones)]
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes("".join(kept).encode("latin-1"))
    os.replace(tmp, target)
    path.unlink()
    if len(kept) < len(lines):
        log.info("inbox %s: %d line(s) of erased people not archived", path.name, len(lines) - len(kept))


def _mentions_erased(line: str, tombstones: TombstoneFilter) -> bool:
    return any(tombstones.is_erased(token, None) for token in _EMAIL_TOKEN.findall(line)) or any(
        tombstones.is_erased(None, token) for token in _PHONE_TOKEN.findall(line)
    )
