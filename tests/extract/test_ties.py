"""Ties on the modification time across page and commit boundaries, interruptions, churn, caps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from helpers import after_request, assert_matches_truth, connect_env, live, run, truth

from handoff.extract.sources import get_source, hubspot, kantata


class Boom(RuntimeError):
    pass


def interrupt_after(monkeypatch, stream, pages: int):
    cls = type(stream)
    original = cls.pages

    def failing(self, client, window, state):
        for i, page in enumerate(original(self, client, window, state)):
            if i == pages:
                raise Boom(f"interrupted after {pages} pages")
            yield page

    monkeypatch.setattr(cls, "pages", failing)
    return lambda: monkeypatch.setattr(cls, "pages", original)


def test_kantata_ties_across_pages_and_an_interrupted_run(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    monkeypatch.setattr(kantata, "PER_PAGE", 10)  # the bulk-approval tie group spans many pages
    expected, _ = truth(sims, "kantata", "time_entries")
    tie = sims.cases()["modstamp_ties"]["kantata.time_entries"]
    ordered = sorted(expected.values(), key=lambda r: (r["updated_at"], int(r["id"])))
    first_tie = next(i for i, r in enumerate(ordered) if r["updated_at"] == tie)
    restore = interrupt_after(monkeypatch, get_source("kantata").stream("time_entries"), first_tie // 10 + 2)
    with pytest.raises(Boom):
        run("kantata", "time_entries", warehouse_url, commit_records=1)  # commit every page
    got = live(warehouse_url, "kantata", "time_entries")
    assert tie in {r["updated_at"] for r in got.values()}  # stopped inside the tie group
    assert len(got) < len(expected)
    restore()
    run("kantata", "time_entries", warehouse_url, commit_records=1)
    assert live(warehouse_url, "kantata", "time_entries") == expected


def test_kantata_walk_with_churn_falls_back_to_keyset(sims, warehouse_url, monkeypatch):
    """Records updated while paging shift later pages; the walk notices and re-reads by keyset."""
    connect_env(monkeypatch, sims, warehouse_url)
    monkeypatch.setattr(kantata, "PER_PAGE", 25)
    after_request(monkeypatch, 4, lambda: sims.advance(30), "time_entries")  # edits, approvals, deletes mid-walk
    run("kantata", "time_entries", warehouse_url)
    expected, _ = truth(sims, "kantata", "time_entries")
    got = live(warehouse_url, "kantata", "time_entries")
    # Everything alive now is landed at its current version (deletes are the reconciliation's job).
    assert {k: got[k] for k in expected} == expected


def test_salesforce_contact_ties_beyond_a_batch(sims, warehouse_url, monkeypatch):
    """More than 200 contacts share one SystemModstamp; batches of 200, interrupted inside them."""
    connect_env(monkeypatch, sims, warehouse_url)
    import json
    import os

    conn = json.loads(os.environ["AIRFLOW_CONN_HANDOFF_SALESFORCE"])
    conn["extra"]["batch_size"] = "200"
    monkeypatch.setenv("AIRFLOW_CONN_HANDOFF_SALESFORCE", json.dumps(conn))
    restore = interrupt_after(monkeypatch, get_source("salesforce").stream("Contact"), 1)
    with pytest.raises(Boom):
        run("salesforce", "Contact", warehouse_url, commit_records=1)
    assert len(live(warehouse_url, "salesforce", "Contact")) == 200
    restore()
    r = run("salesforce", "Contact", warehouse_url, commit_records=1)
    assert r.pages == 2  # the tie group is re-read from its timestamp, not skipped
    assert_matches_truth(sims, warehouse_url, "salesforce", "Contact")


def test_hubspot_search_cap_reanchors(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    monkeypatch.setattr(hubspot, "SEARCH_LIMIT", 3)
    monkeypatch.setattr(hubspot, "SEARCH_CAP", 6)  # forces a new query every 2 pages
    r = run("hubspot", "deals", warehouse_url, lookback=timedelta(0))
    expected, _ = truth(sims, "hubspot", "deals")
    assert r.pages == 8 and r.records == len(expected) == 24  # keyset re-anchoring re-reads nothing
    assert_matches_truth(sims, warehouse_url, "hubspot", "deals")
