"""Reverse sync of a dbt-built outbox to the NetSuite simulator: the happy path, the dry run,
faults retried, billing events."""

from __future__ import annotations

import pytest
from reverse_helpers import PREFIX, assert_exactly_once, ledger, outbox, rows, sim_requests, states

from handoff.reverse import sync
from handoff.sim.netsuite import CURRENCY_CODE


def test_dry_run_then_happy_path_posts_each_postable_entry_once(world, netsuite):
    entries = outbox(world)
    postable = {r["external_id"] for r in entries if r["is_postable"]}
    blocked = {r["external_id"]: r for r in entries if not r["is_postable"]}
    assert postable and blocked, "the tiny world has postable and blocked approved time"

    dry = sync(world.loader_url, netsuite, dry_run=True, schema_prefix=PREFIX)
    assert dry["planned"] == {"create": len(postable), "dead_letter": len(blocked)}
    assert {a["action"] for a in dry["actions"]} == {"create", "dead_letter"}
    assert all(a["reason"] for a in dry["actions"])
    assert world.sims.ledger() == [] and ledger(world) == []  # posted nothing, wrote nothing

    requests_before = sim_requests(world)
    summary = sync(world.loader_url, netsuite, schema_prefix=PREFIX, run_id="happy")
    assert summary["created"] == len(postable) and summary["blocked"] == len(blocked)
    assert sim_requests(world) - requests_before == len(postable)  # one request per posting, none for blocked
    assert states(world) == {("create", "posted"): len(postable), ("create", "dead_lettered"): len(blocked)}
    assert_exactly_once(world)
    assert {e["external_id"] for e in world.sims.ledger()} == postable  # no API call for blocked rows
    for r in ledger(world, state="dead_lettered"):
        src = blocked[r["external_id"]]
        assert (r["dead_letter_reason"], r["fix_owner"]) == (src["blocking_reason"], src["fix_owner"])
        assert r["last_error"].startswith("not sent") and r["attempts"] == 0
    audit = rows(world, "SELECT to_state, count(*) AS n FROM ops.erp_posting_events WHERE run_id = 'happy' "
                        "GROUP BY 1 ORDER BY 1")
    assert {a["to_state"]: a["n"] for a in audit} == {"pending": len(postable), "in_flight": len(postable),
                                                      "posted": len(postable), "dead_lettered": len(blocked)}

    again = sync(world.loader_url, netsuite, schema_prefix=PREFIX)
    assert again["planned"] == {"nothing": len(entries)} and again["requests"] == 0
    assert len(world.sims.ledger()) == len(postable)


@pytest.mark.parametrize("fault", [
    {"rate_limit": {"every": 5}, "retry_after": 0},
    {"error_5xx": {"every": 6}, "status_5xx": [500, 502, 503]},
    {"timeout": {"every": 40}, "timeout_seconds": 1},
    {"drop": {"every": 9}},
    {"expire_tokens": True},
], ids=["429", "5xx", "timeout", "drop", "expired_token"])
def test_faults_are_retried_to_exactly_one_record(world, netsuite, fault):
    world.sims.set_faults("netsuite", {**fault, "paths": "/record/"})
    summary = sync(world.loader_url, netsuite, schema_prefix=PREFIX, concurrency=8)
    postable = sum(r["is_postable"] for r in outbox(world))
    assert summary["retries"] > 0
    assert summary.get("created", 0) + summary.get("retrying", 0) == postable
    world.sims.clear_faults("netsuite")
    if summary.get("retrying"):  # gave up within this run: due again later, posted by the next run
        rows(world, "UPDATE ops.erp_postings SET next_attempt_at = now() WHERE state = 'retrying' RETURNING 1")
        sync(world.loader_url, netsuite, schema_prefix=PREFIX)
    assert states(world)[("create", "posted")] == postable
    assert_exactly_once(world)


def test_billing_events_post_as_the_custom_record(world, netsuite):
    """The tiny world completes no milestone yet: two outbox rows as dbt would write them, on a real job."""
    job = next(j for j in world.sims.world.ns["job"].values() if j["entitystatus"] != "Closed")
    period = rows(world, f"SELECT start_date, accounting_period_id FROM {PREFIX}staging.stg_netsuite__accounting_periods "
                         "WHERE NOT is_closed AND NOT coalesce(is_year, false) AND NOT coalesce(is_quarter, false) "
                         "ORDER BY start_date DESC LIMIT 1")[0]
    for n, (amount, postable) in enumerate([(1500, True), (-5, False)], start=1):
        rows(world, f"""INSERT INTO {PREFIX}outbox.outbox_billing_events (idempotency_key, external_id, source_system,
                source_record_type, billing_event_id, source_version, milestone_id, event_type, job_id, subsidiary_id,
                event_date, amount, currency, blocking_reason, fix_owner, is_postable)
            VALUES (%s, %s, 'kantata', 'billing_event', %s, 'v1', %s, 'milestone', %s, %s, %s, %s, %s, %s, %s, %s)
            RETURNING 1""",
             f"kantata:billing_event:{n}:v1", f"KANTATA-BE-{n}", str(n), str(700 + n), str(job["id"]),
             str(job["subsidiary"]), period["start_date"], amount, CURRENCY_CODE[job["currency"]],
             None if postable else "invalid_amount", None if postable else "pmo", postable)
    summary = sync(world.loader_url, netsuite, source="billing_events", schema_prefix=PREFIX)
    assert summary["created"] == 1 and summary["blocked"] == 1 and summary["requests"] == 1
    live = world.sims.truth("netsuite", "billing_event_live")
    assert {k: len(v) for k, v in live["by_external_id"].items()} == {"KANTATA-BE-1": 1}
    dead = ledger(world, record_type="customrecord_handoff_billing_event", state="dead_lettered")
    assert [(r["external_id"], r["dead_letter_reason"], r["fix_owner"]) for r in dead] == \
        [("KANTATA-BE-2", "invalid_amount", "pmo")]


def test_an_outage_leaves_rows_retrying_for_the_next_run(world, netsuite):
    """5xx on every write: the client gives up, each row waits (retrying, the ERP's words kept),
    nothing is dead-lettered; the next run after the outage posts each once."""
    world.sims.set_faults("netsuite", {"error_5xx": 1.0, "status_5xx": [503], "paths": "/record/"})
    summary = sync(world.loader_url, netsuite, schema_prefix=PREFIX, retry_base_seconds=60)
    postable = sum(r["is_postable"] for r in outbox(world))
    assert summary["retrying"] == postable and summary.get("created", 0) == 0
    waiting = ledger(world, state="retrying")
    assert len(waiting) == postable
    assert all(r["last_error_code"] == "RetriesExhausted" and "503" in r["last_error"] for r in waiting)
    assert rows(world, "SELECT bool_and(next_attempt_at > now() + interval '50 seconds') AS later "
                       "FROM ops.erp_postings WHERE state = 'retrying'")[0]["later"]
    world.sims.clear_faults("netsuite")
    assert sync(world.loader_url, netsuite, schema_prefix=PREFIX)["requests"] == 0  # not due yet
    rows(world, "UPDATE ops.erp_postings SET next_attempt_at = now() WHERE state = 'retrying' RETURNING 1")
    assert sync(world.loader_url, netsuite, schema_prefix=PREFIX)["created"] == postable
    assert_exactly_once(world)


def test_a_read_timeout_after_netsuite_accepted_is_answered_by_the_first_job(world, netsuite):
    """The client gives up waiting (read timeout) while NetSuite still works on the request and
    accepts it; the retry carries the same key, NetSuite refuses it as a repeat and points at the
    first job, whose result names the record: one record, and the ledger has its id."""
    from handoff.connectors import connect
    from handoff.connectors.http import RetryPolicy

    impatient = connect("netsuite", RetryPolicy(attempts=4, backoff_base=2.0, backoff_cap=2.0, read_timeout=0.4))
    world.sims.set_faults("netsuite", {"slow": {"every": 25}, "slow_seconds": 0.8, "paths": "/record/"})
    before = sim_requests(world)
    summary = sync(world.loader_url, impatient, schema_prefix=PREFIX)
    impatient.close()
    postable = sum(r["is_postable"] for r in outbox(world))
    assert summary["created"] == postable and summary["retries"] > 0
    # a retry after NetSuite accepted: 400 + Location, then the job, its task list, its result
    assert sim_requests(world) - before - postable >= 4
    assert all(r["erp_id"] for r in ledger(world, state="posted"))
    assert_exactly_once(world)
