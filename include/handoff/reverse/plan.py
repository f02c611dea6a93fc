"""The plan: the outbox against the ledger, record by record, as actions with a human reason.

Also the dry run: the same actions, listed instead of applied.

Per source record (its current outbox row X, if any, and its ledger rows: the live one L, posted
in the target; rows not concluded yet; dead letters):
- X's version key already in the ledger: nothing (it is in progress, posted, or a dead letter
  waiting for a replay).
- X new and blocked in the outbox: dead_letter at once with the outbox's reason and owner; not sent.
- X new, no L: create. X new, L posted with other content: update (PATCH L's record, L superseded
  when it posts). Same content under a new version: adopt (a posted row for the version, no
  request: every outbox version has its ledger row).
- No X but L posted (deleted or un-approved at the source): delete (L reversed when it posts).
- Rows of the record that never reached the target and that X makes obsolete (an older version,
  or any version once the record left the outbox) are withdrawn (superseded).
- A row in flight elsewhere is never touched: the record waits for it to conclude.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from handoff.reverse.ledger import NewPosting

KINDS = ("create", "update", "delete", "dead_letter", "adopt", "withdraw", "nothing")


@dataclass
class Action:
    kind: str
    source_id: str
    reason: str
    source_version: str | None = None
    posting: NewPosting | None = None  # create / update / delete / dead_letter: the row to insert
    withdraw: list[int] = field(default_factory=list)  # posting ids to supersede unsent

    def brief(self) -> dict:
        out = {"action": self.kind, "source_id": self.source_id, "version": self.source_version,
               "reason": self.reason}
        if self.posting is not None:
            out["idempotency_key"] = self.posting.idempotency_key
            if self.posting.erp_id:
                out["erp_id"] = self.posting.erp_id
        if self.withdraw:
            out["withdraw"] = self.withdraw
        return out


def plan(src, target, outbox_rows: list[dict], ledger_rows: list[dict], keys: set[str]) -> list[Action]:
    """Actions that bring the target to the outbox (`src`: an OutboxSource; `target`: a target
    adapter with `system`, `record_type`, `payload(row)`)."""
    by_source: dict[str, list[dict]] = defaultdict(list)
    for r in ledger_rows:
        by_source[r["source_id"]].append(r)
    actions = []
    seen = set()
    for x in outbox_rows:
        sid = src.source_id(x)
        seen.add(sid)
        actions.append(_for_outbox_row(src, target, sid, x, by_source.get(sid, []), keys))
    for sid, rows in by_source.items():
        if sid not in seen:
            actions.append(_for_missing(target, sid, rows, keys))
    return [a for a in actions if a is not None]


def _live(rows: list[dict]) -> dict | None:
    return next((r for r in rows if r["state"] == "posted" and r["operation"] != "delete"), None)


def _in_flight(rows: list[dict], but: str | None = None) -> dict | None:
    return next((r for r in rows if r["state"] == "in_flight" and r["idempotency_key"] != but), None)


def _unsent(rows: list[dict], but: str | None = None) -> list[int]:
    """Rows that never reached the target and may be withdrawn (all but key `but`)."""
    return [r["posting_id"] for r in rows
            if r["state"] in ("pending", "retrying", "dead_lettered") and r["idempotency_key"] != but]


def _new(src, target, x: dict, operation: str, live: dict | None, **kw) -> NewPosting:
    return NewPosting(
        target_system=target.system, record_type=target.record_type, source_system=x["source_system"],
        source_record_type=x["source_record_type"], source_id=src.source_id(x),
        source_version=str(x["source_version"]), operation=operation, idempotency_key=x["idempotency_key"],
        external_id=x["external_id"], payload=target.payload(x), content_hash=src.content_hash(x),
        erp_id=live["erp_id"] if live else None, supersedes=live["posting_id"] if live else None, **kw)


def _for_outbox_row(src, target, sid: str, x: dict, rows: list[dict], keys: set[str]) -> Action:
    key, version = x["idempotency_key"], str(x["source_version"])
    mine = next((r for r in rows if r["idempotency_key"] == key), None)
    if key in keys:
        if mine is None:
            return Action("nothing", sid, "this version was posted and has since been replaced", version)
        if mine["state"] == "dead_lettered":
            hint = " (never sent, now postable in the outbox: replay it)" if (
                x["is_postable"] and not mine["attempts"]) else ""
            return Action("nothing", sid, f"dead letter #{mine['posting_id']} ({mine['dead_letter_reason']}, "
                                          f"{mine['fix_owner']}): replay after the fix{hint}", version)
        if mine["state"] == "posted":
            return Action("nothing", sid, f"posted as {target.record_type} {mine['erp_id']}", version)
        return Action("nothing", sid, f"posting #{mine['posting_id']} is {mine['state']}", version)
    busy = _in_flight(rows)
    if busy is not None:
        return Action("nothing", sid, f"waits for posting #{busy['posting_id']} (version "
                                      f"{busy['source_version']}, in flight)", version)
    live = _live(rows)
    withdraw = _unsent(rows, but=key)
    operation = "create" if live is None else "update"
    if not x["is_postable"]:
        reason = x.get("blocking_reason") or "blocked"
        why = f"blocked in the outbox: {x.get('blocking_reasons') or reason} (fix: {x.get('fix_owner')}); not sent"
        if live is not None:
            why += f"; {target.record_type} {live['erp_id']} stays as posted (version {live['source_version']})"
        return Action("dead_letter", sid, why, version, withdraw=withdraw, posting=_new(
            src, target, x, operation, live, state="dead_lettered", dead_letter_reason=reason,
            fix_owner=x.get("fix_owner") or "finance", last_error=f"not sent: {why}", detail=why))
    if live is None:
        why = "new approved record" if not withdraw else f"version {version} replaces unsent postings {withdraw}"
        return Action("create", sid, why, version, withdraw=withdraw,
                      posting=_new(src, target, x, "create", None, detail=why))
    if live["content_hash"] == src.content_hash(x):
        why = (f"version {version} changes nothing posted: {target.record_type} {live['erp_id']} already holds "
               "it; recorded without a request")
        return Action("adopt", sid, why, version, withdraw=withdraw, posting=_new(
            src, target, x, "update", live, state="posted", detail=why))
    why = (f"changed after posting: {target.record_type} {live['erp_id']} (version {live['source_version']}) "
           f"is updated to version {version}")
    return Action("update", sid, why, version, withdraw=withdraw,
                  posting=_new(src, target, x, "update", live, detail=why))


def _for_missing(target, sid: str, rows: list[dict], keys: set[str]) -> Action | None:
    """A record the ledger knows that is no longer in the outbox (deleted or un-approved)."""
    live = _live(rows)
    busy = _in_flight(rows)
    if live is None:
        withdraw = _unsent(rows)
        if busy is not None:
            return Action("nothing", sid, f"left the outbox; waits for posting #{busy['posting_id']} in flight")
        if not withdraw:
            return None  # removed before, or never posted: nothing left to do
        return Action("withdraw", sid, "left the outbox (deleted or un-approved) before it was posted",
                      withdraw=withdraw)
    key = f"{live['idempotency_key']}:delete"
    if key in keys:
        mine = next((r for r in rows if r["idempotency_key"] == key), None)
        state = mine["state"] if mine else "done"
        extra = f" ({mine['dead_letter_reason']}, {mine['fix_owner']})" if mine and mine["dead_letter_reason"] else ""
        return Action("nothing", sid, f"removal of {target.record_type} {live['erp_id']} is {state}{extra}",
                      live["source_version"])
    if busy is not None:
        return Action("nothing", sid, f"left the outbox; waits for posting #{busy['posting_id']} in flight")
    why = (f"left the outbox (deleted or un-approved): {target.record_type} {live['erp_id']} "
           f"(version {live['source_version']}) is removed")
    posting = NewPosting(
        target_system=target.system, record_type=target.record_type, source_system=live["source_system"],
        source_record_type=live["source_record_type"], source_id=sid, source_version=live["source_version"],
        operation="delete", idempotency_key=key, external_id=live["external_id"], payload=None,
        content_hash=None, erp_id=live["erp_id"], supersedes=live["posting_id"], detail=why)
    return Action("delete", sid, why, live["source_version"], posting=posting, withdraw=_unsent(rows))
