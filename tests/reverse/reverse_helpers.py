"""What the reverse sync tests share: the outbox and ledger of a world, source changes made the way
dbt would make them (a new version: new key, new content hash), and the exactly-once check
against the NetSuite simulator's live records."""

from __future__ import annotations

import hashlib
from collections import Counter

import psycopg
import requests
from psycopg.rows import dict_row

PREFIX = "rv_"
OUTBOX = f"{PREFIX}outbox.outbox_time_entries"


def rows(world, query: str, *params) -> list[dict]:
    with psycopg.connect(world.admin_url) as conn:
        return conn.cursor(row_factory=dict_row).execute(query, params or None).fetchall()


def execute(world, query: str, *params) -> int:
    with psycopg.connect(world.admin_url) as conn:
        return conn.execute(query, params or None).rowcount


def outbox(world) -> list[dict]:
    return rows(world, f"SELECT * FROM {OUTBOX} ORDER BY time_entry_id")


def ledger(world, **where) -> list[dict]:
    cond = " AND ".join(f"{k} = %s" for k in where) or "true"
    return rows(world, f"SELECT * FROM ops.erp_postings WHERE {cond} ORDER BY posting_id", *where.values())


def states(world) -> Counter:
    return Counter((r["operation"], r["state"]) for r in ledger(world))


def events(world, posting_id: int) -> list[dict]:
    return rows(world, "SELECT from_state, to_state, detail, run_id FROM ops.erp_posting_events "
                       "WHERE posting_id = %s ORDER BY event_id", posting_id)


def edit(world, time_entry_id: str, *, hours=None, **columns) -> dict:
    """A new version of an approved entry, as the outbox shows it after dbt rebuilt it (no
    change of a posted field, e.g. a note or a rate: same content hash)."""
    row = rows(world, f"SELECT * FROM {OUTBOX} WHERE time_entry_id = %s", time_entry_id)[0]
    version = str(int(row["source_version"]) + 3600)
    new = {"source_version": version, "idempotency_key": f"kantata:time_entry:{time_entry_id}:{version}",
           **({"hours": hours} if hours is not None else {}), **columns}
    if hours is not None or columns:
        new["content_hash"] = hashlib.md5(repr(sorted({**row, **new}.items())).encode()).hexdigest()
    sets = ", ".join(f"{k} = %s" for k in new)
    execute(world, f"UPDATE {OUTBOX} SET {sets} WHERE time_entry_id = %s", *new.values(), time_entry_id)
    return {**row, **new}


def remove(world, time_entry_id: str) -> None:
    """The entry was deleted or un-approved: dbt's post-hook takes it out of the outbox."""
    assert execute(world, f"DELETE FROM {OUTBOX} WHERE time_entry_id = %s", time_entry_id) == 1


def sim_post(world, path: str, body: dict) -> dict:
    resp = requests.post(f"{world.sims.url('netsuite')}{path}", json=body, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()


def sim_requests(world) -> int:
    """API requests the NetSuite simulator has answered (its own count: exact under threads)."""
    return requests.get(f"{world.sims.url('netsuite')}/__sim/health", timeout=10).json()["requests"]


def live(world) -> dict:
    return world.sims.truth("netsuite", "timebill_live")


def assert_exactly_once(world) -> dict:
    """Exactly one live NetSuite record per posted entry version, the one the ledger names, and
    none for anything else; no idempotency key or create twice in the simulator's ledger."""
    truth = live(world)
    assert truth["duplicates"] == [] and truth["without_external_id"] == []
    posted = {r["external_id"]: r for r in ledger(world, state="posted") if r["operation"] != "delete"}
    assert {ext: [str(i) for i in ids] for ext, ids in truth["by_external_id"].items()} == \
        {ext: [r["erp_id"] for r in [p]] for ext, p in posted.items()}
    by_id = {str(r["id"]): r for r in truth["records"]}
    for ext, p in posted.items():
        rec = by_id[p["erp_id"]]
        assert float(rec["hours"]) == float(p["payload"]["hours"]), (ext, rec, p["payload"])
    sim = world.sims.ledger()
    keys = Counter(e["idempotency_key"] for e in sim)
    assert [k for k, n in keys.items() if n > 1] == []
    creates = Counter(e["external_id"] for e in sim if e["op"] == "create")
    deletes = Counter(e["external_id"] for e in sim if e["op"] == "delete")
    assert [e for e, n in creates.items() if n - deletes[e] > 1] == []
    return truth
