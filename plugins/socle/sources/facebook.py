"""Facebook Graph API: the page's posts in an interval, then their comments and reactions.

Requests follow docs/contracts.md §2: the page token travels as the ``access_token`` query
parameter, pages are followed through ``paging.next`` until it is absent. Graph signals
rate limits as error codes 4/17/32/613 (retried with backoff) and an expired token as
code 190 (fails at once: no retry can renew a token).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from socle.http import (
    HttpClient,
    SourceError,
    TokenExpiredError,
    endpoint_of,
    facebook_usage_hook,
    make_session,
)
from socle.landing import Batch
from socle.sources.common import EntitySpec, IngestResult, Settings, base_url, in_window, land, paginate

log = logging.getLogger(__name__)

SOURCE = "facebook"
DEFAULT_VERSION = "v21.0"
PAGE_SIZE = 100
DEFAULT_LOOKBACK_DAYS = 7
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80001})
TRANSIENT_CODES = frozenset({1, 2})
EXPIRED_TOKEN_CODE = 190

POSTS = EntitySpec(
    SOURCE,
    "posts",
    columns=("id", "message", "created_time", "permalink_url"),
    required=("id", "created_time"),
    key=("id",),
    timestamps=("created_time",),
)
COMMENTS = EntitySpec(
    SOURCE,
    "comments",
    columns=("id", "post_id", "from_id", "from_name", "message", "created_time", "parent_id"),
    required=("id", "post_id", "from_id", "created_time"),
    key=("id",),
    timestamps=("created_time",),
)
REACTIONS = EntitySpec(
    SOURCE,
    "reactions",
    columns=("post_id", "user_id", "user_name", "type", "post_created_time"),
    required=("post_id", "user_id", "type"),
    key=("post_id", "user_id"),
    timestamps=("post_created_time",),
)


def classify_graph_error(response: requests.Response) -> str | None:
    """Read the Graph error code: rate limits retry, an expired token fails fast."""
    try:
        error = (response.json() or {}).get("error") or {}
    except (ValueError, AttributeError):
        return None
    code = error.get("code") if isinstance(error, dict) else None
    if code == EXPIRED_TOKEN_CODE:
        endpoint = endpoint_of(response.url)
        raise TokenExpiredError(
            f"GET {endpoint}: the Facebook page access token has expired or was revoked (Graph error "
            "190). Generate a new page token and update the socle_facebook connection; not retried.",
            endpoint=endpoint,
            status=response.status_code,
            attempts=1,
        )
    if code in RATE_LIMIT_CODES or code in TRANSIENT_CODES:
        return "retry"
    return None


def client_for(settings: Settings, **options: Any) -> HttpClient:
    if not settings.password:
        raise SourceError("the socle_facebook connection has no page access token (password)")
    return make_session(
        base_url(settings.host) or "https://graph.facebook.com",
        params={"access_token": settings.password},
        rate_limit_hooks=[facebook_usage_hook()],
        classify_error=classify_graph_error,
        **options,
    )


def _next_link(page: dict[str, Any]) -> str | None:
    paging = page.get("paging")
    return paging.get("next") if isinstance(paging, dict) else None


def _flatten_comment(post_id: str, item: dict[str, Any]) -> dict[str, Any]:
    record = {k: v for k, v in item.items() if k not in ("from", "parent")}
    author = item.get("from") if isinstance(item.get("from"), dict) else {}
    parent = item.get("parent") if isinstance(item.get("parent"), dict) else {}
    record.update(post_id=post_id, from_id=author.get("id"), from_name=author.get("name"))
    record["parent_id"] = parent.get("id")
    return record


def _flatten_reaction(post: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    record = {k: v for k, v in item.items() if k not in ("id", "name")}
    record.update(
        post_id=post["id"],
        user_id=item.get("id"),
        user_name=item.get("name"),
        post_created_time=post.get("created_time"),
    )
    return record


def ingest(
    settings: Settings,
    start: datetime,
    end: datetime,
    *,
    landing_root: Path | None = None,
    max_reject_ratio: float = 0.05,
    client: HttpClient | None = None,
) -> IngestResult:
    """Land ``facebook/posts|comments|reactions`` for one interval [start, end).

    Posts and comments are those *created* in the interval; comments are read on the
    interval's posts and on the posts of the ``comment_lookback_days`` before it (extra,
    default 7), because people keep commenting on older posts. Reactions carry no time in
    the Graph API: they are a snapshot, taken for the interval's posts.
    """
    page_id = settings.extra.get("page_id")
    if not page_id:
        raise SourceError("the socle_facebook connection extra needs a page_id")
    version = settings.extra.get("api_version", DEFAULT_VERSION)
    lookback = timedelta(days=float(settings.extra.get("comment_lookback_days", DEFAULT_LOOKBACK_DAYS)))
    result = IngestResult(SOURCE)
    feed = f"/{version}/{page_id}/feed"
    batch = Batch(SOURCE, start, end, source_uri=(settings.host or "") + feed)
    http = client or client_for(settings)
    try:
        params = {
            "since": int((start - lookback).timestamp()),
            "until": int(end.timestamp()),
            "limit": PAGE_SIZE,
            "fields": "id,message,created_time,permalink_url",
        }
        fetched = [
            item for page in paginate(http, feed, params, _next_link) for item in page.get("data") or []
        ]
        current = [p for p in fetched if in_window(p.get("created_time"), start, end)]
        earlier = [p for p in fetched if p not in current and p.get("id")]
        posts = land(
            batch, POSTS, current, root=landing_root, max_reject_ratio=max_reject_ratio, result=result
        )
        comments: list[dict[str, Any]] = []
        reactions: list[dict[str, Any]] = []
        comment_params = {"fields": "id,from{id,name},message,created_time,parent{id}", "limit": PAGE_SIZE}
        for post in [*posts, *earlier]:
            for page in paginate(http, f"/{version}/{post['id']}/comments", comment_params, _next_link):
                comments.extend(
                    _flatten_comment(post["id"], item)
                    for item in page.get("data") or []
                    if in_window(item.get("created_time"), start, end)
                )
        reaction_params = {"fields": "id,name,type", "limit": PAGE_SIZE}
        for post in posts:
            for page in paginate(http, f"/{version}/{post['id']}/reactions", reaction_params, _next_link):
                reactions.extend(_flatten_reaction(post, item) for item in page.get("data") or [])
        land(batch, COMMENTS, comments, root=landing_root, max_reject_ratio=max_reject_ratio, result=result)
        land(batch, REACTIONS, reactions, root=landing_root, max_reject_ratio=max_reject_ratio, result=result)
    finally:
        if client is None:
            http.close()
    result.details["requests"] = http.requests_sent
    log.info("facebook: landed %s, rejected %s", result.landed, result.rejected)
    return result
