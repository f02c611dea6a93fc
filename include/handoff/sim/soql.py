"""SOQL over the Salesforce tables (records stored in wire shape; datetimes compare as strings
because the stored format `2026-01-05T10:00:00.000+0000` sorts chronologically).

`SELECT COUNT() FROM X [WHERE ...]` counts (the REST answer is `{totalSize: n, done: true,
records: []}`); no other aggregate is supported.
"""

from __future__ import annotations

from typing import NamedTuple

from . import clock
from .query import Literal, QueryError, compare, parse, sort_rows


class SoqlError(QueryError):
    def __init__(self, message: str, code: str = "MALFORMED_QUERY"):
        super().__init__(message)
        self.code = code


class SoqlResult(NamedTuple):
    obj: str            # the object's canonical name
    fields: list[str]   # selected canonical field names ([] for COUNT())
    rows: list[dict]    # matching records, in order (ORDER BY, else by Id unless unordered)
    count_only: bool    # SELECT COUNT(): the caller answers with len(rows) and no records


def _literal(lit: Literal):
    if lit.kind == "ts":
        return clock.sf_datetime(lit.value)
    if lit.kind == "day":
        return clock.day_iso(lit.value)
    return lit.value


def execute(tables: dict, text: str, include_deleted: bool, ordered: bool = True) -> SoqlResult:
    """Run a query; `ordered=False` skips the default order by Id when the query has no ORDER BY
    (Bulk API results come in no particular order)."""
    try:
        q = parse(text)
    except QueryError as e:
        raise SoqlError(str(e)) from None
    objects = {k.lower(): k for k in tables}
    obj = objects.get(q.table)
    if obj is None:
        raise SoqlError(f"sObject type '{q.table}' is not supported.", "INVALID_TYPE")
    table = tables[obj]
    first = next(iter(table.rows.values()), None)
    fields = {k.lower(): k for k in first} if first else {"id": "Id"}
    count_only = any(c.func == "count" for c in q.columns)
    if count_only and len(q.columns) > 1:
        raise SoqlError("COUNT() must be the only element of the SELECT list")
    selected = []
    for c in q.columns:
        if c.func == "count":
            continue
        if c.name == "*" or c.func:
            raise SoqlError("only plain field lists are supported in SELECT")
        if c.name not in fields:
            raise SoqlError(f"No such column '{c.name}' on entity '{obj}'.", "INVALID_FIELD")
        selected.append(fields[c.name])
    for name in [w.field for w in q.where] + [o for o, _ in q.order]:
        if name not in fields:
            raise SoqlError(f"No such column '{name}' on entity '{obj}'.", "INVALID_FIELD")
    rows = table.values()
    if not include_deleted and "isdeleted" in fields:
        rows = [r for r in rows if not r["IsDeleted"]]
    for cond in q.where:
        f = fields[cond.field]
        want = [_literal(v) for v in cond.value] if cond.op == "in" else _literal(cond.value)
        rows = [r for r in rows if compare(r.get(f), cond.op, want)]
    if not count_only and (q.order or ordered):
        order = [(fields[n], d) for n, d in q.order] or [("Id", False)]
        rows = sort_rows(list(rows), order, lambda r, n: r.get(n))
    if q.limit is not None:
        rows = rows[: q.limit]
    return SoqlResult(obj, selected, list(rows), count_only)
