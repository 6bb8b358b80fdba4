"""X API v2: mentions of the campaign account and its own posts, with retweets and quotes.

Requests follow docs/contracts.md §2 (bearer token, ``start_time``/``end_time`` in RFC 3339,
``meta.next_token`` passed back as ``pagination_token``). When ``x-rate-limit-remaining``
reaches 0 the client waits for ``x-rate-limit-reset``; a 429 is retried the same way.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from socle.http import (
    HttpClient,
    SourceError,
    TokenExpiredError,
    endpoint_of,
    make_session,
    x_rate_limit_hook,
)
from socle.landing import Batch
from socle.sources.common import EntitySpec, IngestResult, Settings, base_url, in_window, land, paginate

log = logging.getLogger(__name__)

SOURCE = "x"
PAGE_SIZE = 100
DEFAULT_LOOKBACK_DAYS = 7
TWEET_FIELDS = "created_at,author_id,conversation_id,referenced_tweets"

TWEETS = EntitySpec(
    SOURCE,
    "tweets",
    columns=(
        "id",
        "author_id",
        "author_username",
        "text",
        "created_at",
        "kind",
        "referenced_tweet_id",
        "conversation_id",
    ),
    required=("id", "author_id", "created_at", "kind"),
    key=("id",),
    timestamps=("created_at",),
    enums={"kind": frozenset({"mention", "reply", "quote", "post"})},
)
RETWEETS = EntitySpec(
    SOURCE,
    "retweets",
    columns=("tweet_id", "user_id", "username", "tweet_created_at"),
    required=("tweet_id", "user_id"),
    key=("tweet_id", "user_id"),
    timestamps=("tweet_created_at",),
)


def classify_x_error(response: requests.Response) -> str | None:
    if response.status_code == 401:
        endpoint = endpoint_of(response.url)
        raise TokenExpiredError(
            f"GET {endpoint}: X rejected the bearer token (HTTP 401: expired, revoked or wrong). "
            "Update the socle_x connection password; not retried.",
            endpoint=endpoint,
            status=401,
            attempts=1,
        )
    return None


def client_for(settings: Settings, **options: Any) -> HttpClient:
    if not settings.password:
        raise SourceError("the socle_x connection has no bearer token (password)")
    return make_session(
        base_url(settings.host) or "https://api.x.com",
        headers={"Authorization": f"Bearer {settings.password}"},
        rate_limit_hooks=[x_rate_limit_hook],
        classify_error=classify_x_error,
        **options,
    )


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _next_token(page: dict[str, Any]) -> dict[str, str] | None:
    meta = page.get("meta") if isinstance(page.get("meta"), dict) else {}
    token = meta.get("next_token")
    return {"pagination_token": token} if token else None


def _usernames(page: dict[str, Any]) -> dict[str, str]:
    includes = page.get("includes") if isinstance(page.get("includes"), dict) else {}
    users = [u for u in includes.get("users") or [] if isinstance(u, dict) and "id" in u]
    return {u["id"]: u.get("username") for u in users}


def _tweet(item: dict[str, Any], users: dict[str, str], kind: str | None) -> dict[str, Any]:
    references = [r for r in item.get("referenced_tweets") or [] if isinstance(r, dict)]
    types = {r.get("type") for r in references}
    if kind is None:  # a mention: what it does to the campaign's tweet, if anything
        kind = "reply" if "replied_to" in types else "quote" if "quoted" in types else "mention"
    record = {k: v for k, v in item.items() if k != "referenced_tweets"}
    record.update(
        author_username=users.get(item.get("author_id", "")),
        kind=kind,
        referenced_tweet_id=references[0].get("id") if references else None,
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
    """Land ``x/tweets`` (mentions, replies, quotes, own posts) and ``x/retweets`` for [start, end).

    Tweets are those created in the interval; quotes are read on the campaign's posts of
    the interval and of the ``quote_lookback_days`` before it (extra, default 7).
    Retweets carry no time: a snapshot, taken for the interval's own posts.
    """
    user_id = settings.extra.get("user_id")
    if not user_id:
        raise SourceError("the socle_x connection extra needs the campaign account's user_id")
    result = IngestResult(SOURCE)
    batch = Batch(SOURCE, start, end, source_uri=f"{settings.host}/2/users/{user_id}")
    http = client or client_for(settings)
    window = {"start_time": _rfc3339(start), "end_time": _rfc3339(end)}
    lookback = timedelta(days=float(settings.extra.get("quote_lookback_days", DEFAULT_LOOKBACK_DAYS)))
    own_window = {"start_time": _rfc3339(start - lookback), "end_time": _rfc3339(end)}
    tweet_params = {
        "max_results": PAGE_SIZE,
        "tweet.fields": TWEET_FIELDS,
        "expansions": "author_id",
        "user.fields": "username",
    }
    try:
        tweets: list[dict[str, Any]] = []
        own: list[dict[str, Any]] = []
        for page in paginate(http, f"/2/users/{user_id}/tweets", {**own_window, **tweet_params}, _next_token):
            users = _usernames(page)
            own.extend(_tweet(item, users, "post") for item in page.get("data") or [])
        for page in paginate(http, f"/2/users/{user_id}/mentions", {**window, **tweet_params}, _next_token):
            users = _usernames(page)
            tweets.extend(_tweet(item, users, None) for item in page.get("data") or [])
        recent = [t for t in own if t.get("id")]
        own = [t for t in own if in_window(t.get("created_at"), start, end)]
        for post in recent:
            quotes = f"/2/tweets/{post['id']}/quote_tweets"
            for page in paginate(http, quotes, tweet_params, _next_token):
                users = _usernames(page)
                for item in page.get("data") or []:
                    if in_window(item.get("created_at"), start, end):
                        quote = _tweet(item, users, "quote")
                        quote["referenced_tweet_id"] = post["id"]
                        tweets.append(quote)
        retweets: list[dict[str, Any]] = []
        for post in own:
            if not post.get("id"):
                continue
            retweeted_by = f"/2/tweets/{post['id']}/retweeted_by"
            user_params = {"max_results": PAGE_SIZE, "user.fields": "username"}
            for page in paginate(http, retweeted_by, user_params, _next_token):
                for user in page.get("data") or []:
                    record = {k: v for k, v in user.items() if k not in ("id", "name")}
                    record.update(
                        tweet_id=post["id"],
                        user_id=user.get("id"),
                        username=user.get("username"),
                        tweet_created_at=post.get("created_at"),
                    )
                    retweets.append(record)
        # Own posts last: dedupe keeps the last version, so a tweet of ours stays kind=post.
        land(
            batch,
            TWEETS,
            [*tweets, *own],
            root=landing_root,
            max_reject_ratio=max_reject_ratio,
            result=result,
        )
        land(batch, RETWEETS, retweets, root=landing_root, max_reject_ratio=max_reject_ratio, result=result)
    finally:
        if client is None:
            http.close()
    result.details["requests"] = http.requests_sent
    log.info("x: landed %s, rejected %s", result.landed, result.rejected)
    return result
