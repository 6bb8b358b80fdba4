"""The sandbox server over real loopback HTTP: paging, time filters, 304s, faults, tokens, connections."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import requests

from socle.orchestration import ConnectionSettings, connection_settings
from socle.sandbox.generator import generate
from socle.sandbox.server import SandboxServer
from socle.sources import events, facebook, opendata, x

TODAY = date(2026, 11, 29)
NOW = datetime(2026, 11, 29, tzinfo=UTC)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("sandbox")
    generate(home, people=400, seed=5, today=TODAY)
    return home


@pytest.fixture(scope="module")
def server(home) -> Iterator[SandboxServer]:
    with SandboxServer(home, host="127.0.0.1", port=0) as srv:
        yield srv


@pytest.fixture(autouse=True)
def no_faults(server) -> Iterator[None]:
    yield
    requests.delete(f"{server.base_url}/_sandbox/faults", timeout=5)


@pytest.fixture(scope="module")
def config(home) -> dict:
    return json.loads((home / "sandbox" / "config.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def truth(home) -> dict:
    return json.loads((home / "sandbox" / "truth.json").read_text(encoding="utf-8"))


def _graph(server: SandboxServer, config: dict, path: str, **params) -> requests.Response:
    params.setdefault("access_token", config["facebook"]["token"])
    return requests.get(f"{server.base_url}/v21.0/{path}", params=params, timeout=5)


def _x(
    server: SandboxServer, config: dict, path: str, token: str | None = None, **params
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or config['x']['token']}"}
    return requests.get(f"{server.base_url}/2/{path}", params=params, headers=headers, timeout=5)


def _follow_graph(first: requests.Response) -> list[dict]:
    items, page, urls = [], first.json(), set()
    while True:
        items += page["data"]
        following = page.get("paging", {}).get("next")
        if not following:
            return items
        assert following not in urls
        urls.add(following)
        page = requests.get(following, timeout=5).json()


def test_facebook_feed_pages_to_the_end_through_absolute_next_links(server, config, truth):
    page_id = config["facebook"]["page_id"]
    first = _graph(server, config, f"{page_id}/feed", limit=7, fields="id,message,created_time,permalink_url")
    assert first.status_code == 200
    assert first.json()["paging"]["next"].startswith(server.base_url + f"/v21.0/{page_id}/feed?")
    posts = _follow_graph(first)
    assert len(posts) == len({p["id"] for p in posts}) == truth["expected"]["facebook/posts"]["landed"]
    times = [p["created_time"] for p in posts]
    assert times == sorted(times, reverse=True)  # Graph: newest first
    assert set(posts[0]) == {"id", "message", "created_time", "permalink_url"}


def test_facebook_comments_and_reactions_page_with_only_the_fields_asked(server, config, truth):
    page_id = config["facebook"]["page_id"]
    posts = _follow_graph(_graph(server, config, f"{page_id}/feed", limit=100))
    comments = reactions = 0
    for index, post in enumerate(posts):
        limit = 3 if index < 5 else 100  # small pages on a few posts, the rest in one page each
        got = _follow_graph(
            _graph(server, config, f"{post['id']}/comments", limit=limit, fields="id,from{id,name}")
        )
        assert all(set(c) == {"id", "from"} for c in got)
        comments += len(got)
        reactions += len(_follow_graph(_graph(server, config, f"{post['id']}/reactions", limit=limit)))
    assert comments == truth["expected"]["facebook/comments"]["landed"]
    assert reactions == truth["expected"]["facebook/reactions"]["landed"]


def test_facebook_since_until_select_posts_created_in_the_window(server, config):
    page_id = config["facebook"]["page_id"]
    everything = _follow_graph(_graph(server, config, f"{page_id}/feed", limit=100))
    since, until = NOW - timedelta(days=20), NOW - timedelta(days=10)
    window = _follow_graph(
        _graph(
            server,
            config,
            f"{page_id}/feed",
            limit=5,
            since=int(since.timestamp()),
            until=int(until.timestamp()),
        )
    )
    expected = [p for p in everything if since <= datetime.fromisoformat(p["created_time"]) < until]
    assert 0 < len(window) < len(everything)
    assert [p["id"] for p in window] == [p["id"] for p in expected]


def test_facebook_wrong_token_and_unknown_object_answer_graph_errors(server, config):
    page_id = config["facebook"]["page_id"]
    wrong = _graph(server, config, f"{page_id}/feed", access_token="not-the-token")
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == 190
    assert wrong.json()["error"]["type"] == "OAuthException"
    unknown = _graph(server, config, "999_1/comments")
    assert unknown.json()["error"]["code"] == 100


def test_x_mentions_page_with_next_token_inside_the_time_window(server, config, truth):
    user = config["x"]["user_id"]
    start, end = "2026-11-01T00:00:00Z", "2026-11-15T00:00:00Z"
    params = {"start_time": start, "end_time": end, "max_results": 10, "tweet.fields": "created_at,author_id"}
    params["expansions"] = "author_id"
    seen, token, pages = [], None, 0
    while True:
        answer = _x(
            server,
            config,
            f"users/{user}/mentions",
            **params,
            **({"pagination_token": token} if token else {}),
        )
        assert answer.status_code == 200
        body = answer.json()
        pages += 1
        seen += body.get("data", [])
        authors = {u["id"] for u in body.get("includes", {}).get("users", [])}
        assert {t["author_id"] for t in body.get("data", [])} <= authors
        token = body["meta"].get("next_token")
        if not token:
            break
    assert pages > 1
    assert all(start <= t["created_at"] < end for t in seen)
    everything = json.loads((server.home / "sandbox" / "api" / "x.json").read_text(encoding="utf-8"))[
        "mentions"
    ]
    assert len(seen) == sum(start <= t["created_at"] < end for t in everything)


def test_x_sends_rate_limit_headers_that_count_down(server, config):
    user = config["x"]["user_id"]
    first = _x(server, config, f"users/{user}/tweets", max_results=5)
    second = _x(server, config, f"users/{user}/tweets", max_results=5)
    assert int(first.headers["x-rate-limit-limit"]) == 450
    assert int(second.headers["x-rate-limit-remaining"]) == int(first.headers["x-rate-limit-remaining"]) - 1
    assert int(first.headers["x-rate-limit-reset"]) > time.time()


def test_x_wrong_token_is_401(server, config):
    answer = _x(server, config, f"users/{config['x']['user_id']}/mentions", token="wrong")
    assert answer.status_code == 401
    assert answer.json()["status"] == 401


def test_events_follow_links_next_and_filter_on_updated_since(server, config, truth):
    headers = {"Authorization": f"Bearer {config['events']['token']}"}
    url, params, rsvps = f"{server.base_url}/api/v1/rsvps", {"page[size]": 50}, []
    while url:
        body = requests.get(url, params=params, headers=headers, timeout=5).json()
        rsvps += body["data"]
        url, params = body["links"].get("next"), None
    assert len(rsvps) == truth["expected"]["events/rsvps"]["landed"]
    assert rsvps[0]["relationships"]["event"]["data"]["type"] == "events"
    since = (NOW - timedelta(days=7)).isoformat()
    recent = requests.get(
        f"{server.base_url}/api/v1/rsvps",
        params={"updated_since": since, "page[size]": 100},
        headers=headers,
        timeout=5,
    ).json()
    assert 0 < recent["meta"]["total"] < len(rsvps)
    assert all(r["attributes"]["updated_at"] >= since[:10] for r in recent["data"])
    too_big = requests.get(
        f"{server.base_url}/api/v1/events", params={"page[size]": 500}, headers=headers, timeout=5
    )
    assert too_big.status_code == 400
    wrong = requests.get(
        f"{server.base_url}/api/v1/events", headers={"Authorization": "Bearer nope"}, timeout=5
    )
    assert wrong.status_code == 401


def test_opendata_answers_304_to_etag_and_last_modified(server, config):
    name = config["opendata"]["files"]["election_results"]
    url = f"{server.base_url}/opendata/{name}"
    first = requests.get(url, timeout=5)
    assert first.status_code == 200
    assert first.content == (server.home / "sandbox" / "opendata" / name).read_bytes()
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert requests.get(url, headers={"If-None-Match": etag}, timeout=5).status_code == 304
    assert requests.get(url, headers={"If-Modified-Since": modified}, timeout=5).status_code == 304
    assert requests.get(url, headers={"If-None-Match": '"stale"'}, timeout=5).status_code == 200
    assert requests.get(f"{server.base_url}/opendata/..%2Fconfig.json", timeout=5).status_code == 404


def test_planted_429s_then_success_with_retry_after(server, config):
    page_id = config["facebook"]["page_id"]
    fault = {"path_prefix": "/v21.0/", "status": 429, "times": 2, "retry_after": 1}
    assert requests.post(f"{server.base_url}/_sandbox/faults", json=fault, timeout=5).status_code == 201
    answers = [_graph(server, config, f"{page_id}/feed") for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "1"
    assert "error" in answers[0].json()


def test_planted_faults_are_scoped_to_their_path_and_cleared(server, config):
    requests.post(
        f"{server.base_url}/_sandbox/faults",
        json={"path_prefix": "/2/", "status": 500, "times": -1},
        timeout=5,
    )
    page_id = config["facebook"]["page_id"]
    assert _graph(server, config, f"{page_id}/feed").status_code == 200
    assert _x(server, config, f"users/{config['x']['user_id']}/tweets").status_code == 500
    assert _x(server, config, f"users/{config['x']['user_id']}/tweets").status_code == 500
    requests.delete(f"{server.base_url}/_sandbox/faults", timeout=5)
    assert _x(server, config, f"users/{config['x']['user_id']}/tweets").status_code == 200


def test_a_malformed_fault_is_refused(server):
    faults = f"{server.base_url}/_sandbox/faults"
    assert requests.post(faults, json={"stauts": 500}, timeout=5).status_code == 400
    assert requests.post(faults, json={"status": 500, "times": "2"}, timeout=5).status_code == 400
    assert requests.post(faults, data="[]", timeout=5).status_code == 400
    assert requests.get(faults, timeout=5).json() == {"faults": []}


def test_planted_bad_body_delay_and_expired_token(server, config):
    page_id = config["facebook"]["page_id"]
    faults = f"{server.base_url}/_sandbox/faults"
    requests.post(faults, json={"body": "not json", "times": 1}, timeout=5)
    garbled = _graph(server, config, f"{page_id}/feed")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        garbled.json()
    requests.post(faults, json={"graph_error_code": 190}, timeout=5)
    expired = _graph(server, config, f"{page_id}/feed")
    assert expired.json()["error"]["code"] == 190
    requests.post(faults, json={"delay": 1.5, "times": 1}, timeout=5)
    with pytest.raises(requests.Timeout):
        _graph_timeout(server, config, f"{page_id}/feed", timeout=0.3)
    assert _graph(server, config, f"{page_id}/feed").status_code == 200


def _graph_timeout(server, config, path, timeout):
    return requests.get(
        f"{server.base_url}/v21.0/{path}",
        params={"access_token": config["facebook"]["token"]},
        timeout=timeout,
    )


def test_connection_uris_round_trip_through_airflow(server, config, monkeypatch):
    from airflow.models.connection import Connection
    from airflow.sdk import Connection as SdkConnection

    uris = server.connection_uris()
    assert set(uris) == {"socle_facebook", "socle_x", "socle_events", "socle_opendata"}
    for conn_id, uri in uris.items():
        for parsed in (Connection(conn_id=conn_id, uri=uri), SdkConnection.from_uri(uri, conn_id=conn_id)):
            assert (parsed.host, parsed.port) == ("127.0.0.1", server.port)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", uri)
        settings = connection_settings(conn_id)
        assert settings.host == server.base_url
    facebook_settings = connection_settings("socle_facebook")
    assert facebook_settings.password == config["facebook"]["token"]
    assert facebook_settings.extra == {"page_id": config["facebook"]["page_id"], "api_version": "v21.0"}
    assert connection_settings("socle_x").extra == {"user_id": config["x"]["user_id"]}  # ids stay strings
    assert connection_settings("socle_events").password == config["events"]["token"]
    assert connection_settings("socle_opendata").password is None


@pytest.mark.integration
def test_connectors_land_the_whole_campaign_from_the_sandbox(server, truth, tmp_path, monkeypatch):
    monkeypatch.setenv("SOCLE_HOME", str(tmp_path))
    start, end = NOW - timedelta(days=89), NOW + timedelta(days=1)
    landed: dict[str, int] = {}
    for conn_id, module in (("socle_facebook", facebook), ("socle_x", x), ("socle_events", events)):
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", server.connection_uris()[conn_id])
        result = module.ingest(connection_settings(conn_id), start, end, landing_root=tmp_path / "landing")
        landed |= {f"{module.SOURCE}/{entity}": count for entity, count in result.landed.items()}
        assert not any(result.rejected.values())
    monkeypatch.setenv("AIRFLOW_CONN_SOCLE_OPENDATA", server.connection_uris()["socle_opendata"])
    settings = connection_settings("socle_opendata")
    result = opendata.ingest(settings, start, end, landing_root=tmp_path / "landing")
    landed |= {f"opendata/{entity}": count for entity, count in result.landed.items()}
    for entity, count in landed.items():
        assert count == truth["expected"][entity]["landed"], entity
    again = opendata.ingest(
        ConnectionSettings("socle_opendata", settings.host, None, settings.extra),
        start,
        end,
        landing_root=tmp_path / "landing",
    )
    assert again.skipped  # every file answered 304 or was unchanged
