"""End to end: sync, read NetSuite back with the extract, build the three-way reconciliation with
dbt; then the world moves (edits, deletes, approvals, new work), and the same again. Every
approved hour is posted exactly once (one live NetSuite record per entry, holding its current
hours and date) or is an exception, and the only exceptions are the world's deliberate cases,
each with its reason and owner."""

from __future__ import annotations

from collections import Counter

import pytest
from reverse_helpers import PREFIX, assert_exactly_once, edit, outbox, rows, sim_post

from handoff.reverse import sync

TICKS = 24


@pytest.fixture
def world(make_dbt_world, reverse_world):
    """A copy of the session's world of its own: this test moves raw and canonical (ticks, extracts,
    dbt builds), which the shared world's per-test reset does not undo."""
    return make_dbt_world(clone_of=reverse_world)  # conftest's `netsuite` follows this `world`


def build_and_reconcile(world) -> list[dict]:
    """The reconciliation rebuilt after NetSuite was read back (staging is views over raw), its rows: an
    incremental build of the comparison (the ledger rows written and the records read back since its
    last build) under the view."""
    result = world.build("--select", "int_erp_posting_reconciliation", "rpt_erp_posting_reconciliation",
                         "--exclude-resource-type", "unit_test",
                         prefix=PREFIX, strict=True)
    assert not result["failures"], result["failures"]
    return rows(world, f"SELECT * FROM {PREFIX}marts.rpt_erp_posting_reconciliation ORDER BY reconciliation_id")


def deliberate(world, row: dict) -> bool:
    """An exception the world holds on purpose: approved time of the person missing in NetSuite, or
    approved time on the project closed in NetSuite."""
    cases = world.sims.cases()
    entry = rows(world, f"SELECT resource_id, project_id FROM {PREFIX}canonical.time_entry WHERE time_entry_id = %s",
                 row["source_id"])
    if not entry:
        return False
    closed = f"KANTATA-{cases['time_on_closed_project']['workspace_id']}"
    return ((row["reason"], row["fix_owner"]) == ("employee_missing_in_netsuite", "master_data")
            and entry[0]["resource_id"] in cases["employee_missing_in_netsuite"]) or \
        ((row["reason"], row["fix_owner"]) == ("project_closed", "pmo") and entry[0]["project_id"] == closed)


def check(world, netsuite) -> Counter:
    for source in ("time_entries", "billing_events"):
        summary = sync(world.loader_url, netsuite, source=source, schema_prefix=PREFIX, retry_base_seconds=0.05)
        assert summary.get("dead_lettered", 0) == 0, summary  # dbt knew every refusal in advance
    world.extract()  # NetSuite read back
    recon = build_and_reconcile(world)
    entries = outbox(world)
    by_id = {r["source_id"]: r for r in recon if r["record_type"] == "time_entry"}
    assert set(by_id) == {r["time_entry_id"] for r in entries}  # nothing posted that is not approved now

    exceptions = [r for r in recon if r["is_exception"]]
    assert exceptions and all(deliberate(world, r) for r in exceptions), \
        [(r["source_id"], r["status"], r["reason"]) for r in exceptions if not deliberate(world, r)]
    assert all(r["status"] == "dead_lettered" and r["age_hours"] is not None for r in exceptions)
    assert {r["source_id"] for r in exceptions} == {r["time_entry_id"] for r in entries if not r["is_postable"]}
    assert all(r["status"] == "in_sync" for r in recon if not r["is_exception"])

    live = world.sims.truth("netsuite", "timebill_live")
    assert live["duplicates"] == [] and live["without_external_id"] == []
    postable = {r["external_id"]: r for r in entries if r["is_postable"]}
    assert set(live["by_external_id"]) == set(postable)  # one live record per approved, postable entry
    records = {str(r["id"]): r for r in live["records"]}
    for ext, ids in live["by_external_id"].items():
        rec = records[str(ids[0])]
        assert float(rec["hours"]) == float(postable[ext]["hours"]), ext
    return Counter((r["status"], r["reason"]) for r in recon)


def test_every_approved_hour_posted_once_or_a_deliberate_exception(world, netsuite):
    first = check(world, netsuite)
    assert first[("in_sync", None)] > 0

    world.sims.advance(TICKS)  # edits, hard deletes, approvals, new work
    world.extract()
    world.build("--select", "source:raw_kantata.time_entries+", "--exclude-resource-type", "unit_test",
                prefix=PREFIX, strict=True)
    second = check(world, netsuite)
    ledger = Counter(r["operation"] for r in rows(world, "SELECT operation FROM ops.erp_postings WHERE state = 'posted'"))
    assert ledger["create"] > 0
    print("reconciliation before and after", TICKS, "ticks:", dict(first), dict(second), "ledger:", dict(ledger))

    # Finance invoiced an entry, then it was edited in Kantata: NetSuite refuses the change; the
    # reconciliation and the exceptions mart say so, with the ledger row to replay
    victim = next(r for r in outbox(world) if r["is_postable"])
    sim_post(world, "/__sim/bill", {"external_ids": [victim["external_id"]]})
    edit(world, victim["time_entry_id"], hours=float(victim["hours"]) + 1)  # the outbox's new version
    summary = sync(world.loader_url, netsuite, source="time_entries", schema_prefix=PREFIX, retry_base_seconds=0.05)
    assert summary["dead_lettered"] == 1, summary
    assert_exactly_once(world)  # NetSuite still holds the first version, once
    world.build("--select", "int_erp_posting_reconciliation+", "--exclude-resource-type", "unit_test",
                prefix=PREFIX, strict=True)
    row = rows(world, f"SELECT * FROM {PREFIX}marts.rpt_erp_posting_reconciliation WHERE source_id = %s",
               victim["time_entry_id"])[0]
    assert (row["status"], row["reason"], row["fix_owner"], row["is_exception"]) == \
        ("dead_lettered", "time_already_billed", "finance", True)
    assert row["posted_version"] != row["outbox_version"] and "billed" in row["last_error"]
    mart = rows(world, f"SELECT * FROM {PREFIX}marts.rpt_reconciliation_exceptions WHERE exception_type = 'erp_posting'")
    assert [(m["entity_id"], m["fix_owner"], m["related_ids"]["source_ids"]) for m in mart] == \
        [("dead_lettered:time_already_billed", "finance", [victim["time_entry_id"]])]
    assert mart[0]["related_ids"]["posting_ids"] == [row["posting_id"]]

    # The comparison was built incrementally throughout (its delta path: the time entries changed, the
    # ledger rows written and the records read back since each build); it equals a full rebuild of it.
    table = f"{PREFIX}intermediate.int_erp_posting_reconciliation"
    took_delta = rows(world, f"SELECT last_delta FROM {PREFIX}intermediate.delta__watermarks WHERE model = %s",
                      table)
    assert took_delta == [{"last_delta": True}]
    incremental = rows(world, f"SELECT * FROM {table} ORDER BY reconciliation_id")
    world.build("--select", "int_erp_posting_reconciliation", "--full-refresh", "--exclude-resource-type", "unit_test",
                prefix=PREFIX, strict=True)
    assert rows(world, f"SELECT * FROM {table} ORDER BY reconciliation_id") == incremental
