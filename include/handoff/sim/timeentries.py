"""Kantata time entries as numpy columns: millions of rows in tens of MB, pages rendered on demand.

Rows are append-only (ids ascend with the row index); deletes clear `alive` (hard deletes, no
tombstone on the wire). Query results are index arrays cached per (filters, world version), so a
paging walk sorts once and then only slices and renders 200 rows per request.
"""

from __future__ import annotations

import json
import re

import numpy as np

DRAFT, SUBMITTED, APPROVED, REJECTED = 0, 1, 2, 3
NOTES = ["Client workshop", "Requirements analysis", "Data model review", "Pipeline build",
         "Status meeting", "Testing & QA", "Documentation", "Deployment support",
         "Stakeholder interviews", "Travel", "Code review", "Steering committee prep",
         'Migration "dry run"', "Dashboard design", "Bug fixing", ""]
NOTES_JSON = [json.dumps(n, ensure_ascii=True) for n in NOTES]
CURRENCY_SYMBOL = {"USD": "$", "GBP": "\\u00a3", "EUR": "\\u20ac"}  # JSON-escaped: bodies stay ASCII

# 46 bytes per entry. Ids and timestamps fit int32 (epoch seconds until 2038; world time is 2026 plus
# an hour per tick); code doing arithmetic on them casts to int64 first.
COLUMNS = {"id": np.int32, "ws": np.int32, "user": np.int32, "story": np.int32, "day": np.int32,
           "minutes": np.int16, "billable": np.bool_, "status": np.int8, "created": np.int32,
           "updated": np.int32, "rate": np.int32, "cost": np.int32, "alive": np.bool_, "note": np.int8,
           "sub": np.int32}
CACHED_QUERIES = 8  # row-index arrays kept per world version (int32: 4 bytes per matching entry)

_TEMPLATE = ('"%s":{"id":"%s","created_at":"%s+00:00","updated_at":"%s+00:00","date_performed":"%s",'
        '"time_in_minutes":%d,"billable":%s,"approved":%s,"rate_in_cents":%d,"cost_rate_in_cents":%d,'
        '%s,"notes":%s,"is_invoiced":false,"invoice_id":null,"taxable":false,"user_id":"%s",'
        '"workspace_id":"%s","story_id":"%s","role_id":"%s","active_submission_id":%s,'
        '"recent_submission_id":%s,"external_reference_ids":[]}')


_PIECES = re.split(r"%[sd]", _TEMPLATE)


def submission_ids(user, week0, hist0: int):
    """The submission id of a user-week (one submission holds the user's entries of the week);
    `week0` is the week's Monday as an epoch day, `hist0` the first day of history."""
    return user * 1000 + (week0 - hist0 // 7 * 7) // 7 + (10 + 1_000_000)


def rejected_submissions(sub_ids: np.ndarray) -> np.ndarray:
    """Which submissions the managers reject (about 3%): a property of the id, so the first world
    and the clock agree."""
    return (sub_ids.astype(np.int64) * 2654435761) % 100 < 3


def _iso(ts: np.ndarray) -> list[str]:
    """Vectorised Kantata timestamps without the offset (the template adds '+00:00')."""
    return np.datetime_as_string(ts.astype("datetime64[s]")).tolist()


class TimeEntries:
    def __init__(self, ws_ids: list[str], ws_currency: list[str], user_ids: list[str],
                 user_roles: list[str], story_ids: list[str]):
        self.ws_ids, self.user_ids, self.user_roles, self.story_ids = ws_ids, user_ids, user_roles, story_ids
        self.ws_currency = ws_currency
        self.n = 0
        self.cols = {k: np.zeros(0, dt) for k, dt in COLUMNS.items()}
        self._cache: dict = {}

    # ---- storage -----------------------------------------------------------------------
    def __getattr__(self, name):
        cols = self.__dict__.get("cols")
        if cols is not None and name in cols:
            return cols[name][: self.n]
        raise AttributeError(name)

    def reserve(self, capacity: int) -> None:
        """Grow every column's buffer to hold `capacity` rows (one column at a time)."""
        if capacity <= len(self.cols["id"]):
            return
        for name, arr in self.cols.items():
            new = np.zeros(capacity, arr.dtype)
            new[: self.n] = arr[: self.n]
            self.cols[name] = new
            del arr, new  # the old buffer goes before the next column's new one is allocated

    def append(self, **values) -> np.ndarray:
        """Append rows (ids must ascend); returns their row indices."""
        k = len(values["id"])
        need = self.n + k
        if need > len(self.cols["id"]):  # grow by 1/8: the clock appends a few rows per tick
            self.reserve(max(need, len(self.cols["id"]) + len(self.cols["id"]) // 8 + 1024))
        for name, arr in self.cols.items():
            arr[self.n: need] = values.get(name, 0)
        rows = np.arange(self.n, need)
        self.n = need
        self._cache.clear()
        return rows

    def touched(self) -> None:
        self._cache.clear()

    def register_workspace(self, ws_id: str, currency: str) -> int:
        self.ws_ids.append(ws_id)
        self.ws_currency.append(currency)
        return len(self.ws_ids) - 1

    def next_id(self) -> int:
        return int(self.cols["id"][self.n - 1]) + 1 if self.n else 100001

    def rows_for_ids(self, ids) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        pos = np.searchsorted(self.id, ids)
        pos = np.minimum(pos, max(self.n - 1, 0))
        ok = (self.n > 0) & (self.id[pos] == ids) & self.alive[pos]
        return pos[ok]

    # ---- query -------------------------------------------------------------------------
    def select(self, key: tuple, filters: dict, order: tuple[str, bool]) -> np.ndarray:
        """Row indices matching `filters`, sorted by `order` = (column, descending), id breaking ties."""
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        mask = self.alive.copy()
        for name, (lo, hi) in filters.get("ranges", {}).items():
            col = self.cols[name][: self.n]
            if lo is not None:
                mask &= col > lo if name in ("updated", "created") else col >= lo
            if hi is not None:
                mask &= col < hi if name in ("updated", "created") else col <= hi
        if filters.get("approved") is not None:
            mask &= (self.status == APPROVED) == filters["approved"]
        if filters.get("billable") is not None:
            mask &= self.billable == filters["billable"]
        for name in ("ws", "user", "id"):
            if filters.get(name) is not None:
                mask &= np.isin(self.cols[name][: self.n], np.asarray(filters[name], np.int64))
        if filters.get("ws_hidden"):  # entries of workspaces the list hides (archived)
            mask &= ~np.isin(self.ws, np.asarray(filters["ws_hidden"], np.int64))
        rows = np.nonzero(mask)[0].astype(np.int32)
        del mask
        col, desc = order
        # one int64 key (column value, then id: unique) sorts faster and leaner than a lexsort
        sort_key = self.cols[col][: self.n][rows].astype(np.int64)
        if len(rows):
            sort_key -= sort_key.max() if desc else sort_key.min()  # |value| < 2**31: room for the id
        if desc:
            np.negative(sort_key, out=sort_key)
        sort_key <<= 32
        sort_key |= self.id[rows]
        rows = rows[np.argsort(sort_key, kind="stable")]  # timsort: fast on the near-sorted columns
        del sort_key
        if len(self._cache) >= CACHED_QUERIES:
            self._cache.clear()
        self._cache[key] = rows
        return rows

    # ---- rendering ---------------------------------------------------------------------
    def render(self, rows: np.ndarray) -> str:
        """The keyed-map body '"id":{...},"id":{...}' for `rows`, in order.

        Column-wise: each field becomes a list of strings via numpy fancy indexing, the lists are
        slice-assigned into one flat list between the template's constant pieces, and joined once;
        well under a microsecond per record (a `%` per record costs ~3 us).
        """
        n = len(rows)
        if not n:
            return ""
        cols = self.cols
        ids = list(map(str, cols["id"][rows].tolist()))
        st = cols["status"][rows]
        sub = cols["sub"][rows]
        w = cols["ws"][rows]
        u = cols["user"][rows]
        sub_s = np.array(['"%d"' % x for x in sub.tolist()], object)
        obj = self._lookup_arrays()
        values = (
            ids, ids, _iso(cols["created"][rows]), _iso(cols["updated"][rows]),
            np.datetime_as_string(cols["day"][rows].astype("datetime64[D]")).tolist(),
            list(map(str, cols["minutes"][rows].tolist())), np.where(cols["billable"][rows], "true", "false").tolist(),
            np.where(st == APPROVED, "true", "false").tolist(), list(map(str, cols["rate"][rows].tolist())),
            list(map(str, cols["cost"][rows].tolist())), obj["cur"][w].tolist(),
            obj["notes"][cols["note"][rows]].tolist(), obj["users"][u].tolist(), obj["ws"][w].tolist(),
            obj["stories"][cols["story"][rows]].tolist(), obj["roles"][u].tolist(),
            np.where((st == SUBMITTED) | (st == APPROVED), sub_s, "null").tolist(),
            np.where(st != DRAFT, sub_s, "null").tolist())
        stride = 2 * len(values)
        flat = [None] * (n * stride)
        flat[0::stride] = [_PIECES[0]] + [_PIECES[-1] + "," + _PIECES[0]] * (n - 1)
        for j, col in enumerate(values):
            if j:
                flat[2 * j::stride] = [_PIECES[j]] * n
            flat[2 * j + 1::stride] = col
        return "".join(flat) + _PIECES[-1]

    def _lookup_arrays(self) -> dict:
        """Object arrays mapping column codes to rendered strings (rebuilt when the lists grow)."""
        sizes = (len(self.ws_ids), len(self.user_ids), len(self.story_ids))
        if self.__dict__.get("_lookup_sizes") != sizes:
            self._lookup = {
                "cur": np.array([f'"currency":"{c}","currency_base_unit":100,"currency_symbol":"{CURRENCY_SYMBOL[c]}"'
                                 for c in self.ws_currency], object),
                "notes": np.array(NOTES_JSON, object), "users": np.array(self.user_ids, object),
                "ws": np.array(self.ws_ids, object), "stories": np.array(self.story_ids, object),
                "roles": np.array(self.user_roles, object)}
            self._lookup_sizes = sizes
        return self._lookup

    def records(self, rows: np.ndarray) -> list[dict]:
        return list(json.loads("{" + self.render(rows) + "}").values())

    def live_rows(self) -> np.ndarray:
        return np.nonzero(self.alive)[0]

    def deleted_ids(self) -> list[str]:
        return [str(i) for i in self.id[~self.alive].tolist()]

