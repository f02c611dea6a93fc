"""Kantata OX (PSA): workspaces, stories, users, time entries, expenses.

Paging walks page numbers over one fixed query (`updated_after` = cursor - look-back - 1 s, since
`updated_after` is strict; `order=updated_at:asc`, ties broken by id on the server): the server can
serve one sorted result set, and ties at page boundaries are simply consecutive pages. A record
updated *during* a walk moves to the end and shifts later pages left by one, which can hide a
record; the walk detects it (a version newer than the newest at walk start shows up) and then
re-reads by keyset (`_keyset`), which no shift can fool.
Records are read in `results` order, not by iterating the top-level maps.
Hard deletes have no feed: ids are reconciled against a full id listing, each confirmed by `only=`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

from handoff.extract import models
from handoff.extract.http import OAuthClientCredentials, SourceClient
from handoff.extract.source import Source
from handoff.extract.state import StreamState
from handoff.extract.streams import Page, Stream, Window, parse_ts

log = logging.getLogger(__name__)
PER_PAGE = 200
SECOND = timedelta(seconds=1)


def _iso(ts) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


class KantataStream(Stream):
    reconcile = True

    def _records(self, body: dict) -> list[dict]:
        objs = body.get(self.name) or {}
        out = []
        for r in body.get("results", []):
            if r.get("key") != self.name:
                continue
            rec = objs.get(str(r["id"]))
            if rec is None:
                continue
            out.append(rec if "id" in rec else {"id": str(r["id"]), **rec})
        return out

    def pages(self, client: SourceClient, window: Window, state: StreamState) -> Iterator[Page]:
        path = f"api/v1/{self.name}.json"
        base = {"per_page": PER_PAGE, "order": "updated_at:asc", **self.options.get("params", {})}
        if window.end:
            base["updated_before"] = _iso(window.end)
        if window.start is not None:
            base["updated_after"] = _iso(window.start - SECOND)
        # The newest version at walk start: a record newer than it was written during the walk.
        head = client.json("GET", path, params=dict(base, per_page=1, page=1, order="updated_at:desc"))
        newest = max((r.get("updated_at", "") for r in self._records(head)), default="")
        churn = False
        page = 1
        while True:
            body = client.json("GET", path, params=dict(base, page=page))
            records = self._records(body)
            if newest and not churn and any(r.get("updated_at", "") > newest for r in records):
                churn = True
            yield Page(records, f"page {page}/{(body.get('meta') or {}).get('page_count', '?')}")
            if len(body.get("results", [])) < PER_PAGE:
                break
            page += 1
        if churn:  # records moved while we paged: a shifted page may have hidden one; re-read by keyset
            log.info("%s: records changed during the page walk; re-reading by keyset", self.table)
            yield from self._keyset(client, path, base, window)

    def _keyset(self, client: SourceClient, path: str, base: dict, window: Window) -> Iterator[Page]:
        """Shift-proof walk: re-anchor every request at the last timestamp seen, skipping its ties
        already read (the server breaks ties by id), so groups of ties larger than a page work."""
        base = {k: v for k, v in base.items() if k != "updated_after"}
        anchor, skip, n = window.start, 0, 0
        while True:
            params = dict(base, page=skip // PER_PAGE + 1)
            if anchor is not None:
                params["updated_after"] = _iso(anchor - SECOND)
            body = client.json("GET", path, params=params)
            raw = self._records(body)
            n += 1
            yield Page(raw[skip % PER_PAGE:], f"keyset page {n} (after={params.get('updated_after')})")
            if len(body.get("results", [])) < PER_PAGE:
                return
            last = parse_ts(raw[-1].get("updated_at")) if raw else None
            if last is None:
                skip += PER_PAGE
                continue
            if anchor is not None and last == anchor:
                skip = (skip // PER_PAGE) * PER_PAGE + len(body["results"])
            else:
                anchor = last
                skip = sum(1 for r in raw if parse_ts(r.get("updated_at")) == last)

    def live_ids(self, client: SourceClient) -> Iterator[list[str]]:
        page = 1
        while True:
            body = client.json("GET", f"api/v1/{self.name}.json",
                               params={"per_page": PER_PAGE, "page": page, "order": "created_at:asc"})
            ids = [str(r["id"]) for r in body.get("results", []) if r.get("key") == self.name]
            yield ids
            if len(body.get("results", [])) < PER_PAGE:
                return
            page += 1

    def confirm_missing(self, client: SourceClient, ids: list[str]) -> set[str]:
        gone = set(ids)
        for i in range(0, len(ids), 100):
            chunk = ids[i:i + 100]
            body = client.json("GET", f"api/v1/{self.name}.json",
                               params={"only": ",".join(chunk), "per_page": PER_PAGE})
            gone -= {str(r["id"]) for r in body.get("results", []) if r.get("key") == self.name}
        return gone


SOURCE = Source(
    name="kantata",
    auth=lambda: OAuthClientCredentials("oauth/token"),
    default_schedule="* * * * *",
    description="Kantata OX (PSA): projects, tasks, people, time and expenses",
    streams=[
        KantataStream("workspaces", models.KtWorkspace),
        KantataStream("stories", models.KtStory),
        KantataStream("users", models.KtUser),
        KantataStream("time_entries", models.KtTimeEntry),
        KantataStream("expenses", models.KtExpense),
    ],
    tags=("psa",),
)
