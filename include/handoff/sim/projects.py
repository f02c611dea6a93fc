"""A won deal becomes a project: a Kantata workspace with its stories and a NetSuite job (and
customer, if new). Shared by the first world (history.py) and the clock (ticks.py)."""

from __future__ import annotations

from . import clock
from .clock import day_iso
from .firm import NS_CURRENCY_ID, SERVICE_ITEM_ID, SUB_BY_CURRENCY

STORIES_PER_PROJECT = 6  # 4 tasks, then 2 billing milestones


def active_workers(w) -> list[int]:
    """Indices (into w.workers) of the workers not terminated: who staffs projects and logs time."""
    return [i for i, wk in enumerate(w.workers) if wk["_term_day"] is None]


def ext_ref(rid, service, model, ref, subject_type, subject_id, created):
    """A Kantata external reference record (`include=external_references`); `subject_id` is an
    integer, as the spec types it (record ids elsewhere are strings)."""
    return {"id": rid, "service_name": service, "service_model": model, "service_model_ref": ref,
            "subject_type": subject_type, "subject_id": int(subject_id), "status": "synced",
            "created_at": created, "updated_at": created}


def ns_customer_for(w, key: str, name: str, currency: str, ts: int) -> int:
    for rec in w.ns["customer"].rows.values():
        if rec["externalid"] == key:
            return rec["id"]
    cid = w.next_id("ns_customer", 1000)
    w.ns["customer"].put(cid, {"id": cid, "entityid": f"CUS{cid}", "companyname": name, "externalid": key,
                               "subsidiary": SUB_BY_CURRENCY[currency], "currency": NS_CURRENCY_ID[currency],
                               "isinactive": "F", "datecreated": ts, "lastmodifieddate": ts})
    return cid


def open_project(w, rnd, source: str, deal_id: str, customer_key: str, customer_name: str, title: str,
                 amount: float, currency: str, start_day: int, ts: int, active_workers: list[int]) -> dict:
    """A closed-won deal becomes a Kantata workspace (+stories) and a NetSuite job.

    Nothing is stamped after world now: a deal won late in the history (or in a tick) gets its
    project at now at the latest, as a real system never writes a future modification time (an
    extract's cursor would jump past records the next tick creates).
    """
    ts = min(ts, w.now)
    job_ts = min(ts + 1800, w.now)
    ws_id = str(w.next_id("kt_ws", 3000))
    duration = rnd.randrange(60, 240)
    team = rnd.sample(active_workers, min(len(active_workers), rnd.randrange(2, 6)))
    lead = w.workers[team[0]]["_kt_user"]
    created = clock.kt_datetime(ts)
    ext = str(w.next_id("kt_ext", 710000))
    w.kt["external_references"].put(ext, ext_ref(ext, source, "Opportunity" if source == "salesforce" else "deal",
                                                 deal_id, "Workspace", ws_id, created))
    story_ids = []
    for k in range(STORIES_PER_PROJECT):
        sid = str(w.next_id("kt_story", 40000))
        milestone = k >= 4
        sdue = start_day + duration * (k + 1) // STORIES_PER_PROJECT
        w.kt["stories"].put(sid, {
            "id": sid, "title": f"Milestone {k - 3}: {'Design sign-off' if k == 4 else 'Go-live'}" if milestone
            else ["Discovery", "Build", "Test", "Hypercare"][k],
            "story_type": "milestone" if milestone else "task", "state": "not started", "status": None,
            "parent_id": None, "root_id": sid, "start_date": day_iso(start_day), "due_date": day_iso(sdue),
            "billable": True, "fixed_fee": milestone,
            "budget_estimate_in_cents": int(amount * 100 * (0.3 if milestone else 0.1)),
            "percentage_complete": 0, "deleted_at": None, "workspace_id": ws_id,
            "created_at": created, "updated_at": created})
        w.story_index[sid] = len(w.te.story_ids)
        w.te.story_ids.append(sid)
        story_ids.append(sid)
    w.kt["workspaces"].put(ws_id, {
        "id": ws_id, "title": title, "description": f"Delivery of {title}", "archived": False, "budgeted": True,
        "price": f"{amount:.2f}", "price_in_cents": int(amount * 100), "budget_used_in_cents": 0,
        "currency": currency, "start_date": day_iso(start_day), "due_date": day_iso(start_day + duration),
        "percentage_complete": 0, "billable_minutes": 0, "non_billable_minutes": 0, "creator_id": lead,
        "primary_counterpart_id": None, "primary_maven_id": lead, "billing_milestone_ids": story_ids[4:],
        "external_reference_ids": [ext], "status": {"color": "green", "key": "310", "message": "Active"},
        "created_at": created, "updated_at": created})
    cust = ns_customer_for(w, customer_key, customer_name, currency, ts)
    job_id = w.next_id("ns_job", 5000)
    w.ns["job"].put(job_id, {"id": job_id, "entityid": f"PRJ{job_id}", "companyname": title, "parent": cust,
                             "customer": cust, "externalid": f"KANTATA-{ws_id}",
                             "subsidiary": SUB_BY_CURRENCY[currency], "currency": NS_CURRENCY_ID[currency],
                             "startdate": start_day, "projectedenddate": start_day + duration,
                             "entitystatus": "In Progress",
                             "custentity_handoff_service_item": SERVICE_ITEM_ID[w.deal_service.get(deal_id, "SVC-IMPL")],
                             "isinactive": "F", "datecreated": job_ts,
                             "lastmodifieddate": job_ts})
    ws_idx = w.te.register_workspace(ws_id, currency)
    p = {"ws_idx": ws_idx, "ws_id": ws_id, "job_id": job_id, "customer_id": cust, "currency": currency,
         "team": team, "start_day": start_day, "end_day": start_day + duration, "stories": story_ids,
         "source": source, "deal_id": deal_id, "closed": False, "amount": amount}
    w.projects.append(p)
    w.cases["currency_mix"].setdefault(currency, []).append(ws_id)  # the clock's new projects too
    return p


def project_for_opportunity(w, rnd, opp: dict, start_day: int, ts: int, active: list[int]) -> dict:
    """The project of a Closed Won Salesforce opportunity (customer key `SF-<Account Id>`)."""
    acc = w.sf["Account"].rows[opp["AccountId"]]
    return open_project(w, rnd, "salesforce", opp["Id"], f"SF-{acc['Id']}", acc["Name"], opp["Name"],
                        opp["Amount"], opp["CurrencyIsoCode"], start_day, ts, active)


def project_for_deal(w, rnd, deal: dict, start_day: int, ts: int, active: list[int]) -> dict:
    """The project of a closedwon HubSpot deal (customer key `HS-<company id>`)."""
    comp = w.hs["companies"].rows[deal["_company"]]
    props = deal["properties"]
    return open_project(w, rnd, "hubspot", deal["id"], f"HS-{comp['id']}", comp["properties"]["name"],
                        props["dealname"], float(props["amount"]), props["deal_currency_code"], start_day, ts,
                        active)
