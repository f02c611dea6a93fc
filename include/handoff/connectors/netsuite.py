"""NetSuite REST web services: OAuth2 client credentials, SuiteQL pages, idempotent record writes.

Settings (connection extra): `account` (the account id, as in the real base URL).
SuiteQL is a read sent as POST (safe to re-send). Writes carry `X-NetSuite-Idempotency-Key` and
`Prefer: respond-async`, so a retry after a timeout is answered by the first request's job,
never a second record.
"""

from __future__ import annotations

from dataclasses import dataclass

from handoff.connectors.auth import OAuthClientCredentials
from handoff.connectors.http import SystemClient, SystemHook

SUITEQL = "services/rest/query/v1/suiteql"
MAX_LIMIT = 1000


class Hook(SystemHook, system="netsuite"):
    """The connection (type and settings from `handoff.systems`)."""


@dataclass(frozen=True)
class Submitted:
    """A write NetSuite accepted: `location` is the record (sync) or the async job answering it."""

    status: int
    location: str | None


class Client(SystemClient, hook=Hook):
    idempotency_header = "X-NetSuite-Idempotency-Key"

    def make_auth(self):
        return OAuthClientCredentials("services/rest/auth/oauth2/v1/token")

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
