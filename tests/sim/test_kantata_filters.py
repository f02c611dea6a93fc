"""Kantata hides what the real one hides: archived workspaces and their data, soft-deleted stories.

The flags (`include_archived`, `from_archived_workspaces`, `show_deleted`,
`show_from_archived_workspaces`) bring them back; `only=` and `meta.count` follow the same filters;
truth keeps everything. Users also sort by the documented `order=alphabetical`.
"""

from __future__ import annotations

import pytest

from handoff.sim import clock

from .conftest import KT_ALL

FLAG = {"workspaces": "include_archived", "time_entries": "from_archived_workspaces",
        "expenses": "from_archived_workspaces", "stories": "show_from_archived_workspaces"}


def _walk(s, base, kind, **params) -> tuple[list[str], dict, int]:
    """Every page of a list: (ids in results order, records by id, meta.count of the first page)."""
    ids, recs, page, count = [], {}, 1, None
    while True:
        body = s.get(f"{base}/api/v1/{kind}.json", params={"per_page": 200, "page": page, **params}).json()
        count = body["meta"]["count"] if count is None else count
        assert body["count"] == body["meta"]["count"] == count
        if not body["results"]:
            return ids, recs, count
        ids += [r["id"] for r in body["results"]]
        recs.update(body[kind])
        page += 1


def _in_workspace(kind, rec, ws_id) -> bool:
    return rec["id"] == ws_id if kind == "workspaces" else rec["workspace_id"] == ws_id


@pytest.mark.parametrize("kind", ["workspaces", "time_entries", "expenses", "stories"])
def test_archived_workspace_and_its_data_hidden_unless_asked(clients, cluster, kind):
    s, base = clients.session("kantata"), cluster.url("kantata")
    case = cluster.cases()["time_on_closed_project"]
    archived = case["workspace_id"]
    truth = {r["id"]: r for r in cluster.truth("kantata", kind)["records"]}  # truth: everything that exists
    assert next(r for r in cluster.truth("kantata", "workspaces")["records"] if r["id"] == archived)["archived"]
    of_archived = {i for i, r in truth.items() if _in_workspace(kind, r, archived)}
    assert of_archived  # the seed-7 tiny world has the archived workspace's records of every kind

    ids, recs, count = _walk(s, base, kind)
    assert set(ids) == set(truth) - of_archived and len(ids) == len(set(ids)) == count
    assert not any(_in_workspace(kind, r, archived) for r in recs.values())

    ids_all, recs_all, count_all = _walk(s, base, kind, **{FLAG[kind]: "true"})
    assert set(ids_all) == set(truth) and len(ids_all) == count_all == count + len(of_archived)
    assert {i: recs_all[i] for i in of_archived} == {i: truth[i] for i in of_archived}
    if kind == "time_entries":  # the deliberate case: time logged after the project closed
        assert set(case["time_entry_ids"]) <= of_archived

    # only= looks ids up through the same filters; the count is the filtered count
    probe = sorted(of_archived)[:3] + sorted(set(truth) - of_archived)[:2]
    hidden = s.get(f"{base}/api/v1/{kind}.json", params={"only": ",".join(probe)}).json()
    assert sorted(r["id"] for r in hidden["results"]) == sorted(probe[-2:]) and hidden["meta"]["count"] == 2
    shown = s.get(f"{base}/api/v1/{kind}.json", params={"only": ",".join(probe), FLAG[kind]: "true"}).json()
    assert sorted(r["id"] for r in shown["results"]) == sorted(probe) and shown["meta"]["count"] == len(probe)


def test_the_flags_of_one_list_do_not_show_another_lists_hidden_records(clients, cluster):
    s, base = clients.session("kantata"), cluster.url("kantata")
    archived = cluster.cases()["time_on_closed_project"]["workspace_id"]
    # stories' show_archived is about stories archived on their own (none here), not archived workspaces
    stories = _walk(s, base, "stories", show_archived="true", show_deleted="true")[1]
    assert stories and not any(r["workspace_id"] == archived for r in stories.values())
    assert _walk(s, base, "time_entries", include_archived="true")[2] == _walk(s, base, "time_entries")[2]
    everything = _walk(s, base, "stories", **KT_ALL["stories"])[1]
    assert any(r["workspace_id"] == archived for r in everything.values())


def test_archiving_and_unarchiving_a_workspace_changes_the_lists(fresh):
    c, cl = fresh
    s, base, w = cl.session("kantata"), c.url("kantata"), c.world
    before = _walk(s, base, "time_entries", order="updated_at:asc")[2]  # caches the filtered index
    ws = next(r for r in w.kt["workspaces"].values() if not r["archived"] and
              any(e["workspace_id"] == r["id"] for e in c.truth("kantata", "time_entries")["records"]))
    n = sum(1 for e in c.truth("kantata", "time_entries")["records"] if e["workspace_id"] == ws["id"])
    with w.lock:
        w.kt_touch("workspaces", ws["id"], w.now, archived=True)
    assert _walk(s, base, "time_entries", order="updated_at:asc")[2] == before - n
    assert ws["id"] not in _walk(s, base, "workspaces")[0]
    with w.lock:
        w.kt_touch("workspaces", ws["id"], w.now, archived=False)
    assert _walk(s, base, "time_entries", order="updated_at:asc")[2] == before


def test_soft_deleted_story_hidden_unless_show_deleted(fresh):
    c, cl = fresh
    s, base, w = cl.session("kantata"), c.url("kantata"), c.world
    archived = c.cases()["time_on_closed_project"]["workspace_id"]
    sid = next(r["id"] for r in w.kt["stories"].values() if r["workspace_id"] != archived)
    with w.lock:  # Kantata's DELETE /stories/{id} soft-deletes: deleted_at set (and updated_at moves)
        w.kt_touch("stories", sid, w.now, deleted_at=clock.kt_datetime(w.now))
    ids, _, count = _walk(s, base, "stories")
    assert sid not in ids and count == len(ids)
    ids_del, recs, count_del = _walk(s, base, "stories", show_deleted="true")
    assert sid in ids_del and count_del == count + 1 and recs[sid]["deleted_at"] == clock.kt_datetime(w.now)
    only = s.get(f"{base}/api/v1/stories.json", params={"only_deleted": "true"}).json()
    assert [r["id"] for r in only["results"]] == [sid] and only["meta"]["count"] == 1
    assert s.get(f"{base}/api/v1/stories.json", params={"only": sid}).json()["results"] == []
    truth = c.truth("kantata", "stories")
    assert truth["deleted_ids"] == [sid] and sid not in {r["id"] for r in truth["records"]}


def test_users_alphabetical_order(fresh):
    c, cl = fresh
    s, base, w = cl.session("kantata"), c.url("kantata"), c.world
    first = min(w.kt["users"].rows, key=int)
    with w.lock:  # the lowest id gets the last name alphabetically (updated_at unchanged)
        w.kt["users"].put(first, dict(w.kt["users"].rows[first], full_name="zz Last Alphabetically"))
    body = s.get(f"{base}/api/v1/users.json", params={"order": "alphabetical", "per_page": 200}).json()
    names = [body["users"][r["id"]]["full_name"] for r in body["results"]]
    assert names == sorted(names, key=str.casefold) and body["results"][-1]["id"] == first
    assert body["meta"]["count"] == len(w.kt["users"])
    desc = s.get(f"{base}/api/v1/users.json", params={"order": "alphabetical:desc", "per_page": 200}).json()
    assert desc["results"][0]["id"] == first
    by_id = s.get(f"{base}/api/v1/users.json", params={"per_page": 200}).json()
    assert by_id["results"][0]["id"] == first  # the default order is still id
    stamps = s.get(f"{base}/api/v1/users.json", params={"order": "updated_at:asc", "per_page": 200}).json()
    got = [(stamps["users"][r["id"]]["updated_at"], int(r["id"])) for r in stamps["results"]]
    assert got == sorted(got)
    bad = s.get(f"{base}/api/v1/time_entries.json", params={"order": "alphabetical"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["type"] == "argument"
