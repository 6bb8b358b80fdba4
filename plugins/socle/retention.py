"""Retention limits applied to the landing zone (GDPR art. 5(1)(e); GDPR rule 6).

The warehouse is rebuilt from the landing zone, so purging here purges most of it at the
next build; people purged are also deleted from the warehouse files at once (history
tables are not rebuilt, and would keep them).

Windows, their defaults and where the defaults come from (CNIL délibération n° 2012-020
on political communication files, and CNIL 2023 guidance on social networks):

- **Prospects who never answered**: until the campaign ends. ``SOCLE_CAMPAIGN_END``
  (ISO date; default today + 120 days, so the demo campaign is kept). Basis: data used for
  election communication is kept until the end of the election unless consent covers more.
- **Supporters, members, volunteers** (people who answered): 36 months after their last
  activity. ``SOCLE_RETENTION_CONTACT_MONTHS``. Basis: regular contacts are kept "until
  exchanges end"; 36 months without any exchange is taken as that end.
- **Comment and mention text** of social accounts: 90 days, then the text is nulled in
  ``facebook/comments.message`` and ``x/tweets.text`` (the interaction itself is kept).
  ``SOCLE_RETENTION_COMMENT_TEXT_DAYS``. Basis: data collected on social networks is kept
  for a shorter time than contacts' data.
- **Quarantined rows** (``_rejected``): 90 days after they were loaded.
  ``SOCLE_RETENTION_REJECTED_DAYS``. They are kept for review and correction only.
- **Access-request exports**: 30 days after they were written.
  ``SOCLE_RETENTION_ACCESS_EXPORT_DAYS``. The answer was sent; the copy is not kept.

*Who answered*: a person (e-mail, phone and declared social accounts, joined through the
records that carry several of them; a phone shared by several e-mails joins nobody, as in
``int_identity``) who is a member, granted a consent, RSVPed, signed a meeting sheet,
volunteered for canvassing, or agreed at the door to be contacted. Everyone else is a
prospect; likes and comments alone make nobody a regular contact (CNIL 2023).

*Last activity*: the latest time on any record of the person, as the warehouse counts it
(``updated_at``, ``occurred_at``, ``signed_at``, ``session_date``, social actions of a declared
account; the load time when a record's time is unreadable). A data-subject request is not
activity, but while one is open nothing of its requester is purged.

A record is purged when every identifier of the person it is about has expired; a
canvassing record is about the door's contact, not the volunteer; social interactions are
kept (only their text expires).

:func:`apply_retention` rewrites the affected Parquet parts atomically and appends one line
per action to ``compliance/retention_log.jsonl`` (counts only).
"""

from __future__ import annotations

import calendar
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from socle.config import paths, pseudonym_secret
from socle.dsr import (
    Subject,
    access_exports_dir,
    base_tables,
    compact,
    erase_from_database,
    landing_entities,
    load_ledger,
    parquet_scan,
    rewrite_part,
    warehouse_files,
)

log = logging.getLogger(__name__)

DEFAULT_CONTACT_MONTHS = 36
DEFAULT_COMMENT_TEXT_DAYS = 90
DEFAULT_REJECTED_DAYS = 90
DEFAULT_ACCESS_EXPORT_DAYS = 30
DEFAULT_CAMPAIGN_DAYS_AHEAD = 120

# Social entities whose free text expires sooner: entity -> (text column, time column, kept when).
COMMENT_TEXT = {
    "facebook/comments": ("message", "created_time", None),
    "x/tweets": ("text", "created_at", "kind = 'post'"),  # the campaign's own posts are not comments
}
# The incremental staging tables keep what was landed, so their copies are nulled too:
# text column -> (time column, the column marking the campaign's own posts, if any).
WAREHOUSE_COMMENT_TEXT = {
    "comment_text": ("created_at", None),
    "tweet_text": ("created_at", "tweet_kind"),
}


# How each kind of identifier is normalised before comparing (a social account is namespaced).
IDENTIFIER_SQL = {
    "email": "lower(trim({}))",
    "phone": "trim({})",
    "facebook": "'facebook:' || lower(trim({}))",
    "x": "'x:' || lower(trim({}))",
}


@dataclass(frozen=True)
class Role:
    """The identifiers of one person on a record, and whether the record is an answer from them."""

    identifiers: tuple[tuple[str, str], ...]  # (kind, column)
    answered: str = "true"  # SQL over the record
    answered_columns: tuple[str, ...] = ()  # what ``answered`` reads (an optional column may be absent)
    is_subject: bool = True  # the record is about this person (its retention follows theirs)


@dataclass(frozen=True)
class PersonEntity:
    """How a landing entity feeds retention: its time columns (latest wins) and its people."""

    time_columns: tuple[str, ...]
    roles: tuple[Role, ...]
    # SQL for the record's activity time; None: its time columns (latest wins).
    activity: str | None = None


MEMBER = "lower(is_member) in ('true', 'oui', '1')"
AGREED_AT_THE_DOOR = "lower(consent_contact) in ('true', 'oui', '1')"
PERSON_ENTITIES: dict[str, PersonEntity] = {
    "crm/people": PersonEntity(
        ("updated_at", "created_at"),
        (
            Role(
                (("email", "email"), ("phone", "phone"), ("facebook", "facebook_id"), ("x", "x_user_id")),
                MEMBER,
                ("is_member",),
            ),
        ),
    ),
    "crm/consents": PersonEntity(
        ("occurred_at",),
        (Role((("email", "email"), ("phone", "phone")), "lower(status) = 'granted'", ("status",)),),
    ),
    "events/rsvps": PersonEntity(
        ("updated_at", "checked_in_at"), (Role((("email", "email"), ("phone", "phone"))),)
    ),
    "signin/attendance": PersonEntity(("signed_at",), (Role((("email", "email"), ("phone", "phone"))),)),
    "canvass/visits": PersonEntity(
        ("session_date",),
        (
            Role(
                (("email", "contact_email"), ("phone", "contact_phone")),
                AGREED_AT_THE_DOOR,
                ("consent_contact",),
            ),
            Role((("email", "volunteer_email"),), is_subject=False),
        ),
    ),
    # A request is no activity (the warehouse does not count it either) and leaves with its
    # person, except while it is open: nothing of the requester is purged before the answer.
    "dsr/requests": PersonEntity(
        ("received_at",),
        (Role((("email", "email"), ("phone", "phone")), "false"),),
        activity="case when request_id in (select request_id from open_requests) then {now} end",
    ),
    # Social actions of a declared account are activity, not an answer (CNIL: likes and comments
    # alone do not make a regular contact); the interaction itself is not purged with the person.
    "facebook/comments": PersonEntity(
        ("created_time",), (Role((("facebook", "from_id"),), "false", is_subject=False),)
    ),
    "facebook/reactions": PersonEntity(
        ("post_created_time",), (Role((("facebook", "user_id"),), "false", is_subject=False),)
    ),
    "x/tweets": PersonEntity(("created_at",), (Role((("x", "author_id"),), "false", is_subject=False),)),
    "x/retweets": PersonEntity(
        ("tweet_created_at",), (Role((("x", "user_id"),), "false", is_subject=False),)
    ),
}


@dataclass(frozen=True)
class RetentionWindows:
    """The retention windows in force (see the module docstring for defaults and sources)."""

    campaign_end: date
    contact_months: int = DEFAULT_CONTACT_MONTHS
    comment_text_days: int = DEFAULT_COMMENT_TEXT_DAYS
    rejected_days: int = DEFAULT_REJECTED_DAYS
    access_export_days: int = DEFAULT_ACCESS_EXPORT_DAYS

    def contact_cutoff(self, now: datetime) -> datetime:
        """Activity before this instant is past the contact window."""
        return subtract_months(now, self.contact_months)

    def comment_cutoff(self, now: datetime) -> datetime:
        return now - timedelta(days=self.comment_text_days)

    def rejected_cutoff(self, now: datetime) -> datetime:
        return now - timedelta(days=self.rejected_days)

    def campaign_over(self, now: datetime) -> bool:
        return now.date() > self.campaign_end

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign_end": self.campaign_end.isoformat(),
            "prospects": "until the campaign ends",
            "contact_months": self.contact_months,
            "comment_text_days": self.comment_text_days,
            "rejected_days": self.rejected_days,
            "access_export_days": self.access_export_days,
        }


def subtract_months(moment: datetime, months: int) -> datetime:
    """The same day ``months`` earlier, clamped to the month's last day."""
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number (got {raw!r})") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive (got {value})")
    return value


def retention_windows(today: date | None = None) -> RetentionWindows:
    """The windows in force: defaults, overridden by ``SOCLE_CAMPAIGN_END``/``SOCLE_RETENTION_*``."""
    today = today or datetime.now(UTC).date()
    raw_end = os.environ.get("SOCLE_CAMPAIGN_END", "").strip()
    try:
        campaign_end = (
            date.fromisoformat(raw_end) if raw_end else today + timedelta(days=DEFAULT_CAMPAIGN_DAYS_AHEAD)
        )
    except ValueError:
        raise ValueError(
            f"SOCLE_CAMPAIGN_END must be an ISO date like 2026-03-22 (got {raw_end!r})"
        ) from None
    return RetentionWindows(
        campaign_end=campaign_end,
        contact_months=_env_int("SOCLE_RETENTION_CONTACT_MONTHS", DEFAULT_CONTACT_MONTHS),
        comment_text_days=_env_int("SOCLE_RETENTION_COMMENT_TEXT_DAYS", DEFAULT_COMMENT_TEXT_DAYS),
        rejected_days=_env_int("SOCLE_RETENTION_REJECTED_DAYS", DEFAULT_REJECTED_DAYS),
        access_export_days=_env_int("SOCLE_RETENTION_ACCESS_EXPORT_DAYS", DEFAULT_ACCESS_EXPORT_DAYS),
    )


def retention_log_path() -> Path:
    return paths().compliance_store / "retention_log.jsonl"


@dataclass
class RetentionRun:
    """Counts of what one pass purged (safe to log and to return through XCom)."""

    windows: RetentionWindows
    comment_texts_nulled: dict[str, int] = field(default_factory=dict)
    person_rows_purged: dict[str, int] = field(default_factory=dict)
    identifiers_expired: int = 0
    rejected_rows_purged: dict[str, int] = field(default_factory=dict)
    warehouse_rows_purged: dict[str, int] = field(default_factory=dict)
    access_exports_deleted: int = 0
    files_rewritten: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "comment_texts_nulled": sum(self.comment_texts_nulled.values()),
            "person_rows_purged": sum(self.person_rows_purged.values()),
            "identifiers_expired": self.identifiers_expired,
            "rejected_rows_purged": sum(self.rejected_rows_purged.values()),
            "warehouse_rows_purged": sum(self.warehouse_rows_purged.values()),
            "access_exports_deleted": self.access_exports_deleted,
            "files_rewritten": self.files_rewritten,
        }


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ts(moment: datetime) -> str:
    return f"timestamptz {_lit(moment.astimezone(UTC).isoformat())}"


def _time_expr(columns: list[str], available: list[str]) -> str:
    """A record's time: its latest readable time column, else its load time."""
    parts = [f'try_cast("{c}" as timestamptz)' for c in columns if c in available]
    latest = f"greatest({', '.join(parts)})" if parts else "null"
    return f"coalesce({latest}, try_cast(_fetched_at as timestamptz))"


def _columns(con: duckdb.DuckDBPyConnection, source: str) -> list[str]:
    return [r[0] for r in con.execute(f"describe select * from {source}").fetchall()]


def _null_comment_texts(con: duckdb.DuckDBPyConnection, now: datetime, run: RetentionRun) -> None:
    cutoff = _ts(run.windows.comment_cutoff(now))
    for entity in landing_entities():
        if entity.key not in COMMENT_TEXT:
            continue
        text, time_column, kept_when = COMMENT_TEXT[entity.key]
        for part in entity.files:
            source = parquet_scan(part)
            columns = _columns(con, source)
            if text not in columns:
                continue
            expired = f'"{text}" is not null and {_time_expr([time_column], columns)} < {cutoff}'
            if kept_when and "kind" in columns:
                expired += f" and not coalesce({kept_when}, false)"
            n = con.execute(f"select count(*) from {source} where {expired}").fetchone()[0]
            if not n:
                continue
            nulled = f'case when {expired} then null else "{text}" end as "{text}"'
            query = f"select * replace ({nulled}) from {source}"
            rewrite_part(con, part, query, "retention:comment_text")
            run.comment_texts_nulled[entity.key] = run.comment_texts_nulled.get(entity.key, 0) + n
            run.files_rewritten += 1


def _observations(con: duckdb.DuckDBPyConnection, now: datetime) -> dict[str, list[Path]]:
    """Load ``obs`` (one row per identifier per role per record) from every person entity."""
    open_ids = [r for r, e in load_ledger().items() if e["status"] in ("pending", "overdue")]
    con.execute("create or replace temp table open_requests (request_id varchar)")
    if open_ids:
        con.executemany("insert into open_requests values (?)", [(i,) for i in open_ids])
    con.execute(
        "create or replace temp table obs (filename varchar, row_number bigint, role integer, "
        "kind varchar, identifier varchar, seen_at timestamptz, answered boolean, is_subject boolean)"
    )
    entities = {}
    for entity in landing_entities():
        spec = PERSON_ENTITIES.get(entity.key)
        if spec is None:
            continue
        source = parquet_scan(
            entity.files, "union_by_name = true", "filename = true", "file_row_number = true"
        )
        columns = _columns(con, source)
        if spec.activity is None:
            seen_at = _time_expr(list(spec.time_columns), columns)
        else:
            seen_at = spec.activity.format(now=_ts(now))
        for index, role in enumerate(spec.roles):
            answered = role.answered if set(role.answered_columns) <= set(columns) else "false"
            for kind, column in role.identifiers:
                if column not in columns:
                    continue
                value = IDENTIFIER_SQL[kind].format(f'"{column}"')
                con.execute(
                    f"insert into obs select filename, file_row_number, {index}, '{kind}', {value}, "
                    f"{seen_at}, coalesce({answered}, false), {role.is_subject} from {source} "
                    f"where nullif(trim(\"{column}\"), '') is not null"
                )
        entities[entity.key] = list(entity.files)
    return entities


def _purge_people(con: duckdb.DuckDBPyConnection, now: datetime, run: RetentionRun) -> None:
    entities = _observations(con, now)
    if not entities:
        return
    windows = run.windows
    prospects_expire = "true" if windows.campaign_over(now) else "false"
    # Two hops through the records a person's e-mail and phone share approximate the person
    # without the warehouse. As in int_identity, a phone seen with several e-mails (a shared
    # line) links nobody: a record holding one is decided by its other identifiers.
    con.execute(
        f"""
        create or replace temp table verdict as
        with shared_phones as (
            select phone.identifier
            from obs as phone
            inner join obs as email using (filename, row_number, role)
            where phone.kind = 'phone' and email.kind = 'email'
            group by phone.identifier
            having count(distinct email.identifier) > 1
        ),
        observed as (
            select
                *,
                not (kind = 'phone' and identifier in (select identifier from shared_phones)) as links
            from obs
        ),
        by_identifier as (
            select identifier, max(seen_at) as last_at, bool_or(answered) as answered
            from observed
            group by identifier
        ),
        by_record as (
            select
                observed.filename,
                observed.row_number,
                observed.role,
                coalesce(max(i.last_at) filter (where observed.links), max(i.last_at)) as last_at,
                coalesce(bool_or(i.answered) filter (where observed.links), bool_or(i.answered)) as answered
            from observed inner join by_identifier as i using (identifier)
            group by observed.filename, observed.row_number, observed.role
        ),
        person as (
            select observed.identifier, max(r.last_at) as last_at, bool_or(r.answered) as answered
            from observed inner join by_record as r using (filename, row_number, role)
            group by observed.identifier
        ),
        verdict as (
            select
                observed.*,
                coalesce(person.last_at < {_ts(windows.contact_cutoff(now))}, false)
                or (not person.answered and {prospects_expire}) as expired
            from observed inner join person using (identifier)
            where observed.is_subject
        )
        select * from verdict
        """
    )
    con.execute(
        """
        create or replace temp table expired_rows as
        select filename, row_number
        from verdict
        group by filename, row_number
        having coalesce(bool_and(expired) filter (where links), bool_and(expired))
        """
    )
    expired_people = con.execute(
        "select distinct kind, identifier from verdict inner join expired_rows using (filename, row_number) "
        "where expired and links"
    ).fetchall()
    run.identifiers_expired = len(expired_people)
    affected = dict(con.execute("select filename, count(*) from expired_rows group by filename").fetchall())
    for key, files in entities.items():
        for part in files:
            n = affected.get(str(part), 0)
            if not n:
                continue
            name = _lit(str(part))
            expired = f"select row_number from expired_rows where filename = {name}"
            source = parquet_scan(part, "file_row_number = true")
            query = (
                f"select * exclude (file_row_number) from {source} where file_row_number not in ({expired})"
            )
            rewrite_part(con, part, query, "retention:person")
            run.person_rows_purged[key] = run.person_rows_purged.get(key, 0) + n
            run.files_rewritten += 1
    _purge_warehouses(expired_people, run)


def _purge_warehouses(expired_people: list[tuple[str, str]], run: RetentionRun) -> None:
    """Delete the purged people from the warehouse files too.

    Most tables are rebuilt from the landing zone at the next build, but history tables
    (scores over time, consent state history) are not: they would keep the person forever.
    """
    subject = Subject(
        emails={i for kind, i in expired_people if kind == "email"},
        phones={i for kind, i in expired_people if kind == "phone"},
    )
    if not subject:
        return
    secret = pseudonym_secret()
    for db in warehouse_files():
        for table, n in erase_from_database(db, subject, secret).items():
            run.warehouse_rows_purged[table] = run.warehouse_rows_purged.get(table, 0) + n


def _null_warehouse_comment_texts(now: datetime, run: RetentionRun) -> None:
    """Null expired comment texts in the warehouse files' tables (the staging copies)."""
    cutoff = _ts(run.windows.comment_cutoff(now))
    for db in warehouse_files():
        changed = False
        with duckdb.connect(str(db)) as con:
            for (schema, table), columns in base_tables(con).items():
                for text, (moment, own_posts) in WAREHOUSE_COMMENT_TEXT.items():
                    if text not in columns or moment not in columns:
                        continue
                    expired = f'"{text}" is not null and "{moment}" < {cutoff}'
                    if own_posts in columns:
                        expired += f" and coalesce(\"{own_posts}\", '') <> 'post'"
                    name = f'"{schema}"."{table}"'
                    n = con.execute(f"select count(*) from {name} where {expired}").fetchone()[0]
                    if n:
                        con.execute(f'update {name} set "{text}" = null where {expired}')
                        key = f"warehouse {schema}.{table}"
                        run.comment_texts_nulled[key] = run.comment_texts_nulled.get(key, 0) + n
                        changed = True
        if changed:
            compact(db)  # the old texts must not survive in free blocks of the file


def _purge_rejected(con: duckdb.DuckDBPyConnection, now: datetime, run: RetentionRun) -> None:
    cutoff = _ts(run.windows.rejected_cutoff(now))
    for entity in landing_entities():
        if not entity.key.startswith("_rejected/"):
            continue
        for part in entity.files:
            source = parquet_scan(part)
            expired = f"coalesce(try_cast(_fetched_at as timestamptz) < {cutoff}, false)"
            n = con.execute(f"select count(*) from {source} where {expired}").fetchone()[0]
            if not n:
                continue
            rewrite_part(con, part, f"select * from {source} where not {expired}", "retention:rejected")
            run.rejected_rows_purged[entity.key] = run.rejected_rows_purged.get(entity.key, 0) + n
            run.files_rewritten += 1


def _purge_access_exports(now: datetime, run: RetentionRun) -> None:
    directory = access_exports_dir()
    if not directory.exists():
        return
    cutoff = (now - timedelta(days=run.windows.access_export_days)).timestamp()
    for export in directory.iterdir():
        if export.suffix in (".json", ".html") and export.stat().st_mtime < cutoff:
            export.unlink()
            run.access_exports_deleted += 1


def apply_retention(now: datetime | None = None) -> RetentionRun:
    """Purge what is past its window from the landing zone and the access exports; counts only."""
    now = now or datetime.now(UTC)
    run = RetentionRun(windows=retention_windows(now.date()))
    with duckdb.connect() as con:
        _null_comment_texts(con, now, run)
        _purge_people(con, now, run)
        _purge_rejected(con, now, run)
    _null_warehouse_comment_texts(now, run)
    _purge_access_exports(now, run)
    _write_log(now, run)
    log.info("retention: %s", json.dumps(run.summary(), sort_keys=True))
    return run


def _write_log(now: datetime, run: RetentionRun) -> None:
    lines = []
    for action, counts in (
        ("comment_text_nulled", run.comment_texts_nulled),
        ("person_rows_purged", run.person_rows_purged),
        ("rejected_rows_purged", run.rejected_rows_purged),
        ("warehouse_rows_purged", run.warehouse_rows_purged),
    ):
        lines += [{"action": action, "entity": key, "rows": n} for key, n in sorted(counts.items())]
    if run.access_exports_deleted:
        lines.append({"action": "access_exports_deleted", "files": run.access_exports_deleted})
    lines.append({"action": "run", **run.summary(), "windows": run.windows.as_dict()})
    path = retention_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for line in lines:
            handle.write(json.dumps({"at": now.isoformat(), **line}, sort_keys=True) + "\n")
