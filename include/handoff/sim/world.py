"""The one firm all five simulators show: tables per system, cross-references, and the clock.

Small tables hold records as dicts already in the owning system's wire shape (NetSuite: typed
values, rendered by the SuiteQL layer); the Kantata time entries live in numpy columns. Records are
never mutated in place: a change replaces the dict, so query snapshots (Salesforce locators) that
hold references stay stable.
"""

from __future__ import annotations

import copy
import threading

from . import clock
from .history import generate_history
from .scale import Scale
from .ticks import apply_tick
from .timeentries import TimeEntries


def _libc():
    try:
        import ctypes
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return None


def large_arrays_via_mmap() -> None:
    """Make glibc serve every allocation of 1 MB or more (numpy columns and their temporaries) with
    its own mmap, returned to the OS when freed. By default glibc raises that threshold up to 32 MB
    after the first such free, so a 2M-entry world's temporaries (8-16 MB each) would stay resident
    in the heap after generation: ~80 MB of the peak."""
    libc = _libc()
    if libc is not None:
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD


def release_free_memory() -> None:
    """Hand the heap's free blocks back to the OS after generation."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


class Table:
    """Records of one object type keyed by id, in insertion order; `changes` counts the puts (a
    server can cache what it derives from the table until it changes)."""

    def __init__(self):
        self.rows: dict = {}
        self.changes = 0
        self._indexes: dict[str, dict] = {}  # field -> value -> ids, built by the first `find` on it

    def put(self, rid, rec: dict) -> dict:
        old = self.rows.get(rid)
        self.rows[rid] = rec
        self.changes += 1
        for field, index in self._indexes.items():
            self._unindex(index, rid, old, field)
            if rec.get(field) is not None:
                index.setdefault(rec[field], set()).add(rid)
        return rec

    def remove(self, rid) -> dict:
        rec = self.rows.pop(rid)
        self.changes += 1
        for field, index in self._indexes.items():
            self._unindex(index, rid, rec, field)
        return rec

    @staticmethod
    def _unindex(index: dict, rid, rec: dict | None, field: str) -> None:
        if rec is not None and rec.get(field) is not None:
            ids = index.get(rec[field])
            if ids is not None:
                ids.discard(rid)
                if not ids:
                    del index[rec[field]]

    def find(self, field: str, value) -> list:
        """Ids of the records whose `field` is `value`, in id order: an index on `field` is kept from
        the first call on (a writer's lookups by external id stay O(1) at any table size)."""
        index = self._indexes.get(field)
        if index is None:
            index = self._indexes[field] = {}
            for rid, rec in self.rows.items():
                if rec.get(field) is not None:
                    index.setdefault(rec[field], set()).add(rid)
        return sorted(index.get(value, ()))

    def get(self, rid):
        return self.rows.get(rid)

    def values(self):
        return list(self.rows.values())

    def __len__(self):
        return len(self.rows)


class World:
    def __init__(self, seed: int = 7, scale: str | Scale = "tiny"):
        self.seed = int(seed)
        self.scale = Scale.parse(scale)
        self.tick = 0
        self.version = 0
        self.lock = threading.RLock()
        self.sf = {k: Table() for k in ("Account", "Contact", "Opportunity", "OpportunityLineItem", "User")}
        self.sf_deleted: dict[str, dict[str, int]] = {k: {} for k in self.sf}
        self.hs = {k: Table() for k in ("companies", "contacts", "deals", "line_items")}
        self.kt = {k: Table() for k in ("workspaces", "stories", "users", "expenses", "external_references",
                                        "roles", "invoices")}  # invoices stay empty: billing is NetSuite's
        self.te = TimeEntries([], [], [], [], [])
        self.story_index: dict[str, int] = {}
        self.workers: list[dict] = []
        self.orgs: list[dict] = []
        self.ns = {k: Table() for k in ("subsidiary", "currency", "currencyrate", "item", "customer", "job",
                                        "employee", "transaction", "transactionline", "nexttransactionlinelink",
                                        "timebill", "accountingperiod", "customrecord_handoff_billing_event",
                                        "deletedrecord")}
        self.deal_service: dict[str, str] = {}  # CRM deal id -> its first service line's code (job's item)
        self.projects: list[dict] = []
        self.ledger: list[dict] = []
        self.billed_timebills: dict[int, int] = {}  # timebill id -> invoice id (billing.py)
        self.counters: dict[str, int] = {}
        self.cases: dict = {"closed_won_without_project": [], "time_on_closed_project": {},
                            "employee_missing_in_netsuite": [], "currency_mix": {},
                            "edited_after_approval": [], "deleted_time_entries": [],
                            "hubspot_duplicates": {}, "modstamp_ties": {}}
        large_arrays_via_mmap()
        generate_history(self)
        release_free_memory()

    def current_cases(self) -> dict:
        """The deliberate cases as they stand now (a copy): time on the closed project that a tick
        hard-deleted is no longer a case. Call under `lock`."""
        cases = copy.deepcopy(self.cases)
        closed = cases.get("time_on_closed_project") or {}
        if closed.get("time_entry_ids"):
            live = {str(i) for i in self.te.id[self.te.rows_for_ids([int(x) for x in closed["time_entry_ids"]])]}
            closed["time_entry_ids"] = [x for x in closed["time_entry_ids"] if x in live]
        return cases

    # ---- time --------------------------------------------------------------------------
    @property
    def now(self) -> int:
        return clock.now_at(self.tick)

    def now_iso(self) -> str:
        return clock.iso_z(self.now)

    def advance(self, steps: int = 1) -> int:
        with self.lock:
            for _ in range(int(steps)):
                self.tick += 1
                apply_tick(self, self.tick)
                self.version += 1
            return self.tick

    def next_id(self, name: str, start: int) -> int:
        v = self.counters.get(name, start - 1) + 1
        self.counters[name] = v
        return v

    # ---- change helpers (replace, never mutate) ----------------------------------------
    def sf_touch(self, obj: str, rid: str, ts: int, **changes) -> dict:
        rec = dict(self.sf[obj].rows[rid], **changes)
        stamp = clock.sf_datetime(ts)
        rec["SystemModstamp"] = stamp
        if "LastModifiedDate" in rec:
            rec["LastModifiedDate"] = stamp
        return self.sf[obj].put(rid, rec)

    def hs_touch(self, obj: str, rid: str, ts: int, **props) -> dict:
        old = self.hs[obj].rows[rid]
        stamp = clock.hs_datetime(ts)
        p = dict(old["properties"], **{k: None if v is None else str(v) for k, v in props.items()})
        p["lastmodifieddate" if obj == "contacts" else "hs_lastmodifieddate"] = stamp
        if obj == "contacts":
            p["hs_lastmodifieddate"] = stamp
        return self.hs[obj].put(rid, dict(old, properties=p, updatedAt=stamp))

    def kt_touch(self, obj: str, rid: str, ts: int, **changes) -> dict:
        rec = dict(self.kt[obj].rows[rid], **changes)
        rec["updated_at"] = clock.kt_datetime(ts)
        return self.kt[obj].put(rid, rec)

    def ns_touch(self, table: str, rid: int, ts: int, **changes) -> dict:
        rec = dict(self.ns[table].rows[rid], **changes)
        rec["lastmodified" if table.startswith("customrecord") else "lastmodifieddate"] = ts
        return self.ns[table].put(rid, rec)

    def ns_delete(self, table: str, recordtype: str, rid: int, ts: int) -> None:
        rec = self.ns[table].remove(rid)
        did = self.next_id("ns_deleted", 1)
        self.ns["deletedrecord"].put(did, {"id": did, "recordtype": recordtype, "recordid": rid,
                                           "deleteddate": ts, "name": rec.get("tranid") or rec.get("entityid"),
                                           "context": "UI"})
