"""The sandbox's HTTP server: the generated campaign in the real services' shapes.

One threaded stdlib server (docs/contracts.md §2) serves:

- Facebook Graph ``/{version}/{page_id}/feed``, ``/{version}/{post_id}/comments|reactions``:
  token in ``access_token``, cursor paging with absolute ``paging.next``, ``since``/``until``,
  Graph error bodies (code 190 for a bad token, 100 for an unknown object);
- X API v2 ``/2/users/{id}/mentions|tweets``, ``/2/tweets/{id}/retweeted_by|quote_tweets``:
  bearer token, ``start_time``/``end_time``, ``meta.next_token``, ``x-rate-limit-*`` headers;
- the event platform ``/api/v1/events|rsvps`` (JSON:API): bearer token, ``updated_since``,
  ``page[size]`` (at most 100), ``links.next``;
- open data ``/opendata/<file>`` with ``ETag``/``Last-Modified`` and 304 answers.

Tests plant faults with ``POST /_sandbox/faults`` (JSON: ``path_prefix``, ``times`` — -1 for
until cleared —, and one of ``status`` [+ ``retry_after``], ``delay``, ``body``,
``graph_error_code``; ``headers`` adds to those answers) and clear them with ``DELETE /_sandbox/faults``.
Nothing is logged: URLs carry tokens.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

X_RATE_LIMIT = 450  # requests per endpoint per 15-minute window, as X's app-auth limits
X_WINDOW_SECONDS = 15 * 60
EVENTS_MAX_PAGE = 100


def _parse_time(raw: str) -> datetime:
    """ISO 8601 (``Z``, ``+0000`` or ``+01:00``) or unix seconds, as the APIs accept."""
    text = raw.strip()
    if text.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    padded = cursor + "=" * (-len(cursor) % 4)
    value = json.loads(base64.urlsafe_b64decode(padded.encode()))["o"]
    if not isinstance(value, int) or value < 0:
        raise ValueError("bad cursor")
    return value


class ApiError(Exception):
    """An error answer in the shape of the service that raises it."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def graph_error(code: int, message: str, status: int = 400, subcode: int | None = None) -> ApiError:
    kind = "OAuthException" if code in (190, 102) else "GraphMethodException"
    error = {"message": message, "type": kind, "code": code, "fbtrace_id": "AsandboxTRACE"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return ApiError(status, {"error": error})


def x_error(status: int, title: str, detail: str) -> ApiError:
    return ApiError(status, {"title": title, "detail": detail, "type": "about:blank", "status": status})


def jsonapi_error(status: int, title: str) -> ApiError:
    return ApiError(status, {"errors": [{"status": str(status), "title": title}]})


class _Payloads:
    """The generated payloads, indexed for the endpoints (read once, never modified)."""

    def __init__(self, home: Path) -> None:
        sandbox = Path(home) / "sandbox"
        config_file = sandbox / "config.json"
        if not config_file.exists():
            raise FileNotFoundError(
                f"No generated campaign in {sandbox}: run `socle sandbox --generate-only` "
                "(or socle.sandbox.generator.generate) first."
            )
        self.config = json.loads(config_file.read_text(encoding="utf-8"))
        api = sandbox / "api"
        facebook = json.loads((api / "facebook.json").read_text(encoding="utf-8"))
        x = json.loads((api / "x.json").read_text(encoding="utf-8"))
        events = json.loads((api / "events.json").read_text(encoding="utf-8"))
        self.opendata_dir = sandbox / "opendata"
        # Graph lists posts newest first; comments oldest first.
        self.posts = sorted(facebook["posts"], key=lambda p: p["created_time"], reverse=True)
        self.post_ids = {p["id"] for p in self.posts}
        self.comments: dict[str, list[dict[str, Any]]] = facebook["comments"]
        self.reactions: dict[str, list[dict[str, Any]]] = facebook["reactions"]
        self.users: dict[str, dict[str, str]] = x["users"]
        self.own_tweets = sorted(x["tweets"], key=lambda t: t["created_at"], reverse=True)
        self.mentions = sorted(x["mentions"], key=lambda t: t["created_at"], reverse=True)
        self.quotes: dict[str, list[dict[str, Any]]] = x["quotes"]
        self.retweeted_by: dict[str, list[str]] = x["retweeted_by"]
        self.events = sorted(events["events"], key=lambda e: (e["attributes"]["updated_at"], e["id"]))
        self.rsvps = sorted(events["rsvps"], key=lambda e: (e["attributes"]["updated_at"], e["id"]))
        self.times: dict[str, datetime] = {}

    def time_of(self, raw: str) -> datetime:
        if raw not in self.times:
            self.times[raw] = _parse_time(raw)
        return self.times[raw]


class SandboxServer:
    """The fake outside world on loopback: ``with SandboxServer(home) as srv: srv.base_url``."""

    def __init__(self, home: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.home = Path(home)
        self.campaign = _Payloads(self.home)
        self.faults: list[dict[str, Any]] = []
        self.requests: deque[tuple[str, str]] = deque(maxlen=10_000)  # (method, path), for tests
        self._lock = threading.Lock()
        self._rate: dict[str, tuple[float, int]] = {}
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, name="socle-sandbox", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def wait(self) -> None:
        """Block until interrupted (the CLI's ``socle sandbox``)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def connection_uris(self) -> dict[str, str]:
        """Airflow connection URIs for ``socle_facebook|x|events|opendata`` pointing here.

        The extra travels as ``__extra__`` (JSON), so ids stay strings; Airflow's own
        ``get_uri`` flattens extras into query parameters, which turns ``"123"`` into 123.
        """
        config = self.campaign.config
        files = config["opendata"]["files"]
        opendata_extra = {
            "election_results": {config["opendata"]["election"]: f"/opendata/{files['election_results']}"},
            "iris_population": f"/opendata/{files['iris_population']}",
            "reu_addresses": f"/opendata/{files['reu_addresses']}",
        }
        fb = config["facebook"]
        return {
            "socle_facebook": self._uri(
                fb["token"], {"page_id": fb["page_id"], "api_version": fb["api_version"]}
            ),
            "socle_x": self._uri(config["x"]["token"], {"user_id": config["x"]["user_id"]}),
            "socle_events": self._uri(config["events"]["token"], {}),
            "socle_opendata": self._uri(None, opendata_extra),
        }

    def _uri(self, token: str | None, extra: dict[str, Any]) -> str:
        auth = f":{quote(token, safe='')}@" if token else ""
        query = f"?__extra__={quote(json.dumps(extra, sort_keys=True), safe='')}" if extra else ""
        return f"http://{auth}{self.host}:{self.port}/{query}"

    # -------------------------------------------------------------- faults and limits

    def add_fault(self, fault: dict[str, Any]) -> None:
        fault = {"path_prefix": "/", "times": 1, **fault}
        with self._lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def take_fault(self, path: str) -> dict[str, Any] | None:
        with self._lock:
            for fault in self.faults:
                if path.startswith(fault["path_prefix"]) and fault["times"] != 0:
                    if fault["times"] > 0:
                        fault["times"] -= 1
                    return dict(fault)
        return None

    def x_rate(self, endpoint: str) -> tuple[dict[str, str], bool]:
        """X's per-endpoint window headers, and whether this request is over the limit."""
        now = time.time()
        with self._lock:
            reset, used = self._rate.get(endpoint, (now + X_WINDOW_SECONDS, 0))
            if now >= reset:
                reset, used = now + X_WINDOW_SECONDS, 0
            used += 1
            self._rate[endpoint] = (reset, used)
        headers = {
            "x-rate-limit-limit": str(X_RATE_LIMIT),
            "x-rate-limit-remaining": str(max(0, X_RATE_LIMIT - used)),
            "x-rate-limit-reset": str(int(reset)),
        }
        return headers, used > X_RATE_LIMIT


def serve_forever(home: Path, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the campaign in ``home`` until interrupted."""
    with SandboxServer(home, host=host, port=port) as server:
        server.wait()


# ------------------------------------------------------------------ request handling


class _Request:
    def __init__(self, handler: BaseHTTPRequestHandler, server: SandboxServer) -> None:
        split = urlsplit(handler.path)
        self.path = split.path
        self.query = dict(parse_qsl(split.query, keep_blank_values=True))
        self.headers = handler.headers
        self.server = server

    def absolute(self, params: dict[str, Any]) -> str:
        return f"{self.server.base_url}{self.path}?{urlencode(params)}"

    def int_param(
        self, name: str, default: int, low: int, high: int, error: Callable[[str], ApiError]
    ) -> int:
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise error(f"The `{name}` query parameter value [{raw}] is not valid") from None
        if not low <= value <= high:
            raise error(f"The `{name}` query parameter value [{raw}] is not between {low} and {high}")
        return value

    def bearer_ok(self, token: str) -> bool:
        return self.headers.get("Authorization", "") == f"Bearer {token}"


class Response:
    def __init__(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers or {}


def _json(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None, ctype: str = "application/json"
) -> Response:
    return Response(
        status, json.dumps(payload, ensure_ascii=False).encode(), f"{ctype}; charset=utf-8", headers
    )


def _handler_for(server: SandboxServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = -1  # one write per answer: headers and body apart meet a 40 ms delayed ACK
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # request lines carry tokens

        def do_GET(self) -> None:
            self._handle("GET")

        def do_HEAD(self) -> None:
            self._handle("HEAD")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

        def _handle(self, method: str) -> None:
            request = _Request(self, server)
            with server._lock:
                server.requests.append((method, request.path))
            try:
                response = self._route(method, request)
            except ApiError as error:
                response = _json(error.body, error.status, error.headers)
            except Exception:  # a sandbox bug must answer like a broken service, not hang the client
                response = _json({"error": "sandbox internal error"}, 500)
            self._send(response, method)

        def _route(self, method: str, request: _Request) -> Response:
            if request.path.startswith("/_sandbox/"):
                return self._sandbox_hook(method, request)
            fault = server.take_fault(request.path)
            if fault:
                answered = _apply_fault(fault, request)
                if answered is not None:
                    return answered
            if method not in ("GET", "HEAD"):
                return _json({"error": "method not allowed"}, 405)
            return _dispatch(server.campaign, request, self.headers)

        def _sandbox_hook(self, method: str, request: _Request) -> Response:
            if request.path != "/_sandbox/faults":
                return _json({"error": "unknown sandbox hook"}, 404)
            if method == "POST":
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    fault = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    return _json({"error": "fault must be a JSON object"}, 400)
                problem = _fault_problem(fault)
                if problem:
                    return _json({"error": problem}, 400)
                server.add_fault(fault)
                return _json({"faults": len(server.faults)}, 201)
            if method == "DELETE":
                server.clear_faults()
                return _json({"faults": 0})
            return _json({"faults": server.faults})

        def _send(self, response: Response, method: str) -> None:
            try:
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if method != "HEAD" and response.status != 304:
                    self.wfile.write(response.body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (a planted delay)

    return Handler


FAULT_KINDS = ("status", "delay", "body", "graph_error_code")


def _fault_problem(fault: Any) -> str | None:
    """Why a planted fault cannot be used, or None: a test's typo must fail loudly, not silently pass."""
    if not isinstance(fault, dict):
        return "fault must be a JSON object"
    unknown = set(fault) - {*FAULT_KINDS, "path_prefix", "times", "retry_after", "headers"}
    if unknown:
        return f"unknown fault keys: {', '.join(sorted(unknown))}"
    if not any(k in fault for k in FAULT_KINDS):
        return f"a fault needs one of: {', '.join(FAULT_KINDS)}"
    if not isinstance(fault.get("times", 1), int) or not isinstance(fault.get("path_prefix", "/"), str):
        return "times must be an integer (-1: until cleared) and path_prefix a string"
    return None


def _apply_fault(fault: dict[str, Any], request: _Request) -> Response | None:
    """Answer with the planted fault; None when the fault only delays the real answer."""
    if fault.get("delay"):
        time.sleep(float(fault["delay"]))
    headers = {str(k): str(v) for k, v in (fault.get("headers") or {}).items()}
    if fault.get("retry_after") is not None:
        headers["Retry-After"] = str(fault["retry_after"])
    if fault.get("graph_error_code") is not None:
        code = int(fault["graph_error_code"])
        messages = {
            190: "Error validating access token: Session has expired.",
            4: "Application request limit reached",
        }
        error = graph_error(
            code, messages.get(code, "An unexpected error has occurred."), int(fault.get("status", 400))
        )
        return _json(error.body, error.status, headers)
    if fault.get("body") is not None:
        return Response(
            int(fault.get("status", 200)), str(fault["body"]).encode(), "application/json", headers
        )
    if fault.get("status"):
        status = int(fault["status"])
        if request.path.startswith("/v") and request.path[2:3].isdigit():
            body = graph_error(4 if status == 429 else 2, "Planted fault", status).body
        elif request.path.startswith("/2/"):
            body = x_error(
                status, "Too Many Requests" if status == 429 else "Service Unavailable", "Planted fault"
            ).body
        else:
            body = jsonapi_error(status, "Planted fault").body
        return _json(body, status, headers)
    return None


def _dispatch(campaign: _Payloads, request: _Request, headers: Any) -> Response:
    parts = [p for p in request.path.split("/") if p]
    if parts[:1] == ["opendata"] and len(parts) == 2:
        return _opendata(campaign, parts[1], headers)
    if parts[:1] == ["2"]:
        return _x(campaign, request, parts)
    if parts[:2] == ["api", "v1"] and len(parts) == 3:
        return _events(campaign, request, parts[2])
    if parts and parts[0].startswith("v") and parts[0][1:2].isdigit():
        return _facebook(campaign, request, parts)
    return _json({"error": "not found"}, 404)


# ------------------------------------------------------------------ Facebook Graph


def _graph_fields(raw: str | None) -> list[str] | None:
    """Top-level names of a Graph ``fields`` list: ``id,from{id,name}`` -> ``id, from``."""
    if not raw:
        return None
    names, depth, current = [], 0, ""
    for char in raw:
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        elif char == "," and depth == 0:
            names.append(current.strip())
            current = ""
        elif depth == 0:
            current += char
    names.append(current.strip())
    return [n for n in names if n]


def _facebook(campaign: _Payloads, request: _Request, parts: list[str]) -> Response:
    config = campaign.config["facebook"]
    if request.query.get("access_token") != config["token"]:
        raise graph_error(190, "Invalid OAuth access token - Cannot parse access token", 400)
    if len(parts) != 3 or parts[2] not in ("feed", "posts", "comments", "reactions"):
        raise graph_error(100, "Unknown path components", 400, 2500)
    object_id, edge = parts[1], parts[2]
    if edge in ("feed", "posts"):
        if object_id != config["page_id"]:
            raise graph_error(
                100, f"Unsupported get request. Object with ID '{object_id}' does not exist", 400, 33
            )
        items = campaign.posts
        time_field = "created_time"
    else:
        if object_id not in campaign.post_ids:
            raise graph_error(
                100, f"Unsupported get request. Object with ID '{object_id}' does not exist", 400, 33
            )
        items = (campaign.comments if edge == "comments" else campaign.reactions).get(object_id, [])
        if edge == "comments" and request.query.get("filter") == "toplevel":
            items = [c for c in items if "parent" not in c]
        time_field = "created_time" if edge == "comments" else ""
    try:
        since = _parse_time(request.query["since"]) if request.query.get("since") else None
        until = _parse_time(request.query["until"]) if request.query.get("until") else None
        offset = _offset(request.query.get("after"))
    except (ValueError, KeyError, OverflowError):
        raise graph_error(100, "Invalid parameter", 400) from None
    if time_field and (since or until):
        items = [
            item
            for item in items
            if (since is None or campaign.time_of(item[time_field]) >= since)
            and (until is None or campaign.time_of(item[time_field]) < until)
        ]
    limit = request.int_param("limit", 25, 1, 100, lambda m: graph_error(100, m, 400))
    page = items[offset : offset + limit]
    fields = _graph_fields(request.query.get("fields"))
    if fields is not None:
        page = [{k: v for k, v in item.items() if k in fields or k == "id"} for item in page]
    body: dict[str, Any] = {"data": page}
    if page or offset:
        paging: dict[str, Any] = {
            "cursors": {"before": _cursor(offset), "after": _cursor(offset + len(page))}
        }
        if offset + limit < len(items):
            following = {k: v for k, v in request.query.items() if k not in ("after", "before")}
            paging["next"] = request.absolute({**following, "after": _cursor(offset + limit)})
        if offset:
            previous = {k: v for k, v in request.query.items() if k not in ("after", "before")}
            paging["previous"] = request.absolute({**previous, "before": _cursor(offset)})
        body["paging"] = paging
    usage = json.dumps({"call_count": 1, "total_cputime": 1, "total_time": 1})
    return _json(body, headers={"X-App-Usage": usage})


# ------------------------------------------------------------------ X API v2

X_TWEET_FIELDS = ("created_at", "author_id", "conversation_id", "referenced_tweets")


def _x(campaign: _Payloads, request: _Request, parts: list[str]) -> Response:
    config = campaign.config["x"]
    if not request.bearer_ok(config["token"]):
        raise x_error(401, "Unauthorized", "Unauthorized")
    if len(parts) != 4 or (parts[1], parts[3]) not in {
        ("users", "mentions"),
        ("users", "tweets"),
        ("tweets", "retweeted_by"),
        ("tweets", "quote_tweets"),
    }:
        raise x_error(404, "Not Found Error", "The requested resource was not found")
    endpoint = f"/2/{parts[1]}/:id/{parts[3]}"
    rate, exhausted = request.server.x_rate(endpoint)
    if exhausted:
        raise ApiError(
            429, {"title": "Too Many Requests", "detail": "Too Many Requests", "status": 429}, rate
        )
    object_id, edge = parts[2], parts[3]

    def invalid(message: str) -> ApiError:
        return x_error(400, "Invalid Request", message)

    if parts[1] == "users":
        if object_id != config["user_id"]:
            raise x_error(404, "Not Found Error", f"Could not find user with id: [{object_id}].")
        items = campaign.mentions if edge == "mentions" else campaign.own_tweets
        max_results = request.int_param("max_results", 10, 5, 100, invalid)
    elif object_id not in campaign.quotes:
        raise x_error(404, "Not Found Error", f"Could not find tweet with id: [{object_id}].")
    elif edge == "quote_tweets":
        items = sorted(campaign.quotes[object_id], key=lambda t: t["created_at"], reverse=True)
        max_results = request.int_param("max_results", 10, 10, 100, invalid)
    else:
        items = [campaign.users[u] for u in campaign.retweeted_by[object_id]]
        max_results = request.int_param("max_results", 100, 1, 100, invalid)
    try:
        start = _parse_time(request.query["start_time"]) if request.query.get("start_time") else None
        end = _parse_time(request.query["end_time"]) if request.query.get("end_time") else None
        offset = _offset(request.query.get("pagination_token"))
    except (ValueError, KeyError, OverflowError):
        raise invalid("Invalid start_time, end_time or pagination_token") from None
    if edge != "retweeted_by" and (start or end):
        items = [
            t
            for t in items
            if (start is None or campaign.time_of(t["created_at"]) >= start)
            and (end is None or campaign.time_of(t["created_at"]) < end)
        ]
    page = items[offset : offset + max_results]
    meta: dict[str, Any] = {"result_count": len(page)}
    if offset + max_results < len(items):
        meta["next_token"] = _cursor(offset + max_results)
    if offset:
        meta["previous_token"] = _cursor(max(0, offset - max_results))
    body: dict[str, Any] = {"meta": meta}
    user_fields = set((request.query.get("user.fields") or "").split(","))
    if edge == "retweeted_by":
        if page:
            body["data"] = [_x_user(u, user_fields) for u in page]
        return _json(body, headers=rate)
    wanted = set((request.query.get("tweet.fields") or "").split(","))
    if page:
        body["data"] = [
            {"id": t["id"], "text": t["text"], **{f: t[f] for f in X_TWEET_FIELDS if f in wanted and f in t}}
            for t in page
        ]
        meta["newest_id"], meta["oldest_id"] = page[0]["id"], page[-1]["id"]
        if "author_id" in (request.query.get("expansions") or "").split(","):
            authors = dict.fromkeys(t["author_id"] for t in page)
            body["includes"] = {
                "users": [_x_user(campaign.users[a], user_fields) for a in authors if a in campaign.users]
            }
    return _json(body, headers=rate)


def _x_user(user: dict[str, str], fields: set[str]) -> dict[str, str]:
    return {k: v for k, v in user.items() if k in ("id", "name", "username") or k in fields}


# ------------------------------------------------------------------ event platform (JSON:API)


def _events(campaign: _Payloads, request: _Request, collection: str) -> Response:
    if not request.bearer_ok(campaign.config["events"]["token"]):
        raise jsonapi_error(401, "Unauthorized")
    if collection not in ("events", "rsvps"):
        raise jsonapi_error(404, "Not Found")
    items = campaign.events if collection == "events" else campaign.rsvps
    try:
        since = _parse_time(request.query["updated_since"]) if request.query.get("updated_since") else None
        offset = _offset(request.query.get("page[after]"))
    except (ValueError, KeyError, OverflowError):
        raise jsonapi_error(400, "Invalid updated_since or page cursor") from None
    size = request.int_param("page[size]", 20, 1, EVENTS_MAX_PAGE, lambda m: jsonapi_error(400, m))
    if since:
        items = [i for i in items if campaign.time_of(i["attributes"]["updated_at"]) >= since]
    page = items[offset : offset + size]
    links = {"self": request.absolute(request.query)}
    if offset + size < len(items):
        links["next"] = request.absolute({**request.query, "page[after]": _cursor(offset + size)})
    body = {"data": page, "links": links, "meta": {"total": len(items)}}
    return _json(body, ctype="application/vnd.api+json")


# ------------------------------------------------------------------ open data


def _opendata(campaign: _Payloads, name: str, headers: Any) -> Response:
    path = campaign.opendata_dir / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return Response(404, b"Not Found", "text/plain")
    body = path.read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    modified = datetime.fromtimestamp(int(path.stat().st_mtime), UTC)
    answer_headers = {"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True)}
    if_none_match = headers.get("If-None-Match")
    if if_none_match:
        if etag in [t.strip() for t in if_none_match.split(",")] or if_none_match.strip() == "*":
            return Response(304, b"", "text/csv", answer_headers)
    elif headers.get("If-Modified-Since"):
        try:
            since = parsedate_to_datetime(headers["If-Modified-Since"])
        except (TypeError, ValueError):
            since = None
        if since is not None and modified <= since:
            return Response(304, b"", "text/csv", answer_headers)
    charset = "iso-8859-1" if name.endswith(".txt") else "utf-8"
    return Response(200, body, f"text/csv; charset={charset}", answer_headers)
