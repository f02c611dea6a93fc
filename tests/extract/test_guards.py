"""Absence is not deletion when the read went wrong: snapshot diff and id reconciliation guards."""

from __future__ import annotations

import pytest
from helpers import connect_env, live, query, run, truth

from handoff.connectors.http import SystemClient
from handoff.extract import runner as runner_mod
from handoff.extract.runlog import RunInfo
from handoff.extract.sources import get_source

# -- snapshots and reconciliation: absence is not deletion when the read went wrong --------------

def test_workday_empty_snapshot_does_not_wipe_raw(sims, warehouse_url, monkeypatch):
    """A 200 with an empty Report_Entry (an error the report swallowed) must not mark every worker
    deleted: the run fails loudly and deletes nothing; a full refresh may apply it on purpose."""
    connect_env(monkeypatch, sims, warehouse_url)
    run("workday", "workers", warehouse_url)
    expected, _ = truth(sims, "workday", "workers")
    original = SystemClient.json

    def empty_report(self, method, path, **kwargs):
        body = original(self, method, path, **kwargs)
        return {"Report_Entry": []} if "customreport2" in path else body

    monkeypatch.setattr(SystemClient, "json", empty_report)
    with pytest.raises(runner_mod.DeleteGuardError, match="refusing to mark"):
        run("workday", "workers", warehouse_url)
    assert len(live(warehouse_url, "workday", "workers")) == len(expected)
    outcome, error = query(warehouse_url, "SELECT outcome, error FROM ops.extract_runs ORDER BY started_at DESC "
                                          "LIMIT 1")[0]
    assert outcome == "failed" and "refusing to mark" in error and "full_refresh" in error
    # A full refresh is the explicit override.
    r = run("workday", "workers", warehouse_url, info=RunInfo(full_refresh=True))
    assert r.deletes == len(expected) and not live(warehouse_url, "workday", "workers")


def test_workday_rejected_entries_are_not_deleted(sims, warehouse_url, monkeypatch):
    """An entry that fails validation is still in the report: it is rejected, not deleted."""
    connect_env(monkeypatch, sims, warehouse_url)
    run("workday", "workers", warehouse_url)
    expected, _ = truth(sims, "workday", "workers")
    sims.set_faults("workday", {"drift": {"rename": {"Email": "Work_Email"}}})
    r = run("workday", "workers", warehouse_url)
    assert r.rejects == len(expected) and r.deletes == 0
    assert set(live(warehouse_url, "workday", "workers")) == set(expected)


def test_kantata_reconcile_with_an_empty_listing_deletes_nothing(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    run("kantata", "users", warehouse_url)
    expected, _ = truth(sims, "kantata", "users")
    cls = type(get_source("kantata").stream("users"))
    monkeypatch.setattr(cls, "live_ids", lambda self, client: iter([[]]))
    monkeypatch.setattr(cls, "confirm_missing", lambda self, client, ids: set(ids))
    with pytest.raises(runner_mod.DeleteGuardError):
        run("kantata", "users", warehouse_url)
    assert set(live(warehouse_url, "kantata", "users")) == set(expected)
