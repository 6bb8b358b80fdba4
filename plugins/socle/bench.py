"""Benchmark harness: a synthetic campaign at national scale, timed stage by stage.

``main("S")`` generates a campaign straight into the landing zone of a scratch data home
(``<SOCLE_HOME>/bench/<scale>/``), then times landing → staging, the full build, the gates,
publish, an incremental run after 1% new interactions and the gates on it, and a hand-written DuckDB yardstick
computing decayed scores straight from the landing Parquet. The table is printed and
written as JSON to ``<SOCLE_HOME>/reports/bench-<scale>-<timestamp>.json``.

Generation is one DuckDB ``COPY (select ... from range(n))`` per entity (vectorised, no
per-row Python): every data column is VARCHAR, with the landing metadata columns, in
``landing/<source>/<entity>/dt=YYYY-MM-DD/part-*.parquet`` plus a ``_manifest.json`` per
partition, as ``socle.landing`` writes them (docs/contracts.md §4). The people are
synthetic (``example.fr``-style addresses, never real ones); nothing here prints a record.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import platform
import re
import resource
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from socle.config import duckdb_memory_limit, paths
from socle.landing import METADATA_COLUMNS, file_sha256

# scale → (people, interactions); "custom" takes both as arguments (tests).
SCALES: dict[str, tuple[int, int]] = {
    "S": (10_000, 200_000),
    "M": (1_000_000, 20_000_000),
    "L": (5_000_000, 100_000_000),
}
# Share of the interactions per entity (the rest of the campaign's contact with people).
MIX: dict[tuple[str, str], float] = {
    ("facebook", "reactions"): 0.35,
    ("facebook", "comments"): 0.15,
    ("x", "tweets"): 0.20,
    ("events", "rsvps"): 0.10,
    ("signin", "attendance"): 0.08,
    ("canvass", "visits"): 0.12,
}
# Interactions fall in the last DAYS days: inside the 90-day comment-text window of rule 6.
DAYS = 60
INCREMENT_SHARE = 0.01
# Share of the CRM people and of the RSVPs their sources deliver again in the hour after the
# increment, edited but with the same identifiers (a support level, an RSVP cancelled).
REDELIVERY_SHARE = 0.001
# People erased before the first build, as in any live campaign: the tombstone filter of
# staging then does its real work (hashing every identifier), not its no-tombstone shortcut.
ERASED_PEOPLE = 100

FIRST_NAMES = [
    "Camille",
    "Léa",
    "Manon",
    "Chloé",
    "Inès",
    "Jade",
    "Louise",
    "Emma",
    "Sarah",
    "Lucie",
    "Zoé",
    "Anaïs",
    "Nadia",
    "Fatima",
    "Amina",
    "Lucas",
    "Hugo",
    "Louis",
    "Nathan",
    "Gabriel",
    "Arthur",
    "Jules",
    "Mathis",
    "Raphaël",
    "Adam",
    "Karim",
    "Mehdi",
    "Yanis",
    "Théo",
    "Paul",
    "Éric",
    "Hélène",
    "Joëlle",
    "François",
    "Céline",
    "Noël",
    "Loïc",
    "Gaëlle",
    "Benoît",
    "Maëlys",
]
LAST_NAMES = [
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefèbvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Benali",
    "Nguyen",
    "Haddad",
    "Diallo",
    "Le-Gall",
    "Da-Silva",
    "Müller",
    "Rossi",
    "Ferrand",
]
DOMAINS = ("example.fr", "example.org", "example.com", "exemple.fr")


@dataclass
class Stage:
    """One timed stage of the report."""

    stage: str
    rows: int
    seconds: float
    peak_rss_mb: float
    peak_children_rss_mb: float
    note: str = ""
    error: str = ""  # why the stage failed; empty when it completed

    @property
    def rows_per_s(self) -> float:
        return round(self.rows / self.seconds, 1) if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "stage": self.stage,
            "rows": self.rows,
            "seconds": round(self.seconds, 3),
            "rows_per_s": self.rows_per_s,
            "peak_rss_mb": self.peak_rss_mb,
            "peak_children_rss_mb": self.peak_children_rss_mb,
            "note": self.note,
            "error": self.error,
        }


def _peak_mb(who: int) -> float:
    # ru_maxrss is in KiB on Linux; for children it is the largest child so far (a high-water mark).
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def _progress(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


@contextmanager
def _data_home(home: Path) -> Iterator[None]:
    """Point every ``socle`` path (and dbt, through its environment) at the scratch home."""
    previous = os.environ.get("SOCLE_HOME")
    os.environ["SOCLE_HOME"] = str(home)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SOCLE_HOME", None)
        else:
            os.environ["SOCLE_HOME"] = previous


# --- generation --------------------------------------------------------------------------------


def _sql_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _macros(con: duckdb.DuckDBPyConnection, as_of: datetime, people: int) -> None:
    """Per-person attributes as pure functions of the person's index, so every entity that
    names a person (CRM, consents, RSVPs, sheets, social ids) agrees without a join."""
    anchor = as_of.strftime("%Y-%m-%d %H:%M:%S")
    con.execute(f"""
        create or replace macro pick(i, salt, n) as (hash(i, salt) % n)::bigint;
        create or replace macro first_name(i) as
            list_element({_sql_list(FIRST_NAMES)}, pick(i, 'f', {len(FIRST_NAMES)}) + 1);
        create or replace macro last_name(i) as
            list_element({_sql_list(LAST_NAMES)}, pick(i, 'l', {len(LAST_NAMES)}) + 1);
        create or replace macro email(i) as
            lower(strip_accents(first_name(i))) || '.' || lower(strip_accents(last_name(i))) || i::varchar
            || '@' || list_element({_sql_list(DOMAINS)}, pick(i, 'd', {len(DOMAINS)}) + 1);
        -- +33 61x xx xx xx: a valid French mobile, unique per person below 10 million people.
        create or replace macro phone(i) as '+3361' || lpad(((i * 7919) % 10000000)::varchar, 7, '0');
        create or replace macro arr(i) as lpad((pick(i, 'a', 16) + 1)::varchar, 2, '0');
        create or replace macro bureau(i) as arr(i) || lpad((pick(i, 'b', 30) + 1)::varchar, 2, '0');
        create or replace macro commune(i) as '132' || arr(i);
        create or replace macro iris(i) as
            commune(i) || '01' || lpad((pick(i, 'b', 30) // 4 + 1)::varchar, 2, '0');
        create or replace macro has_fb(i) as pick(i, 'fb', 100) < 35;
        create or replace macro has_x(i) as pick(i, 'x', 100) < 20;
        create or replace macro fb_id(i) as (100000000000000 + i)::varchar;
        create or replace macro x_id(i) as (1500000000000000000 + i)::varchar;
        -- A moment in the last {DAYS} days, as the landing contract writes it (ISO 8601, offset).
        create or replace macro moment(i, salt) as
            timestamp '{anchor}' - to_seconds(pick(i, salt, {DAYS * 86400}));
        create or replace macro as_of_day() as cast(timestamp '{anchor}' as date);
        create or replace macro iso(t) as strftime(t, '%Y-%m-%dT%H:%M:%S+00:00');
        create or replace macro person_of(i, salt) as pick(i, salt, {people});
    """)


def _meta(source: str, entity: str, fetched_at: str, batch: str) -> str:
    """The landing metadata columns; the interval is the partition's day."""
    return f"""
        '{batch}-' || dt as _batch_id, '{source}' as _source, '{entity}' as _entity,
        dt || 'T00:00:00+00:00' as _interval_start,
        strftime(cast(dt as date) + 1, '%Y-%m-%d') || 'T00:00:00+00:00' as _interval_end,
        '{fetched_at}' as _fetched_at, 'bench://{source}/{entity}' as _source_uri
    """


def _entity_sql(source: str, entity: str, n: int, offset: int, people: int, posts: int, events: int) -> str:
    """``select`` of ``n`` rows of one entity (all data columns VARCHAR, plus ``dt``)."""
    rng = f"(select range + {offset} as i from range({n}))"
    if (source, entity) == ("facebook", "posts"):
        return f"""
            select 'pg_' || i as id, 'Communiqué de campagne n°' || i as message,
                   iso(t) as created_time, 'https://facebook.example/pg_' || i as permalink_url,
                   strftime(t, '%Y-%m-%d') as dt
            from (select i, moment(i, 'post') as t from {rng})"""
    if (source, entity) == ("facebook", "reactions"):
        return f"""
            select 'pg_' || pick(i, 'rp', {posts}) as post_id, fb_id(p) as user_id,
                   first_name(p) || ' ' || last_name(p) as user_name,
                   list_element(['LIKE', 'LIKE', 'LIKE', 'LOVE', 'WOW', 'HAHA', 'ANGRY', 'CARE'],
                                pick(i, 'rt', 8) + 1) as type,
                   iso(t) as post_created_time, strftime(t, '%Y-%m-%d') as dt
            from (select i, person_of(i, 'rx') as p, moment(i, 'r') as t from {rng})"""
    if (source, entity) == ("facebook", "comments"):
        return f"""
            select 'c_' || i as id, 'pg_' || pick(i, 'cp', {posts}) as post_id, fb_id(p) as from_id,
                   first_name(p) || ' ' || last_name(p) as from_name,
                   list_element(['Bravo !', 'Je serai là samedi.', 'Et pour les transports ?',
                                 'Quel programme pour les écoles ?'], pick(i, 'cm', 4) + 1) as message,
                   iso(t) as created_time, null::varchar as parent_id, strftime(t, '%Y-%m-%d') as dt
            from (select i, person_of(i, 'cx') as p, moment(i, 'c') as t from {rng})"""
    if (source, entity) == ("x", "tweets"):
        return f"""
            select (1800000000000000000 + i)::varchar as id, x_id(p) as author_id,
                   'user' || p as author_username, 'Tweet de soutien n°' || i as text,
                   iso(t) as created_at,
                   list_element(['mention', 'reply', 'quote'], pick(i, 'tk', 3) + 1) as kind,
                   null::varchar as referenced_tweet_id, (1700000000000000000 + pick(i, 'cv', 1000))::varchar
                       as conversation_id, strftime(t, '%Y-%m-%d') as dt
            from (select i, person_of(i, 'tx') as p, moment(i, 't') as t from {rng})"""
    if (source, entity) == ("events", "events"):
        return f"""
            select 'ev_' || i as id, 'Réunion publique ' || i as title,
                   list_element(['public_meeting', 'rally', 'door_to_door', 'leafleting', 'phone_bank'],
                                pick(i, 'ek', 5) + 1) as kind,
                   iso(t) as starts_at, iso(t + interval 2 hour) as ends_at,
                   (1 + pick(i, 'ea', 200))::varchar || ' rue de la République' as address,
                   '130' || arr(i) as postal_code, 'Marseille' as city, bureau(i) as bureau_code,
                   iris(i) as iris_code, iso(t - interval 7 day) as updated_at, strftime(t, '%Y-%m-%d') as dt
            from (select i, moment(i, 'ev') as t from {rng})"""
    if (source, entity) == ("events", "rsvps"):
        return f"""
            select 'rsvp_' || i as id, 'ev_' || pick(i, 're', {events}) as event_id, email(p) as email,
                   phone(p) as phone, first_name(p) as first_name, last_name(p) as last_name,
                   case when pick(i, 'rs', 10) = 0 then 'canceled' else 'going' end as status,
                   case when pick(i, 'ra', 2) = 0 then 'true' else 'false' end as attended,
                   null::varchar as checked_in_at,
                   case when pick(i, 'rv', 10) = 0 then 'true' else 'false' end as volunteer,
                   null::varchar as role, iso(t) as updated_at, strftime(t, '%Y-%m-%d') as dt
            from (select i, person_of(i, 'rp') as p, moment(i, 'rsvp') as t from {rng})"""
    if (source, entity) == ("signin", "attendance"):
        return f"""
            select 'feuille_' || strftime(t, '%Y%m%d') || '.csv' as sheet, i::varchar as row_number,
                   'ev_' || pick(i, 'se', {events}) as event_id, iso(t) as signed_at,
                   last_name(p) as last_name, first_name(p) as first_name, email(p) as email,
                   phone(p) as phone, '130' || arr(p) as postal_code,
                   case when pick(i, 'so', 2) = 0 then 'oui' else 'non' end as optin_email,
                   case when pick(i, 'ss', 3) = 0 then 'oui' else 'non' end as optin_sms,
                   strftime(t, '%Y-%m-%d') as dt
            from (select i, person_of(i, 'sp') as p, moment(i, 'sign') as t from {rng})"""
    if (source, entity) == ("canvass", "visits"):
        # Half the doors are strangers (no contact given), as in a real canvass.
        return f"""
            select 'porte_a_porte_' || strftime(t, '%Y%m%d') || '.csv' as sheet, i::varchar as row_number,
                   'sess_' || strftime(t, '%Y%m%d') || '_' || arr(i) as session_id,
                   strftime(t, '%Y-%m-%d') as session_date, 'benevole' || pick(i, 'vb', 50) || '@example.org'
                       as volunteer_email,
                   bureau(p) as bureau_code, (1 + pick(i, 'ca', 200))::varchar || ' boulevard National'
                       as address,
                   case when opened then 'oui' else 'non' end as door_opened,
                   case when not opened then 'absent'
                        else list_element(['refus', 'sympathisant', 'indecis', 'opposant'],
                                          pick(i, 'co', 4) + 1)
                   end as outcome,
                   case when opened and known then email(p) end as contact_email,
                   case when opened and known then phone(p) end as contact_phone,
                   case when opened and known then 'oui' else 'non' end as consent_contact,
                   strftime(t, '%Y-%m-%d') as dt
            from (select i, person_of(i, 'vp') as p, moment(i, 'cv') as t, pick(i, 'do', 3) > 0 as opened,
                         pick(i, 'kn', 2) = 0 as known from {rng})"""
    if (source, entity) == ("crm", "people"):
        return f"""
            select 'crm_export.csv' as sheet, (i + 2)::varchar as row_number, 'crm_' || i as crm_id,
                   first_name(i) as first_name, last_name(i) as last_name, email(i) as email,
                   case when pick(i, 'np', 10) < 7 then phone(i) end as phone,
                   -- 2% minors; everyone else an adult of 18 to 87.
                   strftime(as_of_day() - to_days(365 * (case when pick(i, 'mi', 100) < 2 then 15
                            else 18 + pick(i, 'ag', 70) end) + pick(i, 'dy', 365)), '%Y-%m-%d') as birth_date,
                   (1 + pick(i, 'ad', 200))::varchar || ' rue Paradis' as address,
                   '130' || arr(i) as postal_code,
                   'Marseille' as city, commune(i) as commune_code, iris(i) as iris_code,
                   bureau(i) as bureau_code,
                   case when pick(i, 'mb', 100) < 10 then 'true' else 'false' end as is_member,
                   case when pick(i, 'lc', 200) = 0 then 'true' else 'false' end as leads_cell,
                   case when has_fb(i) then fb_id(i) end as facebook_id,
                   case when has_x(i) then 'user' || i end as x_handle,
                   case when has_x(i) then x_id(i) end as x_user_id,
                   case when pick(i, 'sl', 3) = 0 then (1 + pick(i, 'sv', 5))::varchar end as support_level,
                   list_element(['web_form', 'petition', 'membership', 'meeting'], pick(i, 'src', 4) + 1)
                       as source,
                   iso(moment(i, 'cr') - interval 90 day) as created_at, iso(t) as updated_at,
                   strftime(t, '%Y-%m-%d') as dt
            from (select i, moment(i, 'up') as t from {rng})"""
    if (source, entity) == ("crm", "consents"):
        # Per person and purpose a grant with a share per purpose; 4% of grants later withdrawn.
        return f"""
            select 'cons_' || i || '_' || purpose || '_' || status as consent_id,
                   'consentements.csv' as sheet, (i + 2)::varchar as row_number,
                   email(i) as email, phone(i) as phone, purpose, status, 'consent' as lawful_basis,
                   'v2' as wording_version, 'web_form' as source, iso(t) as occurred_at,
                   strftime(t, '%Y-%m-%d') as dt
            from (
                select i, purpose, 'granted' as status, moment(i, purpose) - interval 1 day as t
                from {rng}, (values ('email', 65), ('sms', 40), ('phone', 25), ('canvassing', 30),
                                    ('social_matching', 30), ('profiling', 50)) as shares(purpose, share)
                where pick(i, purpose, 100) < share
                union all
                select i, purpose, 'withdrawn', moment(i, purpose)
                from {rng}, (values ('email'), ('sms'), ('profiling')) as w(purpose)
                where pick(i, purpose, 100) < 2
            )"""
    raise ValueError(f"no generator for {source}/{entity}")


def _write_manifests(con: duckdb.DuckDBPyConnection, entity_dir: Path, part_prefix: str, meta: dict) -> int:
    """A ``_manifest.json`` per partition, merged with what is there, as ``socle.landing`` keeps it."""
    pattern = str(entity_dir / "dt=*" / f"{part_prefix}-*.parquet")
    files = con.execute("select file_name, num_rows from parquet_file_metadata(?)", [pattern]).fetchall()
    columns = [
        r[0]
        for r in con.execute(
            "describe select * from read_parquet(?, hive_partitioning = false)", [pattern]
        ).fetchall()
    ]
    by_dir: dict[Path, list[tuple[Path, int]]] = {}
    for name, rows in files:
        by_dir.setdefault(Path(name).parent, []).append((Path(name), int(rows)))
    total = 0
    for directory, parts in sorted(by_dir.items()):
        day = date.fromisoformat(directory.name.removeprefix("dt="))
        manifest_path = directory / "_manifest.json"
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"parts": {}}
        for path, rows in parts:
            manifest["parts"][path.name] = {
                **meta,
                "_batch_id": f"{meta['_batch_id']}-{day.isoformat()}",
                "_interval_start": f"{day.isoformat()}T00:00:00+00:00",
                "_interval_end": f"{(day + timedelta(days=1)).isoformat()}T00:00:00+00:00",
                "rows": rows,
                "erased_dropped": 0,
                "columns": [c for c in columns if c not in METADATA_COLUMNS],
                "sha256": file_sha256(path),
            }
            total += rows
        tmp = manifest_path.with_name(f".{manifest_path.name}.tmp")
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str))
        os.replace(tmp, manifest_path)
    return total


def _land(
    con: duckdb.DuckDBPyConnection, target: Path, select: str, part_prefix: str, fetched_at: str
) -> int:
    """Write the rows of ``select`` (data columns and ``dt``) as new parts of the entity whose
    landing folder is ``target`` (``<landing>/<source>/<entity>``), with their manifests;
    returns the rows written."""
    source, entity = target.parent.name, target.name
    target.mkdir(parents=True, exist_ok=True)
    batch = f"bench-{part_prefix}-{entity}"
    con.execute(f"""
        copy (select * exclude (dt), {_meta(source, entity, fetched_at, batch)}, dt from ({select}))
        to '{target}' (format parquet, compression zstd, partition_by (dt),
                       filename_pattern '{part_prefix}-{{i}}', overwrite_or_ignore true)
    """)
    meta = {
        "_batch_id": batch,
        "_source": source,
        "_entity": entity,
        "_fetched_at": fetched_at,
        "_source_uri": f"bench://{source}/{entity}",
    }
    rows = _write_manifests(con, target, part_prefix, meta)
    _progress(f"landed {source}/{entity}: {rows} rows")
    return rows


def _scratch_duckdb(landing: Path, threads: int = 2) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB capped as the build is, for the generator and the yardstick. It
    spills beside ``landing``: DuckDB's default, ``.tmp`` in the working directory, put
    gigabytes wherever the bench was started (the repository, a killed run's files left)."""
    config = {"threads": threads, "memory_limit": duckdb_memory_limit()}
    return duckdb.connect(config={**config, "temp_directory": str(landing.parent / ".duckdb_spill")})


def _catalogue_sizes(interactions: int) -> tuple[int, int]:
    """How many Facebook posts and events a campaign of ``interactions`` has."""
    return max(10, interactions // 1000), max(5, interactions // 2000)


def generate(
    landing: Path,
    people: int,
    interactions: int,
    *,
    as_of: datetime,
    offset: int = 0,
    part_prefix: str = "part-bench",
    with_people: bool = True,
    threads: int = 2,
    fetched_at: datetime | None = None,
) -> dict[str, int]:
    """Write a campaign into ``landing``; returns rows landed per ``source/entity``.

    ``offset`` shifts interaction ids so an increment (``with_people=False``) adds new rows
    without replacing earlier parts; ``fetched_at`` (default ``as_of``) is when the rows
    were fetched: an increment is fetched after the first load.
    """
    posts, events = _catalogue_sizes(interactions)
    fetched_at = (fetched_at or as_of).isoformat()
    plan: list[tuple[str, str, int]] = []
    if with_people:
        plan += [("crm", "people", people), ("crm", "consents", people), ("facebook", "posts", posts)]
        plan += [("events", "events", events)]
    plan += [(s, e, max(1, int(interactions * share))) for (s, e), share in MIX.items()]
    landed: dict[str, int] = {}
    with _scratch_duckdb(landing, threads) as con:
        con.execute("set enable_progress_bar = false")  # a bar per COPY floods the log at M
        _macros(con, as_of, people)
        for source, entity, n in plan:
            select = _entity_sql(
                source,
                entity,
                n,
                offset if entity not in ("people", "consents") else 0,
                people,
                posts,
                events,
            )
            landed[f"{source}/{entity}"] = _land(
                con, landing / source / entity, select, part_prefix, fetched_at
            )
    return landed


def redeliver(
    landing: Path,
    people: int,
    interactions: int,
    *,
    as_of: datetime,
    fetched_at: datetime,
    share: float = REDELIVERY_SHARE,
) -> dict[str, int]:
    """Land again ``share`` of the CRM people and of the first load's RSVPs, fetched at
    ``fetched_at``: the same keys and identifiers, a support level and an RSVP status edited,
    as a CRM sync and an event platform deliver their changes. Returns rows landed."""
    fetched = fetched_at.isoformat()
    edits = {
        ("crm", "people"): (
            people,
            "crm_id",
            "((coalesce(try_cast(support_level as integer), 0) % 5) + 1)::varchar as support_level",
        ),
        ("events", "rsvps"): (
            max(1, int(interactions * MIX[("events", "rsvps")])),
            "id",
            "case when status = 'going' then 'canceled' else 'going' end as status",
        ),
    }
    landed: dict[str, int] = {}
    with _scratch_duckdb(landing) as con:
        con.execute("set enable_progress_bar = false")
        _macros(con, as_of, people)
        for (source, entity), (n, key, edited) in edits.items():
            rows = _entity_sql(source, entity, n, 0, people, *_catalogue_sizes(interactions))
            # At least one record, spread over the campaign by a hash of its key.
            select = f"""
                select * replace ({edited}, '{fetched}' as updated_at)
                from ({rows}) order by hash({key}) limit {max(1, round(n * share))}"""
            landed[f"{source}/{entity}"] = _land(
                con, landing / source / entity, select, "part-bench-redo", fetched
            )
    return landed


# --- the yardstick -----------------------------------------------------------------------------

YARDSTICK_POINTS = {
    "rsvp": 3.0,
    "attendance": 5.0,
    "canvass": 4.0,
    "comment": 2.0,
    "tweet": 1.5,
    "reaction": 1.0,
}
HALF_LIFE_DAYS = 30.0


def yardstick_sql(landing: Path, as_of: datetime) -> str:
    """Decayed engagement scores per person straight from the landing Parquet, hand-written.

    What the warehouse does in many models (identity, consent, scoring) in one query, without
    the GDPR filters: a floor for how fast the same arithmetic can go on this machine.
    """

    def scan(source: str, entity: str) -> str:
        return f"read_parquet('{landing}/{source}/{entity}/*/*.parquet', union_by_name = true)"

    p = YARDSTICK_POINTS
    return f"""
        with people as (
            select lower(trim(email)) as email, facebook_id, x_user_id, bureau_code
            from {scan("crm", "people")}
        ),
        actions as (
            select lower(trim(email)) as email, {p["rsvp"]} as points, updated_at as happened_at
                from {scan("events", "rsvps")} where status = 'going'
            union all select lower(trim(email)), {p["attendance"]}, signed_at
                from {scan("signin", "attendance")}
            union all select lower(trim(contact_email)), {p["canvass"]}, session_date
                from {scan("canvass", "visits")} where contact_email is not null
            union all select people.email, {p["comment"]}, c.created_time
                from {scan("facebook", "comments")} c join people on people.facebook_id = c.from_id
            union all select people.email, {p["reaction"]}, r.post_created_time
                from {scan("facebook", "reactions")} r join people on people.facebook_id = r.user_id
            union all select people.email, {p["tweet"]}, t.created_at
                from {scan("x", "tweets")} t join people on people.x_user_id = t.author_id
        ),
        scores as (
            select email, sum(points * pow(0.5, date_diff('day', try_cast(happened_at as timestamptz),
                       timestamptz '{as_of.isoformat()}') / {HALF_LIFE_DAYS})) as score
            from actions where email is not null group by email
        )
        select people.bureau_code, scores.email, scores.score,
               rank() over (partition by people.bureau_code order by scores.score desc) as rank_in_bureau
        from scores left join people using (email)
    """


def run_yardstick(landing: Path, as_of: datetime, threads: int = 2) -> int:
    """Run the yardstick into a scratch table; returns the number of people scored."""
    with _scratch_duckdb(landing, threads) as con:
        con.execute(f"create temp table yardstick as {yardstick_sql(landing, as_of)}")
        return int(con.execute("select count(*) from yardstick").fetchone()[0])


# --- the run -----------------------------------------------------------------------------------


class StageFailed(Exception):
    """A stage failed (its error is in the report): the stages after it are not run."""


def _timed(stages: list[Stage], name: str, work: Callable[[], tuple[int, str]]) -> Stage:
    """Run and time one stage; a failed build or query is recorded as the stage's result.

    A run at scale can fail for a reason worth its figures (out of memory at L): the stage is
    kept with its time, peak memory and the error, then ``StageFailed`` ends the run, whose
    report is still written.
    """
    from socle.warehouse import WarehouseBuildError  # late, as in run()

    _progress(f"{name} ...")
    started = time.perf_counter()
    rows, note, error = 0, "", ""
    try:
        rows, note = work()
    except (WarehouseBuildError, duckdb.Error) as failed:
        error = f"{type(failed).__name__}: {failed}"
    stage = Stage(
        name,
        rows,
        time.perf_counter() - started,
        _peak_mb(resource.RUSAGE_SELF),
        _peak_mb(resource.RUSAGE_CHILDREN),
        note,
        error,
    )
    stages.append(stage)
    if error:
        _progress(f"{name} failed after {stage.seconds:.1f}s: {error}")
        raise StageFailed(name)
    _progress(f"{name}: {rows} rows in {stage.seconds:.1f}s")
    return stage


def resume_modes(log_file: Path) -> dict[str, str]:
    """How each resuming model was built, as its log line says: ``resumed`` or why not."""
    modes = {}
    for line in log_file.read_text().splitlines():
        found = re.search(r"\b(\w+): (resumed|built from every row \(.*\))$", line)
        if found:
            modes[found.group(1)] = found.group(2)
    return modes


def _dbt_models(target_dir: Path) -> list[dict[str, object]]:
    """Per-node timings of the last dbt invocation, slowest first.

    ``started`` is the node's start in seconds after the first node's: with two threads,
    it shows which nodes ran side by side and which chain the build waited on.
    """
    from socle.warehouse import read_run_results

    nodes = read_run_results(target_dir / "run_results.json")
    first = min((n.started_at for n in nodes if n.started_at is not None), default=0.0)
    timings = [
        {
            "node": n.unique_id,
            "status": n.status,
            "seconds": round(n.execution_time, 3),
            "started": None if n.started_at is None else round(n.started_at - first, 3),
            "rows": n.rows_affected,
        }
        for n in nodes
    ]
    return sorted(timings, key=lambda n: n["seconds"], reverse=True)


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def run(
    scale: str,
    *,
    people: int | None = None,
    interactions: int | None = None,
    root: Path | None = None,
    reports: Path | None = None,
    as_of: datetime | None = None,
    reuse_landing: bool = False,
) -> dict[str, object]:
    """Generate, build, gate, publish, increment and yardstick one scale; returns the report.

    ``scale`` is S, M or L, or ``custom`` with ``people`` and ``interactions``. The scratch
    data home ``root`` (default ``<SOCLE_HOME>/bench/<scale>``) is emptied first; the report
    goes to ``reports`` (default ``<SOCLE_HOME>/reports``). With ``reuse_landing`` the
    generated landing zone is kept in ``<SOCLE_HOME>/bench/landing-<scale>-<sizes>/`` and
    hard-linked into later runs of the same sizes and generator (its ``as_of`` is reused):
    generating M takes minutes. Raises ``ValueError`` on an unknown scale. A stage whose
    build or query fails (out of memory at L) is recorded with its error under ``error``,
    ``failed_stage`` names it, and the stages after it are not run.
    """
    from socle import warehouse  # late: the dbt runner is only needed once data is there
    from socle.gates import run_gates
    from socle.publish import PublishRefused, publish

    scale = scale.upper() if scale.upper() in SCALES else scale
    if scale in SCALES:
        people, interactions = SCALES[scale]
    elif scale != "custom" or not people or not interactions:
        raise ValueError(f"unknown scale {scale!r}: expected one of {sorted(SCALES)} or custom with sizes")
    base = paths()
    root = (root or base.home / "bench" / scale).resolve()
    if root == base.home or root in base.home.parents:
        raise ValueError("the bench home is emptied first: it must not be the data home or hold it")
    reports = reports or base.reports
    as_of = (as_of or datetime.now(UTC)).replace(microsecond=0)
    _reset(root)
    stages: list[Stage] = []
    report: dict[str, object] = {
        "scale": scale,
        "people": people,
        "interactions": interactions,
        "as_of": as_of.isoformat(),
        "home": str(root),
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        },
        "load_before": _load(),
    }
    with _data_home(root):
        try:
            landing = paths().landing
            landed: dict[str, int] = {}

            def land() -> tuple[int, str]:
                nonlocal as_of
                if reuse_landing:
                    cache = base.home / "bench" / f"landing-{scale}-{people}x{interactions}"
                    cached, as_of, seconds = cached_landing(cache, people, interactions, as_of)
                    shutil.copytree(cache / "landing", landing, copy_function=os.link)
                    landed.update(cached)
                    note = f"reused {cache.name} (generated in {seconds:.0f}s)"
                else:
                    landed.update(generate(landing, people, interactions, as_of=as_of))
                    note = f"{len(landed)} entities"
                erased = plant_erasures(people, as_of)
                return sum(landed.values()), f"{note}; {erased} identifiers tombstoned"

            _timed(stages, "generate landing", land)
            report["landed"] = dict(landed)
            report["as_of"] = as_of.isoformat()

            def staging() -> tuple[int, str]:
                warehouse.prepare_build_db()
                result = warehouse.build_layer("staging", as_of=as_of.date())
                return sum(landed.values()), f"{len(result.nodes)} dbt nodes"

            _timed(stages, "landing -> staging", staging)

            def dbt_build(nodes_key: str, **kwargs: object) -> warehouse.DbtRunResult:
                """``warehouse.build``, its per-node timings kept in the report even if it fails."""
                try:
                    return warehouse.build(as_of=as_of.date(), **kwargs)
                finally:
                    report[nodes_key] = _dbt_models(warehouse.build_target_dir())

            def full_build() -> tuple[int, str]:
                result = dbt_build("dbt_nodes_full")
                return sum(landed.values()), f"{len(result.nodes)} dbt nodes"

            _timed(stages, "full build", full_build)

            def gates(prefix: str, note: str) -> Callable[[], tuple[int, str]]:
                def work() -> tuple[int, str]:
                    verdict = run_gates()
                    report[f"{prefix}gates_passed"] = verdict.passed
                    report[f"{prefix}gate_failures"] = verdict.failures()
                    # Warn-severity checks do not block publishing; listed by id only.
                    report[f"{prefix}gate_warnings"] = [c.check_id for c in verdict.checks if not c.passed]
                    return int(_count(paths().build_db, "marts", "dim_supporter")), note

                return work

            _timed(stages, "gates", gates("", "rows = supporters gated"))

            def do_publish() -> tuple[int, str]:
                try:
                    target = publish()
                except PublishRefused as refused:  # a failed gate is a result to report, not a crash
                    return 0, f"refused: {refused}"
                return target.stat().st_size // (1 << 20), "rows = MiB renamed into place"

            _timed(stages, "publish", do_publish)

            def increment() -> tuple[int, str]:
                extra = max(1, int(interactions * INCREMENT_SHARE))
                started = time.perf_counter()
                added = generate(
                    landing,
                    people,
                    extra,
                    as_of=as_of,
                    offset=interactions * 2,
                    part_prefix="part-bench-inc",
                    with_people=False,
                    fetched_at=as_of + timedelta(hours=1),  # the next hourly fetch
                )
                # As the hourly DAG run does: dbt's tests passed in the full build an hour ago.
                landed_s = time.perf_counter() - started
                data_tests = warehouse.data_tests_due()
                dbt_s = dbt_build("dbt_nodes_incremental", data_tests=data_tests).elapsed_seconds
                # Neither landing nor dbt: the build copy of the published file, and the checks
                # before it (new tombstones, dbt tests due), which take milliseconds.
                report["incremental_split"] = {
                    "landing": round(landed_s, 2),
                    "build copy and checks": round(time.perf_counter() - started - landed_s - dbt_s, 2),
                    "dbt": round(dbt_s, 2),
                }
                tests = "with" if data_tests else "without"
                return sum(added.values()), f"new parts landed, then dbt build again ({tests} dbt tests)"

            _timed(stages, "incremental (+1%)", increment)

            hourly_note = "gates on the incremental build (landed files already verified are not read)"
            _timed(stages, "incremental gates", gates("incremental_", hourly_note))

            def yardstick() -> tuple[int, str]:
                return run_yardstick(landing, as_of), "hand-written DuckDB over landing Parquet"

            _timed(stages, "yardstick query", yardstick)
            # After the yardstick, which reads the landing zone as the +1 % run left it.
            _timed(stages, "publish incremental", do_publish)

            def redelivered() -> tuple[int, str]:
                """The hour after: records delivered again, edited, with the same identifiers."""
                added = redeliver(
                    landing, people, interactions, as_of=as_of, fetched_at=as_of + timedelta(hours=2)
                )
                result = dbt_build("dbt_nodes_redelivered", data_tests=warehouse.data_tests_due())
                report["redelivered_modes"] = resume_modes(result.log_file)
                resumed = sum(mode == "resumed" for mode in report["redelivered_modes"].values())
                modes = f"{resumed} of {len(report['redelivered_modes'])} resuming models resumed"
                return sum(added.values()), f"records landed again, then dbt build again; {modes}"

            _timed(stages, f"re-delivered ({REDELIVERY_SHARE:.1%})", redelivered)
        except StageFailed as failed:  # recorded in its stage; the report is still written
            report["failed_stage"] = str(failed)
    report["stages"] = [s.as_dict() for s in stages]
    seconds = {s.stage: s.seconds for s in stages}
    build_s, yard_s = seconds.get("full build"), seconds.get("yardstick query")
    report["full_build_over_yardstick"] = round(build_s / yard_s, 1) if build_s and yard_s else None
    report["load_after"] = _load()
    reports.mkdir(parents=True, exist_ok=True)
    out = reports / f"bench-{scale}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    report["report_path"] = str(out)
    print(format_table(report), flush=True)
    _progress(f"report written to {out}")
    return report


def _generator_version() -> str:
    """A digest of the generator's code: a cached landing zone is reused only by the same one."""
    code = (
        inspect.getsource(_macros)
        + inspect.getsource(_entity_sql)
        + repr((MIX, DAYS, FIRST_NAMES, LAST_NAMES))
    )
    return hashlib.sha256(code.encode()).hexdigest()[:16]


def cached_landing(
    cache: Path, people: int, interactions: int, as_of: datetime
) -> tuple[dict[str, int], datetime, float]:
    """The landing zone for these sizes in ``cache/landing``, generated there once.

    Returns rows per entity, the ``as_of`` it was generated for and how long generating took.
    """
    marker = cache / "bench.json"
    version = _generator_version()
    if marker.exists():
        meta = json.loads(marker.read_text())
        if (meta["people"], meta["interactions"], meta["generator"]) == (people, interactions, version):
            return meta["landed"], datetime.fromisoformat(meta["as_of"]), float(meta["seconds"])
    shutil.rmtree(cache, ignore_errors=True)
    started = time.perf_counter()
    landed = generate(cache / "landing", people, interactions, as_of=as_of)
    seconds = time.perf_counter() - started
    meta = {
        "people": people,
        "interactions": interactions,
        "generator": version,
        "as_of": as_of.isoformat(),
        "seconds": round(seconds, 1),
        "landed": landed,
    }
    marker.write_text(json.dumps(meta, indent=2))
    return landed, as_of, seconds


def plant_erasures(people: int, as_of: datetime) -> int:
    """Tombstone ``ERASED_PEOPLE`` people in the current data home; returns how many tombstones.

    They are people erased before this landing zone was fetched (indices past ``people``), so,
    as after any real erasure, no landed row is theirs (gate rule 2 checks the landing zone)
    while staging still hashes every identifier against the tombstones. Each is tombstoned as
    an erasure does (socle.dsr): e-mail, phone and the social accounts they declared.
    """
    from socle import tombstones  # late: reads the pseudonymisation secret of the data home

    with duckdb.connect() as con:
        _macros(con, as_of, people)
        query = f"""
            select email(i), phone(i), case when has_fb(i) then fb_id(i) end,
                case when has_x(i) then x_id(i) end
            from range({people}, {people + ERASED_PEOPLE}) as r(i)
        """
        rows = con.execute(query).fetchall()
    kinds = ("email", "phone", "facebook_id", "x_user_id")
    entries = [(kind, value) for row in rows for kind, value in zip(kinds, row, strict=True) if value]
    return tombstones.add(entries, "bench-erasures", erased_at=as_of)


def _reset(root: Path) -> None:
    """Empty the scratch home (``run`` has checked it is not the data home)."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)


def _count(db: Path, schema: str, table: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return int(con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0])


def format_table(report: dict[str, object]) -> str:
    """The stage table as aligned text (what ``main`` prints)."""
    header = f"{'stage':<22}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'RSS MB':>9}{'child MB':>10}"
    lines = [
        f"scale {report['scale']}: {report['people']} people, {report['interactions']} interactions "
        f"(load before {report['load_before']}, after {report.get('load_after')})",
        header,
        "-" * len(header),
    ]
    for s in report["stages"]:
        lines.append(
            f"{s['stage']:<22}{s['rows']:>12}{s['seconds']:>10.1f}{s['rows_per_s']:>12.0f}"
            f"{s['peak_rss_mb']:>9.0f}{s['peak_children_rss_mb']:>10.0f}" + ("  FAILED" if s["error"] else "")
        )
    if split := report.get("incremental_split"):
        lines.append("incremental (+1%): " + ", ".join(f"{part} {s:.1f}s" for part, s in split.items()))
    if report.get("failed_stage"):
        lines.append(f"stopped: {report['failed_stage']} failed (its error is in the JSON report)")
    lines.append(f"full build / yardstick: {report['full_build_over_yardstick']}x")
    lines.append(f"gates passed: {report.get('gates_passed')}")
    return "\n".join(lines)


def main(scale: str = "S", *, reuse_landing: bool = False) -> int:
    """``socle bench --scale S|M|L``: 0 when every stage completed and the gates passed."""
    report = run(scale, reuse_landing=reuse_landing)
    completed = not report.get("failed_stage")
    return 0 if completed and report.get("gates_passed") and report.get("incremental_gates_passed") else 1
