"""The HTTP client against a real loopback server: retries, waits, limits, redaction."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
import requests
from fixtures.sources.loopback import Loopback, Reply

from socle.http import (
    SourceError,
    facebook_usage_hook,
    make_session,
    parse_retry_after,
    redact_url,
    x_rate_limit_hook,
)

TOKEN = "tok-SECRET-123"
NOW = 1_800_000_000.0


def client(server: Loopback, sleeps: list[float], **options):
    defaults = {
        "timeout": (1, 0.3),
        "max_attempts": 3,
        "backoff": 0.5,
        "sleep": sleeps.append,
        "clock": lambda: NOW,
        "jitter": lambda: 1.0,
        "params": {"access_token": TOKEN},
    }
    return make_session(server.url, **{**defaults, **options})


def test_429_waits_for_retry_after_seconds_then_succeeds():
    sleeps: list[float] = []
    with Loopback() as server:
        server.route("/a", [Reply(429, {}, {"Retry-After": "7"}), Reply(200, {"ok": 1})])
        assert client(server, sleeps).get_json("/a") == {"ok": 1}
    assert sleeps == [7.0]
    assert len(server.hits("/a")) == 2


def test_retry_after_as_http_date_is_converted_to_seconds():
    when = format_datetime(datetime.fromtimestamp(NOW + 12, UTC), usegmt=True)
    assert parse_retry_after(when, NOW) == pytest.approx(12)
    assert parse_retry_after("not a date", NOW) is None


def test_5xx_then_success_backs_off_exponentially():
    sleeps: list[float] = []
    with Loopback() as server:
        server.route("/a", [Reply(503, {}), Reply(502, {}), Reply(200, {"ok": 1})])
        assert client(server, sleeps).get_json("/a") == {"ok": 1}
    assert sleeps == [0.5, 1.0]


def test_backoff_is_capped_but_a_server_requested_wait_is_honoured():
    sleeps: list[float] = []
    with Loopback() as server:
        server.route(
            "/a", [Reply(503, {}), Reply(503, {}), Reply(429, {}, {"Retry-After": "120"}), Reply(200, {})]
        )
        client(server, sleeps, max_attempts=4, backoff=50, max_backoff=60).get_json("/a")
    assert sleeps == [50, 60, 120]


def test_a_wait_longer_than_max_wait_fails_at_once_instead_of_hammering():
    sleeps: list[float] = []
    with Loopback() as server:
        server.route("/a", Reply(429, {}, {"Retry-After": "3600"}))
        with pytest.raises(SourceError, match="asks to wait 3600s") as caught:
            client(server, sleeps, max_wait=900).get_json("/a")
        assert len(server.hits("/a")) == 1
    assert sleeps == []
    assert caught.value.status == 429


def test_persistent_5xx_fails_with_path_status_and_attempts_but_no_token():
    sleeps: list[float] = []
    with Loopback() as server:
        server.route("/v1/page/feed", Reply(500, {}))
        with pytest.raises(SourceError) as caught:
            client(server, sleeps).get_json("/v1/page/feed", {"since": "1"})
    error = caught.value
    assert error.endpoint == "/v1/page/feed"
    assert (error.status, error.attempts) == (500, 3)
    assert "/v1/page/feed" in str(error)
    assert "3 attempts" in str(error)
    assert TOKEN not in str(error)
    assert len(sleeps) == 2  # no pointless wait after the last attempt


@pytest.mark.integration
def test_timeout_is_retried_and_reported_without_the_url_query(caplog):
    sleeps: list[float] = []
    caplog.set_level(logging.DEBUG)
    with Loopback() as server:
        server.route("/slow", [Reply(200, {}, delay=1.0), Reply(200, {"ok": 1})])
        assert client(server, sleeps).get_json("/slow") == {"ok": 1}
        server.route("/slower", Reply(200, {}, delay=1.0))
        with pytest.raises(SourceError) as caught:
            client(server, sleeps, max_attempts=2).get_json("/slower")
    assert "ReadTimeout" in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
    assert TOKEN not in caplog.text
    assert TOKEN not in str(caught.value)


def test_connection_refused_is_a_source_error_after_bounded_attempts():
    sleeps: list[float] = []
    with Loopback() as server:
        url = server.url
    session = make_session(url, max_attempts=2, sleep=sleeps.append, params={"access_token": TOKEN})
    with pytest.raises(SourceError) as caught:
        session.get_json("/gone")
    assert caught.value.attempts == 2
    assert "ConnectionError" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_malformed_json_is_retried_then_reported():
    sleeps: list[float] = []
    with Loopback() as server:
        server.route("/a", [Reply(200, '{"data": [tr'), Reply(200, {"data": []})])
        assert client(server, sleeps).get_json("/a") == {"data": []}
        server.route("/b", Reply(200, "<html>oops</html>"))
        with pytest.raises(SourceError, match="malformed JSON"):
            client(server, sleeps).get_json("/b")


def test_client_errors_other_than_429_are_not_retried():
    sleeps: list[float] = []
    with Loopback() as server:
        server.route("/a", Reply(404, {}))
        with pytest.raises(SourceError, match="not retryable") as caught:
            client(server, sleeps).get_json("/a")
    assert caught.value.attempts == 1
    assert len(server.hits("/a")) == 1
    assert sleeps == []


def test_facebook_usage_above_75_percent_slows_the_next_request():
    sleeps: list[float] = []
    usage = '{"call_count": 90, "total_time": 10, "total_cputime": 5}'
    with Loopback() as server:
        server.route("/a", Reply(200, {"ok": 1}, {"X-App-Usage": usage}))
        session = client(server, sleeps, rate_limit_hooks=[facebook_usage_hook()])
        session.get_json("/a")
        assert sleeps == []
        session.get_json("/a")
    assert sleeps == [pytest.approx(6.0)]


def test_facebook_business_usage_throttled_waits_for_regain_time():
    response = requests.Response()
    response.headers["X-Business-Use-Case-Usage"] = (
        '{"123": [{"type": "pages", "call_count": 100, "estimated_time_to_regain_access": 3}]}'
    )
    assert facebook_usage_hook()(response, NOW) == 180
    response.headers["X-Business-Use-Case-Usage"] = '{"123": [{"type": "pages", "call_count": 10}]}'
    assert facebook_usage_hook()(response, NOW) == 0


def test_x_remaining_zero_waits_until_the_window_resets():
    sleeps: list[float] = []
    headers = {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(NOW + 30))}
    with Loopback() as server:
        server.route("/a", Reply(200, {"ok": 1}, headers))
        session = client(server, sleeps, rate_limit_hooks=[x_rate_limit_hook])
        session.get_json("/a")
        session.get_json("/a")
    assert sleeps == [31]


def test_x_429_without_retry_after_waits_for_reset():
    sleeps: list[float] = []
    headers = {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(NOW + 10))}
    with Loopback() as server:
        server.route("/a", [Reply(429, {}, headers), Reply(200, {"ok": 1})])
        client(server, sleeps, rate_limit_hooks=[x_rate_limit_hook]).get_json("/a")
    assert sleeps == [11]


def test_redact_url_masks_tokens_in_logged_urls():
    url = f"https://graph.example/v21.0/1/feed?after=abc&access_token={TOKEN}"
    redacted = redact_url(url)
    assert TOKEN not in redacted
    assert "access_token=***" in redacted
    assert "after=abc" in redacted


def test_pagination_link_to_another_host_is_rebased_onto_the_configured_one():
    session = make_session("http://127.0.0.1:9")
    assert session.rebase("https://elsewhere.example/v1/x?after=2") == "http://127.0.0.1:9/v1/x?after=2"
