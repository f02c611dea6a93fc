"""Changes after posting: an edit is a PATCH (both versions in the ledger), a delete or un-approval
is a DELETE (reversed), a change to billed time or into a closed period is a dead letter for
finance while the posted version stays; then dead letter, fix, replay."""

from __future__ import annotations

import pytest
from reverse_helpers import (
    PREFIX,
    assert_exactly_once,
    edit,
    events,
    execute,
    ledger,
    live,
    outbox,
    remove,
    sim_post,
    states,
)

from handoff.reverse import replay, sync
from handoff.reverse.engine import MassRemovalRefused


def _posted(world, netsuite) -> list[dict]:
    sync(world.loader_url, netsuite, schema_prefix=PREFIX)
    return [r for r in outbox(world) if r["is_postable"]]


def test_edit_is_patched_and_the_ledger_keeps_both_versions(world, netsuite):
    first = _posted(world, netsuite)[0]
    old = ledger(world, idempotency_key=first["idempotency_key"])[0]
    new = edit(world, first["time_entry_id"], hours=float(first["hours"]) + 1.5)

    dry = sync(world.loader_url, netsuite, schema_prefix=PREFIX, dry_run=True)
    assert [(a["action"], a["source_id"]) for a in dry["actions"]] == [("update", first["time_entry_id"])]
    assert "changed after posting" in dry["actions"][0]["reason"]

    summary = sync(world.loader_url, netsuite, schema_prefix=PREFIX)
    assert summary["updated"] == 1 and summary["requests"] == 1
    versions = ledger(world, external_id=first["external_id"])
    assert [(r["operation"], r["state"], r["source_version"]) for r in versions] == [
        ("create", "superseded", first["source_version"]), ("update", "posted", new["source_version"])]
    assert versions[1]["erp_id"] == old["erp_id"] and versions[1]["supersedes"] == old["posting_id"]
    assert [e["op"] for e in world.sims.ledger() if e["external_id"] == first["external_id"]] == ["create", "update"]
    truth = assert_exactly_once(world)
    assert float(next(r for r in truth["records"] if str(r["id"]) == old["erp_id"])["hours"]) == new["hours"]


def test_a_version_that_changes_nothing_posted_is_recorded_without_a_request(world, netsuite):
    first = _posted(world, netsuite)[0]
    new = edit(world, first["time_entry_id"])  # e.g. the rate or a note changed: same posted content
    summary = sync(world.loader_url, netsuite, schema_prefix=PREFIX)
    assert summary["planned"]["adopt"] == 1 and summary["adopted"] == 1 and summary["requests"] == 0
    rows = ledger(world, external_id=first["external_id"])
    assert [(r["operation"], r["state"], r["source_version"]) for r in rows] == [
        ("create", "superseded", first["source_version"]), ("update", "posted", new["source_version"])]
    assert rows[1]["erp_id"] == rows[0]["erp_id"] and rows[1]["idempotency_key"] == new["idempotency_key"]
    assert [e["op"] for e in world.sims.ledger() if e["external_id"] == first["external_id"]] == ["create"]
    assert_exactly_once(world)


def test_delete_or_unapproval_removes_the_record(world, netsuite):
    gone = _posted(world, netsuite)[1]
    remove(world, gone["time_entry_id"])
    summary = sync(world.loader_url, netsuite, schema_prefix=PREFIX)
    assert summary["deleted"] == 1 and summary["requests"] == 1
    rows = ledger(world, external_id=gone["external_id"])
    assert [(r["operation"], r["state"]) for r in rows] == [("create", "reversed"), ("delete", "posted")]
    assert rows[1]["idempotency_key"] == f"{gone['idempotency_key']}:delete"
    assert gone["external_id"] not in live(world)["by_external_id"]
    assert_exactly_once(world)
    assert sync(world.loader_url, netsuite, schema_prefix=PREFIX)["requests"] == 0


def test_change_to_billed_time_is_a_dead_letter_for_finance_and_the_old_version_stays(world, netsuite):
    entries = _posted(world, netsuite)
    edited, deleted = entries[2], entries[3]
    sim_post(world, "/__sim/bill", {"external_ids": [edited["external_id"], deleted["external_id"]]})
    edit(world, edited["time_entry_id"], hours=float(edited["hours"]) + 1)
    remove(world, deleted["time_entry_id"])
    summary = sync(world.loader_url, netsuite, schema_prefix=PREFIX)
    assert summary["dead_lettered"] == 2 and summary.get("updated", 0) == summary.get("deleted", 0) == 0
    for entry, op in ((edited, "update"), (deleted, "delete")):
        rows = ledger(world, external_id=entry["external_id"])
        assert [(r["operation"], r["state"]) for r in rows] == [("create", "posted"), (op, "dead_lettered")]
        dead = rows[1]
        assert (dead["dead_letter_reason"], dead["fix_owner"]) == ("time_already_billed", "finance")
        assert dead["last_error_code"] == "CANT_MODIFY_BILLED_TIME" and "billed" in dead["last_error"]
        assert "stays as posted" in events(world, dead["posting_id"])[-1]["detail"]
    truth = assert_exactly_once(world)  # the billed records are as first posted: never a second one
    assert all(truth["by_external_id"][e["external_id"]] for e in (edited, deleted))
    assert sync(world.loader_url, netsuite, schema_prefix=PREFIX)["requests"] == 0  # waits for a replay


def test_edit_into_a_closed_period_is_a_dead_letter_for_finance(world, netsuite):
    entry = _posted(world, netsuite)[4]
    sim_post(world, "/__sim/close_period", {"date": str(entry["tran_date"])})
    edit(world, entry["time_entry_id"], hours=float(entry["hours"]) + 0.5)
    sync(world.loader_url, netsuite, schema_prefix=PREFIX)
    rows = ledger(world, external_id=entry["external_id"])
    assert [(r["state"], r["dead_letter_reason"], r["fix_owner"]) for r in rows] == [
        ("posted", None, None), ("dead_lettered", "period_closed", "finance")]
    assert "is closed" in rows[1]["last_error"]
    assert_exactly_once(world)


def test_dead_letter_fix_replay(world, netsuite):
    """An ERP refusal (wrong subsidiary) and a blocked row (missing employee), both fixed, replayed."""
    entries = outbox(world)
    refused = next(r for r in entries if r["is_postable"])
    blocked = next(r for r in entries if r["blocking_reasons"] == "employee_missing_in_netsuite")
    good_subsidiary = refused["subsidiary_id"]
    other = next(str(s["id"]) for s in world.sims.world.ns["subsidiary"].values() if str(s["id"]) != good_subsidiary)
    edit_in_place = f"UPDATE {PREFIX}outbox.outbox_time_entries SET "
    execute(world, edit_in_place + "subsidiary_id = %s WHERE time_entry_id = %s", other, refused["time_entry_id"])

    sync(world.loader_url, netsuite, schema_prefix=PREFIX)
    dead = ledger(world, external_id=refused["external_id"])[0]
    assert (dead["state"], dead["dead_letter_reason"], dead["fix_owner"]) == (
        "dead_lettered", "subsidiary_mismatch", "master_data")
    assert "subsidiary" in dead["last_error"]

    # the fixes: the mapping is corrected, the employee now exists in NetSuite (same source versions)
    employee = next(iter(world.sims.world.ns["employee"].values()))
    execute(world, edit_in_place + "subsidiary_id = %s WHERE time_entry_id = %s", good_subsidiary,
            refused["time_entry_id"])
    execute(world, edit_in_place + "employee_netsuite_id = %s, subsidiary_id = %s, is_postable = true, "
                                   "blocking_reason = null, blocking_reasons = '', fix_owner = null "
                                   "WHERE time_entry_id = %s", str(employee["id"]), str(employee["subsidiary"]),
            blocked["time_entry_id"])
    hint = sync(world.loader_url, netsuite, schema_prefix=PREFIX, dry_run=True)
    assert hint["planned"].get("create", 0) == 0  # a dead letter waits for its replay

    sent = len(world.sims.ledger())
    dry = replay(world.loader_url, netsuite, posting_ids=[dead["posting_id"]], dry_run=True,
                 schema_prefix=PREFIX, source="time_entries")
    assert (dry["selected"], dry["replayed"]) == (1, 1) and len(world.sims.ledger()) == sent
    assert ledger(world, posting_id=dead["posting_id"])[0]["state"] == "dead_lettered"
    one = replay(world.loader_url, netsuite, posting_ids=[dead["posting_id"]], schema_prefix=PREFIX,
                 source="time_entries")
    assert one["replayed"] == 1 and one["created"] == 1
    row = ledger(world, posting_id=dead["posting_id"])[0]
    assert row["state"] == "posted" and row["replays"] == 1
    assert row["send_key"] == f"{row['idempotency_key']}:replay1"  # the first key's answer is the refusal
    by_reason = replay(world.loader_url, netsuite, reason="employee_missing_in_netsuite", schema_prefix=PREFIX)
    assert set(by_reason["by_source"]) == {"time_entries", "billing_events"}  # every source by default
    others = sum(1 for r in entries if r["blocking_reason"] == "employee_missing_in_netsuite") - 1
    assert (by_reason["replayed"], by_reason["still_blocked"]) == (1, others)
    assert ledger(world, external_id=blocked["external_id"])[0]["state"] == "posted"
    assert states(world)[("create", "dead_lettered")] == sum(1 for r in entries if not r["is_postable"]) - 1
    assert_exactly_once(world)


def test_an_outbox_built_empty_removes_nothing_unless_asked(world, netsuite):
    """An upstream failure that empties the outbox must not delete finance's posted time."""
    posted = len(_posted(world, netsuite))
    execute(world, f"DELETE FROM {PREFIX}outbox.outbox_time_entries")
    dry = sync(world.loader_url, netsuite, schema_prefix=PREFIX, dry_run=True)
    assert dry["planned"]["delete"] == posted and "is the outbox complete" in dry["refused"]
    sent, before = len(world.sims.ledger()), states(world)
    with pytest.raises(MassRemovalRefused, match=f"removes {posted} of {posted} live records"):
        sync(world.loader_url, netsuite, schema_prefix=PREFIX)
    assert states(world) == before and len(world.sims.ledger()) == sent
    summary = sync(world.loader_url, netsuite, schema_prefix=PREFIX, allow_mass_removal=True)
    assert summary["deleted"] == posted and live(world)["by_external_id"] == {}
    assert_exactly_once(world)
