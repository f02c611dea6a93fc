"""The HTTP client every connector builds on, over the http provider's HttpHook.

The hook resolves the Airflow connection (`handoff_<system>`), builds the base URL and a
keep-alive `requests.Session`, and sends each request (`run_and_check`). On top of it this
module adds what the systems need and the hook lacks: bearer tokens with one renewal on 401,
tenacity retries of 429/5xx/timeouts/dropped connections/malformed bodies whose wait honours
`Retry-After` and the systems' rate-limit headers, and errors that carry the system's message.

Retries are safe for writes: a request is re-sent after a failure that may have reached the
system (5xx, read timeout, dropped connection, a malformed answer) only when re-sending cannot
apply it twice: an idempotent method (GET, HEAD, PUT, DELETE), a read sent as POST (SuiteQL,
HubSpot search, token requests: `replay_safe=True`), or a write carrying an idempotency key the
system honours. Any other write fails with `OutcomeUnknown` after such a failure, and its caller
recovers (by external id, or the async job's result) instead of posting twice. Refusals that
prove the system did nothing (429, a refused connection, a connect timeout, a 401 answered before
any work) are retried for every request.

Per-system settings (`api_version`, Workday `tenant`, field lists) live in the connection's
extra and are read through the hook's `setting()`; they are never sent as HTTP headers.

The session is created once per client (not once per request as `HttpHook.run` does): a million
records at 200 per page is 5,000 requests, and a connection lookup plus TLS handshake each
time would dominate. Secrets (client secret, tokens, Authorization headers) are never logged.
"""

from __future__ import annotations

import copy
import logging
import os
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import msgspec
import requests
import tenacity
from airflow.providers.http.hooks.http import HttpHook

from handoff.connectors.pacing import DOCUMENTED_RATES, PROCESS_STORE, Pacer, PostgresStore, parse_rate_limit
from handoff.connectors.redaction import mask_in_airflow_logs, redact
from handoff.systems import system as registry_entry

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# Statuses that prove the request was not processed, so re-sending any request is safe.
REFUSED_STATUS = frozenset({429})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_json_decoder = msgspec.json.Decoder()
# Settings every system's connection has: the account's allowance (handoff.connectors.limiter for
# requests in flight, handoff.connectors.pacing for the request rate); empty = what the system documents.
COMMON_SETTINGS: dict[str, str | None] = {"concurrency_limit": None, "rate_limit": None}


class SystemApiError(RuntimeError):
    """A response that retrying cannot fix (e.g. 400/403/404), with the system's own message."""

    def __init__(self, system: str, status: int, message: str, url: str):
        self.system, self.status, self.message = system, status, message
        super().__init__(f"{system} HTTP {status} on {url}: {message}")


class RetriesExhausted(RuntimeError):
    """Transient failures kept happening after every attempt: the task fails (Airflow may retry it)."""


class RetryableError(RuntimeError):
    """A transient failure; `wait` is the delay the server asked for (None: use backoff)."""

    def __init__(self, reason: str, wait: float | None = None):
        self.reason, self.wait = reason, wait
        super().__init__(reason)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    backoff_base: float = 0.25
    backoff_cap: float = 30.0
    max_server_wait: float = 120.0  # longest Retry-After we honour before failing the attempt anyway
    connect_timeout: float = 5.0
    read_timeout: float = 30.0


def system_message(resp: requests.Response) -> str:
    """Extract the human message from each system's error body (fallback: the text)."""
    try:
        body = resp.json()
    except ValueError:
        return (resp.text or resp.reason or "")[:500]
    msgs: list[str] = []
    if isinstance(body, list):  # Salesforce: [{message, errorCode}]
        msgs = [f"{e.get('errorCode', '')}: {e.get('message', '')}".strip(": ") for e in body if isinstance(e, dict)]
    elif isinstance(body, dict):
        if isinstance(body.get("errors"), list) and not body.get("message"):  # Kantata {errors:[{type, message}]}
            msgs = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in body["errors"]]
        elif "o:errorDetails" in body:  # NetSuite
            msgs = [
                f"{d.get('o:errorCode', '')}: {d.get('detail', '')}".strip(": ") for d in body["o:errorDetails"]
            ] or [str(body.get("title", ""))]
        elif body.get("message"):  # HubSpot and generic
            msgs = [str(body["message"])]
        elif body.get("error"):  # OAuth token endpoints
            msgs = [f"{body['error']}: {body.get('error_description', '')}".strip(": ")]
    return "; ".join(m for m in msgs if m) or (resp.text or "")[:500]


def server_wait(resp: requests.Response) -> float | None:
    """Seconds the server asks us to wait: Retry-After (seconds or HTTP date) or rate-limit headers."""
    h = resp.headers
    value = h.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    # HubSpot: the burst window length when the window's budget is spent.
    if h.get("X-HubSpot-RateLimit-Remaining") == "0" and h.get("X-HubSpot-RateLimit-Interval-Milliseconds"):
        try:
            return float(h["X-HubSpot-RateLimit-Interval-Milliseconds"]) / 1000.0
        except ValueError:
            pass
    for name in ("RateLimit-Reset", "X-RateLimit-Reset"):
        if h.get(name):
            try:
                v = float(h[name])
            except ValueError:
                continue
            return max(0.0, v - time.time()) if v > 1e9 else v  # epoch or delta seconds
    return None


class OutcomeUnknown(RuntimeError):
    """A write that is not safe to re-send failed after it may have reached the system.

    The caller must find out whether it was applied (look the record up by its external id, or
    read the async job's result) before trying again; re-sending could apply it twice.
    """


class SystemHook(HttpHook):
    """The http provider's HttpHook for one system's connection (connection type
    `handoff_<system>`, registered by `handoff.connectors.provider` with the system's settings as
    form fields, and "Test connection" authenticating and reading one record).

    `settings` declares the per-system options read from the connection's extra (name: default);
    `setting_prefixes` declares families of them (`fields_Account`). HttpHook turns every extra
    key into an HTTP header; declared settings are taken back out, so they never travel.
    """

    system = "http"
    settings: dict[str, str | None] = {}
    setting_prefixes: tuple[str, ...] = ()
    client_class: type[SystemClient]  # set when the system's client subclasses SystemClient

    def __init_subclass__(cls, system: str | None = None, **kwargs: Any) -> None:
        """`class Hook(SystemHook, system="kantata")`: name, connection type and settings come
        from the registry (`handoff.systems`)."""
        super().__init_subclass__(**kwargs)
        if system is not None:
            entry = registry_entry(system)
            cls.system, cls.conn_type, cls.hook_name = entry.name, entry.conn_type, f"Handoff {entry.title}"
            cls.default_conn_name = entry.conn_id
            cls.settings, cls.setting_prefixes = {**COMMON_SETTINGS, **entry.settings}, entry.setting_prefixes

    def __init__(self, http_conn_id: str):
        super().__init__(method="GET", http_conn_id=http_conn_id)

    def is_setting(self, key: str) -> bool:
        key = key.removeprefix(f"extra__{self.conn_type}__")  # how older forms store their fields
        return key in self.settings or key.startswith(self.setting_prefixes)

    def test_connection(self) -> tuple[bool, str]:
        """Authenticate and read one record with this connection (the UI's "Test connection")."""
        client = None
        try:
            client = self.client_class(self.http_conn_id, RetryPolicy(attempts=2))
            what = client.probe()
        except Exception as exc:  # reported to the person testing, redacted
            return False, redact(f"{self.hook_name}: {type(exc).__name__}: {exc}",
                                 client.secrets() if client else ())
        finally:
            if client is not None:
                client.close()
        return True, f"{self.hook_name}: authenticated and read {what}"

    def _configure_session_from_extra(self, session, connection, extra_options):
        session = super()._configure_session_from_extra(session, connection, extra_options)
        for key, value in (connection.extra_dejson or {}).items():
            if self.is_setting(key) or not isinstance(value, str):
                session.headers.pop(key, None)
        return session

    def setting(self, name: str) -> Any:
        """A declared setting: the connection extra's value, else its default."""
        if not self.is_setting(name):
            raise KeyError(f"{self.system}: {name!r} is not a setting of this connection "
                           f"(known: {', '.join(self.settings) or 'none'})")
        extra = self.get_connection(self.http_conn_id).extra_dejson or {}
        value = extra.get(name, extra.get(f"extra__{self.conn_type}__{name}", self.settings.get(name)))
        return None if value in (None, "") else value


class SystemClient:
    """One system's HTTP client: `send` / `json` with safe retries, auth and error mapping.

    Subclasses (one per system, in `handoff.connectors.<system>`) set `hook_class`, `auth`
    and the system's request primitives.
    """

    hook_class: type[SystemHook] = SystemHook
    idempotency_header: str | None = None  # the header a system honours for write idempotency

    def __init_subclass__(cls, hook: type[SystemHook] | None = None, **kwargs: Any) -> None:
        """`class Client(SystemClient, hook=Hook)`: the hook's Test connection uses this client."""
        super().__init_subclass__(**kwargs)
        if hook is not None:
            cls.hook_class, hook.client_class = hook, cls

    def make_auth(self):
        """A fresh `handoff.connectors.auth` object for this system."""
        raise NotImplementedError

    def __init__(self, conn_id: str, policy: RetryPolicy | None = None, *, auth=None):
        """`auth`: an authentication state to start from (a clone's: its token, no new request)."""
        self.conn_id, self.auth = conn_id, auth if auth is not None else self.make_auth()
        self.system = self.hook_class.system
        self.policy = policy or RetryPolicy()
        self.hook = self.hook_class(conn_id)
        self.connection = self.hook.get_connection(conn_id)
        self.session = self.hook.get_conn()
        self.base_url = self.hook.base_url.rstrip("/")
        _settle_environment(self.session, self.base_url)
        mask_in_airflow_logs(self.connection.password)
        self.retries = 0  # transient failures retried by this client (the run log counts them)
        self.requests = 0
        self._renewed_for_401 = False
        documented = DOCUMENTED_RATES.get(self.system, ())
        self.pacer = Pacer(self.system, parse_rate_limit(self.setting("rate_limit"), documented, f"{conn_id}: "),
                           PROCESS_STORE)
        self._owns_store = False
        self.auth.apply(self)

    def share_allowance(self, connect) -> SystemClient:
        """Pace this client's requests with every process on the warehouse (`connect` opens a
        connection to it), not only with this process's clients."""
        self.pacer.store = PostgresStore(connect)
        self._owns_store = True
        return self

    def clone(self) -> SystemClient:
        """A client of its own on the same connection and allowance store (one per worker thread:
        a requests session is not shared between threads)."""
        other = type(self)(self.conn_id, self.policy, auth=copy.copy(self.auth))  # the same token, no request
        other.base_url = self.base_url  # as the token response may have moved it (Salesforce instance_url)
        other.pacer.store = self.pacer.store
        return other

    def setting(self, name: str) -> Any:
        return self.hook.setting(name)

    def probe(self) -> str:
        """The cheapest authenticated read (Test connection); returns what it read."""
        raise NotImplementedError

    def secrets(self) -> tuple[str, ...]:
        """Values that must never leave this process in clear: the connection's password (a client
        secret or a private-app token) and the current access token."""
        return tuple(v for v in (self.connection.password, getattr(self.auth, "token", None)) if v)

    def redact(self, text: str) -> str:
        return redact(str(text), self.secrets())

    def _api_error(self, status: int, resp: requests.Response, url: str) -> SystemApiError:
        return SystemApiError(self.system, status, self.redact(system_message(resp)), self.redact(url.split("?")[0]))

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def send(self, method: str, path: str, authenticate: bool = True, *, replay_safe: bool | None = None,
             idempotency_key: str | None = None, **kwargs: Any) -> requests.Response:
        """Send with retries; returns a 2xx response or raises SystemApiError / OutcomeUnknown.

        `replay_safe`: whether re-sending after a failure that may have reached the system is
        harmless (default: the method is idempotent, or an `idempotency_key` is given, which is
        sent in the system's idempotency header).
        """
        method = method.upper()
        if idempotency_key is not None:
            if not self.idempotency_header:
                raise ValueError(f"{self.system} has no idempotency header: use an upsert by external id")
            kwargs["headers"] = {**(kwargs.get("headers") or {}), self.idempotency_header: idempotency_key}
        if replay_safe is None:
            replay_safe = method in IDEMPOTENT_METHODS or idempotency_key is not None

        def _wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RetryableError) and exc.wait is not None:
                return min(exc.wait, self.policy.max_server_wait)
            backoff = min(self.policy.backoff_cap, self.policy.backoff_base * 2 ** (state.attempt_number - 1))
            return backoff * (0.5 + random.random() / 2)

        def _before_sleep(state: tenacity.RetryCallState) -> None:
            self.retries += 1
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s %s %s: %s; retry %d/%d in %.2fs",
                self.system, method, self.redact(path.split("?")[0]), self.redact(str(exc)), state.attempt_number,
                self.policy.attempts - 1, state.upcoming_sleep,
            )

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(RetryableError),
            wait=_wait,
            stop=tenacity.stop_after_attempt(self.policy.attempts),
            before_sleep=_before_sleep,
            reraise=True,
        )
        try:
            return retrying(self._send_once, method, path, authenticate, replay_safe, kwargs)
        except RetryableError as exc:
            raise RetriesExhausted(self.redact(f"{self.system} {method} {path.split('?')[0]}: gave up after "
                                               f"{self.policy.attempts} attempts: {exc}")) from exc

    def _unsafe_failure(self, method: str, path: str, reason: str) -> OutcomeUnknown:
        return OutcomeUnknown(self.redact(
            f"{self.system} {method} {path.split('?')[0]}: {reason}; the write may or may not have been "
            "applied and is not safe to re-send without an idempotency key: look it up before retrying"))

    def _send_once(self, method: str, path: str, authenticate: bool, replay_safe: bool,
                   kwargs: dict) -> requests.Response:
        url = self.url(path)
        req = requests.Request(method, url, **kwargs)
        prepped = self.session.prepare_request(req)
        self.pacer.before_request(prepped.path_url)
        self.requests += 1
        try:
            resp = self.hook.run_and_check(
                self.session,
                prepped,
                {"check_response": False, "timeout": (self.policy.connect_timeout, self.policy.read_timeout)},
            )
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:  # dropped connections, bodies cut short
            reason = self.redact(f"{type(exc).__name__}: {str(exc)[:200]}")
            if not replay_safe and not _never_sent(exc):
                raise self._unsafe_failure(method, path, reason) from exc
            raise RetryableError(reason) from exc
        status = resp.status_code
        if status < 400:
            if authenticate:  # an authenticated success re-arms the one-renewal-per-401 rule
                self._renewed_for_401 = False
            return resp
        if status == 401 and authenticate:
            if self._renewed_for_401:
                raise self._api_error(status, resp, url)
            self._renewed_for_401 = True
            log.info("%s: 401 (%s), renewing the token once", self.system, self.redact(system_message(resp)))
            self.auth.renew(self)
            raise RetryableError("401 token renewed", wait=0.0)
        if status in RETRYABLE_STATUS:
            reason = self.redact(f"HTTP {status}: {system_message(resp)[:200]}")
            if not replay_safe and status not in REFUSED_STATUS:
                raise self._unsafe_failure(method, path, reason)
            raise RetryableError(reason, wait=server_wait(resp))
        if status == 403 and "REQUEST_LIMIT_EXCEEDED" in resp.text:
            # Salesforce's rate limit. Retried only when the server says when to come back soon
            # enough; a spent daily allowance (no Retry-After) fails with the system's message.
            wait = server_wait(resp)
            if wait is not None and wait <= self.policy.max_server_wait:
                raise RetryableError(self.redact(f"HTTP 403: {system_message(resp)[:200]}"), wait=wait)
        raise self._api_error(status, resp, url)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send and decode the JSON body; a truncated or malformed body is re-read when the request
        is replay-safe (as `send` decides), else it is an `OutcomeUnknown`."""
        method = method.upper()
        replay_safe = kwargs.get("replay_safe")
        if replay_safe is None:
            replay_safe = method in IDEMPOTENT_METHODS or kwargs.get("idempotency_key") is not None

        def _decode_once() -> Any:
            resp = self.send(method, path, **kwargs)
            try:
                body = _json_decoder.decode(resp.content)
            except msgspec.DecodeError as exc:
                reason = f"malformed JSON body ({len(resp.content)} bytes): {exc}"
                if not replay_safe:
                    raise self._unsafe_failure(method, path, reason) from exc
                raise RetryableError(reason) from exc
            return body

        def _before_sleep(state: tenacity.RetryCallState) -> None:
            self.retries += 1
            log.warning("%s %s: %s; retrying", self.system, self.redact(path.split("?")[0]),
                        self.redact(str(state.outcome.exception())))

        try:
            return tenacity.Retrying(
                retry=tenacity.retry_if_exception_type(RetryableError),
                wait=tenacity.wait_exponential(multiplier=self.policy.backoff_base, max=self.policy.backoff_cap),
                stop=tenacity.stop_after_attempt(self.policy.attempts),
                before_sleep=_before_sleep,
                reraise=True,
            )(_decode_once)
        except RetryableError as exc:
            raise RetriesExhausted(self.redact(f"{self.system} {path.split('?')[0]}: {exc}")) from exc

    def close(self) -> None:
        self.session.close()
        if self._owns_store:  # the allowance connection this client opened (its clones share it)
            self.pacer.store.close()


def _settle_environment(session: requests.Session, base_url: str) -> None:
    """Read the proxy and CA-bundle environment once, not on every request.

    With `trust_env`, requests scans the whole process environment for proxy variables before
    each request (about 1 ms in an Airflow worker's environment: a fifth of a page's cost).
    """
    if not session.trust_env:
        return
    for scheme, proxy in requests.utils.get_environ_proxies(base_url).items():
        session.proxies.setdefault(scheme, proxy)
    if session.verify is True:
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False


def _never_sent(exc: BaseException) -> bool:
    """A connect timeout or a refused connection: the request never reached the system."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text
