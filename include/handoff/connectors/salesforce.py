"""Salesforce REST: OAuth2 client credentials (the token may move the base URL), SOQL queries.

Settings (connection extra): `api_version` (default 62.0), `batch_size` (Sforce-Query-Options),
`fields_<Object>` (extra fields to select, comma list).
"""

from __future__ import annotations

from collections.abc import Iterator

from handoff.connectors.auth import OAuthClientCredentials
from handoff.connectors.http import SystemClient, SystemHook


class Hook(SystemHook, system="salesforce"):
    """The connection (type and settings from `handoff.systems`)."""


class Client(SystemClient, hook=Hook):
    def make_auth(self):
        return OAuthClientCredentials("services/oauth2/token")

    def probe(self) -> str:
        body = next(self.query("SELECT Id FROM User LIMIT 1", include_deleted=False))
        return f"{body.get('totalSize', 0)} user(s) through SOQL"

    def query(self, soql: str, include_deleted: bool = True) -> Iterator[dict]:
        """Each batch of a SOQL query (`queryAll` when deleted rows are wanted), following the
        server-side locator (`nextRecordsUrl`) until `done`."""
        version = self.setting("api_version")
        batch = self.setting("batch_size")
        headers = {"Sforce-Query-Options": f"batchSize={batch}"} if batch else {}
        endpoint = "queryAll" if include_deleted else "query"
        body = self.json("GET", f"services/data/v{version}/{endpoint}", params={"q": soql}, headers=headers)
        while True:
            yield body
            if body.get("done", True) or not body.get("nextRecordsUrl"):
                return
            body = self.json("GET", body["nextRecordsUrl"], headers=headers)
