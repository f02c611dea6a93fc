"""Server base shared by the five simulators: routing, token/basic auth, faults, admin endpoints.

Built on the stdlib ThreadingHTTPServer (HTTP/1.1 keep-alive): it gives socket-level control
(needed to drop connections or hang without answering) and is fast enough when each response is
written in a single send with Nagle disabled.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import secrets
import socket
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from .faults import FaultConfigError, Faults
from .pacing import NO_LIMITS, Admission, Pacing, PacingConfigError, Refusal

_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 400: "Bad Request",
            401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
            409: "Conflict", 415: "Unsupported Media Type", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass(frozen=True)
class SimCredentials:
    """The one client id/secret pair every simulator accepts (no defaults: callers choose)."""

    client_id: str
    client_secret: str

    def matches(self, client_id: str | None, client_secret: str | None) -> bool:
        return (client_id is not None and client_secret is not None
                and hmac.compare_digest(client_id.encode(), self.client_id.encode())
                and hmac.compare_digest(client_secret.encode(), self.client_secret.encode()))


def dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: list = field(default_factory=list)
    content_type: str = "application/json;charset=UTF-8"
    records: int | None = None  # records in the body, for the latency model (None: count records_in)


def json_response(obj, status: int = 200, headers=None) -> Response:
    return Response(status, dumps(obj), list(headers or []))


class ApiError(Exception):
    """Raised by handlers; rendered in the system's error format by `SystemServer.error_response`."""

    def __init__(self, status: int, message: str, code: str = "", path: str | None = None,
                 headers=None, body=None):
        super().__init__(message)
        self.status, self.message, self.code, self.path = status, message, code, path
        self.headers, self.body = list(headers or []), body


class Request:
    __slots__ = ("method", "path", "query", "headers", "body", "client", "base_url", "pacing")

    def __init__(self, method, path, query, headers, body, client, base_url):
        self.method, self.path, self.query, self.headers = method, path, query, headers
        self.body, self.client, self.base_url = body, client, base_url
        self.pacing: Admission = NO_LIMITS  # what the rate limits saw on arrival (extra_headers read it)

    def arg(self, name: str, default=None):
        v = self.query.get(name)
        return v[0] if v else default

    def args(self, name: str) -> list[str]:
        """All values of a repeated and/or comma-joined parameter."""
        return [p for v in self.query.get(name, []) for p in v.split(",") if p]

    def json(self):
        try:
            return json.loads(self.body or b"null")
        except ValueError as e:
            raise ApiError(400, f"Invalid JSON body: {e}", "INVALID_JSON") from None

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}

    def bearer(self) -> str | None:
        h = self.headers.get("Authorization", "")
        return h[7:].strip() if h[:7].lower() == "bearer " else None

    def basic(self) -> tuple[str, str] | None:
        h = self.headers.get("Authorization", "")
        if h[:6].lower() != "basic ":
            return None
        try:
            user, _, pw = base64.b64decode(h[6:].strip()).decode().partition(":")
        except ValueError:
            return None
        return user, pw


class TokenStore:
    """Bearer tokens with a wall-clock TTL; `revoke_all` implements the token-expiry fault."""

    def __init__(self, ttl: float, prefix: str = ""):
        self.ttl, self.prefix = ttl, prefix
        self._tokens: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        tok = self.prefix + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[tok] = time.monotonic()
        return tok

    def check(self, token: str | None) -> str:
        """'ok', 'expired' or 'invalid'."""
        with self._lock:
            issued = self._tokens.get(token) if token else None
        if issued is None:
            return "invalid"
        return "ok" if time.monotonic() - issued < self.ttl else "expired"

    def revoke_all(self) -> None:
        with self._lock:
            for t in self._tokens:
                self._tokens[t] = float("-inf")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "handoff-sim"

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _dispatch(self):
        self.server.app.dispatch(self)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _dispatch

    def log_message(self, *args):
        pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, addr, app):
        self.app = app
        self.conns: set = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, _Handler)

    def process_request(self, request, client_address):
        with self.conns_lock:
            self.conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.conns_lock:
            self.conns.discard(request)
        super().shutdown_request(request)


@dataclass
class Route:
    method: str
    pattern: re.Pattern
    handler: object
    auth: bool = True  # False for token endpoints (exempt from auth and, by default, faults)


class SystemServer:
    """One simulated SaaS system on one port. Subclasses add routes and their wire formats."""

    system = ""

    def __init__(self, world, credentials: SimCredentials, token_ttl: float = 3600,
                 faults: dict | None = None, host: str = "127.0.0.1", port: int = 0, pacing=None):
        self.world, self.credentials = world, credentials
        self.tokens = TokenStore(token_ttl)
        self.faults = Faults(seed=world.seed, system=self.system, config=faults or {})
        self.pacing = Pacing(self.system, pacing)  # replaced whole by set_pacing (counters reset)
        self.host, self.port = host, port
        self.routes: list[Route] = []
        self.requests = 0
        self._inflight = 0
        self._inflight_lock = threading.Lock()
        self._expire_once = False
        self._stop = threading.Event()
        self._httpd = None
        self._thread = None
        self.add_routes()
        self._apply_fault_side_effects()

    # ---- subclass hooks -------------------------------------------------------------
    def add_routes(self) -> None:
        raise NotImplementedError

    def route(self, method: str, pattern: str, handler, auth: bool = True) -> None:
        self.routes.append(Route(method, re.compile(pattern + r"\Z"), handler, auth))

    def authenticate(self, req: Request) -> None:
        """Default: bearer token from self.tokens (raise ApiError 401 in the system's format)."""
        state = self.tokens.check(req.bearer())
        if state != "ok":
            raise ApiError(401, "expired" if state == "expired" else "invalid", "UNAUTHORIZED")

    def error_body(self, err: ApiError):
        return {"error": err.code, "message": err.message}

    def extra_headers(self, req: Request | None) -> list:
        return []

    def rate_limit_error(self, retry_after: int, refusal: Refusal | None = None) -> ApiError:
        """The system's refusal: `refusal` is the pacing limit that refused (None: the rate_limit
        fault or the concurrency limit, to which the caller adds Retry-After)."""
        headers = [("Retry-After", str(refusal.retry_after))] if refusal else []
        return ApiError(429, "Too many requests", "RATE_LIMIT", headers=headers)

    def records_in(self, body):
        """Yield the record dicts inside a response body (for the schema-drift fault)."""
        return ()

    def concurrency_limit(self) -> int | None:
        return None

    def truth(self, obj: str) -> dict:
        return self.world.truth(self.system, obj)

    # ---- shared OAuth helper --------------------------------------------------------
    def client_from_token_request(self, req: Request) -> tuple[str | None, str | None, dict]:
        form = req.form()
        cid, secret = form.get("client_id"), form.get("client_secret")
        basic = req.basic()
        if basic and cid is None:
            cid, secret = basic
        return cid, secret, form

    def check_client(self, req: Request, grant_types=("client_credentials",)) -> dict:
        cid, secret, form = self.client_from_token_request(req)
        if form.get("grant_type") not in grant_types:
            raise ApiError(400, "grant type not supported", "unsupported_grant_type",
                           body={"error": "unsupported_grant_type",
                                 "error_description": "grant type not supported"})
        if not self.credentials.matches(cid, secret):
            raise ApiError(400, "invalid client credentials", "invalid_client",
                           body={"error": "invalid_client",
                                 "error_description": "invalid client credentials"})
        return form

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> SystemServer:
        self._httpd = _HTTPServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"sim-{self.system}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            with self._httpd.conns_lock:
                conns = list(self._httpd.conns)
            for c in conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._httpd = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ---- pacing ----------------------------------------------------------------------
    def set_pacing(self, pacing) -> dict:
        """Replace the pacing config (a profile name, or a system or cluster-wide dict); counters reset."""
        self.pacing = Pacing(self.system, pacing)
        return self.pacing_stats()

    def pacing_stats(self) -> dict:
        return self.pacing.snapshot(self._inflight)

    # ---- faults ----------------------------------------------------------------------
    def set_faults(self, config: dict) -> None:
        self.faults.set(config)
        self._apply_fault_side_effects()

    def clear_faults(self) -> None:
        self.faults.clear()

    def _apply_fault_side_effects(self):
        if self.faults.get("expire_tokens"):
            self.tokens.revoke_all()
            self._expire_once = True

    def take_expire_once(self) -> bool:
        """For systems without token endpoints: the token-expiry fault fails the next request."""
        if self._expire_once:
            self._expire_once = False
            return True
        return False

    # ---- request handling ------------------------------------------------------------
    def dispatch(self, h: _Handler) -> None:
        parts = urlsplit(h.path)
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if n else b""
        host = h.headers.get("Host") or f"{self.host}:{self.port}"
        req = Request(h.command, parts.path, parse_qs(parts.query, keep_blank_values=True), h.headers,
                      body, h.client_address, f"http://{host}")
        if req.path.startswith("/__sim/"):
            self._write(h, self._admin(req))
            return
        arrived = time.monotonic()
        pacing = self.pacing
        with self._inflight_lock:
            self.requests += 1
            self._inflight += 1
            inflight = self._inflight
            pacing.requests += 1
            if inflight > pacing.max_in_flight:
                pacing.max_in_flight = inflight
        try:
            resp = self._serve(h, req, inflight, pacing, arrived)
        finally:
            # out of flight before the answer is written: a client that sends its next request as soon
            # as it reads this answer must not find this one still counted (the concurrency limit)
            with self._inflight_lock:
                self._inflight -= 1
        if resp is not None:
            self._write(h, resp, req)

    def _serve(self, h, req, inflight, pacing, arrived) -> Response | None:
        """The response to write, or None when the fault decided to drop the connection."""
        route, groups, allowed = None, {}, False
        for r in self.routes:
            m = r.pattern.match(req.path)
            if m:
                allowed = True
                if r.method == req.method:
                    route, groups = r, m.groupdict()
                    break
        if route is None or route.auth:  # token endpoints are not rate limited
            req.pacing = pacing.admit(req.path)
        decision = self.faults.decide(req.path, route is not None and not route.auth)
        if decision.action == "drop":
            self._drop(h)
            return None
        if decision.action == "timeout":
            self._stop.wait(float(self.faults.get("timeout_seconds", 30)))
            self._drop(h)
            return None
        if decision.slow:
            self._stop.wait(decision.slow)
        records = None
        try:
            if pacing.concurrency is not None and "concurrency_limit" not in self.faults.config:
                limit = pacing.concurrency.concurrent
            else:
                limit = self.concurrency_limit()
            if decision.action == "rate_limit" or (limit is not None and inflight > limit):
                if decision.action != "rate_limit":
                    pacing.refuse_concurrent()
                retry = int(self.faults.get("retry_after", 1))
                err = self.rate_limit_error(retry)
                err.headers.append(("Retry-After", str(retry)))
                raise err
            if req.pacing.refused is not None:
                raise self.rate_limit_error(req.pacing.refused.retry_after, req.pacing.refused)
            if decision.action == "error_5xx":
                raise ApiError(decision.status_5xx, "An unexpected error occurred. Please try again later.",
                               "SERVER_ERROR")
            if route is None:
                raise ApiError(405 if allowed else 404, f"No route for {req.method} {req.path}", "NOT_FOUND")
            if route.auth:
                self.authenticate(req)
            resp = route.handler(req, **groups)
            if not isinstance(resp, Response):
                if pacing.per_record:
                    records = _count(self.records_in(resp))
                resp = json_response(resp)
        except ApiError as e:
            resp = self.error_response(e)
        except Exception:  # a simulator bug must still answer like a server would
            traceback.print_exc(file=sys.stderr)
            resp = self.error_response(ApiError(500, "Internal simulator error", "INTERNAL"))
        if decision.drift and 200 <= resp.status < 300 and resp.body:
            resp.body = self._drift(resp.body, decision.drift)
        if decision.malformed and resp.status == 200:
            resp.body = resp.body[: max(1, len(resp.body) // 2)] + b',"\xff'
        if pacing.sleeps:
            self._pace(pacing, resp, records, arrived)
        return resp

    def _pace(self, pacing: Pacing, resp: Response, records: int | None, arrived: float) -> None:
        """Sleep until the modelled latency has passed since the request arrived."""
        if resp.records is not None:
            records = resp.records
        elif records is None and pacing.per_record and 200 <= resp.status < 300 and resp.body[:1] in (b"{", b"["):
            try:
                records = _count(self.records_in(json.loads(resp.body)))
            except (ValueError, AttributeError, TypeError):  # not JSON, or not the expected shape
                records = 0
        wait = arrived + pacing.delay(records or 0) - time.monotonic()
        if wait > 0:
            self._stop.wait(wait)
            pacing.add_slept(wait)

    def error_response(self, e: ApiError) -> Response:
        body = e.body if e.body is not None else self.error_body(e)
        return Response(e.status, dumps(body), list(e.headers))

    def _drift(self, body: bytes, drift: dict) -> bytes:
        try:
            obj = json.loads(body)
        except ValueError:
            return body
        rename, add = drift.get("rename") or {}, drift.get("add") or {}
        for rec in self.records_in(obj):
            for old, new in rename.items():
                if old in rec:
                    rec[new] = rec.pop(old)
            rec.update(add)
        return dumps(obj)

    def _drop(self, h) -> None:
        h.close_connection = True
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _write(self, h, resp: Response, req: Request | None = None) -> None:
        headers = [("Content-Type", resp.content_type)] if resp.body else []
        headers += [("Content-Length", str(len(resp.body)))]
        headers += self.extra_headers(req) + resp.headers
        if h.close_connection:
            headers.append(("Connection", "close"))
        head = "HTTP/1.1 %d %s\r\n%s\r\n" % (resp.status, _REASONS.get(resp.status, "Status"),
                                             "".join(f"{k}: {v}\r\n" for k, v in headers))
        try:
            h.wfile.write(head.encode("latin-1") + resp.body)
        except OSError:
            h.close_connection = True

    # ---- admin -----------------------------------------------------------------------
    def _admin(self, req: Request) -> Response:
        if not (req.client[0].startswith("127.") or req.client[0] == "::1"):
            return json_response({"error": "admin endpoints are loopback only"}, 403)
        try:
            return json_response(self.admin(req))
        except (FaultConfigError, PacingConfigError) as e:
            return json_response({"error": str(e)}, 400)
        except ApiError as e:
            return json_response({"error": e.message}, e.status)
        except KeyError as e:
            return json_response({"error": f"unknown object {e}"}, 404)

    def admin(self, req: Request):
        what = (req.method, req.path)
        if what == ("GET", "/__sim/health"):
            return {"status": "ok", "system": self.system, "tick": self.world.tick,
                    "now": self.world.now_iso(), "requests": self.requests}
        if what == ("GET", "/__sim/truth"):
            obj = req.arg("object")
            if not obj:
                raise ApiError(400, "object= is required")
            with self.world.lock:
                return self.world.current_cases() if obj == "cases" else self.truth(obj)
        if what == ("POST", "/__sim/faults"):
            self.set_faults(req.json() or {})
            return {"faults": self.faults.config}
        if what == ("DELETE", "/__sim/faults"):
            self.clear_faults()
            return {"faults": {}}
        if what == ("GET", "/__sim/pacing"):
            return self.pacing_stats()
        if what == ("POST", "/__sim/pacing"):
            return self.set_pacing(req.json())
        if what == ("DELETE", "/__sim/pacing"):
            return self.set_pacing("off")
        if what == ("POST", "/__sim/advance"):
            steps = int((req.json() or {}).get("steps", 1))
            self.world.advance(steps)
            return {"tick": self.world.tick, "now": self.world.now_iso()}
        raise ApiError(404, f"no admin endpoint {req.method} {req.path}")


def _count(records) -> int:
    """How many records `records_in` yields (0 when the body is not the shape it expects)."""
    try:
        return len(records)
    except TypeError:
        pass
    try:
        return sum(1 for _ in records)
    except (AttributeError, TypeError, KeyError, ValueError):
        return 0


def correlation_id() -> str:
    return str(uuid.uuid4())
