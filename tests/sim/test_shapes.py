"""HubSpot and Kantata responses validate against the object shapes in api-notes.md."""

from __future__ import annotations

import jsonschema
import pytest

from .conftest import KT_ALL

STR_OR_NULL = {"type": ["string", "null"]}
DATE_TIME = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"}
DATE = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
ID = {"type": "string", "pattern": r"^\d+$"}

HS_OBJECT = {
    "type": "object", "required": ["id", "properties", "createdAt", "updatedAt", "archived"],
    "properties": {"id": ID, "properties": {"type": "object", "additionalProperties": STR_OR_NULL},
                   "createdAt": DATE_TIME, "updatedAt": DATE_TIME, "archived": {"type": "boolean"},
                   "archivedAt": DATE_TIME, "associations": {"type": "object"}},
    "additionalProperties": False}
HS_LIST = {"type": "object", "required": ["results"],
           "properties": {"results": {"type": "array", "items": HS_OBJECT},
                          "paging": {"type": "object", "required": ["next"], "properties": {
                              "next": {"type": "object", "required": ["after"],
                                       "properties": {"after": {"type": "string"}, "link": {"type": "string"}}}}}},
           "additionalProperties": False}
HS_SEARCH = {**HS_LIST, "required": ["results", "total"],
             "properties": {**HS_LIST["properties"], "total": {"type": "integer"}}}
HS_ERROR = {"type": "object", "required": ["category", "correlationId", "message"],
            "properties": {"category": {"type": "string"}, "correlationId": {"type": "string"},
                           "message": {"type": "string"}, "status": {"const": "error"}}}

INT, BOOL, STR = {"type": "integer"}, {"type": "boolean"}, {"type": "string"}
REF = {"type": ["string", "null"], "pattern": r"^\d+$"}
KT_TIME_ENTRY = {
    "type": "object",
    "required": ["id", "date_performed", "time_in_minutes", "billable", "approved", "rate_in_cents",
                 "cost_rate_in_cents", "currency", "currency_base_unit", "currency_symbol", "notes", "is_invoiced",
                 "invoice_id", "taxable", "user_id", "workspace_id", "story_id", "role_id", "active_submission_id",
                 "recent_submission_id", "external_reference_ids", "created_at", "updated_at"],
    "properties": {"id": ID, "date_performed": DATE, "time_in_minutes": INT, "billable": BOOL, "approved": BOOL,
                   "rate_in_cents": INT, "cost_rate_in_cents": INT, "currency": {"enum": ["USD", "GBP", "EUR"]},
                   "currency_base_unit": INT, "currency_symbol": STR, "notes": STR, "is_invoiced": BOOL,
                   "invoice_id": REF, "taxable": BOOL, "user_id": ID, "workspace_id": ID, "story_id": REF,
                   "role_id": REF, "active_submission_id": REF, "recent_submission_id": REF,
                   "external_reference_ids": {"type": "array", "items": ID},
                   "created_at": DATE_TIME, "updated_at": DATE_TIME}}
KT_EXPENSE = {"type": "object", "required": ["id", "date", "amount_in_cents", "currency", "category",
                                             "expense_category_id", "is_billable", "reimbursable", "is_invoiced",
                                             "notes", "vendor_id", "user_id", "workspace_id", "story_id",
                                             "foreign_exchange_amount", "created_at", "updated_at"],
              "properties": {"id": ID, "date": DATE, "amount_in_cents": INT, "is_billable": BOOL,
                             "user_id": ID, "workspace_id": ID, "created_at": DATE_TIME, "updated_at": DATE_TIME}}
KT_WORKSPACE = {"type": "object", "required": ["id", "title", "description", "archived", "budgeted", "price",
                                               "price_in_cents", "budget_used_in_cents", "currency", "start_date",
                                               "due_date", "percentage_complete", "billable_minutes",
                                               "non_billable_minutes", "creator_id", "primary_counterpart_id",
                                               "primary_maven_id", "billing_milestone_ids", "external_reference_ids",
                                               "created_at", "updated_at"],
                "properties": {"id": ID, "archived": BOOL, "price_in_cents": INT, "start_date": DATE,
                               "due_date": DATE, "billing_milestone_ids": {"type": "array", "items": ID},
                               "status": {"type": "object", "required": ["key"],  # the spec: key is a string
                                          "properties": {"key": STR, "color": STR, "message": STR}}}}
KT_EXTERNAL_REFERENCE = {"type": "object", "required": ["id", "service_name", "service_model", "service_model_ref",
                                                        "subject_type", "subject_id", "status"],
                         "properties": {"id": ID, "subject_id": INT,  # the spec: an integer, unlike other ids
                                        "subject_type": {"enum": ["User", "Workspace"]}, "status": STR}}
KT_STORY = {"type": "object", "required": ["id", "title", "story_type", "state", "parent_id", "root_id", "start_date",
                                           "due_date", "billable", "fixed_fee", "budget_estimate_in_cents",
                                           "percentage_complete", "deleted_at", "workspace_id", "created_at",
                                           "updated_at"],
            "properties": {"story_type": {"enum": ["task", "milestone", "deliverable", "issue"]},
                           "state": {"enum": ["not started", "started", "needs info", "completed"]},
                           "workspace_id": ID}}
KT_USER = {"type": "object", "required": ["id", "full_name", "email_address", "headline", "classification",
                                          "manager_id", "role_id", "external_reference_ids", "city", "country"],
           "properties": {"id": ID, "manager_id": REF}}
KT_ERROR = {"type": "object", "required": ["errors"],
            "properties": {"errors": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["type", "message"], "properties": {"type": STR, "message": STR}}}}}
KT_SCHEMAS = {"time_entries": KT_TIME_ENTRY, "expenses": KT_EXPENSE, "workspaces": KT_WORKSPACE,
              "stories": KT_STORY, "users": KT_USER}


def kt_list(kind):
    return {"type": "object", "required": ["count", "meta", "results", kind],
            "properties": {"count": INT,
                           "meta": {"type": "object", "required": ["count", "page_count", "page_number", "page_size"],
                                    "properties": {k: INT for k in ("count", "page_count", "page_number",
                                                                    "page_size")}},
                           "results": {"type": "array", "items": {"type": "object", "required": ["key", "id"],
                                                                  "properties": {"key": STR, "id": ID}}},
                           kind: {"type": "object", "additionalProperties": KT_SCHEMAS[kind]}}}


@pytest.mark.parametrize("obj", ["companies", "contacts", "deals", "0-3", "line_items"])
def test_hubspot_list_and_search_shapes(clients, cluster, obj):
    s = clients.session("hubspot")
    base = f"{cluster.url('hubspot')}/crm/v3/objects/{obj}"
    body = s.get(base, params={"limit": 5, "associations": "companies"}).json()
    jsonschema.validate(body, HS_LIST)
    assert body["results"] and "paging" in body
    archived = s.get(base, params={"archived": "True", "limit": 100}).json()
    jsonschema.validate(archived, HS_LIST)
    assert all(r["archived"] and "archivedAt" in r for r in archived["results"])
    found = s.post(base + "/search", json={"filterGroups": [], "sorts": [], "properties": ["name", "amount"],
                                           "limit": 3, "after": 0}).json()
    jsonschema.validate(found, HS_SEARCH)


def test_hubspot_properties_repeated_or_comma_joined(clients, cluster):
    s = clients.session("hubspot")
    base = f"{cluster.url('hubspot')}/crm/v3/objects/deals"
    a = s.get(base + "?properties=dealname&properties=amount&limit=3").json()
    b = s.get(base, params={"properties": "dealname,amount", "limit": 3}).json()
    assert a == b
    assert {"dealname", "amount", "hs_object_id"} <= set(a["results"][0]["properties"])
    assert "dealstage" not in a["results"][0]["properties"]


def test_hubspot_error_shape(clients, cluster):
    r = clients.session("hubspot").post(f"{cluster.url('hubspot')}/crm/v3/objects/deals/search",
                                        json={"filterGroups": [{"filters": [{"propertyName": "x", "operator": "NOPE"}]}],
                                              "sorts": [], "properties": [], "limit": 5, "after": 0})
    assert r.status_code == 400
    jsonschema.validate(r.json(), HS_ERROR)


@pytest.mark.parametrize("kind", ["time_entries", "expenses", "workspaces", "stories", "users"])
def test_kantata_list_shapes(clients, cluster, kind):
    s = clients.session("kantata")
    body = s.get(f"{cluster.url('kantata')}/api/v1/{kind}.json", params={"per_page": 50}).json()
    jsonschema.validate(body, kt_list(kind))
    hidden = s.get(f"{cluster.url('kantata')}/api/v1/{kind}.json", params={"per_page": 200, **KT_ALL[kind]}).json()
    jsonschema.validate(hidden, kt_list(kind))  # archived workspaces and their data have the same shape
    assert [r["id"] for r in body["results"]] == [r["id"] for r in body["results"] if r["id"] in body[kind]]
    for rid, rec in body[kind].items():
        assert rec["id"] == rid


def test_kantata_include_maps(clients, cluster):
    s = clients.session("kantata")
    body = s.get(f"{cluster.url('kantata')}/api/v1/time_entries.json",
                 params={"per_page": 10, "include": "user,workspace,story"}).json()
    jsonschema.validate(body, kt_list("time_entries"))
    for te in body["time_entries"].values():
        jsonschema.validate(body["users"][te["user_id"]], KT_USER)
        jsonschema.validate(body["workspaces"][te["workspace_id"]], KT_WORKSPACE)
        jsonschema.validate(body["stories"][te["story_id"]], KT_STORY)
    more = s.get(f"{cluster.url('kantata')}/api/v1/time_entries.json",
                 params={"per_page": 10, "include": "role,invoice,external_references"}).json()
    assert more["invoices"] == {} and more["external_references"] == {}
    for te in more["time_entries"].values():
        assert more["roles"][te["role_id"]]["id"] == te["role_id"] and more["roles"][te["role_id"]]["name"]
    bad = s.get(f"{cluster.url('kantata')}/api/v1/time_entries.json", params={"include": "active_submission"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["type"] == "argument"
    ws = s.get(f"{cluster.url('kantata')}/api/v1/workspaces.json", params={"include": "external_references"}).json()
    refs = ws["external_references"]
    assert {r["service_name"] for r in refs.values()} <= {"salesforce", "hubspot"}
    assert {r["subject_id"] for r in refs.values()} == {int(wid) for wid in ws["workspaces"]}  # integers
    users = s.get(f"{cluster.url('kantata')}/api/v1/users.json", params={"include": "external_references"}).json()
    for ref in [*refs.values(), *users["external_references"].values()]:
        jsonschema.validate(ref, KT_EXTERNAL_REFERENCE)
    assert {type(w["status"]["key"]) for w in ws["workspaces"].values()} == {str}


def test_kantata_per_page_clamped_and_filters(clients, cluster):
    s = clients.session("kantata")
    url = f"{cluster.url('kantata')}/api/v1/time_entries.json"
    body = s.get(url, params={"per_page": 500}).json()
    assert body["meta"]["page_size"] == 200 and len(body["results"]) == 200
    approved = s.get(url, params={"approved": "true", "per_page": 200}).json()
    assert all(r["approved"] for r in approved["time_entries"].values())
    only = s.get(url, params={"only": "100001,100002", **KT_ALL["time_entries"]}).json()
    assert sorted(only["time_entries"]) == ["100001", "100002"]
    between = s.get(url, params={"date_performed_between": "2026-02-01:2026-02-07", "per_page": 200}).json()
    assert between["count"] > 0
    assert all("2026-02-01" <= r["date_performed"] <= "2026-02-07" for r in between["time_entries"].values())
    bad = s.get(url, params={"order": "bogus:asc"})
    assert bad.status_code == 400
    jsonschema.validate(bad.json(), KT_ERROR)
    unauth = s.get(url, headers={"Authorization": "Bearer nope"})
    assert unauth.status_code == 401
    jsonschema.validate(unauth.json(), KT_ERROR)
    # updated_after is strict: a record stamped exactly at the bound is not returned
    stamp = body["time_entries"][body["results"][0]["id"]]["updated_at"]
    after = s.get(url, params={"updated_after": stamp, "per_page": 200, "order": "updated_at:asc"}).json()
    assert all(r["updated_at"] > stamp for r in after["time_entries"].values())
    assert body["results"][0]["id"] not in after["time_entries"]
