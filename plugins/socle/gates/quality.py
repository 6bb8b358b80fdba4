"""Data-quality checks: keys, volumes, freshness and referential integrity, as SQL metrics.

Each check computes one number in DuckDB; its bounds live in ``expectations/data_quality.json``
and its severity (``fail`` blocks publishing, ``warn`` only reports) in
``expectations/severity.yml``. A check whose table does not exist yet measures nothing
(``None``) and is reported as not applicable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from socle.gates.catalog import quote
from socle.gates.rules import Context


@dataclass(frozen=True)
class Check:
    check_id: str
    name: str
    metric: Callable[[Context], str | None]


def _contact_lists(ctx: Context) -> list[tuple[str, str]]:
    return [
        (s, t)
        for s, t in ctx.catalog.tables(("restricted",))
        if re.fullmatch(r"contact_list_\w+", t) and ctx.catalog.has(s, t, "person_key")
    ]


def _if(ctx: Context, schema: str, table: str, *cols: str, sql: str) -> str | None:
    return sql if ctx.catalog.has(schema, table, *cols) else None


def _rows(ctx: Context, schema: str, table: str) -> str:
    """A missing table has no rows: the volume check sees it."""
    return f"select count(*) from {quote(schema, table)}" if ctx.catalog.has(schema, table) else "select 0"


def _sum_over(parts: list[str]) -> str | None:
    return f"select {' + '.join(f'({p})' for p in parts)}" if parts else None


def _scores_duplicates(ctx: Context) -> str | None:
    cols = ctx.catalog.cols("marts", "supporter_scores")
    if "person_key" not in cols:
        return None
    grain = "person_key, as_of_date" if "as_of_date" in cols else "person_key"
    return (
        f"select count(*) from (select {grain} from marts.supporter_scores group by all having count(*) > 1)"
    )


def _contact_duplicates(ctx: Context) -> str | None:
    return _sum_over(
        [f"select count(*) - count(distinct person_key) from {quote(s, t)}" for s, t in _contact_lists(ctx)]
    )


def _contact_missing_address(ctx: Context) -> str | None:
    parts = []
    for schema, table in _contact_lists(ctx):
        cols = ctx.catalog.cols(schema, table)
        address = next((c for c in ("email", "phone") if c in cols), None)
        if address:
            parts.append(f"select count(*) from {quote(schema, table)} where {quote(address)} is null")
    return _sum_over(parts)


def _contact_orphans(ctx: Context) -> str | None:
    if not ctx.catalog.has("intermediate", "int_persons", "person_key"):
        return None
    return _sum_over(
        [
            f"select count(*) from {quote(s, t)} where person_key not in "
            "(select person_key from intermediate.int_persons where person_key is not null)"
            for s, t in _contact_lists(ctx)
        ]
    )


def _orphans(child: tuple[str, str]) -> Callable[[Context], str | None]:
    def metric(ctx: Context) -> str | None:
        if not (
            ctx.catalog.has(*child, "person_key") and ctx.catalog.has("marts", "dim_supporter", "person_key")
        ):
            return None
        return (
            f"select count(*) from {quote(*child)} where person_key is not null and person_key not in "
            "(select person_key from marts.dim_supporter where person_key is not null)"
        )

    return metric


def _freshness(ctx: Context) -> str | None:
    return _if(
        ctx,
        "marts",
        "dim_supporter",
        "last_activity_at",
        sql=f"select date_diff('day', max(cast(last_activity_at as timestamptz)), {ctx.now_sql}) "
        "from marts.dim_supporter",
    )


CHECKS: tuple[Check, ...] = (
    Check(
        "dq_dim_supporter_null_keys",
        "supporters without a person key",
        lambda c: _if(
            c,
            "marts",
            "dim_supporter",
            "person_key",
            sql="select count(*) from marts.dim_supporter where person_key is null",
        ),
    ),
    Check(
        "dq_dim_supporter_duplicate_keys",
        "supporters listed twice",
        lambda c: _if(
            c,
            "marts",
            "dim_supporter",
            "person_key",
            sql="select count(*) - count(distinct person_key) from marts.dim_supporter",
        ),
    ),
    Check("dq_supporter_scores_duplicate_keys", "scores listed twice for one day", _scores_duplicates),
    Check("dq_contact_lists_duplicate_keys", "people listed twice in a contact list", _contact_duplicates),
    Check(
        "dq_contact_lists_missing_address", "contact-list rows without an address", _contact_missing_address
    ),
    Check(
        "dq_scores_without_supporter", "scores of unknown supporters", _orphans(("marts", "supporter_scores"))
    ),
    Check("dq_contact_lists_without_person", "contact-list rows of unknown people", _contact_orphans),
    Check(
        "dq_engagement_without_supporter",
        "actions of unknown supporters",
        _orphans(("marts", "fct_engagement")),
    ),
    Check(
        "dq_dim_supporter_rows",
        "supporters (volume)",
        lambda c: _rows(c, "marts", "dim_supporter"),
    ),
    Check(
        "dq_engagement_rows",
        "scored actions (volume)",
        lambda c: _rows(c, "marts", "fct_engagement"),
    ),
    Check("dq_days_since_last_activity", "days since the latest activity (freshness)", _freshness),
)
