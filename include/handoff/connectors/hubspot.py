"""HubSpot CRM v3: private-app bearer token, object search (a read sent as POST), object lists.

Settings (connection extra): `properties_<object>` (extra properties to read, comma list).
"""

from __future__ import annotations

from collections.abc import Iterator

from handoff.connectors.auth import StaticBearer
from handoff.connectors.http import SystemClient, SystemHook


class Hook(SystemHook, system="hubspot"):
    """The connection (type and settings from `handoff.systems`)."""


class Client(SystemClient, hook=Hook):
    def make_auth(self):
        return StaticBearer()

    def probe(self) -> str:
        body = self.json("GET", "crm/v3/objects/companies", params={"limit": 1})
        return f"{len(body.get('results', []))} company"

    def search(self, object_type: str, query: dict) -> dict:
        """One page of `POST /crm/v3/objects/{type}/search` (a read: safe to re-send)."""
        return self.json("POST", f"crm/v3/objects/{object_type}/search", json=query, replay_safe=True)

    def list_pages(self, object_type: str, params: dict) -> Iterator[dict]:
        """Every page of `GET /crm/v3/objects/{type}`, following `paging.next.after`."""
        after = None
        while True:
            body = self.json("GET", f"crm/v3/objects/{object_type}", params={**params, **({"after": after} if after else {})})
            yield body
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return
