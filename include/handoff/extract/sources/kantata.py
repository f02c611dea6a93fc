"""Kantata OX (PSA): workspaces, stories, users, time entries, expenses.

Paging walks page numbers (`order=updated_at:asc`, ties broken by id on the server; `updated_after`
is strict, so "at or after t" is `updated_after = t - 1 s`) through `walk.verified_walk`: a
record deleted or updated *during* a walk shifts later pages up by one and would hide the record
at the next page boundary; the walk bounds each range by its newest `updated_at` (`updated_before`)
so nothing can enter it, watches `meta.count`, and re-anchors when records leave it.
Records are read in `results` order, not by iterating the top-level maps.
Hard deletes have no feed: `handoff.extract.sweep` compares `meta.count` of records created in a
range (`created_after`/`created_before`) with raw's count for it, narrows unequal ranges by
bisection and lists only those (plus a rotating slice of history); each id raw holds that a listing
lacks is confirmed by `only=`. `live_ids` (the full listing) remains for the runner's old path.
Workspaces and users carry their external references (the CRM deal, the Workday worker) inlined as
`external_references: [...]` (asked with `include=external_references`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

from handoff.connectors.kantata import MAX_PER_PAGE as PER_PAGE
from handoff.connectors.kantata import Client, total
from handoff.extract import models
from handoff.extract.source import Source
from handoff.extract.state import StreamState
from handoff.extract.stream import Page, Stream, Window, parse_ts
from handoff.extract.walk import verified_walk

log = logging.getLogger(__name__)
SECOND = timedelta(seconds=1)


def _iso(ts) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


class KantataStream(Stream):
    reconcile = True
    created_field = "created_at"  # the sweep's ranges: creation time never changes
    # A flag of `params` that also lists soft-deleted records (stories' `show_deleted`): sweeps
    # leave it out, so their counts and listings hold exactly the records raw holds live.
    soft_delete_flag: str | None = None

    def _params(self, since, before, **extra) -> dict:
        p = {"order": "updated_at:asc", **self.options.get("params", {}), **extra}
        if since is not None:
            p["updated_after"] = _iso(since - SECOND)  # strict: after t - 1 s = at or after t
        if before is not None:
            p["updated_before"] = _iso(before)
        return p

    def count(self, client: Client, since, before) -> int | None:
        _, body = client.list(self.name, self._params(since, before, per_page=1, page=1))
        return total(body)

    def bounds(self, client: Client):
        """(oldest, newest) `updated_at`: one record each way (windowed loads plan from these)."""
        oldest = self.modified_at_offset(client, None, 0)
        records, _ = client.list(self.name, self._params(None, None, per_page=1, page=1, order="updated_at:desc"))
        newest = parse_ts(records[0].get("updated_at")) if records else None
        return None if oldest is None or newest is None else (oldest, newest)

    def modified_at_offset(self, client: Client, since, offset: int):
        records, _ = client.list(self.name, self._params(since, None, per_page=1, page=offset + 1))
        return parse_ts(records[0].get("updated_at")) if records else None

    def pages(self, client: Client, window: Window, state: StreamState) -> Iterator[Page]:
        params = self._params
        embed = self.options.get("embed", ())
        include = {"include": ",".join(embed)} if embed else {}

        def fetch(since, before, offset):
            per_page = PER_PAGE
            records, body = client.list(self.name, params(since, before, per_page=per_page,
                                                          page=offset // per_page + 1, **include))
            if embed:
                records = [_embed(r, body, embed) for r in records]
            return records, len(body.get("results", [])) >= per_page, total(body)

        def newest(since, before):
            records, _ = client.list(self.name, params(since, before, per_page=1, page=1, order="updated_at:desc"))
            return max((parse_ts(r.get("updated_at")) for r in records), default=None)

        for records, label in verified_walk(fetch, newest, window.start, window.end, PER_PAGE,
                                            lambda r: parse_ts(r.get("updated_at")), resolution=SECOND,
                                            closed=window.closed):
            yield Page(records, label)

    def live_ids(self, client: Client) -> Iterator[list[str]]:
        page = 1
        while True:
            _, body = client.list(self.name, {**self.options.get("params", {}), "per_page": PER_PAGE, "page": page,
                                              "order": "created_at:asc"})
            ids = [str(r["id"]) for r in body.get("results", []) if r.get("key") == self.name]
            yield ids
            if len(body.get("results", [])) < PER_PAGE:
                return
            page += 1

    # -- delete sweeps by creation time (handoff.extract.sweep) ---------------------------------------
    def _created_params(self, since, before, **extra) -> dict:
        p = {k: v for k, v in self.options.get("params", {}).items() if k != self.soft_delete_flag}
        p.update(order="created_at:asc", **extra)  # the server breaks ties by id: a stable order
        if since is not None:
            p["created_after"] = _iso(since - SECOND)  # strict: after t - 1 s = at or after t
        if before is not None:
            p["created_before"] = _iso(before)  # strict: before
        return p

    def count_created(self, client: Client, since, before) -> int:
        """How many live records (soft-deleted ones excluded) were created in [since, before): one
        request (`meta.count` of a one-record page); since None = from the beginning."""
        _, body = client.list(self.name, self._created_params(since, before, per_page=1, page=1))
        n = total(body)
        if n is None:
            raise RuntimeError(f"kantata {self.name}: the list answered without meta.count")
        return int(n)

    def created_ids(self, client: Client, since, before) -> Iterator[list[str]]:
        """The ids of the live records created in [since, before), a page at a time (offset paging:
        a record deleted meanwhile may hide one at a page boundary; the sweep confirms every id it
        misses by `only=` before calling it deleted)."""
        page = 1
        while True:
            _, body = client.list(self.name, self._created_params(since, before, per_page=PER_PAGE, page=page))
            results = body.get("results", [])
            yield [str(r["id"]) for r in results if r.get("key") == self.name]
            n = total(body)
            if len(results) < PER_PAGE or (n is not None and page * PER_PAGE >= n):
                return
            page += 1

    def confirm_missing(self, client: Client, ids: list[str]) -> set[str]:
        gone = set(ids)
        for i in range(0, len(ids), 100):
            chunk = ids[i:i + 100]
            records, _ = client.list(self.name, {**self.options.get("params", {}), "only": ",".join(chunk),
                                                 "per_page": PER_PAGE})
            gone -= {str(r["id"]) for r in records}
        return gone


def _embed(rec: dict, body: dict, includes) -> dict:
    """The record with its included associations inlined (Kantata returns them as top-level maps
    keyed by id): `external_references` → a list of the reference records named by
    `external_reference_ids`, in that order. A reference changed without the record's
    `updated_at` moving is seen at the record's next change."""
    out = dict(rec)
    for inc in includes:
        ids_field = {"external_references": "external_reference_ids"}[inc]
        objs = body.get(inc) or {}
        out[inc] = [objs[str(i)] for i in rec.get(ids_field) or [] if str(i) in objs]
    return out


class KantataStoryStream(KantataStream):
    deleted_field = "deleted_at"  # show_deleted=true lists soft-deleted stories, deleted_at set
    soft_delete_flag = "show_deleted"


# Kantata hides archived projects (workspaces) and their data, and deleted stories, unless asked.
SOURCE = Source(
    name="kantata",
    default_schedule="* * * * *",
    description="Kantata OX (PSA): projects, tasks, people, time and expenses",
    streams=[
        KantataStream("workspaces", models.KtWorkspace, params={"include_archived": "true"},
                      embed=["external_references"]),
        KantataStoryStream("stories", models.KtStory, params={
            "show_archived": "true", "show_deleted": "true", "show_from_archived_workspaces": "true"}),
        KantataStream("users", models.KtUser, embed=["external_references"]),
        KantataStream("time_entries", models.KtTimeEntry, params={"from_archived_workspaces": "true"}),
        KantataStream("expenses", models.KtExpense, params={"from_archived_workspaces": "true"}),
    ],
)
