"""HubSpot CRM v3 (CRM of an acquired unit): companies, contacts, deals, line items.

Incremental reads use search, sorted ascending on the modification property
(`hs_lastmodifieddate`; contacts `lastmodifieddate`, which is what works on contacts), with an
inclusive GTE filter. Every next page is a new query anchored after the last record by keyset,
`(modified, hs_object_id) > (last modified, last id)` as two OR-ed filter groups, never an
offset: records archived or updated during the walk cannot shift a page past an unread record,
the 10,000-results cap of one query is never reached, and more than 10,000 ties page through (results are ordered by the sort,
then by id: documented for the simulator, *unverified* for the real API). Archived (deleted)
records never match search and the archived listing has no time filter: it is swept at the
reconcile cadence (`handoff_extract_reconcile_minutes`), not every minute, and lands them as deletes.
Deals carry their company and line items their deal as `associations` (v3 list shape), read per
search page from the v4 associations batch endpoint, since search returns none.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from handoff.connectors.hubspot import Client
from handoff.extract import models
from handoff.extract.load import Tombstone
from handoff.extract.source import Source
from handoff.extract.state import StreamState
from handoff.extract.stream import Page, Stream, Window, parse_ts

SEARCH_LIMIT, SEARCH_CAP, LIST_LIMIT = 200, 10_000, 100
SINGULAR = {"companies": "company", "contacts": "contact", "deals": "deal", "line_items": "line_item"}
COMMON = ["createdate", "hs_object_id", "hs_lastmodifieddate"]
PROPERTIES = {
    "companies": ["name", "domain", "industry", "country", "city", "hs_currency"],
    "contacts": ["firstname", "lastname", "email", "associatedcompanyid", "jobtitle", "lastmodifieddate"],
    "deals": ["dealname", "dealstage", "pipeline", "amount", "deal_currency_code", "closedate", "hs_is_closed_won"],
    "line_items": ["name", "quantity", "price", "amount", "hs_line_item_currency_code", "hs_sku"],
}


def _ms(ts: datetime) -> str:
    return str(int(ts.timestamp() * 1000))


class HubSpotStream(Stream):
    deleted_field = "archived"

    @property
    def modified_property(self) -> str:
        return "lastmodifieddate" if self.name == "contacts" else "hs_lastmodifieddate"

    def properties(self, client: Client) -> list[str]:
        extra = [p.strip() for p in str(client.setting(f"properties_{self.name}") or "").split(",") if p.strip()]
        return list(dict.fromkeys(PROPERTIES[self.name] + COMMON + extra))

    def identify(self, record: dict):
        m = self._validate(record)
        modified = parse_ts(m.properties.get(self.modified_property)) or m.updatedAt
        return m.id, modified, m.archived

    def fields(self, record: dict):
        props = record.get("properties")
        return props.keys() if isinstance(props, dict) else record.keys()

    def declared_fields(self) -> list[str]:
        return [self.modified_property]

    def _modified(self, rec: dict) -> datetime | None:
        return parse_ts((rec.get("properties") or {}).get(self.modified_property) or rec.get("updatedAt"))

    def pages(self, client: Client, window: Window, state: StreamState) -> Iterator[Page]:
        prop, props = self.modified_property, self.properties(client)
        upper = [{"propertyName": prop, "operator": "LT", "value": _ms(window.end)}] if window.end else []

        def groups(since: datetime | None, tie_id: str | None) -> list[dict]:
            if since is None:
                return [{"filters": upper}] if upper else []
            if tie_id is None:
                return [{"filters": [{"propertyName": prop, "operator": "GTE", "value": _ms(since)}, *upper]}]
            return [  # keyset: (modified, id) > (since, tie_id), OR of two groups
                {"filters": [{"propertyName": prop, "operator": "EQ", "value": _ms(since)},
                             {"propertyName": "hs_object_id", "operator": "GT", "value": tie_id}, *upper]},
                {"filters": [{"propertyName": prop, "operator": "GT", "value": _ms(since)}, *upper]},
            ]

        since, tie_id, offset = window.start, None, 0
        while True:
            body = client.search(self.name, {
                "filterGroups": groups(since, tie_id),
                "sorts": [{"propertyName": prop, "direction": "ASCENDING"}],
                "properties": props, "limit": SEARCH_LIMIT, "after": offset,
            })
            records = body.get("results", [])
            if records and self.options.get("associations"):
                records = self._with_associations(client, records)
            yield Page(records, f"search since={since.isoformat() if since else '-'} id>{tie_id} after={offset}")
            if not records or not ((body.get("paging") or {}).get("next") or {}).get("after"):
                return
            # Keyset after every page, never an offset: an offset walk over a moving result set skips
            # a record whenever one on an earlier page is archived or updated (the rest shift up).
            # (modified, id) > (last modified, last id) cannot be shifted, and never meets the cap.
            since, tie_id, offset = self._modified(records[-1]), str(records[-1]["id"]), 0

    def _with_associations(self, client: Client, records: list[dict]) -> list[dict]:
        """Search returns no associations: read them for the page with the v4 batch endpoint
        (`POST /crm/v4/associations/{from}/{to}/batch/read`, one request per associated type) and
        embed them as the v3 list shape (`associations.<type>.results[{id, type}]`). An association
        changed without the record's modification time moving is seen at the record's next change."""
        out = [dict(r) for r in records]
        for other in self.options["associations"]:
            body = client.json("POST", f"crm/v4/associations/{self.name}/{other}/batch/read",
                               json={"inputs": [{"id": str(r["id"])} for r in records]}, replay_safe=True)
            found = {str(a["from"]["id"]): a.get("to") or [] for a in body.get("results", [])}
            kind = f"{SINGULAR[self.name]}_to_{SINGULAR[other]}"
            for r in out:
                links = [{"id": str(t["toObjectId"]), "type": kind} for t in found.get(str(r["id"]), [])]
                if links:
                    r["associations"] = {**(r.get("associations") or {}), other: {"results": links}}
        return out

    def swept_tombstones(self, client: Client) -> Iterator[list[Tombstone]]:
        params = {"archived": "true", "limit": LIST_LIMIT, "properties": ",".join(self.properties(client))}
        for body in client.list_pages(self.name, params):
            tombs = [
                Tombstone(str(r["id"]), r.get("archivedAt") or r.get("updatedAt"), payload=r)
                for r in body.get("results", [])
                if r.get("archived", True)
            ]
            if tombs:
                yield tombs


SOURCE = Source(
    name="hubspot",
    default_schedule="* * * * *",
    description="HubSpot CRM (acquired unit): companies, contacts, deals, line items",
    streams=[HubSpotStream("companies", models.HubSpotObject),
             HubSpotStream("contacts", models.HubSpotObject),
             HubSpotStream("deals", models.HubSpotObject, associations=["companies"]),
             HubSpotStream("line_items", models.HubSpotObject, associations=["deals"])],
)
