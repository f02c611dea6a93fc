"""SuiteQL over the NetSuite tables: typed storage, NetSuite-style rendering (strings, dates M/D/YYYY,
null columns omitted), TO_CHAR for full timestamps."""

from __future__ import annotations

import datetime as dt

from . import clock
from .query import Literal, QueryError, compare, parse, sort_rows, strftime_format

DATETIME_COLS = {"lastmodifieddate", "datecreated", "createddate", "deleteddate", "linelastmodifieddate",
                 "created", "lastmodified"}
DATE_COLS = {"trandate", "duedate", "startdate", "enddate", "hiredate", "releasedate", "projectedenddate",
             "custrecord_hbe_date", "effectivedate", "closedate"}
SCHEMAS = {
    "subsidiary": ["id", "name", "currency", "country", "iselimination", "isinactive", "lastmodifieddate"],
    "currency": ["id", "name", "symbol", "displaysymbol", "isbasecurrency", "isinactive", "currencyprecision",
                 "lastmodifieddate"],
    "currencyrate": ["id", "basecurrency", "transactioncurrency", "exchangerate", "effectivedate",
                     "lastmodifieddate"],
    "item": ["id", "itemid", "displayname", "itemtype", "subsidiary", "includechildren", "isinactive",
             "createddate", "lastmodifieddate"],
    "customer": ["id", "entityid", "companyname", "externalid", "subsidiary", "currency", "isinactive",
                 "datecreated", "lastmodifieddate"],
    "job": ["id", "entityid", "companyname", "parent", "customer", "externalid", "subsidiary", "currency",
            "startdate", "projectedenddate", "entitystatus", "custentity_handoff_service_item", "isinactive",
            "datecreated", "lastmodifieddate"],
    "employee": ["id", "entityid", "firstname", "lastname", "email", "subsidiary", "externalid", "isinactive",
                 "hiredate", "releasedate", "laborcost", "datecreated", "lastmodifieddate"],
    "transaction": ["id", "tranid", "type", "entity", "trandate", "duedate", "currency", "subsidiary",
                    "foreigntotal", "foreignamountremaining", "status", "closedate", "memo", "externalid",
                    "createddate", "lastmodifieddate"],
    "transactionline": ["id", "uniquekey", "transaction", "linesequencenumber", "mainline", "entity", "item",
                        "quantity", "rate", "foreignamount", "memo", "linelastmodifieddate"],
    "nexttransactionlinelink": ["previousdoc", "previousline", "previoustype", "nextdoc", "nextline", "nexttype",
                                "linktype", "foreignamount", "lastmodifieddate"],
    "timebill": ["id", "employee", "customer", "item", "hours", "trandate", "subsidiary", "isbillable", "memo",
                 "externalid", "datecreated", "lastmodifieddate"],
    "accountingperiod": ["id", "periodname", "startdate", "enddate", "closed", "isquarter", "isyear", "isadjust",
                         "lastmodifieddate"],
    "customrecord_handoff_billing_event": ["id", "name", "externalid", "custrecord_hbe_job",
                                           "custrecord_hbe_milestone", "custrecord_hbe_amount",
                                           "custrecord_hbe_currency", "custrecord_hbe_date", "isinactive",
                                           "created", "lastmodified"],
    "deletedrecord": ["id", "recordtype", "recordid", "deleteddate", "name", "context"],
}
MAX_ROWS = 100_000


def _cmp_value(col: str, v):
    """Stored value -> comparable (dates become epoch seconds like datetimes)."""
    if v is None:
        return None
    if col in DATE_COLS:
        return v * clock.DAY
    return v


def _literal(col: str, lit: Literal, sample):
    if lit.kind == "null":
        return None
    v = lit.value
    if col in DATETIME_COLS or col in DATE_COLS:
        if lit.kind == "day":
            return v * clock.DAY
        if lit.kind == "str":
            try:
                return clock.parse_ts(v)
            except ValueError:
                try:
                    return int(dt.datetime.strptime(v, "%m/%d/%Y").replace(tzinfo=dt.UTC).timestamp())
                except ValueError:
                    raise QueryError(f"Invalid date value {v!r} for field {col}") from None
        return v
    if isinstance(sample, int) and lit.kind == "str" and v.lstrip("-").isdigit():
        return int(v)
    if isinstance(sample, str) and lit.kind == "num":
        return str(v)
    return v


def render(col: str, v, fmt: str | None = None) -> str | None:
    if v is None:
        return None
    if col in DATETIME_COLS or col in DATE_COLS:
        ts = v * clock.DAY if col in DATE_COLS else v
        if fmt:
            return clock.to_dt(ts).strftime(strftime_format(fmt))
        return clock.ns_date(ts)
    if fmt:
        return str(v)
    return v if isinstance(v, str) else str(v)


def render_row(row: dict, columns) -> dict:
    item = {"links": []}
    for c in columns:
        val = render(c.name, row.get(c.name), c.fmt)
        if val is not None:  # null columns are omitted, as the real REST SuiteQL does
            item[c.key] = val
    return item


class Star:
    def __init__(self, name):
        self.name, self.key, self.fmt = name, name, None


def execute(tables: dict, text: str) -> tuple[list[dict], list]:
    """Run a query; returns (matching raw rows in order, output columns)."""
    q = parse(text)
    table = tables.get(q.table)
    if table is None:
        raise QueryError(f"Record '{q.table}' was not found.")
    schema = SCHEMAS[q.table]
    cols = []
    for c in q.columns:
        if c.name == "*":
            cols.extend(Star(n) for n in schema)
        elif c.name not in schema:
            raise QueryError(f"Field '{c.name}' for record '{q.table}' was not found. "
                             "Reason: NOT_EXPOSED - Not available for channel SEARCH")
        else:
            cols.append(c)
    for name in [w.field for w in q.where] + [o for o, _ in q.order]:
        if name not in schema:
            raise QueryError(f"Field '{name}' for record '{q.table}' was not found.")
    rows = table.values()
    for cond in q.where:
        sample = next((r.get(cond.field) for r in rows if r.get(cond.field) is not None), None)
        want = ([_literal(cond.field, lit, sample) for lit in cond.value] if cond.op == "in"
                else _literal(cond.field, cond.value, sample))
        rows = [r for r in rows if compare(_cmp_value(cond.field, r.get(cond.field)), cond.op, want)]
    rows = sort_rows(rows, q.order or [("id", False)], lambda r, n: r.get(n))
    if q.limit is not None:
        rows = rows[: q.limit]
    return rows, cols
