"""The posting ledger, `ops.erp_postings`: rows, states, transitions, and their audit events.

One row per source record version written to a target (and one per removal), inserted before
anything is sent, so nothing reaches the target without a row that says what and why. Every
state change goes through `transition` (or `claim`), which checks the move is allowed, applies it
only if the row is still in the state the caller saw (two runs at once lose nothing and do
nothing twice), and appends an `ops.erp_posting_events` row in the same transaction.

States:
    pending        inserted (or reset by a replay), not sent yet
    in_flight      claimed by one worker under a lease (`lease_owner`, `lease_until`); a row whose
                   lease expired was left by a killed process and is recovered before any re-send
    posted         the target holds it (`erp_id`); for a removal: the record is gone
    retrying       a transient failure (429/5xx/timeout after the client's retries): due again
                   at `next_attempt_at`
    dead_lettered  refused for a reason a retry cannot fix (`dead_letter_reason`, `fix_owner`,
                   the target's own words in `last_error`); replay after the fix
    superseded     a newer version replaced it in the target, or it was withdrawn before it was
                   posted (a newer version, or the record left the outbox)
    reversed       a posted removal took it out of the target
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from psycopg.rows import dict_row

STATES = ("pending", "in_flight", "posted", "retrying", "dead_lettered", "superseded", "reversed")
OPEN = ("pending", "in_flight", "retrying")  # not concluded: the target may or may not hold it yet
OWNERS = ("finance", "pmo", "master_data")
TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({"pending", "dead_lettered", "posted"}),  # posted: a version adopted without a request
    "pending": frozenset({"in_flight", "superseded", "dead_lettered"}),
    "retrying": frozenset({"in_flight", "superseded", "dead_lettered"}),
    "in_flight": frozenset({"in_flight", "posted", "retrying", "dead_lettered"}),
    "posted": frozenset({"superseded", "reversed"}),
    "dead_lettered": frozenset({"pending", "superseded"}),
    "superseded": frozenset(),
    "reversed": frozenset(),
}

_COLUMNS = ("target_system", "record_type", "source_system", "source_record_type", "source_id", "source_version",
            "operation", "idempotency_key", "send_key", "external_id", "payload", "content_hash", "state",
            "erp_id", "dead_letter_reason", "fix_owner", "last_error", "supersedes", "run_id")
_SETTABLE = frozenset({"attempts", "erp_id", "last_error", "last_error_code", "last_http_status",
                       "dead_letter_reason", "fix_owner", "next_attempt_at", "lease_owner", "lease_until",
                       "payload", "content_hash", "send_key", "replays", "posted_at", "dead_lettered_at"})


class _Now:
    """A field value meaning the database's now()."""

    def __repr__(self) -> str:
        return "now()"


NOW = _Now()


class TransitionError(ValueError):
    """A state change the ledger does not allow (a bug, never a race: races just do not apply)."""


@dataclass
class NewPosting:
    """A row to insert: `state` pending (to send) or dead_lettered (blocked: never sent)."""

    target_system: str
    record_type: str
    source_system: str
    source_record_type: str
    source_id: str
    source_version: str
    operation: str
    idempotency_key: str
    external_id: str
    payload: dict | None
    content_hash: str | None
    state: str = "pending"
    erp_id: str | None = None
    dead_letter_reason: str | None = None
    fix_owner: str | None = None
    last_error: str | None = None
    supersedes: int | None = None
    detail: str = ""

    def values(self, run_id: str | None) -> tuple:
        row = {**self.__dict__, "send_key": self.idempotency_key, "run_id": run_id,
               "payload": None if self.payload is None else json.dumps(self.payload, default=str)}
        return tuple(row[c] for c in _COLUMNS)


def _check(frm: str | None, to: str) -> None:
    if to not in TRANSITIONS.get(frm, ()):
        raise TransitionError(f"ledger: {frm} -> {to} is not a transition")


def _event(conn, posting_id: int, frm: str | None, to: str, detail: str, run_id: str | None) -> None:
    conn.execute("INSERT INTO ops.erp_posting_events (posting_id, from_state, to_state, detail, run_id) "
                 "VALUES (%s, %s, %s, %s, %s)", (posting_id, frm, to, detail, run_id))


def note(conn, posting_id: int, state: str, detail: str, run_id: str | None) -> None:
    """An audit event without a state change (e.g. a replay that left the row as it was)."""
    _event(conn, posting_id, state, state, detail, run_id)


def insert(conn, rows: Iterable[NewPosting], run_id: str | None) -> list[int]:
    """Insert rows whose idempotency key is new (another run may have inserted the same key: its
    row stands), each with its audit event; returns the posting ids inserted. The rows are copied
    into a staging table and inserted by one statement (10,000 rows: well under a second).
    Call inside a transaction."""
    rows = list(rows)
    for row in rows:
        _check(None, row.state)
    if not rows:
        return []
    cols = ", ".join(_COLUMNS)
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS _new_postings ON COMMIT DROP AS SELECT {cols}, "
                 "''::text AS detail, 0 AS ord FROM ops.erp_postings LIMIT 0")
    conn.execute("TRUNCATE _new_postings")
    with conn.cursor() as cur, cur.copy(f"COPY _new_postings ({cols}, detail, ord) FROM STDIN") as copy:
        for n, row in enumerate(rows):
            copy.write_row((*row.values(run_id), row.detail, n))
    return [r[0] for r in conn.execute(
        f"""WITH ins AS (
                INSERT INTO ops.erp_postings ({cols}, dead_lettered_at, posted_at)
                SELECT {cols}, CASE WHEN state = 'dead_lettered' THEN now() END,
                       CASE WHEN state = 'posted' THEN now() END
                FROM _new_postings ORDER BY ord
                ON CONFLICT (idempotency_key) DO NOTHING
                RETURNING posting_id, state, idempotency_key)
            INSERT INTO ops.erp_posting_events (posting_id, from_state, to_state, detail, run_id)
            SELECT ins.posting_id, NULL, ins.state, n.detail, %s
            FROM ins JOIN _new_postings AS n USING (idempotency_key)
            RETURNING posting_id""", (run_id,)).fetchall()]


def transition(conn, posting_id: int, frm: str | Iterable[str], to: str, detail: str, run_id: str | None,
               *, lease_owner: str | None = None, **fields) -> bool:
    """Move row `posting_id` from one of `frm` to `to`, setting `fields`; applies only if the row is
    in one of `frm` (and, from in_flight, still leased by `lease_owner`). Returns whether it applied."""
    frms = [frm] if isinstance(frm, str) else list(frm)
    for f in frms:
        _check(f, to)
    unknown = set(fields) - _SETTABLE
    if unknown:
        raise ValueError(f"ledger: cannot set {sorted(unknown)}")
    if to == "posted":
        fields.setdefault("posted_at", NOW)
    if to == "dead_lettered":
        fields.setdefault("dead_lettered_at", NOW)
    if to != "in_flight":
        fields.setdefault("lease_owner", None)
        fields.setdefault("lease_until", None)
    sets, params = ["state = %s", "updated_at = now()"], [to]
    for k, v in fields.items():
        if v is NOW:
            sets.append(f"{k} = now()")
            continue
        sets.append(f"{k} = %s")
        params.append(json.dumps(v, default=str) if k == "payload" and v is not None else v)
    where, wparams = "p.state = ANY(%s)", [frms]
    if lease_owner is not None:
        where += " AND (p.state <> 'in_flight' OR p.lease_owner = %s)"
        wparams.append(lease_owner)
    got = conn.execute(  # one statement: the row (locked), its new state, and the audit event
        "WITH old AS (SELECT posting_id, state FROM ops.erp_postings WHERE posting_id = %s FOR UPDATE), "
        f"upd AS (UPDATE ops.erp_postings p SET {', '.join(sets)} FROM old "
        f"WHERE p.posting_id = old.posting_id AND {where} RETURNING p.posting_id, old.state AS was), "
        "ev AS (INSERT INTO ops.erp_posting_events (posting_id, from_state, to_state, detail, run_id) "
        "SELECT posting_id, was, %s, %s, %s FROM upd) SELECT was FROM upd",
        [posting_id, *params, *wparams, to, detail, run_id]).fetchone()
    return got is not None


def claim(conn, target_system: str, record_type: str, owner: str, limit: int, lease_seconds: float,
          run_id: str | None, due_by=None) -> list[dict]:
    """Lease up to `limit` due rows to `owner`: pending or retrying rows whose time had come by
    `due_by` (default now; a run passes its start, so what it reschedules waits for the next run),
    and in_flight rows whose lease expired (their process died: `was` = 'in_flight', recover
    first). Rows another worker is claiming are skipped, never waited for (FOR UPDATE SKIP LOCKED)."""
    return conn.cursor(row_factory=dict_row).execute(  # one statement: claim and audit
        """WITH due AS (
               SELECT posting_id, state AS was, lease_owner AS was_owner FROM ops.erp_postings
               WHERE target_system = %(t)s AND record_type = %(r)s
                 AND ((state IN ('pending', 'retrying') AND next_attempt_at <= coalesce(%(due)s, now()))
                      OR (state = 'in_flight' AND lease_until < now()))
               ORDER BY next_attempt_at, posting_id
               LIMIT %(n)s FOR UPDATE SKIP LOCKED),
           upd AS (
               UPDATE ops.erp_postings p SET state = 'in_flight', lease_owner = %(o)s,
                   lease_until = now() + make_interval(secs => %(l)s), attempts = p.attempts + 1,
                   updated_at = now()
               FROM due WHERE p.posting_id = due.posting_id
               RETURNING p.*, due.was, due.was_owner),
           ev AS (
               INSERT INTO ops.erp_posting_events (posting_id, from_state, to_state, detail, run_id)
               SELECT posting_id, was, 'in_flight',
                      CASE WHEN was = 'in_flight'
                           THEN 'lease of ' || was_owner || ' expired (process gone?): recover before any re-send'
                           ELSE 'claimed by ' || %(o)s || ', attempt ' || attempts END, %(run)s
               FROM upd)
           SELECT * FROM upd ORDER BY posting_id""",
        {"t": target_system, "r": record_type, "n": limit, "o": owner, "l": lease_seconds, "run": run_id,
         "due": due_by}).fetchall()


def load(conn, target_system: str, record_type: str, source_system: str,
         source_record_type: str) -> tuple[list[dict], set[str]]:
    """The plan's view of one source's rows: every row not superseded or reversed, and the
    idempotency keys of all rows (a key the ledger has seen is never inserted again)."""
    cur = conn.cursor(row_factory=dict_row)
    params = (target_system, record_type, source_system, source_record_type)
    rows = cur.execute(
        """SELECT posting_id, source_system, source_record_type, source_id, source_version, operation,
                  idempotency_key, external_id, content_hash, state, erp_id, attempts, dead_letter_reason, fix_owner
           FROM ops.erp_postings
           WHERE target_system = %s AND record_type = %s AND source_system = %s AND source_record_type = %s
             AND state NOT IN ('superseded', 'reversed')""", params).fetchall()
    keys = {r[0] for r in conn.execute(
        "SELECT idempotency_key FROM ops.erp_postings WHERE target_system = %s AND record_type = %s "
        "AND source_system = %s AND source_record_type = %s", params).fetchall()}
    return rows, keys


def events(conn, posting_id: int) -> list[dict]:
    """The audit trail of one row, oldest first."""
    return conn.cursor(row_factory=dict_row).execute(
        "SELECT at, from_state, to_state, detail, run_id FROM ops.erp_posting_events WHERE posting_id = %s "
        "ORDER BY event_id", (posting_id,)).fetchall()
