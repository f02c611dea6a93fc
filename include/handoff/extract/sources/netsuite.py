"""NetSuite (ERP) through SuiteQL: subsidiaries, currencies and their exchange rates, service items,
accounting periods, customers, jobs, employees, time bills, invoices, customer payments (and the
invoices they pay), billing events.

SuiteQL renders datetimes as `M/D/YYYY` without time, so each query selects
`TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS lastmodified` (UTC) for the cursor. Pages
are offset-based under a 100,000-row cap per query, walked by `walk.verified_walk` (ranges
bounded by their newest `lastmodifieddate`, `totalResults` watched so a delete or update during the
walk cannot hide a record; past the cap it re-anchors on the last modification time, inclusive). Deletes come from `DeletedRecord` (recordtype, recordid, deleteddate).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from handoff.connectors.netsuite import MAX_LIMIT as LIMIT
from handoff.connectors.netsuite import Client
from handoff.extract import models
from handoff.extract.load import Tombstone
from handoff.extract.source import Source
from handoff.extract.state import StreamState
from handoff.extract.stream import Page, Stream, Window, parse_ts
from handoff.extract.walk import verified_walk

CAP = 100_000  # rows one SuiteQL query returns at most


def ts_literal(ts: datetime) -> str:
    return f"TO_TIMESTAMP('{ts:%Y-%m-%d %H:%M:%S}', 'YYYY-MM-DD HH24:MI:SS')"


class SuiteQLStream(Stream):
    """Options: `from` (table), `where` (extra conditions), `modified_column` (default
    lastmodifieddate; custom records: lastmodified), `recordtype` (DeletedRecord type for deletes),
    `key` (columns that order ties and identify a record: default ["id"]; a table without an id,
    like NextTransactionLineLink, names its key columns and a model property joining them)."""

    id_field = "id"
    modified_field = "lastmodified"

    def __init__(self, name, model, **options):
        super().__init__(name, model, **options)
        if "id_field" in options:
            self.id_field = options["id_field"]

    def query(self, since: datetime | None, end: datetime | None, descending: bool = False) -> str:
        col = self.options.get("modified_column", "lastmodifieddate")
        where = list(self.options.get("where", []))
        if since is not None:
            where.append(f"{col} >= {ts_literal(since)}")
        if end is not None:
            where.append(f"{col} < {ts_literal(end)}")
        q = f"SELECT *, TO_CHAR({col}, 'YYYY-MM-DD HH24:MI:SS') AS lastmodified FROM {self.options['from']}"
        if where:
            q += " WHERE " + " AND ".join(where)
        order = "DESC" if descending else "ASC"
        keys = ", ".join(f"{k} {order}" for k in self.options.get("key", ["id"]))
        return q + f" ORDER BY {col} {order}, {keys}"

    def pages(self, client: Client, window: Window, state: StreamState) -> Iterator[Page]:
        def fetch(since, before, offset):
            body = client.suiteql(self.query(since, before), offset, LIMIT)
            return body.get("items", []), bool(body.get("hasMore")), body.get("totalResults")

        def newest(since, before):
            items = client.suiteql(self.query(since, before, descending=True), 0, limit=1).get("items", [])
            return modified(items[0]) if items else None

        def modified(rec):
            return parse_ts(models._netsuite_ts(rec.get("lastmodified")))

        for items, label in verified_walk(fetch, newest, window.start, window.end, LIMIT, modified,
                                          resolution=timedelta(seconds=1), cap=CAP):
            yield Page(items, f"suiteql {label}")

    def tombstones(self, client: Client, window: Window, state: StreamState) -> Iterator[list[Tombstone]]:
        recordtype = self.options.get("recordtype")
        if not recordtype:
            return
        where = [f"recordtype = '{recordtype}'"]
        if window.start is not None:
            where.append(f"deleteddate >= {ts_literal(window.start)}")
        if window.end is not None:
            where.append(f"deleteddate < {ts_literal(window.end)}")
        q = ("SELECT recordid, TO_CHAR(deleteddate, 'YYYY-MM-DD HH24:MI:SS') AS deleted FROM DeletedRecord WHERE "
             + " AND ".join(where) + " ORDER BY deleteddate ASC, recordid ASC")
        offset = 0
        while True:
            body = client.suiteql(q, offset, LIMIT)
            items = body.get("items", [])
            if items:
                yield [Tombstone(str(i["recordid"]), models._netsuite_ts(i.get("deleted"))) for i in items]
            if not body.get("hasMore") or not items:
                return
            offset += len(items)


SOURCE = Source(
    name="netsuite",
    default_schedule="*/5 * * * *",
    description="NetSuite (ERP): customers, projects, employees, time, invoices, payments",
    streams=[
        SuiteQLStream("subsidiary", models.NetSuiteRecord, **{"from": "subsidiary"}),
        SuiteQLStream("currency", models.NetSuiteRecord, **{"from": "currency"}),
        SuiteQLStream("currencyrate", models.NsCurrencyRate, **{"from": "currencyrate"}),
        SuiteQLStream("item", models.NsItem, **{"from": "item"}),  # items are inactivated, not deleted
        SuiteQLStream("accountingperiod", models.NetSuiteRecord, **{"from": "accountingperiod"}),
        SuiteQLStream("customer", models.NsEntity, recordtype="customer", **{"from": "customer"}),
        SuiteQLStream("job", models.NsEntity, recordtype="job", **{"from": "job"}),
        SuiteQLStream("employee", models.NsEntity, recordtype="employee", **{"from": "employee"}),
        SuiteQLStream("timebill", models.NsTimeBill, recordtype="timebill", **{"from": "timebill"}),
        SuiteQLStream("invoice", models.NsTransaction, recordtype="invoice",
                      where=["type = 'CustInvc'"], **{"from": "transaction"}),
        SuiteQLStream("customer_payment", models.NsTransaction, recordtype="customerpayment",
                      where=["type = 'CustPymt'"], **{"from": "transaction"}),
        # which invoice a payment pays: NextTransactionLineLink has no id; its key is the four doc/line columns
        SuiteQLStream("payment_application", models.NsTransactionLink, where=["linktype = 'Payment'"],
                      key=list(models.NsTransactionLink.KEY), id_field="link_id",
                      **{"from": "nexttransactionlinelink"}),
        SuiteQLStream("billing_event", models.NetSuiteRecord, recordtype="customrecord_handoff_billing_event",
                      modified_column="lastmodified", **{"from": "customrecord_handoff_billing_event"}),
    ],
)
