"""What every connector shares: entity specs, validation, drift checks, landing with a threshold.

A connector turns source records into flat dicts of strings and hands them to ``land``,
which normalises identifiers and dates, quarantines bad rows with a reason, fails loudly
on schema drift, enforces the rejection ratio and writes through ``socle.landing``.
Nothing here logs or raises with a record's values: only counts, field names and keys.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from socle.http import HttpClient, SourceError, endpoint_of
from socle.identity import normalise_email, normalise_phone
from socle.landing import Batch, PartitionWriter, Rejection, write_rejections

log = logging.getLogger(__name__)

PARIS = ZoneInfo("Europe/Paris")
# The same identifiers come back row after row (a volunteer on every door, a person in
# every consent line); phonenumbers is the slowest step of landing, so remember answers.
_email = lru_cache(maxsize=65_536)(normalise_email)
_phone = lru_cache(maxsize=65_536)(normalise_phone)
TRUE_WORDS = frozenset({"true", "oui", "o", "yes", "y", "x", "1", "vrai"})
FALSE_WORDS = frozenset({"false", "non", "n", "no", "0", "faux"})


class Settings(Protocol):
    """What a connector reads from a connection (``socle.orchestration.ConnectionSettings``)."""

    host: str
    password: str | None
    extra: dict[str, Any]


class SchemaDriftError(RuntimeError):
    """The source changed shape (a required field vanished everywhere): a human must look."""


class RejectRatioError(RuntimeError):
    """Too many records were rejected for the batch to be trusted; counts only."""


@dataclass
class IngestResult:
    """What one connector run did, in counts (safe for logs and XCom)."""

    source: str
    landed: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    invalid_identifiers: dict[str, int] = field(default_factory=dict)
    skipped: bool = False
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, entity: str, landed: int, rejected: int, invalid_identifiers: int = 0) -> None:
        self.landed[entity] = self.landed.get(entity, 0) + landed
        self.rejected[entity] = self.rejected.get(entity, 0) + rejected
        if invalid_identifiers:
            self.invalid_identifiers[entity] = self.invalid_identifiers.get(entity, 0) + invalid_identifiers

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "landed": dict(self.landed),
            "rejected": dict(self.rejected),
            "invalid_identifiers": dict(self.invalid_identifiers),
            "skipped": self.skipped,
            **self.details,
        }


@dataclass(frozen=True)
class EntitySpec:
    """The landing contract of one entity (docs/contracts.md §4) and how to clean it."""

    source: str
    entity: str
    columns: tuple[str, ...]
    required: tuple[str, ...]
    key: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()  # the person's identifiers: a row keeps at least one valid
    phones: tuple[str, ...] = ()
    other_emails: tuple[str, ...] = ()  # normalised too, but not the person's (a volunteer's)
    timestamps: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    booleans: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    enums: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.source}/{self.entity}"


# ---------------------------------------------------------------- values


def base_url(host: str) -> str:
    """The connection host as a base URL; a bare host gets https (http on loopback)."""
    host = (host or "").strip().rstrip("/")
    if not host or "://" in host:
        return host
    loopback = host.startswith(("127.", "localhost", "[::1]"))
    return ("http://" if loopback else "https://") + host


def normalise_header(name: str) -> str:
    """``Téléphone portable `` -> ``telephone_portable``: accents off, lower case, ``_``."""
    # "N°" is how French headers write "No": keep the o rather than lose the sign.
    text = name.replace("\ufeff", "").replace("°", "o")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[\s\-'’`.]+", "_", text.strip().lower())
    return re.sub(r"_+", "_", text).strip("_")


_FRENCH = re.compile(
    r"^(?P<d>\d{1,2})[/.-](?P<m>\d{1,2})[/.-](?P<y>\d{4})"
    r"(?:[ T]+(?P<H>\d{1,2})(?:[h:H](?P<M>\d{2})?)?(?::(?P<S>\d{2}))?)?$"
)


def parse_datetime(raw: str | None) -> str | None:
    """An ISO 8601 timestamp with offset, from ISO or French input; naive means Paris time.

    Accepts ``2013-10-31T19:30:00+01:00``, ``2013-10-31 19:30``, ``31/10/2013``,
    ``31/10/2013 19h30``, ``31/10/2013 19:30``. Raises ``ValueError`` when unparseable.
    """
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    match = _FRENCH.match(text)
    if match:
        moment = datetime(
            int(match["y"]),
            int(match["m"]),
            int(match["d"]),
            int(match["H"] or 0),
            int(match["M"] or 0),
            int(match["S"] or 0),
        )
    else:
        moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=PARIS)
    return moment.isoformat(timespec="seconds")


def parse_date(raw: str | None) -> str | None:
    """``YYYY-MM-DD`` from ``2013-10-31`` or ``31/10/2013``; raises ``ValueError`` otherwise."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    match = _FRENCH.match(text)
    if match:
        return date(int(match["y"]), int(match["m"]), int(match["d"])).isoformat()
    return datetime.fromisoformat(text).date().isoformat()


def parse_bool(raw: object) -> str | None:
    """``true``/``false`` from booleans, oui/non/x/1/0...; empty is None; raises otherwise."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "true" if raw else "false"
    text = str(raw).strip().lower()
    if not text:
        return None
    if text in TRUE_WORDS:
        return "true"
    if text in FALSE_WORDS:
        return "false"
    raise ValueError("not a boolean")


_NUMBER = re.compile(r"^[+-]?(\d+)(\.\d+)?$")


def parse_number(raw: str | None) -> str | None:
    """``1 234,50`` -> ``1234.50``; ``1003.0`` -> ``1003``; raises ``ValueError`` otherwise."""
    if raw is None or not raw.strip():
        return None
    text = re.sub(r"[\s\u00a0\u202f]", "", raw).replace(",", ".")
    match = _NUMBER.match(text)
    if not match:
        raise ValueError("not a number")
    if match[2] and not match[2].strip(".0"):
        return text[: match.start(2)]
    return text


def to_text(value: object) -> str | None:
    """Landing values are strings; empty strings become null so 'missing' means one thing."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = str(value).strip()
    return text or None


# ---------------------------------------------------------------- validation


def check_drift(
    spec: EntitySpec,
    seen_fields: Iterable[str],
    record_count: int,
    *,
    where: str | None = None,
    min_records: int = 2,
) -> None:
    """Fail loudly when a required field is absent from every record (or from the header).

    One record missing a field is bad data (rejected); every record missing it is the
    source renaming or dropping the field, which a threshold would only report as noise.
    A lone record cannot tell the two apart (``min_records``); a header always can.
    """
    if record_count < min_records:
        return
    seen = set(seen_fields)
    missing = [f for f in spec.required if f not in seen]
    if missing:
        unknown = sorted(seen - set(spec.columns) - {"sheet", "row_number"})
        hint = f"; unexpected fields present: {', '.join(unknown[:20])}" if unknown else ""
        if any(_LOOKS_LIKE_DATA.search(name) for name in unknown):
            # A sheet without its header line: its "field names" are someone's details.
            hint = "; the first line looks like data, not a header line (names withheld)"
        where = where or f"all {record_count} records"
        raise SchemaDriftError(
            f"{spec.label}: required field(s) {', '.join(missing)} absent from {where}{hint}. "
            "The source schema changed: map the new name "
            "in the connector (or the alias table) before re-running."
        )


REJECT_FLOOR = 1
_LOOKS_LIKE_DATA = re.compile(r"@|\d{4,}|\d{1,2}_\d{1,2}_\d{2,4}|^\d+$")


@dataclass
class Cleaned:
    records: list[dict[str, str | None]]
    rejections: list[Rejection]
    invalid_identifiers: int = 0
    duplicates: int = 0


def clean(spec: EntitySpec, records: Iterable[Mapping[str, object]], *, dedupe: bool = True) -> Cleaned:
    """Normalise and validate records; bad ones become rejections with reason and fields.

    Duplicates by key (a page served twice) keep the last version seen.
    """
    out: dict[object, dict[str, str | None]] = {}
    rejections: list[Rejection] = []
    invalid_ids = 0
    total = 0
    for index, raw in enumerate(records):
        total += 1
        # Every contract column exists (null when absent) so dbt can select it; extras follow.
        record: dict[str, str | None] = dict.fromkeys(spec.columns)
        record.update((k, to_text(v)) for k, v in raw.items())
        problems: dict[str, list[str]] = {}
        for names, parse, reason in (
            (spec.timestamps, parse_datetime, "unparseable date"),
            (spec.dates, parse_date, "unparseable date"),
            (spec.booleans, parse_bool, "invalid boolean"),
            (spec.numbers, parse_number, "invalid number"),
        ):
            for name in names:
                try:
                    record[name] = parse(record.get(name))
                except ValueError:
                    problems.setdefault(reason, []).append(name)
        for name, allowed in spec.enums.items():
            if record.get(name) is not None:
                record[name] = record[name].lower()
                if record[name] not in allowed:
                    problems.setdefault("invalid value", []).append(name)
        identifiers = (*spec.emails, *spec.phones)
        had_identifier = any(record.get(n) for n in identifiers)
        for names, normalise in (
            ((*spec.emails, *spec.other_emails), _email),
            (spec.phones, _phone),
        ):
            for name in names:
                if record.get(name):
                    record[name] = normalise(record[name])
                    invalid_ids += record[name] is None
        if had_identifier and not any(record.get(n) for n in identifiers):
            problems.setdefault("no valid identifier", []).extend(identifiers)
        missing = [n for n in spec.required if not record.get(n)]
        if missing:
            problems = {"missing required field": missing, **problems}
        if problems:
            reason = next(iter(problems))
            fields = tuple(dict.fromkeys(f for names in problems.values() for f in names))
            rejections.append(Rejection(reason=reason, fields=fields, record=dict(raw)))
            continue
        key = tuple(record.get(k) for k in spec.key) if dedupe and spec.key else index
        out.pop(key, None)  # the last version wins, at the position it was last seen
        out[key] = record
    accepted = total - len(rejections)
    return Cleaned(list(out.values()), rejections, invalid_ids, accepted - len(out))


def check_reject_ratio(label: str, landed: int, rejected: int, max_ratio: float) -> None:
    """Fail when more than ``max_ratio`` of the records were rejected.

    A single rejection never fails a batch on its own: in a quiet hour one odd comment
    would be 100 % and block the source; it is quarantined and counted like any other.
    """
    total = landed + rejected
    if rejected > REJECT_FLOOR and rejected / total > max_ratio:
        raise RejectRatioError(
            f"{label}: {rejected} of {total} records rejected ({rejected / total:.1%} > "
            f"{max_ratio:.1%} allowed); they are quarantined under landing/_rejected/{label}/ "
            "with their reasons. Fix the source or raise the threshold, then re-run."
        )


def land(
    batch: Batch,
    spec: EntitySpec,
    records: Iterable[Mapping[str, object]],
    *,
    root: Path | None,
    max_reject_ratio: float,
    result: IngestResult,
    exclusive: bool = False,
    extra_rejections: Sequence[Rejection] = (),
) -> list[dict[str, str | None]]:
    """Validate and land one entity of a batch; returns the landed records.

    Raises ``SchemaDriftError`` before landing anything, and ``RejectRatioError`` after
    quarantining the rejections.
    When the ratio is exceeded the good rows are not landed (the partition keeps its
    previous content), so the re-run after a fix is the only version ever built on.
    """
    records = list(records)
    check_drift(spec, {k for r in records for k in r}, len(records))
    cleaned = clean(spec, records)
    rejections = [*extra_rejections, *cleaned.rejections]
    write_rejections(batch, spec.entity, rejections, root=root, exclusive=exclusive)
    result.add(spec.entity, 0, len(rejections), cleaned.invalid_identifiers)
    log.info(
        "%s: %d valid, %d rejected, %d duplicates merged, %d invalid identifiers nulled",
        spec.label,
        len(cleaned.records),
        len(rejections),
        cleaned.duplicates,
        cleaned.invalid_identifiers,
    )
    check_reject_ratio(spec.label, len(cleaned.records), len(rejections), max_reject_ratio)
    writer = PartitionWriter(batch, spec.entity, root=root)
    writer.write(cleaned.records)
    landed = writer.commit(exclusive=exclusive)
    result.landed[spec.entity] = result.landed.get(spec.entity, 0) + landed
    return cleaned.records


def paginate(
    client: HttpClient,
    path: str,
    params: Mapping[str, Any],
    next_page: Callable[[dict[str, Any]], str | Mapping[str, Any] | None],
    *,
    max_pages: int = 100_000,
) -> Iterator[dict[str, Any]]:
    """Yield JSON pages until ``next_page`` returns nothing.

    ``next_page`` returns an absolute link (Graph ``paging.next``, JSON:API ``links.next``),
    rebased onto the configured host, or extra query parameters (X ``pagination_token``).
    A link served twice would loop forever: that fails the run instead.
    """
    url, query = path, dict(params)
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for _ in range(max_pages):
        page = client.get_json(url, query)
        if not isinstance(page, dict):
            endpoint = endpoint_of(client.url(url))
            raise SourceError(f"GET {endpoint}: expected a JSON object", endpoint=endpoint)
        yield page
        following = next_page(page)
        if not following:
            return
        if isinstance(following, str):
            url, query = client.rebase(following), {}
        else:
            query = {**params, **following}
        marker = (url, tuple(sorted((k, str(v)) for k, v in query.items())))
        if marker in seen:
            raise SourceError(
                f"GET {endpoint_of(client.url(url))}: the server sent the same next page twice "
                "(pagination loop); stopping rather than landing a partial interval",
                endpoint=endpoint_of(client.url(url)),
            )
        seen.add(marker)
    raise SourceError(f"GET {endpoint_of(client.url(path))}: more than {max_pages} pages", endpoint=path)


def in_window(raw: str | None, start: datetime, end: datetime) -> bool:
    """Whether a timestamp lies in [start, end); unparseable ones pass on to be rejected."""
    try:
        moment = datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return True
    if moment is None:
        return True
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=PARIS)
    return start <= moment < end


def land_stream(
    batch: Batch,
    spec: EntitySpec,
    records: Iterable[Mapping[str, object] | Rejection],
    *,
    root: Path | None,
    max_reject_ratio: float,
    result: IngestResult,
    label: str | None = None,
    chunk_rows: int = 50_000,
    exclusive: bool = True,
    manifest_extra: Mapping[str, object] | None = None,
) -> int:
    """Land a big input chunk by chunk into one part; returns the rows landed.

    ``records`` may interleave ``Rejection`` objects (rows the reader could not even
    split). Drift is checked on the first chunk; the ratio once the input is exhausted,
    before the part replaces the previous one.
    """
    label = label or spec.entity
    writer = PartitionWriter(batch, spec.entity, root=root)
    rejections: list[Rejection] = []
    chunk: list[Mapping[str, object]] = []
    invalid = 0
    first = True

    def flush() -> None:
        nonlocal invalid, first
        if first and chunk:
            check_drift(spec, {k for r in chunk for k in r}, len(chunk))
            first = False
        cleaned = clean(spec, chunk, dedupe=False)
        rejections.extend(cleaned.rejections)
        invalid += cleaned.invalid_identifiers
        writer.write(cleaned.records)
        chunk.clear()

    try:
        for record in records:
            if isinstance(record, Rejection):
                rejections.append(record)
                continue
            chunk.append(record)
            if len(chunk) >= chunk_rows:
                flush()
        flush()
        write_rejections(batch, spec.entity, rejections, root=root, exclusive=exclusive)
        result.add(label, 0, len(rejections), invalid)
        check_reject_ratio(spec.label, writer.rows, len(rejections), max_reject_ratio)
    except BaseException:
        writer.abort()
        raise
    landed = writer.commit(exclusive=exclusive, manifest_extra=manifest_extra)
    result.landed[label] += landed
    return landed


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` with a BOM, ``utf-8`` when the whole file decodes, else ``cp1252``.

    The whole file is checked (incrementally, in blocks): a cp1252 accent on the last line
    of a big export must not be found only by a crash halfway through landing. cp1252 is
    a superset of latin-1 for letters, so Ministère files decode right too.
    """
    with path.open("rb") as handle:
        if handle.read(3) == codecs.BOM_UTF8:
            return "utf-8-sig"
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            for block in iter(lambda: handle.read(1 << 20), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8"


def detect_delimiter(line: str) -> str:
    counts = {d: line.count(d) for d in (";", ",", "\t")}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
