"""Offset walks while the world moves: records deleted or updated during a walk are never skipped."""

from __future__ import annotations

from helpers import (
    after_request,
    assert_matches_truth,
    connect_env,
    kt_hard_delete,
    kt_touch,
    live,
    raw_rows,
    run,
    truth,
)

from handoff.extract.sources import kantata, netsuite


def kantata_order(sims) -> list[dict]:
    expected, _ = truth(sims, "kantata", "time_entries")
    return sorted(expected.values(), key=lambda r: (r["updated_at"], int(r["id"])))


def assert_alive_landed(sims, url) -> None:
    expected, _ = truth(sims, "kantata", "time_entries")
    got = live(url, "kantata", "time_entries")
    missing = sorted(set(expected) - set(got))
    assert not missing, f"skipped by the walk: {missing}"
    assert {k: got[k] for k in expected} == expected


def test_kantata_hard_delete_during_walk_skips_nothing(sims, warehouse_url, monkeypatch):
    """A hard delete on an early page shifts later records one page up; none may be skipped, and the
    cursor must not move past one (a look-back of 0 would never bring it back)."""
    connect_env(monkeypatch, sims, warehouse_url)
    monkeypatch.setattr(kantata, "PER_PAGE", 10)
    first = kantata_order(sims)[0]
    after_request(monkeypatch, 4, lambda: kt_hard_delete(sims, first["id"]), "time_entries")
    run("kantata", "time_entries", warehouse_url, commit_records=1)
    assert_alive_landed(sims, warehouse_url)
    monkeypatch.undo()
    connect_env(monkeypatch, sims, warehouse_url)
    run("kantata", "time_entries", warehouse_url)  # reconciliation finds the delete
    rows = raw_rows(warehouse_url, "kantata", "time_entries")
    assert rows[first["id"]][1] is True
    assert_alive_landed(sims, warehouse_url)


def test_kantata_update_to_the_newest_second_during_walk_skips_nothing(sims, warehouse_url, monkeypatch):
    """An edit during the walk stamped with the same second as the newest record at walk start moves
    the record to the end without looking "newer than the walk": later pages still shift."""
    connect_env(monkeypatch, sims, warehouse_url)
    monkeypatch.setattr(kantata, "PER_PAGE", 10)
    order = kantata_order(sims)
    from handoff.extract.stream import parse_ts

    newest = int(parse_ts(order[-1]["updated_at"]).timestamp())
    after_request(monkeypatch, 4, lambda: kt_touch(sims, order[0]["id"], newest), "time_entries")
    run("kantata", "time_entries", warehouse_url, commit_records=1)
    assert_alive_landed(sims, warehouse_url)


def test_netsuite_delete_during_walk_skips_nothing(sims, warehouse_url, monkeypatch):
    connect_env(monkeypatch, sims, warehouse_url)
    monkeypatch.setattr(netsuite, "LIMIT", 5)
    expected, _ = truth(sims, "netsuite", "customer")
    first = min(expected.values(), key=lambda r: (r["_lastmodified_iso"], int(r["id"])))

    def delete():
        w = sims.world
        with w.lock:
            w.ns_delete("customer", "customer", int(first["id"]), w.now)
            w.version += 1

    after_request(monkeypatch, 3, delete, "suiteql")
    run("netsuite", "customer", warehouse_url, commit_records=1)
    _, deleted = assert_matches_truth(sims, warehouse_url, "netsuite", "customer")
    assert first["id"] in deleted


def test_hubspot_archive_during_search_walk_skips_nothing(sims, warehouse_url, monkeypatch):
    """Search pages by offset (`after`); an archive on a page already read shifts the rest up."""
    from handoff.extract.sources import hubspot
    from handoff.extract.stream import parse_ts

    connect_env(monkeypatch, sims, warehouse_url)
    monkeypatch.setattr(hubspot, "SEARCH_LIMIT", 5)
    expected, _ = truth(sims, "hubspot", "contacts")
    first = min(expected.values(), key=lambda r: (parse_ts(r["properties"]["lastmodifieddate"]), int(r["id"])))

    def archive():
        w = sims.world
        with w.lock:
            w.hs["contacts"].put(first["id"], dict(w.hs["contacts"].rows[first["id"]], archived=True,
                                                   archivedAt=first["updatedAt"]))
            w.version += 1

    after_request(monkeypatch, 2, archive, "search")
    run("hubspot", "contacts", warehouse_url, commit_records=1)
    _, deleted = assert_matches_truth(sims, warehouse_url, "hubspot", "contacts")
    assert first["id"] in deleted
