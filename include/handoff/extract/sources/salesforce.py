"""Salesforce (CRM): Account, Contact, Opportunity, OpportunityLineItem, User.

One SOQL query per run through `queryAll`, so soft-deleted rows come back with `IsDeleted = true`
and land as deletes in the same merge. The `nextRecordsUrl` locator is a server-side snapshot of
the query, so ties on `SystemModstamp` at a batch boundary cannot be skipped within a run; across
runs the inclusive `>=` on the cursor re-reads them. The field list is explicit (SOQL has no `*`);
add fields with the connection extra `fields_<Object>` (comma list).
"""

from __future__ import annotations

from collections.abc import Iterator

from handoff.connectors.salesforce import Client
from handoff.extract import models
from handoff.extract.source import Source
from handoff.extract.state import StreamState
from handoff.extract.stream import Page, Stream, Window

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


def soql_ts(ts) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


class SalesforceStream(Stream):
    id_field = "Id"
    modified_field = "SystemModstamp"
    deleted_field = "IsDeleted"

    def soql(self, client: Client, window: Window) -> str:
        extra = [f.strip() for f in str(client.setting(f"fields_{self.name}") or "").split(",") if f.strip()]
        common = [f for f in COMMON if not (f == "IsDeleted" and self.name in NOT_DELETABLE)]
        fields = list(dict.fromkeys(common + FIELDS[self.name] + extra))
        where = []
        if window.start:
            where.append(f"SystemModstamp >= {soql_ts(window.start)}")
        if window.end:
            where.append(f"SystemModstamp < {soql_ts(window.end)}")
        q = f"SELECT {', '.join(fields)} FROM {self.name}"
        if where:
            q += " WHERE " + " AND ".join(where)
        return q + " ORDER BY SystemModstamp ASC, Id ASC"

    def pages(self, client: Client, window: Window, state: StreamState) -> Iterator[Page]:
        for n, body in enumerate(client.query(self.soql(client, window), include_deleted=True), start=1):
            yield Page(body.get("records", []), f"batch {n} of {body.get('totalSize')}")


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
