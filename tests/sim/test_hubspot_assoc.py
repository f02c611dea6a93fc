"""HubSpot v4 associations batch read: what search cannot return (a deal's company, a line item's deal)."""

from __future__ import annotations


def test_batch_read_associations(cluster, clients):
    s = clients.session("hubspot")
    hs = cluster.world.hs
    deals = list(hs["deals"].rows)[:5]
    url = cluster.url("hubspot") + "/crm/v4/associations/deals/companies/batch/read"
    body = s.post(url, json={"inputs": [{"id": d} for d in deals] + [{"id": "1"}]}).json()
    assert body["status"] == "COMPLETE"
    got = {r["from"]["id"]: r["to"] for r in body["results"]}
    assert {d: [t["toObjectId"] for t in got[d]] for d in deals} == {d: [int(hs["deals"].rows[d]["_company"])]
                                                                   for d in deals}
    assert got[deals[0]][0]["associationTypes"] == [{"category": "HUBSPOT_DEFINED", "typeId": 5, "label": None}]
    assert body["errors"][0]["context"]["fromObjectId"] == ["1"]  # no such deal: listed as an error
    li = next(iter(hs["line_items"].rows))
    body = s.post(cluster.url("hubspot") + "/crm/v4/associations/0-8/0-3/batch/read", json={"inputs": [{"id": li}]})
    assert body.json()["results"][0]["to"][0]["toObjectId"] == int(hs["line_items"].rows[li]["_deal"])
    assert s.post(url, json={"inputs": "x"}).status_code == 400
