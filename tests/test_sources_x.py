"""X connector against a loopback API v2: next_token paging, rate-limit headers, kinds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from fixtures.sources.loopback import Loopback, Reply

from socle.http import TokenExpiredError
from socle.orchestration import ConnectionSettings
from socle.sources import x
from socle.sources.common import SchemaDriftError

TOKEN = "bearer-SECRET"
START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 3, 1, 1, tzinfo=UTC)
ME = "999"


def settings(server: Loopback) -> ConnectionSettings:
    return ConnectionSettings("socle_x", server.url, TOKEN, {"user_id": ME})


def run(server: Loopback, root: Path, sleeps: list[float] | None = None):
    sleeps = [] if sleeps is None else sleeps
    client = x.client_for(settings(server), sleep=sleeps.append, timeout=(1, 2), max_attempts=3)
    return x.ingest(settings(server), START, END, landing_root=root, client=client)


def tweet(n: int, author: str = "a1", **extra) -> dict:
    return {
        "id": str(n),
        "text": f"tweet {n}",
        "author_id": author,
        "created_at": "2026-03-01T00:15:00.000Z",
        "conversation_id": str(n),
        **extra,
    }


def token_pages(pages: list[list[dict]], users: list[dict] | None = None):
    """``pagination_token=pN`` selects page N; meta.next_token points at the next one."""

    def handler(query, headers):
        index = int(query.get("pagination_token", "p0")[1:])
        meta = {"result_count": len(pages[index])}
        if index + 1 < len(pages):
            meta["next_token"] = f"p{index + 1}"
        body = {"data": pages[index], "meta": meta} if pages[index] else {"meta": meta}  # no "data" key
        if users:
            body["includes"] = {"users": users}
        return Reply(200, body)

    return handler


def serve(server: Loopback, mentions: list[list[dict]], own: list[list[dict]]) -> None:
    users = [{"id": "a1", "username": "alice"}, {"id": "a2", "username": "bob"}]
    server.route(f"/2/users/{ME}/mentions", token_pages(mentions, users))
    server.route(f"/2/users/{ME}/tweets", token_pages(own, [{"id": ME, "username": "campagne"}]))
    for page in own:
        for t in page:
            quote = tweet(500 + int(t["id"]), "a2", referenced_tweets=[{"type": "quoted", "id": t["id"]}])
            server.route(f"/2/tweets/{t['id']}/quote_tweets", token_pages([[quote]], users))
            retweeters = [
                [{"id": "a1", "name": "Alice", "username": "alice"}],
                [{"id": "a2", "username": "bob"}],
            ]
            server.route(f"/2/tweets/{t['id']}/retweeted_by", token_pages(retweeters))


def landed(root: Path, entity: str) -> list[dict]:
    files = [str(f) for f in sorted((root / "x" / entity).glob("dt=*/*.parquet"))]
    rel = duckdb.sql(f"select * from read_parquet({files}, union_by_name=true)")
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


@pytest.mark.integration
def test_mentions_posts_quotes_and_retweets_land_with_their_kind(tmp_path):
    reply = tweet(2, referenced_tweets=[{"type": "replied_to", "id": "10"}])
    with Loopback() as server:
        serve(server, [[tweet(1), reply], [], [tweet(3, "a2")]], [[tweet(10, ME)]])
        result = run(server, tmp_path)
        first = server.hits(f"/2/users/{ME}/mentions")[0]
    assert result.landed == {"tweets": 5, "retweets": 2}
    assert first.query["start_time"] == "2026-03-01T00:00:00Z"
    assert first.query["end_time"] == "2026-03-01T01:00:00Z"
    assert first.query["expansions"] == "author_id"
    assert first.query["tweet.fields"] == x.TWEET_FIELDS
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert "bearer" not in str(first.query).lower()
    tweets = {t["id"]: t for t in landed(tmp_path, "tweets")}
    assert {i: t["kind"] for i, t in tweets.items()} == {
        "1": "mention",
        "2": "reply",
        "3": "mention",
        "10": "post",
        "510": "quote",
    }
    assert tweets["2"]["referenced_tweet_id"] == "10"
    assert tweets["510"]["referenced_tweet_id"] == "10"
    assert tweets["3"]["author_username"] == "bob"
    assert tweets["1"]["created_at"] == "2026-03-01T00:15:00+00:00"
    retweets = landed(tmp_path, "retweets")
    assert sorted(r["username"] for r in retweets) == ["alice", "bob"]
    assert "name" not in retweets[0]  # display names are not needed: not kept


@pytest.mark.integration
def test_rate_limit_exhausted_waits_for_the_reset_then_continues(tmp_path):
    sleeps: list[float] = []
    reset = str(int(datetime.now(UTC).timestamp()) + 20)
    with Loopback() as server:
        serve(server, [[tweet(1)]], [[]])
        mentions = server.routes[f"/2/users/{ME}/mentions"]
        limited = iter(
            [
                Reply(
                    429,
                    {"title": "Too Many Requests"},
                    {"x-rate-limit-remaining": "0", "x-rate-limit-reset": reset},
                )
            ]
        )
        server.route(f"/2/users/{ME}/mentions", lambda q, h: next(limited, None) or mentions(q, h))
        result = run(server, tmp_path, sleeps)
    assert result.landed["tweets"] == 1
    assert max(sleeps) >= 15  # waited for the window to reset, not a short backoff


@pytest.mark.integration
def test_revoked_bearer_token_fails_fast_without_retry(tmp_path):
    sleeps: list[float] = []
    with Loopback() as server:
        server.route(f"/2/users/{ME}/tweets", Reply(401, {"title": "Unauthorized"}))
        with pytest.raises(TokenExpiredError) as caught:
            run(server, tmp_path, sleeps)
        assert len(server.hits(f"/2/users/{ME}/tweets")) == 1
    assert TOKEN not in str(caught.value)
    assert sleeps == []


@pytest.mark.integration
def test_renamed_author_field_fails_loudly(tmp_path):
    renamed = [{k if k != "author_id" else "user_id": v for k, v in tweet(n).items()} for n in (1, 2)]
    with Loopback() as server:
        serve(server, [renamed], [[]])
        with pytest.raises(SchemaDriftError, match=r"author_id.*user_id"):
            run(server, tmp_path)


@pytest.mark.integration
def test_rerun_and_duplicated_pages_land_each_tweet_once(tmp_path):
    with Loopback() as server:
        serve(server, [[tweet(1), tweet(2)], [tweet(2), tweet(1)]], [[]])
        run(server, tmp_path)
        run(server, tmp_path)
    assert sorted(t["id"] for t in landed(tmp_path, "tweets")) == ["1", "2"]


@pytest.mark.integration
def test_quotes_of_an_older_campaign_post_land_in_the_interval_they_were_written(tmp_path):
    older = tweet(10, ME, created_at="2026-02-27T12:00:00.000Z")
    with Loopback() as server:
        serve(server, [[]], [[older]])
        quotes = [
            tweet(20, "a2", created_at="2026-02-28T12:00:00.000Z"),
            tweet(21, "a2", created_at="2026-03-01T00:30:00.000Z"),
        ]
        server.route("/2/tweets/10/quote_tweets", token_pages([quotes]))
        result = run(server, tmp_path)
        own_query = server.hits(f"/2/users/{ME}/tweets")[0].query
    assert own_query["start_time"] == "2026-02-22T00:00:00Z"  # seven days of look-back
    assert result.landed == {"tweets": 1, "retweets": 0}
    (quote,) = landed(tmp_path, "tweets")
    assert (quote["id"], quote["kind"], quote["referenced_tweet_id"]) == ("21", "quote", "10")
    assert not server.hits("/2/tweets/10/retweeted_by")  # retweets: the interval's posts only
