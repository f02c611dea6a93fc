"""Kantata OX API v1: OAuth2 client credentials, list endpoints read in `results` order.

A list answers `{count, meta, results: [{key, id}], <key>: {id: record}, <include>: {...}}`;
records are read in the order of `results`, never by iterating the maps.
"""

from __future__ import annotations

from handoff.connectors.auth import OAuthClientCredentials
from handoff.connectors.http import SystemClient, SystemHook

MAX_PER_PAGE = 200


class Hook(SystemHook, system="kantata"):
    """The connection (type and settings from `handoff.systems`)."""


class Client(SystemClient, hook=Hook):
    def make_auth(self):
        return OAuthClientCredentials("oauth/token")

    def probe(self) -> str:
        records_, _ = self.list("users", {"per_page": 1})
        return f"{len(records_)} user"

    def list(self, resource: str, params: dict) -> tuple[list[dict], dict]:
        """One page of `GET /api/v1/{resource}.json`: (its records in `results` order, the body)."""
        body = self.json("GET", f"api/v1/{resource}.json", params=params)
        return records(body, resource), body


def records(body: dict, key: str) -> list[dict]:
    """The records of type `key` in the order the `results` list gives them."""
    objs = body.get(key) or {}
    out = []
    for r in body.get("results", []):
        if r.get("key") != key:
            continue
        rec = objs.get(str(r["id"]))
        if rec is None:
            continue
        out.append(rec if "id" in rec else {"id": str(r["id"]), **rec})
    return out


def total(body: dict) -> int | None:
    """The size of the whole result set the page belongs to (`meta.count`)."""
    return (body.get("meta") or {}).get("count", body.get("count"))
