"""The plan on its own (no database, no HTTP): what each combination of outbox row and ledger
rows becomes, and why."""

from __future__ import annotations

from handoff.reverse.netsuite import TimeBill
from handoff.reverse.outbox import SOURCES
from handoff.reverse.plan import plan

SRC, TARGET = SOURCES["time_entries"], TimeBill(client=None)


def entry(tid="1", version="100", postable=True, content="h1", **kw) -> dict:
    return {"time_entry_id": tid, "source_version": version, "idempotency_key": f"kantata:time_entry:{tid}:{version}",
            "external_id": f"KANTATA-TE-{tid}", "source_system": "kantata", "source_record_type": "time_entry",
            "content_hash": content, "is_postable": postable, "blocking_reason": None if postable else "no_job",
            "blocking_reasons": "" if postable else "no_job", "fix_owner": None if postable else "pmo",
            "employee_netsuite_id": "201", "job_id": "5001", "subsidiary_id": "1", "tran_date": "2026-02-10",
            "hours": 2, "is_billable": True, **kw}


def row(pid, state, version="100", operation="create", tid="1", content="h1", erp_id=None, **kw) -> dict:
    key = f"kantata:time_entry:{tid}:{version}" + (":delete" if operation == "delete" else "")
    return {"posting_id": pid, "source_system": "kantata", "source_record_type": "time_entry", "source_id": tid,
            "source_version": version, "operation": operation, "idempotency_key": key,
            "external_id": f"KANTATA-TE-{tid}", "content_hash": content, "state": state, "erp_id": erp_id,
            "attempts": 1, "dead_letter_reason": None, "fix_owner": None, **kw}


def one(outbox, ledger):
    rows = ledger
    actions = plan(SRC, TARGET, outbox, rows, {r["idempotency_key"] for r in rows})
    assert len(actions) == 1, actions
    return actions[0]


def test_new_entries_are_created_and_blocked_ones_dead_lettered_unsent():
    a = one([entry()], [])
    assert (a.kind, a.posting.operation, a.posting.state) == ("create", "create", "pending")
    assert a.posting.payload["externalId"] == "KANTATA-TE-1" and a.posting.payload["employee"] == {"id": "201"}
    b = one([entry(postable=False)], [])
    assert (b.kind, b.posting.state, b.posting.dead_letter_reason, b.posting.fix_owner) == (
        "dead_letter", "dead_lettered", "no_job", "pmo")
    assert "not sent" in b.reason


def test_a_changed_version_is_an_update_of_the_posted_record():
    a = one([entry(version="200", content="h2")], [row(1, "posted", erp_id="900001")])
    assert (a.kind, a.posting.operation, a.posting.erp_id, a.posting.supersedes) == ("update", "update", "900001", 1)
    assert "changed after posting" in a.reason


def test_same_content_under_a_new_version_is_adopted_without_a_request():
    a = one([entry(version="200")], [row(1, "posted", erp_id="900001")])
    assert (a.kind, a.posting.state, a.posting.erp_id, a.posting.supersedes) == ("adopt", "posted", "900001", 1)


def test_a_posted_entry_gone_from_the_outbox_is_removed():
    a = one([], [row(1, "posted", erp_id="900001")])
    assert (a.kind, a.posting.operation, a.posting.idempotency_key, a.posting.supersedes) == (
        "delete", "delete", "kantata:time_entry:1:100:delete", 1)


def test_unsent_versions_are_withdrawn_and_in_flight_ones_waited_for():
    a = one([entry(version="200", content="h2")], [row(1, "pending")])
    assert (a.kind, a.withdraw) == ("create", [1])
    b = one([entry(version="200", content="h2")], [row(1, "in_flight")])
    assert b.kind == "nothing" and "waits for posting #1" in b.reason
    c = one([], [row(1, "retrying")])
    assert (c.kind, c.withdraw) == ("withdraw", [1])
    d = one([], [row(1, "posted", erp_id="9"), row(2, "pending", version="200", operation="update", erp_id="9")])
    assert (d.kind, d.withdraw) == ("delete", [2])


def test_known_versions_wait_and_say_why():
    dead = row(1, "dead_lettered", attempts=0, dead_letter_reason="no_job", fix_owner="pmo")
    a = one([entry()], [dead])  # fixed in the outbox since: the same version, now postable
    assert a.kind == "nothing" and "replay" in a.reason and "now postable" in a.reason
    b = one([entry()], [row(1, "posted", erp_id="900001")])
    assert b.kind == "nothing" and "posted as timeBill 900001" in b.reason
    billed = row(2, "dead_lettered", operation="delete", dead_letter_reason="time_already_billed",
                 fix_owner="finance")
    c = one([], [row(1, "posted", erp_id="9"), billed])
    assert c.kind == "nothing" and "time_already_billed" in c.reason
