"""Replay dead letters once their cause is fixed: chosen postings, or all for a reason and/or a
date range (of `dead_lettered_at`).

A replayed row is re-evaluated against the outbox first: the same version still there and
postable -> back to pending with the outbox's current content (the fix may be a NetSuite id that
now maps) and a fresh send key (the ERP answers a repeated key with the first refusal), replays
+ 1, an audit event; then posted like any due row. Still blocked in the outbox -> it stays a dead
letter (the event says why). The outbox moved on (a newer version, or the record left it) -> left
alone: the next sync withdraws it in favour of what the outbox holds now.
"""

from __future__ import annotations

import time
from datetime import datetime

from psycopg.rows import dict_row

from handoff.reverse import ledger
from handoff.reverse.engine import (
    LEASE_SECONDS,
    RETRY_BASE_SECONDS,
    connector,
    ensure_ledger,
    new_run_id,
    post_due,
    target_for,
)
from handoff.reverse.netsuite import TARGETS
from handoff.reverse.outbox import source as outbox_source


def replay(warehouse, client, *, source: str | None = None, posting_ids: list[int] | None = None,
           reason: str | None = None, since: datetime | None = None, until: datetime | None = None,
           dry_run: bool = False, run_id: str | None = None, concurrency: int | None = None,
           schema_prefix: str | None = None, lease_seconds: float = LEASE_SECONDS,
           retry_base_seconds: float = RETRY_BASE_SECONDS, slot_wait: float = 300.0) -> dict:
    """Replay the dead letters of `source` (None: every outbox source) selected by `posting_ids`,
    or by `reason` and/or `since`/`until` (at least one selector). `dry_run` lists what would be
    replayed and why. Returns a summary: selected, replayed, still_blocked, stale, each posting's
    decision and reason, and the posting outcomes."""
    if not posting_ids and reason is None and since is None and until is None:
        raise ValueError("replay needs posting_ids, a reason, or a date range (since/until)")
    run_id = run_id or new_run_id("replay")
    if source is None:
        parts = {name: replay(warehouse, client, source=name, posting_ids=posting_ids, reason=reason, since=since,
                              until=until, dry_run=dry_run, run_id=run_id, concurrency=concurrency,
                              schema_prefix=schema_prefix, lease_seconds=lease_seconds,
                              retry_base_seconds=retry_base_seconds, slot_wait=slot_wait) for name in TARGETS}
        return {"run_id": run_id, "dry_run": dry_run,
                **{k: sum(p[k] for p in parts.values()) for k in ("selected", "replayed", "still_blocked", "stale")},
                "by_source": parts}
    connect = connector(warehouse)
    src, target = outbox_source(source), target_for(source, client)
    started = time.monotonic()
    with connect() as conn:
        ensure_ledger(conn)
        dead = _select(conn, target, posting_ids, reason, since, until)
        outbox = {src.source_id(r): r for r in src.read(conn, schema_prefix)} if dead else {}
        decisions = [(row, *_decide(src, target, row, outbox.get(row["source_id"]))) for row in dead]
        summary = {"run_id": run_id, "source": source, "dry_run": dry_run, "selected": len(dead),
                   "replayed": 0, "still_blocked": 0, "stale": 0,
                   "postings": [{"posting_id": r["posting_id"], "source_id": r["source_id"], "decision": d,
                                 "reason": why} for r, d, why, _ in decisions]}
        if dry_run:
            for _, d, _, _ in decisions:
                summary[d] += 1
            summary["seconds"] = round(time.monotonic() - started, 3)
            return summary
        with conn.transaction():
            for row, decision, why, fresh in decisions:
                summary[decision] += _apply(conn, row, decision, why, fresh, run_id)
    if summary["replayed"]:
        summary.update(post_due(connect, client, target, run_id, concurrency=concurrency,
                                lease_seconds=lease_seconds, retry_base_seconds=retry_base_seconds,
                                slot_wait=slot_wait))
    summary["seconds"] = round(time.monotonic() - started, 3)
    return summary


def _select(conn, target, posting_ids, reason, since, until) -> list[dict]:
    where, params = ["state = 'dead_lettered'", "target_system = %s", "record_type = %s"], [
        target.system, target.record_type]
    if posting_ids:
        where.append("posting_id = ANY(%s)")
        params.append(list(posting_ids))
    if reason is not None:
        where.append("dead_letter_reason = %s")
        params.append(reason)
    if since is not None:
        where.append("dead_lettered_at >= %s")
        params.append(since)
    if until is not None:
        where.append("dead_lettered_at < %s")
        params.append(until)
    return conn.cursor(row_factory=dict_row).execute(
        f"SELECT * FROM ops.erp_postings WHERE {' AND '.join(where)} ORDER BY posting_id", params).fetchall()


def _decide(src, target, row: dict, x: dict | None) -> tuple[str, str, dict | None]:
    """(decision, why, the row's fresh content) for one dead letter against its outbox row."""
    if row["operation"] == "delete":
        if x is None:
            return "replayed", "the record is still out of the outbox: its removal is re-sent", None
        return "stale", f"the record is back in the outbox (version {x['source_version']}): the next sync decides", None
    if x is None:
        return "stale", "the record left the outbox: the next sync withdraws this posting", None
    if x["idempotency_key"] != row["idempotency_key"]:
        return "stale", (f"the outbox now holds version {x['source_version']}: the next sync withdraws this "
                         "posting in its favour"), None
    if not x["is_postable"]:
        return "still_blocked", (f"still blocked in the outbox: {x.get('blocking_reasons') or x.get('blocking_reason')} "
                                 f"(fix: {x.get('fix_owner')})"), None
    return "replayed", "postable now: re-sent with the outbox's current content and a fresh key", {
        "payload": target.payload(x), "content_hash": src.content_hash(x)}


def _apply(conn, row: dict, decision: str, why: str, fresh: dict | None, run_id: str) -> int:
    if decision == "replayed":
        n = row["replays"] + 1
        ok = ledger.transition(
            conn, row["posting_id"], "dead_lettered", "pending",
            f"replay {n} (was {row['dead_letter_reason']}, {row['fix_owner']}): {why}", run_id,
            send_key=f"{row['idempotency_key']}:replay{n}", replays=n, dead_letter_reason=None, fix_owner=None,
            dead_lettered_at=None, next_attempt_at=ledger.NOW, **(fresh or {}))
        return int(ok)
    ledger.note(conn, row["posting_id"], "dead_lettered", f"replay skipped: {why}", run_id)
    return 1
