"""The posting engine: plan, insert ledger rows, then post the due rows with a bounded thread pool.

Exactly once, by construction:
- Nothing is sent without a ledger row: the plan's rows are inserted (one transaction) before
  any request; a key the ledger has seen is never inserted again.
- Rows are claimed with FOR UPDATE SKIP LOCKED under a lease: two runs at once never send the
  same row; each send carries the row's send key, so a retry after a timeout is answered with
  the first outcome, never a second record.
- A row found in flight with an expired lease (its process was killed between the ERP's answer
  and the ledger's commit), or whose last attempt ended without an answer, is recovered before
  any re-send: a create or removal looks the record up by external id first; an update is
  re-sent under the same key (the ERP answers a repeated key with the first outcome).
- Workers each hold a concurrency slot of the target system (`handoff.connectors.limiter`, shared
  by every process) for their whole life; 429/5xx/Retry-After are the client's retry policy.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg

from handoff.connectors.limiter import Limiter, limit_of
from handoff.reverse import ledger
from handoff.reverse.netsuite import TARGETS
from handoff.reverse.outbox import source as outbox_source
from handoff.reverse.plan import plan

log = logging.getLogger(__name__)

LEASE_SECONDS = 300.0  # a claim's lease: longer than any one posting with the client's retries
CLAIM_BATCH = 4
RETRY_BASE_SECONDS = 30.0
RETRY_CAP_SECONDS = 3600.0
# A run that would remove more than this share of the live records (and more than MIN) stops
# before writing anything: an outbox built empty or half by an upstream failure must not
# delete finance's posted time. `allow_mass_removal=True` lets a deliberate one through.
MAX_REMOVAL_SHARE, MAX_REMOVAL_MIN = 0.2, 20


class MassRemovalRefused(RuntimeError):
    """The plan removes too much of what the target holds; nothing was written or sent."""


def connector(warehouse) -> Callable[[], psycopg.Connection]:
    """Open new warehouse connections from a URL, a factory, or an open psycopg connection
    (its parameters and password; the caller's connection is not used by the workers)."""
    if isinstance(warehouse, str):
        return lambda: psycopg.connect(warehouse)
    if isinstance(warehouse, psycopg.Connection):
        dsn, password = warehouse.info.dsn, warehouse.info.password
        return lambda: psycopg.connect(dsn, **({"password": password} if password else {}))
    if callable(warehouse):
        return warehouse
    raise TypeError(f"warehouse must be a URL, a connection factory or a psycopg connection, not {warehouse!r}")


def ensure_ledger(conn) -> None:
    """Migrate the warehouse if the ledger's migration is missing (as extract tasks do)."""
    from handoff.warehouse.migrate import migrate, pending

    if pending(conn):
        migrate(conn)


def new_run_id(prefix: str = "reverse") -> str:
    return f"{prefix}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"


def target_for(source: str, client):
    try:
        return TARGETS[source](client)
    except KeyError:
        raise KeyError(f"no target for outbox source {source!r}; known: {', '.join(TARGETS)}") from None


# --- sync -------------------------------------------------------------------------------------

def sync(warehouse, client, *, source: str = "time_entries", dry_run: bool = False, run_id: str | None = None,
         concurrency: int | None = None, schema_prefix: str | None = None, lease_seconds: float = LEASE_SECONDS,
         retry_base_seconds: float = RETRY_BASE_SECONDS, slot_wait: float = 300.0,
         allow_mass_removal: bool = False) -> dict:
    """Post the outbox `source` ("time_entries" | "billing_events") to the client's system.

    `warehouse`: the loader's URL, a connection factory (e.g. `orchestration.warehouse.warehouse_connection`)
    or a psycopg connection. `dry_run`: plan only; returns the actions with their reasons and
    writes and sends nothing. `concurrency`: worker threads (at most the system's slots).
    Returns a summary (counts, requests, seconds; the actions in a dry run). Raises
    `MassRemovalRefused` (nothing written) when the plan removes more than a fifth of the live
    records, unless `allow_mass_removal`.
    """
    run_id = run_id or new_run_id()
    connect = connector(warehouse)
    src, target = outbox_source(source), target_for(source, client)
    started = time.monotonic()
    with connect() as conn:
        ensure_ledger(conn)
        with _no_gc():
            outbox = src.read(conn, schema_prefix)
            systems = {(r["source_system"], r["source_record_type"]) for r in outbox} or _known_sources(conn, target)
            rows, keys = [], set()
            for system, record_type in sorted(systems):
                r, k = ledger.load(conn, target.system, target.record_type, system, record_type)
                rows += r
                keys |= k
            actions = plan(src, target, outbox, rows, keys)
        planned = Counter(a.kind for a in actions)
        summary = {"run_id": run_id, "source": source, "target": target.system, "record_type": target.record_type,
                   "dry_run": dry_run, "outbox_rows": len(outbox), "planned": dict(planned)}
        refusal = None if allow_mass_removal else _too_many_removals(planned["delete"], rows)
        if refusal and not dry_run:
            raise MassRemovalRefused(refusal)
        if refusal:
            summary["refused"] = refusal
        if dry_run:
            summary["actions"] = [a.brief() for a in actions if a.kind != "nothing"]
            summary["due"] = _due(conn, target)
            summary["seconds"] = round(time.monotonic() - started, 3)
            return summary
        with conn.transaction():
            applied = apply(conn, actions, run_id)
        conn.commit()
    summary.update(applied)
    summary["seconds_plan"] = round(time.monotonic() - started, 3)
    summary.update(post_due(connect, client, target, run_id, concurrency=concurrency, lease_seconds=lease_seconds,
                            retry_base_seconds=retry_base_seconds, slot_wait=slot_wait))
    summary["seconds"] = round(time.monotonic() - started, 3)
    log.info("reverse sync %s: %s", run_id, {k: v for k, v in summary.items() if k != "actions"})
    return summary


@contextmanager
def _no_gc():
    """No cyclic garbage collection while the plan allocates its rows: in a task process holding
    Airflow's objects, the collector's full passes were 3/4 of planning 10,000 rows."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _too_many_removals(removals: int, ledger_rows: list[dict]) -> str | None:
    live = sum(1 for r in ledger_rows if r["state"] == "posted" and r["operation"] != "delete")
    if removals > max(MAX_REMOVAL_MIN, MAX_REMOVAL_SHARE * live):
        return (f"the plan removes {removals} of {live} live records (limit: {MAX_REMOVAL_SHARE:.0%}, at least "
                f"{MAX_REMOVAL_MIN}): is the outbox complete? Nothing was written or sent; if the removals are "
                "meant, run with allow_mass_removal")
    return None


def _known_sources(conn, target) -> set[tuple[str, str]]:
    """Source systems/types the ledger holds for this target (an empty outbox removes them all)."""
    return set(conn.execute("SELECT DISTINCT source_system, source_record_type FROM ops.erp_postings "
                            "WHERE target_system = %s AND record_type = %s",
                            (target.system, target.record_type)).fetchall())


def _due(conn, target) -> int:
    """Rows a run would claim now (pending or retrying whose time has come, expired leases)."""
    return conn.execute("SELECT count(*) FROM ops.erp_postings WHERE target_system = %s AND record_type = %s AND "
                        "((state IN ('pending', 'retrying') AND next_attempt_at <= now()) "
                        "OR (state = 'in_flight' AND lease_until < now()))",
                        (target.system, target.record_type)).fetchone()[0]


def apply(conn, actions, run_id: str) -> dict:
    """Write the plan to the ledger (in the caller's transaction): withdraw what it makes obsolete,
    supersede what an adopted version replaces, insert the new rows (pending; dead_lettered for
    blocked ones; posted for adopted ones)."""
    withdrawn = deferred = adopted = 0
    new = []
    for a in actions:
        took = [ledger.transition(conn, pid, ("pending", "retrying", "dead_lettered"), "superseded",
                                  f"withdrawn unsent: {a.reason}", run_id) for pid in a.withdraw]
        withdrawn += sum(took)
        if a.kind == "adopt" and all(took):
            took.append(ledger.transition(conn, a.posting.supersedes, "posted", "superseded",
                                          f"version {a.source_version} adopted: {a.reason}", run_id))
            adopted += took[-1]
        if not all(took):  # another run got there first: replan this record next run
            deferred += 1
        elif a.posting is not None:
            new.append(a.posting)
    ids = set(ledger.insert(conn, new, run_id))
    return {"inserted": len(ids), "withdrawn": withdrawn, "deferred": deferred, "adopted": adopted,
            "blocked": sum(1 for p in new if p.state == "dead_lettered")}


# --- posting ----------------------------------------------------------------------------------

@dataclass
class _Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: Counter = field(default_factory=Counter)

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.counts[key] += n


def post_due(connect, client, target, run_id: str, *, concurrency: int | None = None,
             lease_seconds: float = LEASE_SECONDS, retry_base_seconds: float = RETRY_BASE_SECONDS,
             slot_wait: float = 300.0) -> dict:
    """Post every due row of the target's record type with up to `concurrency` workers, each
    holding one of the system's slots. Returns counts by outcome, requests and retries."""
    limit = limit_of(client)
    with connect() as conn:
        due = _due(conn, target)
        due_by = conn.execute("SELECT now()").fetchone()[0]  # rows this run reschedules wait for the next
    workers = max(0, min(concurrency or limit, limit, due))
    stats = _Stats()
    started = time.monotonic()
    requests0, retries0 = client.requests, client.retries
    if workers:
        _widen_pool(client, workers)
        limiter = Limiter(target.system, limit, connect)
        with ThreadPoolExecutor(workers, thread_name_prefix="reverse") as pool:
            futures = [pool.submit(_worker, i, connect, limiter, target, run_id, stats, lease_seconds,
                                   retry_base_seconds, slot_wait, due_by) for i in range(workers)]
            errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]
    return {"workers": workers, **dict(stats.counts), "requests": client.requests - requests0,
            "retries": client.retries - retries0, "seconds_post": round(time.monotonic() - started, 3)}


def _widen_pool(client, n: int) -> None:
    """Let `n` threads keep a connection each to the system (requests keeps 10 per host by
    default). The session's adapters are resized in place, keeping their socket options."""
    for prefix in ("http://", "https://"):
        adapter = client.session.get_adapter(prefix + "x")
        if getattr(adapter, "_pool_maxsize", n) < n:
            adapter.init_poolmanager(adapter._pool_connections, n, block=adapter._pool_block)


def _worker(number: int, connect, limiter: Limiter, target, run_id: str, stats: _Stats, lease_seconds: float,
            retry_base_seconds: float, slot_wait: float, due_by) -> None:
    """One slot, one request at a time. The worker's ledger statements (claims, outcomes) run on
    its own database thread, in order, while the next request is on the wire: the ERP's capacity
    is not left idle during bookkeeping."""
    owner = f"{run_id}/w{number}"
    with connect() as conn, ThreadPoolExecutor(1, thread_name_prefix=f"reverse-db{number}") as db:
        conn.autocommit = True
        # The ledger's commits need not wait for the WAL flush: a commit lost in a database crash
        # leaves its row in flight or pending, which the next run recovers like a killed process's
        # (by external id, or the same key's first outcome).
        conn.execute("SET synchronous_commit = off")
        slot = limiter.acquire(conn, wait=slot_wait)
        if slot is None:
            stats.add("no_slot")
            return
        recorded = []
        try:
            claimed = db.submit(ledger.claim, conn, target.system, target.record_type, owner, CLAIM_BATCH,
                                lease_seconds, run_id, due_by)
            while rows := claimed.result():
                for i, row in enumerate(rows):
                    if i == len(rows) - 1:  # the next batch is claimed while the last row is sent
                        claimed = db.submit(ledger.claim, conn, target.system, target.record_type, owner,
                                            CLAIM_BATCH, lease_seconds, run_id, due_by)
                    sent = send(target, row)
                    recorded.append(db.submit(record, conn, target, row, sent, owner, run_id, retry_base_seconds))
                recorded = _count_done(recorded, stats)
        finally:
            for f in recorded:
                stats.add(f.result())
            db.submit(slot.release).result()


def _count_done(futures: list, stats: _Stats) -> list:
    """Count the recorded outcomes (raising a failed write); returns the futures still running."""
    running = []
    for f in futures:
        if f.done():
            stats.add(f.result())
        else:
            running.append(f)
    return running


@dataclass(frozen=True)
class Sent:
    """What one attempt at the target came to, before it is recorded: `outcome` ("created",
    "updated", "deleted", "recovered"), the record's id and a detail, or the failure `exc`."""

    outcome: str | None = None
    erp_id: str | None = None
    detail: str = ""
    exc: BaseException | None = None


def send(target, row: dict) -> Sent:
    """Send one claimed row, recovering first when its last attempt ended without an answer (no
    database access: `record` writes the outcome)."""
    op, ext = row["operation"], row["external_id"]
    try:
        if row["attempts"] > 1 and op in ("create", "delete"):
            found = target.find(ext)
            if op == "create" and found is not None:
                return Sent("recovered", found, f"recovered: {target.record_type} {found} already holds {ext} "
                                                "(an earlier attempt was accepted); nothing re-sent")
            if op == "delete" and found is None:
                return Sent("recovered", row["erp_id"], f"recovered: {target.system} no longer holds {ext}; "
                                                        "nothing re-sent")
        if op == "create":
            erp_id = target.create(row)
        elif op == "update":
            erp_id = target.update(row)
        else:
            target.delete(row)
            erp_id = row["erp_id"]
    except Exception as exc:  # classified when recorded: retry later or dead-letter; never lost
        if op == "delete" and target.gone(exc):
            return Sent("deleted", row["erp_id"], f"{target.record_type} {row['erp_id']} was already gone")
        if op == "create" and target.duplicate(exc):
            try:
                found = target.find(ext)
            except Exception:  # the lookup failed too: the row is retried, and recovered then
                found = None
            if found is not None:
                return Sent("recovered", found, f"recovered after {exc}: {target.record_type} {found} holds {ext}")
        return Sent(exc=exc)
    done = {"create": "created", "update": "updated", "delete": "deleted"}[op]
    return Sent(done, erp_id, f"{done} {target.record_type} {erp_id}")


def record(conn, target, row: dict, sent: Sent, owner: str, run_id: str,
           retry_base_seconds: float = RETRY_BASE_SECONDS) -> str:
    """Write an attempt's outcome to the ledger; returns it ("created", "updated", "deleted",
    "recovered", "dead_lettered", "retrying", "lost_lease")."""
    if sent.exc is not None:
        return _failed(conn, target, row, sent.exc, owner, run_id, retry_base_seconds)
    return _posted(conn, row, sent.erp_id, owner, run_id, sent.detail, sent.outcome)


def post_one(conn, target, row: dict, owner: str, run_id: str, retry_base_seconds: float = RETRY_BASE_SECONDS
             ) -> str:
    """Send one claimed row and record the outcome."""
    return record(conn, target, row, send(target, row), owner, run_id, retry_base_seconds)


def _posted(conn, row: dict, erp_id, owner: str, run_id: str, detail: str, outcome: str) -> str:
    """Posted, and the version it replaces superseded (update) or reversed (removal), atomically.
    "lost_lease" if another run took the row over meanwhile (it recovers it: nothing is written)."""
    fields = {"erp_id": None if erp_id is None else str(erp_id), "last_error": None, "last_error_code": None,
              "last_http_status": None}
    old = row["supersedes"] if row["operation"] in ("update", "delete") else None
    if old is None:  # one statement: no transaction block needed
        ok = ledger.transition(conn, row["posting_id"], "in_flight", "posted", detail, run_id, lease_owner=owner,
                               **fields)
        return outcome if ok else "lost_lease"
    try:
        with conn.transaction():
            to = "superseded" if row["operation"] == "update" else "reversed"
            ledger.transition(conn, old, "posted", to, f"{row['operation']} #{row['posting_id']} posted "
                              f"(version {row['source_version']})", run_id)
            if not ledger.transition(conn, row["posting_id"], "in_flight", "posted", detail, run_id,
                                     lease_owner=owner, **fields):
                raise _LostLease
    except _LostLease:
        return "lost_lease"
    return outcome


class _LostLease(Exception):
    """Rolls back `_posted`'s transaction."""


def _failed(conn, target, row: dict, exc: BaseException, owner: str, run_id: str, retry_base_seconds: float) -> str:
    f = target.classify(exc)
    fields = {"last_error": f.message, "last_error_code": f.code, "last_http_status": f.status}
    if f.retry:
        wait = min(RETRY_CAP_SECONDS, retry_base_seconds * 2 ** max(0, row["attempts"] - 1))
        ok = ledger.transition(conn, row["posting_id"], "in_flight", "retrying",
                               f"attempt {row['attempts']} failed ({f.code}); again in {wait:.0f}s", run_id,
                               lease_owner=owner, next_attempt_at=_in(conn, wait), **fields)
        return "retrying" if ok else "lost_lease"
    detail = f"{f.reason} ({f.owner}): {target.system} refused: {f.message}"
    if row["operation"] != "create" and row["supersedes"]:
        detail += f"; posting #{row['supersedes']} stays as posted"
    ok = ledger.transition(conn, row["posting_id"], "in_flight", "dead_lettered", detail, run_id, lease_owner=owner,
                           dead_letter_reason=f.reason, fix_owner=f.owner, **fields)
    return "dead_lettered" if ok else "lost_lease"


def _in(conn, seconds: float):
    return conn.execute("SELECT now() + make_interval(secs => %s)", (seconds,)).fetchone()[0]
