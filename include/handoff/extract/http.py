"""HTTP client for the source systems, built on the http provider's HttpHook.

The hook resolves the Airflow connection (`AIRFLOW_CONN_HANDOFF_<SYSTEM>`), builds the base URL
and a keep-alive `requests.Session`, and sends each request (`run_and_check`). On top of it this
module adds what the systems need and the hook lacks: bearer tokens with one renewal on 401,
tenacity retries of 429/5xx/timeouts/dropped connections/malformed bodies whose wait honours
`Retry-After` and the systems' rate-limit headers, and errors that carry the system's message.

The session is created once per client (not once per request as `HttpHook.run` does): a million
records at 200 per page is 5,000 requests, and a connection lookup plus TLS handshake each
time would dominate. Secrets (client secret, tokens, Authorization headers) are never logged.
"""

from __future__ import annotations

import logging
import random
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import msgspec
import requests
import tenacity
from airflow.providers.http.hooks.http import HttpHook

log = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_json_decoder = msgspec.json.Decoder()
REDACTED = "***"
# Query-string and form parameters that carry credentials, whatever the system.
_SECRET_PARAM = re.compile(
    r"(?i)\b((?:access_|refresh_|id_)?token|client_secret|password|passwd|api_?key|hapikey|apikey|secret|"
    r"signature|sig|code|assertion|client_assertion|session_?id|sid)=([^&\s'\"]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")


def redact(text: str, secrets: tuple[str, ...] | list[str] = ()) -> str:
    """Remove credentials from text bound for logs, exceptions and ops tables: known secret values
    (client secret, tokens), credential-named URL/form parameters and Authorization values."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def _mask_in_airflow_logs(secret: str | None) -> None:
    """Register a runtime secret (an access token) with Airflow's log masker, when in a task."""
    if not secret:
        return
    try:
        from airflow.sdk.log import mask_secret

        mask_secret(secret)
    except Exception:  # outside Airflow: nothing to register with
        pass


class SourceApiError(RuntimeError):
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


class TokenAuth:
    """How a client authenticates; `apply` sets headers, `renew` fetches a fresh token."""

    def apply(self, client: SourceClient) -> None:  # pragma: no cover - interface
        pass

    def renew(self, client: SourceClient) -> None:
        pass


class BasicAuth(TokenAuth):
    """HTTP basic with the connection's login/password (Workday integration user): the hook's default."""


class StaticBearer(TokenAuth):
    """A long-lived token (HubSpot private app) in the connection's password."""

    def apply(self, client: SourceClient) -> None:
        client.session.auth = None
        client.session.headers["Authorization"] = f"Bearer {client.connection.password}"


class OAuthClientCredentials(TokenAuth):
    """OAuth2 client credentials against `token_path`; the response may move the base URL (instance_url)."""

    def __init__(self, token_path: str, extra_form: dict[str, str] | None = None, json_body: bool = False):
        self.token_path, self.extra_form, self.json_body = token_path, extra_form or {}, json_body
        self.token: str | None = None

    def apply(self, client: SourceClient) -> None:
        client.session.auth = None
        if self.token is None:
            self.renew(client)

    def renew(self, client: SourceClient) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": client.connection.login or "",
            "client_secret": client.connection.password or "",
            **self.extra_form,
        }
        client.session.headers.pop("Authorization", None)
        kwargs = {"json": form} if self.json_body else {"data": form}
        resp = client.send("POST", self.token_path, authenticate=False, **kwargs)
        body = resp.json()
        self.token = body["access_token"]
        _mask_in_airflow_logs(self.token)
        if body.get("instance_url"):
            client.base_url = body["instance_url"].rstrip("/")
        client.session.headers["Authorization"] = f"Bearer {self.token}"
        log.info("%s: obtained a new access token", client.system)


class SourceClient:
    """One system's HTTP client: `get_json` / `post_json` with retries, auth and error mapping."""

    def __init__(
        self,
        system: str,
        conn_id: str,
        auth: TokenAuth,
        policy: RetryPolicy | None = None,
        settings_keys: tuple[str, ...] = (),
    ):
        self.system, self.conn_id, self.auth = system, conn_id, auth
        self.policy = policy or RetryPolicy()
        self.hook = HttpHook(method="GET", http_conn_id=conn_id)
        self.connection = self.hook.get_connection(conn_id)
        self.extra: dict[str, Any] = dict(self.connection.extra_dejson or {})
        self.session = self.hook.get_conn()
        # The hook turns every extra key into a header; per-system settings are not headers.
        for key in list(self.extra):
            if key in settings_keys or not isinstance(self.extra[key], str):
                self.session.headers.pop(key, None)
        self.base_url = self.hook.base_url.rstrip("/")
        _mask_in_airflow_logs(self.connection.password)
        self.retries = 0  # transient failures retried by this client (ledger)
        self.requests = 0
        self._renewed_for_401 = False
        auth.apply(self)

    def secrets(self) -> tuple[str, ...]:
        """Values that must never leave this process in clear: the connection's password (a client
        secret or a private-app token) and the current access token."""
        return tuple(v for v in (self.connection.password, getattr(self.auth, "token", None)) if v)

    def redact(self, text: str) -> str:
        return redact(str(text), self.secrets())

    def _api_error(self, status: int, resp: requests.Response, url: str) -> SourceApiError:
        return SourceApiError(self.system, status, self.redact(system_message(resp)), self.redact(url.split("?")[0]))

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def send(self, method: str, path: str, authenticate: bool = True, **kwargs: Any) -> requests.Response:
        """Send with retries; returns a 2xx response or raises SourceApiError."""

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
            return retrying(self._send_once, method, path, authenticate, kwargs)
        except RetryableError as exc:
            raise RetriesExhausted(self.redact(f"{self.system} {method} {path.split('?')[0]}: gave up after "
                                               f"{self.policy.attempts} attempts: {exc}")) from exc

    def _send_once(self, method: str, path: str, authenticate: bool, kwargs: dict) -> requests.Response:
        url = self.url(path)
        req = requests.Request(method, url, **kwargs)
        prepped = self.session.prepare_request(req)
        self.requests += 1
        try:
            resp = self.hook.run_and_check(
                self.session,
                prepped,
                {"check_response": False, "timeout": (self.policy.connect_timeout, self.policy.read_timeout)},
            )
        except (requests.ConnectionError, requests.Timeout) as exc:  # includes dropped connections
            raise RetryableError(self.redact(f"{type(exc).__name__}: {str(exc)[:200]}")) from exc
        status = resp.status_code
        if status < 400:
            return resp
        if status == 401 and authenticate:
            if self._renewed_for_401:
                raise self._api_error(status, resp, url)
            self._renewed_for_401 = True
            log.info("%s: 401 (%s), renewing the token once", self.system, self.redact(system_message(resp)))
            self.auth.renew(self)
            raise RetryableError("401 token renewed", wait=0.0)
        if status in RETRYABLE_STATUS:
            raise RetryableError(self.redact(f"HTTP {status}: {system_message(resp)[:200]}"), wait=server_wait(resp))
        if status == 403 and "REQUEST_LIMIT_EXCEEDED" in resp.text:
            # Salesforce's rate limit. Retried only when the server says when to come back soon
            # enough; a spent daily allowance (no Retry-After) fails with the system's message.
            wait = server_wait(resp)
            if wait is not None and wait <= self.policy.max_server_wait:
                raise RetryableError(self.redact(f"HTTP 403: {system_message(resp)[:200]}"), wait=wait)
        raise self._api_error(status, resp, url)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send and decode the JSON body; a truncated or malformed body is retried like a 5xx."""

        def _decode_once() -> Any:
            resp = self.send(method, path, **kwargs)
            try:
                body = _json_decoder.decode(resp.content)
            except msgspec.DecodeError as exc:
                raise RetryableError(f"malformed JSON body ({len(resp.content)} bytes): {exc}") from exc
            self._renewed_for_401 = False  # a success re-arms the one-renewal-per-401 rule
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
