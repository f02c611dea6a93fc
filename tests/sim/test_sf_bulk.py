"""Salesforce Bulk API 2.0 query jobs in the simulator: lifecycle, CSV chunks, errors, COUNT()."""

from __future__ import annotations

import csv
import io
import time

import requests

from handoff.sim.crm import TRICKY_CONTACTS

V = "/services/data/v62.0"
FIELDS = "Id, Name, FirstName, LastName, Title, IsDeleted, SystemModstamp"


def _create(s, base, query, operation="queryAll"):
    r = s.post(f"{base}{V}/jobs/query", json={"operation": operation, "query": query, "contentType": "CSV",
                                               "columnDelimiter": "COMMA", "lineEnding": "LF"})
    assert r.status_code == 200, r.text
    return r.json()


def _wait(s, base, jid, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        info = s.get(f"{base}{V}/jobs/query/{jid}").json()
        if info["state"] not in ("UploadComplete", "InProgress") or time.monotonic() > deadline:
            return info
        time.sleep(0.02)


def _read_all(s, base, jid, max_records):
    rows, chunks, locator = [], [], None
    while True:
        params = {"maxRecords": max_records, **({"locator": locator} if locator else {})}
        r = s.get(f"{base}{V}/jobs/query/{jid}/results", params=params)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("text/csv")
        reader = csv.DictReader(io.StringIO(r.content.decode("utf-8"), newline=""))
        chunk = list(reader)
        assert int(r.headers["Sforce-NumberOfRecords"]) == len(chunk)
        chunks.append(len(chunk))
        rows += chunk
        locator = r.headers["Sforce-Locator"]
        if locator == "null":
            return rows, chunks, reader.fieldnames


def test_job_lifecycle_chunks_and_csv_round_trip(fresh):
    c, cl = fresh
    s, base = cl.session("salesforce"), c.url("salesforce")
    job = _create(s, base, f"SELECT {FIELDS} FROM Contact")
    assert job["id"].startswith("750") and len(job["id"]) == 18
    assert job["state"] == "UploadComplete" and job["object"] == "Contact" and job["operation"] == "queryAll"
    assert job["contentType"] == "CSV" and job["apiVersion"] == 62.0
    info = _wait(s, base, job["id"])
    truth = c.truth("salesforce", "Contact")
    everything = {r["Id"]: r for r in truth["records"]} | {i: None for i in truth["deleted_ids"]}
    assert info["state"] == "JobComplete" and info["numberRecordsProcessed"] == len(everything)

    rows, chunks, header = _read_all(s, base, job["id"], 100)
    assert header == [f.strip() for f in FIELDS.split(",")]
    assert chunks[:-1] == [100] * (len(chunks) - 1) and sum(chunks) == len(everything) and len(chunks) > 1
    assert sorted(r["Id"] for r in rows) == sorted(everything)
    live = {r["Id"]: r for r in truth["records"]}
    for row in rows:
        if row["Id"] in live:
            t = live[row["Id"]]
            assert (row["Name"], row["Title"], row["FirstName"]) == (t["Name"], t["Title"], t["FirstName"])
            assert row["IsDeleted"] == "false"
            assert row["SystemModstamp"] == t["SystemModstamp"].replace("+0000", "Z")
        else:
            assert row["IsDeleted"] == "true"
    # the tricky texts (newlines LF and CRLF, quotes, commas, non-ASCII) survive csv both ways
    titles = {r["Title"] for r in rows}
    names = {r["Name"] for r in rows}
    for first, last, title in TRICKY_CONTACTS:
        assert title in titles and f"{first} {last}" in names
    assert any("\r\n" in t for t in titles) and any('"' in t for t in titles) and any("\n\n" in t for t in titles)

    # a locator reads the same chunk again while the job exists
    r1 = s.get(f"{base}{V}/jobs/query/{job['id']}/results", params={"maxRecords": 50})
    again = s.get(f"{base}{V}/jobs/query/{job['id']}/results", params={"maxRecords": 50,
                                                                         "locator": r1.headers["Sforce-Locator"]})
    third = s.get(f"{base}{V}/jobs/query/{job['id']}/results", params={"maxRecords": 50,
                                                                         "locator": r1.headers["Sforce-Locator"]})
    assert again.content == third.content and again.content != r1.content

    listed = s.get(f"{base}{V}/jobs/query").json()
    assert job["id"] in {j["id"] for j in listed["records"]}
    # delete: gone, then 404 in Salesforce's error array
    assert s.delete(f"{base}{V}/jobs/query/{job['id']}").status_code == 204
    for r in (s.get(f"{base}{V}/jobs/query/{job['id']}"), s.get(f"{base}{V}/jobs/query/{job['id']}/results")):
        assert r.status_code == 404 and r.json()[0]["errorCode"] == "NOT_FOUND"


def test_csv_quoting_and_types(fresh):
    c, cl = fresh
    s, base = cl.session("salesforce"), c.url("salesforce")
    job = _create(s, base, "SELECT Id, Probability, Amount, IsWon, CloseDate, Type FROM Opportunity", "query")
    _wait(s, base, job["id"])
    body = s.get(f"{base}{V}/jobs/query/{job['id']}/results").content.decode("utf-8")
    lines = body.split("\n")
    assert lines[0] == '"Id","Probability","Amount","IsWon","CloseDate","Type"' and body.endswith("\n")
    first = next(o for o in c.truth("salesforce", "Opportunity")["records"] if o["Id"] in body)
    row = next(line for line in lines if first["Id"] in line)
    won = "true" if first["IsWon"] else "false"
    assert row == (f'"{first["Id"]}","{first["Probability"]}","{first["Amount"]!r}","{won}",'
                   f'"{first["CloseDate"]}","{first["Type"]}"')
    # null is an empty unquoted field
    srv = c.servers["salesforce"]
    from handoff.sim.sf_bulk import csv_value
    assert csv_value(None, False) == "" and csv_value('a "b", c\nd', False) == '"a ""b"", c\nd"'
    assert srv.bulk.snapshot()["jobs"][job["id"]] == "JobComplete"


def test_processing_time_abort_failed_and_expired(fresh):
    c, cl = fresh
    s, base = cl.session("salesforce"), c.url("salesforce")
    admin = f"{base}/__sim/bulk"
    # a slow job: UploadComplete, then InProgress, then JobComplete
    requests.post(admin, json={"processing_ms": 600, "per_record_ms": 0}, timeout=5).raise_for_status()
    job = _create(s, base, "SELECT Id FROM Account")
    seen = {_wait(s, base, job["id"], timeout=0)["state"]}
    while "JobComplete" not in seen:
        seen.add(s.get(f"{base}{V}/jobs/query/{job['id']}").json()["state"])
        time.sleep(0.02)
    assert {"UploadComplete", "InProgress", "JobComplete"} <= seen
    # results before completion: 400; abort: Aborted, results still refused
    slow = _create(s, base, "SELECT Id FROM Account")
    r = s.get(f"{base}{V}/jobs/query/{slow['id']}/results")
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALIDJOB"
    aborted = s.patch(f"{base}{V}/jobs/query/{slow['id']}", json={"state": "Aborted"}).json()
    assert aborted["state"] == "Aborted"
    assert s.get(f"{base}{V}/jobs/query/{slow['id']}/results").status_code == 400
    requests.post(admin, json={"processing_ms": None}, timeout=5).raise_for_status()

    # a failing query: the job ends Failed with Salesforce's errorMessage
    requests.post(admin, json={"fail_next": 1}, timeout=5).raise_for_status()
    failed = _wait(s, base, _create(s, base, "SELECT Id FROM Contact")["id"])
    assert failed["state"] == "Failed" and "timed out" in failed["errorMessage"]
    assert _wait(s, base, _create(s, base, "SELECT Id FROM Contact")["id"])["state"] == "JobComplete"

    # expired: every request about it is a 404
    job = _create(s, base, "SELECT Id FROM Contact")
    out = requests.post(admin, json={"expire": job["id"]}, timeout=5).json()
    assert out["expired"] == [job["id"]]
    r = s.get(f"{base}{V}/jobs/query/{job['id']}/results")
    assert r.status_code == 404 and r.json() == [{"errorCode": "NOT_FOUND",
                                                  "message": "The requested resource does not exist"}]
    assert s.get(f"{base}{V}/jobs/query/750SIM000999999AAA").status_code == 404
    # bad requests
    bad = s.post(f"{base}{V}/jobs/query", json={"operation": "query", "query": "SELECT Nope FROM Contact"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"
    bad = s.post(f"{base}{V}/jobs/query", json={"operation": "upsert", "query": "SELECT Id FROM Contact"})
    assert bad.status_code == 400


def test_snapshot_taken_at_completion(fresh):
    c, cl = fresh
    s, base = cl.session("salesforce"), c.url("salesforce")
    job = _create(s, base, "SELECT Id FROM Contact", "query")  # created, not yet polled: no rows read
    before = len([r for r in c.truth("salesforce", "Contact")["records"]])
    w = c.world
    with w.lock:
        victim = next(r for r in w.sf["Contact"].values() if not r["IsDeleted"])
        w.sf_touch("Contact", victim["Id"], w.now, IsDeleted=True)
    info = _wait(s, base, job["id"])
    assert info["numberRecordsProcessed"] == before - 1
    rows, _, _ = _read_all(s, base, job["id"], 1000)
    with w.lock:  # later changes do not move a completed job's rows
        w.sf_touch("Contact", rows[0]["Id"], w.now, IsDeleted=True)
    assert len(_read_all(s, base, job["id"], 1000)[0]) == before - 1


def test_count_and_describe(clients, cluster):
    s, base = clients.session("salesforce"), cluster.url("salesforce")
    truth = cluster.truth("salesforce", "Contact")
    stamp = cluster.cases()["modstamp_ties"]["salesforce.Contact"]
    live_at = [r for r in truth["records"] if r["SystemModstamp"] == stamp]
    q = f"SELECT COUNT() FROM Contact WHERE SystemModstamp >= {stamp} AND SystemModstamp <= {stamp}"
    body = s.get(f"{base}{V}/query", params={"q": q}).json()
    assert body == {"totalSize": len(live_at), "done": True, "records": []}
    all_ = s.get(f"{base}{V}/queryAll", params={"q": "SELECT COUNT() FROM Contact"}).json()
    assert all_["totalSize"] == len(truth["records"]) + len(truth["deleted_ids"])
    bad = s.get(f"{base}{V}/query", params={"q": "SELECT COUNT(), Id FROM Contact"})
    assert bad.status_code == 400
    d = s.get(f"{base}{V}/sobjects/Opportunity/describe").json()
    types = {f["name"]: f["type"] for f in d["fields"]}
    assert types["Amount"] == "currency" and types["IsWon"] == "boolean" and types["CloseDate"] == "date"
    assert types["SystemModstamp"] == "datetime" and types["Id"] == "id"
    assert s.get(f"{base}{V}/sobjects/Nope/describe").status_code == 404
