"""Salesforce REST: OAuth2 client credentials (the token may move the base URL), SOQL queries.

Settings (connection extra): `api_version` (default 62.0), `batch_size` (Sforce-Query-Options),
`fields_<Object>` (extra fields to select, comma list).
"""

from __future__ import annotations

from collections.abc import Iterator

from handoff.connectors.auth import OAuthClientCredentials
from handoff.connectors.http import RetryPolicy, SystemClient, SystemHook
from handoff.systems import system

SYSTEM = system("salesforce")


class Hook(SystemHook):
    system = SYSTEM.name
    conn_type = SYSTEM.conn_type
    hook_name = f"Handoff {SYSTEM.title}"
    settings = SYSTEM.settings
    setting_prefixes = SYSTEM.setting_prefixes


class Client(SystemClient):
    hook_class = Hook

    def __init__(self, conn_id: str, policy: RetryPolicy | None = None):
        super().__init__(conn_id, OAuthClientCredentials("services/oauth2/token"), policy)

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
