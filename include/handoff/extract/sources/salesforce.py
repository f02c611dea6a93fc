"""Salesforce (CRM): Account, Contact, Opportunity, OpportunityLineItem, User.

One SOQL query per run through `queryAll`, so soft-deleted rows come back with `IsDeleted = true`
and land as deletes in the same merge. The `nextRecordsUrl` locator is a server-side snapshot of
the query, so ties on `SystemModstamp` at a batch boundary cannot be skipped within a run; across
runs the inclusive `>=` on the cursor re-reads them. The field list is explicit (SOQL has no `*`);
add fields with the connection extra `fields_<Object>` (comma list).

`count` is one `SELECT COUNT()` through `queryAll` (deleted rows included, as the read includes
them). A window of a windowed load (`window.mode == "window"`) holding at least `bulk_threshold`
records (connection setting, default 10000) is read through a Bulk API 2.0 `queryAll` job
instead of REST batches: same records, same JSON shapes, in no particular order (the runner
moves the cursor only when the window is finished). A job that expires while it is read is run
again once from the start (records read twice merge as one); a failed job fails the run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from handoff.connectors.salesforce import BulkJobExpired, Client
from handoff.extract import models
from handoff.extract.source import Source
from handoff.extract.state import StreamState
from handoff.extract.stream import Page, Stream, Window, parse_ts

COMMON = ["Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp"]
FIELDS = {
    "Account": ["Name", "Type", "Industry", "BillingCountry", "Website", "CurrencyIsoCode", "OwnerId"],
    "Contact": ["AccountId", "FirstName", "LastName", "Name", "Email", "Title", "CurrencyIsoCode", "OwnerId"],
    "Opportunity": ["AccountId", "Name", "StageName", "Probability", "IsClosed", "IsWon", "CloseDate", "Amount",
                    "CurrencyIsoCode", "Type", "OwnerId"],
    "OpportunityLineItem": ["OpportunityId", "Name", "ProductCode", "Quantity", "UnitPrice", "TotalPrice",
                            "ServiceDate", "CurrencyIsoCode"],
    "User": ["Name", "Username", "Email", "IsActive", "Title"],
}
NOT_DELETABLE = {"User"}  # User rows are deactivated, never deleted: no IsDeleted field
log = logging.getLogger(__name__)


def soql_ts(ts) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


class SalesforceStream(Stream):
    id_field = "Id"
    modified_field = "SystemModstamp"
    deleted_field = "IsDeleted"
    window_records = 50_000  # a windowed load's window: one Bulk job, one results chunk at the default size

    @staticmethod
    def where(since, before) -> str:
        cond = []
        if since:
            cond.append(f"SystemModstamp >= {soql_ts(since)}")
        if before:
            cond.append(f"SystemModstamp < {soql_ts(before)}")
        return " AND ".join(cond)

    def soql(self, client: Client, window: Window, ordered: bool = True) -> str:
        extra = [f.strip() for f in str(client.setting(f"fields_{self.name}") or "").split(",") if f.strip()]
        common = [f for f in COMMON if not (f == "IsDeleted" and self.name in NOT_DELETABLE)]
        fields = list(dict.fromkeys(common + FIELDS[self.name] + extra))
        q = f"SELECT {', '.join(fields)} FROM {self.name}"
        where = self.where(window.start, window.end)
        if where:
            q += " WHERE " + where
        return q + " ORDER BY SystemModstamp ASC, Id ASC" if ordered else q

    def count(self, client: Client, since, before) -> int | None:
        return client.count(self.name, self.where(since, before), include_deleted=True)

    def bounds(self, client: Client):
        """(oldest, newest) SystemModstamp, deleted rows included: one record each way."""
        ends = []
        for order in ("ASC", "DESC"):
            body = next(client.query(f"SELECT Id, SystemModstamp FROM {self.name} ORDER BY SystemModstamp "
                                     f"{order} LIMIT 1", include_deleted=True))
            records = body.get("records") or []
            if not records:
                return None
            ends.append(parse_ts(records[0].get("SystemModstamp")))
        return None if None in ends else (ends[0], ends[1])

    def min_window(self, client: Client) -> int:
        return _bulk_threshold(client)

    def prefers_window(self, client: Client, total: int) -> bool:
        return total >= _bulk_threshold(client)

    def pages(self, client: Client, window: Window, state: StreamState) -> Iterator[Page]:
        if window.mode == "window":
            n = self.count(client, window.start, window.end)
            if n >= _bulk_threshold(client):
                yield from self._bulk_pages(client, window, n)
                return
        for n, body in enumerate(client.query(self.soql(client, window), include_deleted=True), start=1):
            yield Page(body.get("records", []), f"batch {n} of {body.get('totalSize')}")

    def _bulk_pages(self, client: Client, window: Window, counted: int) -> Iterator[Page]:
        soql = self.soql(client, window, ordered=False)  # Bulk results come unordered anyway
        for attempt in (1, 2):
            read = 0
            try:
                for records in client.bulk_query(soql, include_deleted=True):
                    read += len(records)
                    yield Page(records, f"bulk {read}/{counted} (counted)")
                return
            except BulkJobExpired as exc:
                if attempt == 2:
                    raise
                log.warning("%s: %s after %d records; running the job again from the start", self.table, exc, read)


SOURCE = Source(
    name="salesforce",
    default_schedule="* * * * *",
    description="Salesforce (CRM): accounts, contacts, opportunities, line items, users",
    streams=[
        SalesforceStream("Account", models.SfAccount),
        SalesforceStream("Contact", models.SfContact),
        SalesforceStream("Opportunity", models.SfOpportunity),
        SalesforceStream("OpportunityLineItem", models.SfOpportunityLineItem),
        SalesforceStream("User", models.SfUser),
    ],
)


def _bulk_threshold(client: Client) -> int:
    return int(client.setting("bulk_threshold") or 10000)
