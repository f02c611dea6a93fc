"""NetSuite REST web services: OAuth2 client credentials, SuiteQL pages, idempotent record writes.

Settings (connection extra): `account` (the account id, as in the real base URL).
SuiteQL is a read sent as POST (safe to re-send). Every write carries `X-NetSuite-Idempotency-Key`,
so a retry after a timeout is answered by the first request's job, never a second record:
NetSuite refuses a repeated key (400 IDEMPOTENCY_ERROR) with a `Location` header pointing at the
first job, whose task result is the first request's outcome (`job_outcome`). Creates and updates
are synchronous (204 + `Location` of the record: one request per posting); `submit_record` keeps
the asynchronous form (`Prefer: respond-async`, 202 + the job's `Location`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import quote

import requests

from handoff.connectors.auth import OAuthClientCredentials
from handoff.connectors.http import SystemApiError, SystemClient, SystemHook, system_message

SUITEQL = "services/rest/query/v1/suiteql"
RECORD = "services/rest/record/v1"
MAX_LIMIT = 1000
IDEMPOTENCY_ERROR = "IDEMPOTENCY_ERROR"


class NetSuiteError(SystemApiError):
    """A NetSuite refusal with its `o:errorDetails`: `code` / `path` of the first detail, every
    detail in `details`, and the `Location` header (a repeated idempotency key names the first job)."""

    def __init__(self, status: int, message: str, url: str, details: list[dict], location: str | None):
        super().__init__("netsuite", status, message, url)
        self.details, self.location = details, location
        first = details[0] if details else {}
        self.code: str | None = first.get("o:errorCode")
        self.path: str | None = first.get("o:errorPath")


def _details(resp: requests.Response) -> list[dict]:
    try:
        body = resp.json()
    except ValueError:
        return []
    details = body.get("o:errorDetails") if isinstance(body, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


class Hook(SystemHook, system="netsuite"):
    """The connection (type and settings from `handoff.systems`)."""


def record_id(location: str | None) -> str | None:
    """The record id of a `Location` header (its last path segment)."""
    return location.rstrip("/").rsplit("/", 1)[-1] if location else None


@dataclass(frozen=True)
class Submitted:
    """A write NetSuite accepted: `location` is the record (sync) or the async job answering it."""

    status: int
    location: str | None


class Client(SystemClient, hook=Hook):
    idempotency_header = "X-NetSuite-Idempotency-Key"

    def make_auth(self):
        return OAuthClientCredentials("services/rest/auth/oauth2/v1/token")

    def _api_error(self, status: int, resp: requests.Response, url: str) -> NetSuiteError:
        return NetSuiteError(status, self.redact(system_message(resp)), self.redact(url.split("?")[0]),
                             _details(resp), resp.headers.get("Location"))

    def probe(self) -> str:
        body = self.suiteql("SELECT id FROM subsidiary", limit=1)
        return f"{len(body.get('items', []))} subsidiary through SuiteQL"

    def suiteql(self, query: str, offset: int = 0, limit: int = MAX_LIMIT) -> dict:
        """One page of a SuiteQL query: `{items, hasMore, totalResults, offset, count}`."""
        return self.json("POST", SUITEQL, params={"limit": limit, "offset": offset}, json={"q": query},
                         headers={"Prefer": "transient"}, replay_safe=True)

    def submit_record(self, record_type: str, body: dict, idempotency_key: str) -> Submitted:
        """Create a record asynchronously under an idempotency key (retried safely)."""
        resp = self.send("POST", f"services/rest/record/v1/{record_type}", json=body,
                         idempotency_key=idempotency_key, headers={"Prefer": "respond-async"})
        return Submitted(resp.status_code, resp.headers.get("Location"))

    # ---- synchronous record writes (one request each) ------------------------------------
    def create(self, record_type: str, body: dict, idempotency_key: str) -> str:
        """Create a record; returns its id. A repeated key is answered with the first request's
        outcome (its id, or its refusal raised as NetSuiteError)."""
        return self._write("POST", f"{RECORD}/{record_type}", body, idempotency_key)

    def update(self, record_type: str, record_id: str, body: dict, idempotency_key: str) -> str:
        """Change the fields in `body` of record `record_id` (PATCH); returns the record's id."""
        return self._write("PATCH", f"{RECORD}/{record_type}/{record_id}", body, idempotency_key) or record_id

    def delete(self, record_type: str, record_id: str, idempotency_key: str) -> None:
        """Remove record `record_id` (DELETE)."""
        self._write("DELETE", f"{RECORD}/{record_type}/{record_id}", None, idempotency_key)

    def upsert(self, record_type: str, external_id: str, body: dict, idempotency_key: str) -> str:
        """Create or replace the record with this external id (PUT eid:); returns its id."""
        return self._write("PUT", self._eid_path(record_type, external_id), body, idempotency_key)

    def get_by_external_id(self, record_type: str, external_id: str) -> dict | None:
        """The record with this external id (`GET .../eid:{externalId}`), None if there is none."""
        try:
            return self.json("GET", self._eid_path(record_type, external_id))
        except NetSuiteError as exc:
            if exc.status == 404:
                return None
            raise

    def _eid_path(self, record_type: str, external_id: str) -> str:
        return f"{RECORD}/{record_type}/eid:{quote(external_id, safe='')}"

    def _write(self, method: str, path: str, body: dict | None, idempotency_key: str) -> str | None:
        kwargs = {"json": body} if body is not None else {}
        try:
            resp = self.send(method, path, idempotency_key=idempotency_key, **kwargs)
        except NetSuiteError as exc:
            if exc.code != IDEMPOTENCY_ERROR or not exc.location:
                raise
            return self.job_outcome(exc.location)  # this key was used before: its first outcome
        return record_id(resp.headers.get("Location"))

    # ---- async jobs ----------------------------------------------------------------------
    def job_outcome(self, location: str, timeout: float = 60.0) -> str | None:
        """Wait for the async job at `location` and return the record id its (single) task
        produced; a refused request is raised as NetSuiteError in the job result's own words."""
        deadline = time.monotonic() + timeout
        job = self.json("GET", location)
        while not job.get("completed"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"netsuite job {location} not completed after {timeout:.0f}s")
            time.sleep(0.5)
            job = self.json("GET", location)
        tasks = self.json("GET", f"{location.rstrip('/')}/task")
        task_href = tasks["items"][0]["links"][0]["href"]
        resp = self.send("GET", f"{task_href.rstrip('/')}/result")  # the first request's own answer
        return record_id(resp.headers.get("Location"))
