"""Facebook connector against a loopback Graph API: pages, errors, drift, reruns."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from fixtures.sources.loopback import Loopback, Reply, pages

from socle.http import SourceError, TokenExpiredError
from socle.orchestration import ConnectionSettings
from socle.sources import facebook
from socle.sources.common import RejectRatioError, SchemaDriftError, clean

TOKEN = "page-token-SECRET"
START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 3, 2, tzinfo=UTC)
FEED = "/v21.0/42/feed"


def settings(server: Loopback) -> ConnectionSettings:
    return ConnectionSettings("socle_facebook", server.url, TOKEN, {"page_id": "42", "api_version": "v21.0"})


def fast_client(server: Loopback, sleeps: list[float] | None = None):
    sleeps = [] if sleeps is None else sleeps
    return facebook.client_for(settings(server), sleep=sleeps.append, timeout=(1, 2), max_attempts=3)


def run(server: Loopback, root: Path, sleeps: list[float] | None = None):
    return facebook.ingest(
        settings(server), START, END, landing_root=root, client=fast_client(server, sleeps)
    )


def graph_next(server: Loopback, path: str):
    # Real Graph next links are absolute and carry the token and the original query.
    return lambda n: {
        "paging": {
            "cursors": {"after": str(n)},
            "next": f"{server.url}{path}?cursor={n}&access_token={TOKEN}",
        }
    }


def post(n: int, **extra) -> dict:
    return {
        "id": f"42_{n}",
        "message": f"post {n}",
        "created_time": f"2026-03-01T{n:02d}:00:00+0000",
        "permalink_url": f"https://fb.example/42_{n}",
        **extra,
    }


def comment(post_n: int, n: int, **extra) -> dict:
    return {
        "id": f"c{post_n}_{n}",
        "from": {"id": f"u{n}", "name": f"Person {n}"},
        "message": "bravo",
        "created_time": f"2026-03-01T{post_n:02d}:30:00+0000",
        **extra,
    }


def serve_graph(server: Loopback, posts: list[dict], comments: dict[str, list[dict]], size: int = 2) -> None:
    server.route(FEED, pages(posts, size, graph_next(server, FEED)))
    for p in posts:
        path = f"/v21.0/{p['id']}/comments"
        server.route(path, pages(comments.get(p["id"], []), size, graph_next(server, path)))
        reactions = [{"id": f"u{i}", "name": f"Person {i}", "type": "LIKE"} for i in range(3)]
        rpath = f"/v21.0/{p['id']}/reactions"
        server.route(rpath, pages(reactions, size, graph_next(server, rpath)))


def landed(root: Path, entity: str) -> list[dict]:
    files = sorted((root / "facebook" / entity).glob("dt=*/*.parquet"))
    if not files:
        return []
    rel = duckdb.sql(
        f"select * from read_parquet({[str(f) for f in files]}, union_by_name=true) order by all"
    )
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


def rejected(root: Path, entity: str) -> list[dict]:
    files = sorted((root / "_rejected" / "facebook" / entity).glob("dt=*/*.parquet"))
    if not files:
        return []
    rel = duckdb.sql(f"select _reason, _fields from read_parquet({[str(f) for f in files]})")
    return [dict(zip(rel.columns, row, strict=True)) for row in rel.fetchall()]


@pytest.mark.integration
def test_follows_every_page_of_posts_comments_and_reactions(tmp_path):
    posts = [post(n) for n in range(1, 6)]
    comments = {"42_1": [comment(1, n) for n in range(5)], "42_2": []}
    with Loopback() as server:
        serve_graph(server, posts, comments)
        result = facebook.ingest(
            settings(server), START, END, landing_root=tmp_path, client=fast_client(server)
        )
        feed_hits = server.hits(FEED)
    assert result.landed == {"posts": 5, "comments": 5, "reactions": 15}
    assert result.rejected == {"posts": 0, "comments": 0, "reactions": 0}
    assert len(feed_hits) == 3
    first = feed_hits[0].query
    assert first["since"] == str(int(START.timestamp()) - 7 * 86400)  # comment look-back
    assert first["until"] == str(int(END.timestamp()))
    assert first["fields"] == "id,message,created_time,permalink_url"
    assert first["access_token"] == TOKEN
    rows = landed(tmp_path, "comments")
    assert {r["post_id"] for r in rows} == {"42_1"}
    assert rows[0]["from_id"].startswith("u")
    assert rows[0]["created_time"] == "2026-03-01T01:30:00+00:00"
    assert "parent_id" in rows[0]  # contract column present even when never sent
    reactions = landed(tmp_path, "reactions")
    assert {r["post_created_time"] for r in reactions if r["post_id"] == "42_3"} == {
        "2026-03-01T03:00:00+00:00"
    }


@pytest.mark.integration
def test_rerun_of_the_same_interval_replaces_its_files_without_duplicates(tmp_path):
    posts = [post(n) for n in range(1, 4)]
    with Loopback() as server:
        serve_graph(server, posts, {"42_1": [comment(1, 0)]})
        run(server, tmp_path)
        files_before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.parquet"))
        run(server, tmp_path)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.parquet")) == files_before
    assert len(landed(tmp_path, "posts")) == 3
    assert len(landed(tmp_path, "reactions")) == 9


@pytest.mark.integration
def test_duplicated_page_lands_each_post_once(tmp_path):
    posts = [post(1), post(2)]
    page_one = {"data": posts, "paging": {"next": None}}
    with Loopback() as server:
        page_one["paging"]["next"] = f"{server.url}{FEED}?cursor=1"
        server.route(FEED, [Reply(200, page_one), Reply(200, {"data": posts})])  # page 2 repeats page 1
        for p in posts:
            server.route(f"/v21.0/{p['id']}/comments", Reply(200, {"data": []}))
            server.route(f"/v21.0/{p['id']}/reactions", Reply(200, {"data": []}))
        result = facebook.ingest(
            settings(server), START, END, landing_root=tmp_path, client=fast_client(server)
        )
    assert result.landed["posts"] == 2
    assert len(landed(tmp_path, "posts")) == 2


@pytest.mark.integration
def test_a_next_link_served_twice_fails_instead_of_looping(tmp_path):
    with Loopback() as server:
        loop = {"data": [post(1)], "paging": {"next": f"{server.url}{FEED}?cursor=1"}}
        server.route(FEED, Reply(200, loop))
        with pytest.raises(SourceError, match="pagination loop"):
            run(server, tmp_path)


@pytest.mark.integration
def test_empty_interval_lands_nothing_and_removes_an_earlier_file(tmp_path):
    with Loopback() as server:
        serve_graph(server, [post(1)], {})
        run(server, tmp_path)
        assert len(landed(tmp_path, "posts")) == 1
        server.route(FEED, Reply(200, {"data": [], "paging": {}}))
        result = facebook.ingest(
            settings(server), START, END, landing_root=tmp_path, client=fast_client(server)
        )
    assert result.landed["posts"] == 0
    assert landed(tmp_path, "posts") == []


@pytest.mark.integration
def test_graph_rate_limit_error_is_retried_after_retry_after(tmp_path):
    sleeps: list[float] = []
    throttled = Reply(403, {"error": {"message": "(#4) Application request limit reached", "code": 4}})
    throttled.headers["Retry-After"] = "5"
    with Loopback() as server:
        serve_graph(server, [post(1)], {})
        ok = server.routes[FEED]
        calls = iter([throttled])
        server.route(FEED, lambda q, h: next(calls, None) or ok(q, h))
        result = run(server, tmp_path, sleeps)
    assert result.landed["posts"] == 1
    assert 5.0 in sleeps


@pytest.mark.integration
def test_expired_token_fails_fast_with_a_clear_message_and_no_token(tmp_path):
    sleeps: list[float] = []
    expired = {"error": {"message": "Error validating access token", "type": "OAuthException", "code": 190}}
    with Loopback() as server:
        server.route(FEED, Reply(400, expired))
        with pytest.raises(TokenExpiredError) as caught:
            run(server, tmp_path, sleeps)
        assert len(server.hits(FEED)) == 1
    assert "expired" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert sleeps == []


@pytest.mark.integration
def test_new_field_is_kept_as_an_extra_column(tmp_path):
    with Loopback() as server:
        posts = [post(1, status_type="added_photos"), post(2, status_type="mobile_status_update")]
        serve_graph(server, posts, {})
        run(server, tmp_path)
    assert {r["status_type"] for r in landed(tmp_path, "posts")} == {"added_photos", "mobile_status_update"}


@pytest.mark.integration
def test_comment_missing_its_author_is_quarantined_with_reason(tmp_path):
    comments = [comment(1, n) for n in range(30)]
    del comments[7]["from"]
    with Loopback() as server:
        serve_graph(server, [post(1)], {"42_1": comments}, size=10)
        result = facebook.ingest(
            settings(server), START, END, landing_root=tmp_path, client=fast_client(server)
        )
    assert result.landed["comments"] == 29
    assert result.rejected["comments"] == 1
    assert rejected(tmp_path, "comments") == [{"_reason": "missing required field", "_fields": "from_id"}]


@pytest.mark.integration
def test_too_many_rejections_fail_the_run_with_counts_only(tmp_path):
    comments = [comment(1, n) for n in range(10)]
    for c in comments[:3]:
        c["created_time"] = "yesterday"
    with Loopback() as server:
        serve_graph(server, [post(1)], {"42_1": comments}, size=10)
        with pytest.raises(RejectRatioError) as caught:
            run(server, tmp_path)
    assert "3 of 10" in str(caught.value)
    assert "Person" not in str(caught.value)
    assert len(rejected(tmp_path, "comments")) == 3
    assert landed(tmp_path, "comments") == []  # nothing half-trusted is landed


@pytest.mark.integration
def test_renamed_required_field_fails_loudly_naming_both_fields(tmp_path):
    renamed = [{**post(n), "created_at": post(n)["created_time"]} for n in (1, 2)]
    for p in renamed:
        del p["created_time"]
    with Loopback() as server:
        serve_graph(server, renamed, {})
        with pytest.raises(SchemaDriftError) as caught:
            run(server, tmp_path)
    assert "created_time" in str(caught.value)
    assert "created_at" in str(caught.value)
    assert landed(tmp_path, "posts") == []


def test_restfb_feed_fixture_posts_flatten_to_the_contract():
    # A real Graph feed response (restfb test resources): every post has id and created_time.
    feed = json.loads(Path("/work/shared/data/restfb_graph/feed-got.json").read_text())
    cleaned = clean(facebook.POSTS, feed["data"])
    assert cleaned.rejections == []
    assert all(r["created_time"].endswith("+00:00") for r in cleaned.records)


@pytest.mark.integration
def test_new_comments_on_an_older_post_land_in_the_interval_they_were_written(tmp_path):
    older = {**post(1), "created_time": "2026-02-27T09:00:00+0000"}
    comments = [
        {**comment(1, 1), "created_time": "2026-02-28T10:00:00+0000"},  # an earlier interval's
        {**comment(1, 2), "created_time": "2026-03-01T10:00:00+0000"},
        {**comment(1, 3), "created_time": "2026-03-02T00:00:00+0000"},  # the next interval's
    ]
    with Loopback() as server:
        serve_graph(server, [older, post(5)], {older["id"]: comments})
        result = run(server, tmp_path)
        since = server.hits(FEED)[0].query["since"]
    assert int(since) == int(START.timestamp()) - 7 * 86400
    assert result.landed == {"posts": 1, "comments": 1, "reactions": 3}
    assert [c["id"] for c in landed(tmp_path, "comments")] == ["c1_2"]
    assert {r["post_id"] for r in landed(tmp_path, "reactions")} == {"42_5"}
