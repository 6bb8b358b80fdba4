"""The one HTTP client every connector uses: timeouts, bounded retries, rate limits.

Connectors describe endpoints and pagination; this module decides when to wait and when to
give up. Retries cover 429, 5xx, connection errors, timeouts and truncated JSON bodies,
with exponential backoff and jitter; ``Retry-After`` and the platforms' rate-limit headers
(through pluggable hooks) set a floor on the wait. Tokens never reach a log line or an
exception message: errors name the endpoint path only, never its query string.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "socle-ingest/0.1 (+https://github.com/socle)"
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
SECRET_PARAMS = frozenset({"access_token", "token", "key", "api_key", "apikey", "password", "sig", "secret"})
_SECRET_IN_TEXT = re.compile(r"(?i)\b(" + "|".join(sorted(SECRET_PARAMS)) + r")=[^&\s\"']+")


class RedactSecrets(logging.Filter):
    """Masks ``access_token=...`` in records of loggers that print URLs (urllib3 at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _SECRET_IN_TEXT.search(message):
            record.msg, record.args = _SECRET_IN_TEXT.sub(r"\1=***", message), ()
        return True


def _install_redaction() -> None:
    for name in ("urllib3.connectionpool", "requests"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())


_install_redaction()

# A hook inspects every response and returns how long to pause before the next request
# (0 when the platform has room). ``now`` is the injectable clock, in epoch seconds.
RateLimitHook = Callable[[requests.Response, float], float]
# A classifier may look at an error response body: return "retry", "fatal", or None to
# fall back on the status code. It may also raise its own SourceError subclass.
ErrorClassifier = Callable[[requests.Response], str | None]


class SourceError(RuntimeError):
    """A source could not be read; the message names the endpoint path, never a token."""

    def __init__(self, message: str, *, endpoint: str = "", status: int | None = None, attempts: int = 0):
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status
        self.attempts = attempts


class TokenExpiredError(SourceError):
    """The access token is expired or revoked: retrying cannot help, a human must renew it."""


def redact_url(url: str) -> str:
    """The URL with secret query parameters masked, safe for a log line."""
    parts = urlsplit(url)
    query = [(k, "***" if k.lower() in SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, True)]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query, safe="*:,{}"), ""))


def endpoint_of(url: str) -> str:
    """The path of a URL without its query string: what errors are allowed to name."""
    return urlsplit(url).path or "/"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now)


def facebook_usage_hook(threshold: float = 75.0, slowdown: float = 2.0) -> RateLimitHook:
    """Slow down when Graph API usage headers pass ``threshold`` percent.

    ``X-App-Usage`` / ``X-Page-Usage`` carry ``{"call_count", "total_time", "total_cputime"}``
    percentages; ``X-Business-Use-Case-Usage`` maps a business id to a list of such dicts,
    with ``estimated_time_to_regain_access`` in minutes once throttled.
    """

    def hook(response: requests.Response, now: float) -> float:
        peak, regain = 0.0, 0.0
        for header in ("X-App-Usage", "X-Page-Usage", "X-Ad-Account-Usage", "X-Business-Use-Case-Usage"):
            raw = response.headers.get(header)
            if not raw:
                continue
            try:
                payload = json.loads(raw)
            except ValueError:
                continue
            entries = [payload] if isinstance(payload, dict) and "call_count" in payload else []
            if isinstance(payload, dict) and not entries:
                for value in payload.values():
                    items = value if isinstance(value, list) else [value]
                    entries.extend(v for v in items if isinstance(v, dict))
            for entry in entries:
                for name in ("call_count", "total_time", "total_cputime", "acc_id_util_pct"):
                    if isinstance(entry.get(name), (int, float)):
                        peak = max(peak, float(entry[name]))
                minutes = entry.get("estimated_time_to_regain_access")
                if isinstance(minutes, (int, float)):
                    regain = max(regain, float(minutes) * 60)
        if peak >= 100:
            return max(regain, 60.0)
        if peak > threshold:
            # Proportional to how close the app is to its quota: 80% -> 2 s, 95% -> 8 s.
            return slowdown * (peak - threshold) / 5
        return regain

    return hook


def x_rate_limit_hook(response: requests.Response, now: float) -> float:
    """Wait for the window reset when X says no request is left in it."""
    remaining = response.headers.get("x-rate-limit-remaining")
    reset = response.headers.get("x-rate-limit-reset")
    if remaining is None or reset is None:
        return 0.0
    try:
        if int(remaining) > 0:
            return 0.0
        return max(0.0, float(reset) - now + 1)
    except ValueError:
        return 0.0


class HttpClient:
    """A ``requests.Session`` with the retry policy; one per connector run.

    ``get_json`` returns the decoded body; ``get`` the response (2xx or 304). Both raise
    ``SourceError`` once ``max_attempts`` are spent, naming the path, status and attempts.
    """

    def __init__(
        self,
        base_url: str = "",
        *,
        timeout: tuple[float, float] = (5, 30),
        max_attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 60,
        max_wait: float = 900,
        user_agent: str = DEFAULT_USER_AGENT,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        rate_limit_hooks: Sequence[RateLimitHook] = (),
        classify_error: ErrorClassifier | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_wait = max_wait
        self.default_params = dict(params or {})
        self.rate_limit_hooks = tuple(rate_limit_hooks)
        self.classify_error = classify_error
        self.sleep = sleep
        self.clock = clock
        self.jitter = jitter
        self.session = requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self.session.headers["Accept"] = "application/json"
        self.session.headers.update(headers or {})
        self.requests_sent = 0
        self.slept = 0.0
        self._pause = 0.0

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    def url(self, path_or_url: str) -> str:
        """An absolute URL: absolute ones are kept, paths are joined to the base URL."""
        if "://" in path_or_url:
            return path_or_url
        return urljoin(self.base_url + "/", path_or_url.lstrip("/"))

    def rebase(self, next_url: str) -> str:
        """A pagination link moved onto our base URL, so a token is never sent elsewhere."""
        parts = urlsplit(next_url)
        base = urlsplit(self.base_url)
        if not base.netloc or (parts.scheme, parts.netloc) == (base.scheme, base.netloc):
            return next_url
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))

    def _wait(self, seconds: float, endpoint: str, status: int | None, attempt: int) -> None:
        # Our own backoff is capped by max_backoff; a wait the server asks for is honoured up
        # to max_wait (an X window is 15 minutes), beyond which the task should retry later.
        if seconds > self.max_wait:
            raise SourceError(
                f"GET {endpoint}: rate limited, the server asks to wait {seconds:.0f}s (more than "
                f"the {self.max_wait:.0f}s allowed); the task should be retried later",
                endpoint=endpoint,
                status=status,
                attempts=attempt,
            )
        if seconds > 0:
            self.slept += seconds
            self.sleep(seconds)

    def _backoff(self, attempt: int) -> float:
        # Exponential with "equal jitter": never less than half the step, never in lockstep.
        step = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return step / 2 + step / 2 * self.jitter()

    def _hooks(self, response: requests.Response) -> float:
        now = self.clock()
        return max((hook(response, now) for hook in self.rate_limit_hooks), default=0.0)

    def get(
        self,
        path_or_url: str,
        params: Mapping[str, Any] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """The response (2xx or 304) after retries; ``SourceError`` when attempts run out."""
        return self._send(path_or_url, params, headers=headers, stream=stream, decode_json=False)[0]

    def get_json(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> Any:
        """The decoded JSON body; a malformed body is retried like a 5xx."""
        return self._send(path_or_url, params, headers=None, stream=False, decode_json=True)[1]

    def _send(
        self,
        path_or_url: str,
        params: Mapping[str, Any] | None,
        *,
        headers: Mapping[str, str] | None,
        stream: bool,
        decode_json: bool,
    ) -> tuple[requests.Response, Any]:
        url = self.url(path_or_url)
        endpoint = endpoint_of(url)
        query = {**self.default_params, **(params or {})}
        if "?" in url:
            # A next link carries its own query (with the token, for Graph): add only what is new.
            existing = {k for k, _ in parse_qsl(urlsplit(url).query, True)}
            query = {k: v for k, v in query.items() if k not in existing}
        last_status: int | None = None
        last_problem = ""
        for attempt in range(1, self.max_attempts + 1):
            if self._pause:
                pause, self._pause = self._pause, 0.0
                self._wait(pause, endpoint, last_status, attempt - 1)
            self.requests_sent += 1
            try:
                response = self.session.get(
                    url, params=query or None, headers=headers, timeout=self.timeout, stream=stream
                )
            except (requests.ConnectionError, requests.Timeout) as error:
                # The exception text holds the full URL (and so the token): keep only its kind.
                last_status, last_problem = None, type(error).__name__
                log.warning(
                    "GET %s failed (%s), attempt %d/%d", endpoint, last_problem, attempt, self.max_attempts
                )
                if attempt < self.max_attempts:
                    self._wait(self._backoff(attempt), endpoint, None, attempt)
                continue
            self._pause = self._hooks(response)
            last_status = response.status_code
            if response.status_code < 400:
                if not decode_json or response.status_code == 304:
                    return response, None
                try:
                    return response, response.json()
                except ValueError:
                    verdict, last_problem = "retry", "malformed JSON body"
            else:
                verdict = self.classify_error(response) if self.classify_error else None
                if verdict is None:
                    verdict = "retry" if response.status_code in RETRY_STATUSES else "fatal"
                last_problem = f"HTTP {response.status_code}"
            response.close()
            if verdict == "fatal":
                hint = "; check the connection's token" if response.status_code in (401, 403) else ""
                raise SourceError(
                    f"GET {endpoint} failed with HTTP {response.status_code} (not retryable){hint}",
                    endpoint=endpoint,
                    status=response.status_code,
                    attempts=attempt,
                )
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self.clock())
            wait = max(self._backoff(attempt), retry_after or 0.0, self._pause)
            self._pause = 0.0
            if wait > self.max_wait:  # fail now rather than after pointless attempts
                self._wait(wait, endpoint, last_status, attempt)
            log.warning(
                "GET %s: %s, attempt %d/%d, retrying in %.1fs",
                endpoint,
                last_problem,
                attempt,
                self.max_attempts,
                wait,
            )
            if attempt < self.max_attempts:
                self._wait(wait, endpoint, last_status, attempt)
        raise SourceError(
            f"GET {endpoint} failed after {self.max_attempts} attempts ({last_problem})",
            endpoint=endpoint,
            status=last_status,
            attempts=self.max_attempts,
        )


def make_session(
    base_url: str = "",
    *,
    timeout: tuple[float, float] = (5, 30),
    max_attempts: int = 5,
    backoff: float = 0.5,
    max_backoff: float = 60,
    max_wait: float = 900,
    user_agent: str = DEFAULT_USER_AGENT,
    **options: Any,
) -> HttpClient:
    """The session factory named in the design: an ``HttpClient`` with Socle's defaults."""
    return HttpClient(
        base_url,
        timeout=timeout,
        max_attempts=max_attempts,
        backoff=backoff,
        max_backoff=max_backoff,
        max_wait=max_wait,
        user_agent=user_agent,
        **options,
    )
