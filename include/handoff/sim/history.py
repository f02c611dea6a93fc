"""The first world: the firm's history up to world time 0 (tick 0), deterministic from the seed.

Small entities are drawn with `random.Random(seed)`; time entries are drawn column-wise with numpy
so two million of them take seconds. What the clock also creates later (opportunities and deals,
projects, invoices and payments) is built by the modules both share: crm.py, projects.py,
billing.py; the clock's own changes are in ticks.py.
"""

from __future__ import annotations

import datetime as dt
import random

import numpy as np

from . import clock
from .billing import add_currency_rates, issue_invoice, record_payment
from .clock import DAY, day_iso
from .crm import hs_deal, hs_object, sf_contact, sf_opportunity, sf_record
from .firm import (
    CO_A,
    CO_B,
    DEPARTMENTS,
    FIRST,
    FX_USD,
    INDUSTRY,
    LAST,
    LEGACY_ITEM,
    LEVELS,
    NS_BASE_CURRENCY,
    NS_CURRENCIES,
    NS_CURRENCY_ID,
    PRACTICES,
    SERVICE_ITEM_ID,
    SERVICES,
    SUBSIDIARIES,
    fte,
    hourly_rates,
    scheduled_hours,
)
from .ids import sf_id
from .projects import STORIES_PER_PROJECT, active_workers, ext_ref, project_for_deal, project_for_opportunity
from .timeentries import APPROVED, DRAFT, NOTES, REJECTED, SUBMITTED, rejected_submissions, submission_ids


def generate_history(w) -> None:
    rnd = random.Random(w.seed)
    s = w.scale
    now = w.now
    w.hist_start = now - s.history_days * DAY
    _netsuite_static(w)
    _workers(w, rnd)
    _salesforce(w, rnd)
    _hubspot(w, rnd)
    _projects(w, rnd)
    _time_entries(w, np.random.default_rng(w.seed))
    _expenses(w, rnd)
    _invoices(w, rnd)
    w.cases["currency_mix"] = {c: [p["ws_id"] for p in w.projects if p["currency"] == c] for c in FX_USD}


# ---- NetSuite reference data ------------------------------------------------------------
def _netsuite_static(w) -> None:
    t0 = w.hist_start - 400 * DAY
    for cid, code, name, sign in NS_CURRENCIES:
        w.ns["currency"].put(cid, {"id": cid, "name": name, "symbol": code, "displaysymbol": sign,
                                   "isbasecurrency": "T" if cid == NS_BASE_CURRENCY else "F", "isinactive": "F",
                                   "currencyprecision": 2, "lastmodifieddate": t0})
    # weekly exchange rates to USD: effective each Monday, entered the Sunday before at 18:00
    monday = t0 // DAY + 1
    monday += (4 - monday) % 7  # the first Monday after t0 (epoch day 0 was a Thursday; day 4 a Monday)
    while (monday - 1) * DAY + 18 * 3600 <= w.now:
        add_currency_rates(w, monday, (monday - 1) * DAY + 18 * 3600)
        monday += 7
    for item_id, code, name, inactive in ([(SERVICE_ITEM_ID[c], c, n, "F") for n, c in SERVICES]
                                          + [(*LEGACY_ITEM, "T")]):
        w.ns["item"].put(item_id, {"id": item_id, "itemid": code, "displayname": name, "itemtype": "Service",
                                   "subsidiary": 1, "includechildren": "T", "isinactive": inactive,
                                   "createddate": t0, "lastmodifieddate": t0})
    for sid, name, cur, country, _city in SUBSIDIARIES:
        w.ns["subsidiary"].put(sid, {"id": sid, "name": name, "currency": NS_CURRENCY_ID[cur],
                                     "country": country, "iselimination": "F", "isinactive": "F",
                                     "lastmodifieddate": t0})
    # monthly accounting periods from before history to 3 months ahead; closed = ended > 31 days ago
    d = clock.to_dt(w.hist_start - 62 * DAY).date().replace(day=1)
    end_limit = clock.to_dt(w.now + 100 * DAY).date()
    pid = 1
    while d < end_limit:
        nxt = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        start_day, end_day = (d - clock.EPOCH_DATE).days, (nxt - clock.EPOCH_DATE).days - 1
        w.ns["accountingperiod"].put(pid, {
            "id": pid, "periodname": d.strftime("%b %Y"), "startdate": start_day, "enddate": end_day,
            "closed": "T" if (end_day + 1) * DAY + 31 * DAY <= w.now else "F", "isquarter": "F",
            "isyear": "F", "isadjust": "F", "lastmodifieddate": t0})
        pid, d = pid + 1, nxt


# ---- Workday workers, Kantata users, NetSuite employees ---------------------------------
def _workers(w, rnd) -> None:
    n = w.scale.consultants
    for i, (oid, name, typ) in enumerate(
            [(f"LE-{sid}", name, "Company") for sid, name, *_ in SUBSIDIARIES]
            + [(f"DEP-{j}", d, "Department") for j, d in enumerate(DEPARTMENTS)]
            + [(f"PRA-{j}", p, "Practice") for j, p in enumerate(PRACTICES)]):
        w.orgs.append({"Organization_ID": oid, "Organization_Name": name, "Organization_Type": typ,
                       "Organization_Code": f"ORG{i:03d}"})
    for level, (title, *_rates) in enumerate(LEVELS):  # Kantata roles (time entry role_id, user role_id)
        created = clock.kt_datetime(w.hist_start - 400 * DAY)
        w.kt["roles"].put(str(60 + level), {"id": str(60 + level), "name": title, "created_at": created,
                                            "updated_at": created})
    missing = n - 1  # the newest hire was never set up in NetSuite
    for i in range(n):
        sub = rnd.choices(SUBSIDIARIES, weights=[6, 3, 2])[0]
        level = 3 if i < max(1, n // 10) else rnd.choices([0, 1, 2], weights=[5, 3, 2])[0]
        first, last = FIRST[i % len(FIRST)], LAST[(i * 7 + i // len(FIRST)) % len(LAST)]
        hire_day = (w.hist_start // DAY) - rnd.randrange(30, 2000) if i != missing else w.now // DAY - 20
        terminated = i >= max(1, n // 10) and i != missing and rnd.random() < 0.06
        term_day = w.now // DAY - rnd.randrange(5, 40) if terminated else None
        cost_usd = LEVELS[level][1] * (0.9 + 0.2 * rnd.random())
        fx = FX_USD[sub[2]]
        rates, eff = [], max(hire_day, w.hist_start // DAY - 300)
        for k in range(rnd.randrange(1, 4)):
            rates.append({"Effective_Date": day_iso(eff), "Hourly_Cost_Rate": f"{cost_usd * (1 + .04 * k) / fx / 100:.2f}",
                          "Currency": sub[2]})
            eff += rnd.randrange(120, 240)
            if eff >= w.now // DAY:
                break
        worker = {"Worker_ID": f"W{21000 + i}", "Employee_Type": "Regular", "Legal_Name": f"{first} {last}",
                  "First_Name": first, "Last_Name": last,
                  "Email": f"{first.lower()}.{last.lower().replace(chr(39), '')}{i}@handoff.example",
                  "Hire_Date": day_iso(hire_day), "Department": DEPARTMENTS[i % len(DEPARTMENTS)],
                  "Practice": PRACTICES[i % len(PRACTICES)], "Company": sub[1], "Company_ID": f"LE-{sub[0]}",
                  "Currency": sub[2], "Scheduled_Weekly_Hours": str(scheduled_hours(w.seed, i)),
                  "FTE": fte(scheduled_hours(w.seed, i)), "Manager_ID": f"W{21000 + (i % max(1, n // 10))}" if level < 3 else None,
                  "Cost_Rates": rates, "_level": level, "_sub": sub[0], "_hire_day": hire_day,
                  "_term_day": term_day, "_kt_user": str(5000 + i), "_ns_employee": None if i == missing else 200 + i}
        if term_day is not None:
            worker["Termination_Date"] = day_iso(term_day)
        w.workers.append(worker)
        created = clock.kt_datetime(max(hire_day * DAY, w.hist_start - 30 * DAY) + 9 * 3600)
        ext_id = str(700000 + i)
        w.kt["external_references"].put(ext_id, ext_ref(ext_id, "workday", "Worker", worker["Worker_ID"],
                                                          "User", worker["_kt_user"], created))
        w.kt["users"].put(worker["_kt_user"], {
            "id": worker["_kt_user"], "full_name": f"{first} {last}", "email_address": worker["Email"],
            "headline": LEVELS[level][0], "classification": "maven",
            "manager_id": str(5000 + (i % max(1, n // 10))) if level < 3 else None,
            "role_id": str(60 + level), "external_reference_ids": [ext_id], "city": sub[4], "country": sub[3],
            "created_at": created, "updated_at": created})
        if i == missing:
            w.cases["employee_missing_in_netsuite"].append(worker["Worker_ID"])
            continue
        eid = 200 + i
        ts = max(hire_day * DAY, w.hist_start - 30 * DAY) + 10 * 3600
        w.ns["employee"].put(eid, {
            "id": eid, "entityid": f"{first} {last}", "firstname": first, "lastname": last,
            "email": worker["Email"], "subsidiary": sub[0], "externalid": worker["Worker_ID"],
            "isinactive": "T" if terminated else "F", "hiredate": hire_day, "releasedate": term_day,
            "laborcost": f"{cost_usd / fx / 100:.2f}", "datecreated": ts,
            "lastmodifieddate": term_day * DAY + 3600 if terminated else ts})


def _company_name(rnd, i):
    return f"{CO_A[i % len(CO_A)]} {CO_B[(i // len(CO_A) + i) % len(CO_B)]}" + (f" {i // 200 + 1}" if i >= 200 else "")


# ---- Salesforce -------------------------------------------------------------------------
def _salesforce(w, rnd) -> None:
    s = w.scale
    t0 = w.hist_start - 30 * DAY + 8 * 3600  # the CRM data migration
    users = []
    for i in range(s.sf_users):
        name = f"{FIRST[(i * 5 + 3) % len(FIRST)]} {LAST[(i * 3 + 1) % len(LAST)]}"
        u = w.sf["User"].put(sf_id("User", i + 1), sf_record("User", i + 1, t0, Name=name,
                             Username=f"rep{i}@handoff.example", Email=f"rep{i}@handoff.example",
                             IsActive=True, Title="Account Executive"))
        users.append(u["Id"])
    w.sf_accounts = []
    contacts_per = max(6, -(-240 // s.accounts))  # >200 contacts share the migration stamp, even in tiny
    if s.sf_contacts:  # a scale with a given number of contacts (bench:N,contacts=M), spread over the accounts
        contacts_per = 0
    cn = 0
    for a in range(s.accounts):
        cur = rnd.choices(["USD", "GBP", "EUR"], weights=[6, 3, 2])[0]
        name = _company_name(rnd, a)
        modified = t0 + rnd.randrange(0, s.history_days * DAY) if rnd.random() < 0.5 else None
        acc = w.sf["Account"].put(sf_id("Account", a + 1), sf_record(
            "Account", a + 1, t0, modified, Name=name, Type="Customer", Industry=rnd.choice(INDUSTRY),
            BillingCountry={"USD": "United States", "GBP": "United Kingdom", "EUR": "Germany"}[cur],
            Website=f"www.{name.split()[0].lower()}.example", CurrencyIsoCode=cur, OwnerId=rnd.choice(users)))
        w.sf_accounts.append(acc["Id"])
        per = contacts_per or s.sf_contacts // s.accounts + (a < s.sf_contacts % s.accounts)
        for _ in range(per):
            cn += 1
            sf_contact(w, rnd, cn, acc, t0)
    w.cases["modstamp_ties"]["salesforce.Contact"] = clock.sf_datetime(t0)
    for rid in sorted(w.sf["Contact"].rows)[3::97][:3]:  # a few deleted contacts (queryAll / deleted)
        ts = w.now - rnd.randrange(1, 12) * DAY
        w.sf_touch("Contact", rid, ts, IsDeleted=True)
        w.sf_deleted["Contact"][rid] = ts
    on = 0
    for acc_id in w.sf_accounts:
        acc = w.sf["Account"].rows[acc_id]
        for _ in range(rnd.randrange(1, 5)):
            on += 1
            sf_opportunity(w, rnd, on, acc, created=w.hist_start + rnd.randrange(-90, s.history_days - 10) * DAY
                            + rnd.randrange(8, 18) * 3600)


# ---- HubSpot ----------------------------------------------------------------------------
def _hubspot(w, rnd) -> None:
    s = w.scale
    t0 = w.hist_start - 20 * DAY + 11 * 3600  # business unit's CRM import
    sf_accounts = [w.sf["Account"].rows[a] for a in w.sf_accounts]
    w.hs_companies = []
    for i in range(s.hs_companies):
        rid = 1000 + i
        if i % 5 == 0 and i // 5 < len(sf_accounts):  # duplicate of a Salesforce account, named differently
            acc = sf_accounts[i // 5]
            name = acc["Name"].upper().replace(" CORP", " CORPORATION") + " (EMEA)"
            w.cases["hubspot_duplicates"][str(rid)] = acc["Id"]
            cur = acc["CurrencyIsoCode"]
        else:
            name = _company_name(rnd, s.accounts + i + 7)
            cur = rnd.choice(["USD", "EUR", "GBP"])
        modified = t0 if i % 10 < 7 else t0 + rnd.randrange(DAY, s.history_days * DAY)  # 70% untouched since import
        w.hs["companies"].put(str(rid), hs_object(rid, t0, modified, {
            "name": name, "domain": f"{name.split()[0].lower()}{i}.example", "industry": rnd.choice(INDUSTRY),
            "country": {"USD": "United States", "GBP": "United Kingdom", "EUR": "Germany"}[cur],
            "city": None, "hs_currency": cur}, "companies"))
        w.hs_companies.append(str(rid))
    w.cases["modstamp_ties"]["hubspot.companies"] = clock.hs_datetime(t0)
    for i in range(max(40, s.hs_companies * 3)):
        rid = 2000 + i
        f, la = rnd.choice(FIRST), rnd.choice(LAST)
        modified = t0 if rnd.random() < 0.75 else t0 + rnd.randrange(DAY, s.history_days * DAY)
        obj = hs_object(rid, t0, modified, {"firstname": f, "lastname": la, "email": f"{f.lower()}{i}@bu.example",
                                          "associatedcompanyid": rnd.choice(w.hs_companies),
                                          "jobtitle": "Director"}, "contacts")
        w.hs["contacts"].put(str(rid), obj)
    w.cases["modstamp_ties"]["hubspot.contacts"] = clock.hs_datetime(t0)
    for rid in list(w.hs["contacts"].rows)[5::41][:2]:  # archived contacts
        rec = w.hs_touch("contacts", rid, w.now - 5 * DAY)
        w.hs["contacts"].put(rid, dict(rec, archived=True, archivedAt=rec["updatedAt"]))
    for _ in range(s.hs_companies * 2):
        hs_deal(w, rnd, rnd.choice(w.hs_companies),
                 w.hist_start + rnd.randrange(-60, s.history_days - 10) * DAY + rnd.randrange(8, 18) * 3600)


# ---- projects: Kantata workspaces + stories, NetSuite customers + jobs -------------------
def _projects(w, rnd) -> None:
    active = active_workers(w)
    won = [o for o in w.sf["Opportunity"].values() if o["StageName"] == "Closed Won"]
    won.sort(key=lambda o: o["CloseDate"])
    w.cases["closed_won_without_project"].append(won[len(won) // 2]["Id"])
    for o in won:
        if o["Id"] in w.cases["closed_won_without_project"]:
            continue
        ts = clock.parse_ts(o["SystemModstamp"]) + 2 * 3600
        project_for_opportunity(w, rnd, o, ts // DAY + 3, ts, active)
    for d in sorted(w.hs["deals"].values(), key=lambda d: int(d["id"])):
        if d["properties"]["dealstage"] != "closedwon":
            continue
        ts = clock.parse_ts(d["updatedAt"]) + 2 * 3600
        project_for_deal(w, rnd, d, ts // DAY + 3, ts, active)
    # the closed project (archived in Kantata, closed in NetSuite) that still gets time afterwards
    today = w.now // DAY
    done = [p for p in w.projects if p["end_day"] < today - 20 and p["end_day"] > w.hist_start // DAY + 10]
    p = done[0] if done else w.projects[0]
    p["closed"] = True
    if p["end_day"] >= today - 5:
        p["end_day"] = today - 10
    close_ts = (p["end_day"] + 1) * DAY + 10 * 3600
    w.kt_touch("workspaces", p["ws_id"], close_ts, archived=True, percentage_complete=100,
               status={"color": "grey", "key": "500", "message": "Closed"}, due_date=day_iso(p["end_day"]))
    w.ns_touch("job", p["job_id"], close_ts, entitystatus="Closed", projectedenddate=p["end_day"])
    w.cases["time_on_closed_project"] = {"workspace_id": p["ws_id"], "job_id": p["job_id"], "time_entry_ids": []}
    # workspaces/stories progress
    for q in w.projects:
        frac = min(1.0, max(0.0, (today - q["start_day"]) / max(1, q["end_day"] - q["start_day"])))
        for k, sid in enumerate(q["stories"]):
            st = w.kt["stories"].rows[sid]
            due = clock.parse_day(st["due_date"])
            start_ts = max(clock.parse_ts(st["created_at"]), q["start_day"] * DAY + 9 * 3600)
            if due < today:
                w.kt_touch("stories", sid, min(due * DAY + 16 * 3600, w.now - 60), state="completed",
                           percentage_complete=100)
            elif q["start_day"] + (q["end_day"] - q["start_day"]) * k // STORIES_PER_PROJECT <= today:
                w.kt_touch("stories", sid, min(start_ts + DAY, w.now - 60), state="started",
                           percentage_complete=int(frac * 100))


# ---- time entries (numpy) ---------------------------------------------------------------
BULK_MIN = 250  # the catch-up approval is larger than Kantata's maximum page (200), even in `tiny`


def _bulk_weeks(week0: np.ndarray) -> tuple[int, int, int]:
    """(first Monday, last Monday, approval time) of the catch-up approval run.

    Normally one week (six weeks before the newest), approved at one second. A small world's week
    holds fewer than BULK_MIN entries, so the run extends to earlier weeks, then later ones (never
    the last two): approvals left pending over several weeks and approved in one go."""
    weeks, counts = np.unique(week0, return_counts=True)
    hi = max(0, int(np.searchsorted(weeks, weeks[-1] - 42, side="right")) - 1)
    limit = max(hi, int(np.searchsorted(weeks, weeks[-1] - 14, side="right")) - 1)
    lo, total = hi, int(counts[hi])
    while total < BULK_MIN and lo > 0:
        lo -= 1
        total += int(counts[lo])
    while total < BULK_MIN and hi < limit:
        hi += 1
        total += int(counts[hi])
    return int(weeks[lo]), int(weeks[hi]), (int(weeks[hi]) + 8) * DAY + 14 * 3600


def _time_entries(w, rng) -> None:
    """Draw the history column-wise and write each column, in its final dtype and in creation order,
    straight into the table's buffers; every temporary is freed as soon as it is used, so the peak
    stays near the table's own size (~46 bytes/entry) rather than several copies of it."""
    te, n = w.te, w.scale.time_entries
    today, hist0 = w.now // DAY, w.hist_start // DAY
    for wk in w.workers:
        te.user_ids.append(wk["_kt_user"])
        te.user_roles.append(str(60 + wk["_level"]))
    projects = w.projects
    lo = np.array([max(p["start_day"], hist0) for p in projects], np.int32)
    hi = np.array([min(p["end_day"], today - 1) for p in projects], np.int32)
    span = np.maximum(hi - lo + 1, 0)
    weights = span / span.sum()
    team = np.array([(p["team"] * 6)[:6] for p in projects], np.int32)
    pi = rng.choice(len(projects), n, p=weights).astype(np.int32)
    day = (rng.random(n) * span[pi]).astype(np.int32)
    day += lo[pi]
    wd = (day + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
    day -= np.where(wd >= 5, wd - 4, 0).astype(np.int32)  # weekends move to Friday
    del wd
    np.maximum(day, lo[pi], out=day)
    user = team[pi, rng.integers(0, 6, n)]
    story_base = np.array([w.story_index[p["stories"][0]] for p in projects], np.int32)
    story = story_base[pi] + rng.integers(0, 4, n).astype(np.int32)
    minutes = (rng.integers(1, 17, n) * 30).astype(np.int16)
    billable = rng.random(n) < 0.85
    created = rng.integers(0, 5 * 3600, n).astype(np.int32)  # epoch seconds fit int32 (until 2038)
    created += day * DAY + 16 * 3600
    order = np.argsort(created, kind="stable").astype(np.int32)  # ids ascend with creation time
    te.reserve(n + max(1024, n // 100))  # headroom for the clock's appends

    def put(name, values):
        np.take(values.astype(te.cols[name].dtype, copy=False), order, out=te.cols[name][:n], mode="clip")

    put("story", story)
    put("minutes", minutes)
    put("billable", billable)
    del story, minutes, billable
    rate_usd = np.array([LEVELS[wk["_level"]][2] for wk in w.workers])
    cost_usd = np.array([LEVELS[wk["_level"]][1] for wk in w.workers])
    fx = np.array([FX_USD[p["currency"]] for p in projects])
    put("rate", (rate_usd[user] / fx[pi]).astype(np.int32) // 100 * 100)  # firm.hourly_rates, column-wise
    put("cost", (cost_usd[user] / fx[pi]).astype(np.int32))
    put("ws", np.array([p["ws_idx"] for p in projects], np.int32)[pi])
    del pi
    # workflow: user-weeks are submitted Sunday 18:00 and approved the following Monday morning
    week0 = day - (day + 3) % 7  # Monday of the week
    put("day", day)
    del day
    sub_ids = submission_ids(user, week0, hist0)
    approve_ts = (week0 + 7) * DAY + 9 * 3600 + (user * 7919) % 10800
    put("user", user)
    del user
    # the catch-up approval run: every entry of its weeks approved at the same second (a tie > 200 rows)
    bulk_lo, bulk_hi, bulk_ts = _bulk_weeks(week0) if n else (0, 0, 0)
    approve_ts[(week0 >= bulk_lo) & (week0 <= bulk_hi)] = bulk_ts
    updated = created.copy()
    put("created", created)
    del created
    status = np.full(n, DRAFT, np.int8)
    submit_ts = (week0 + 6) * DAY + 18 * 3600
    del week0
    submitted = submit_ts <= w.now
    status[submitted] = SUBMITTED
    updated[submitted] = submit_ts[submitted]
    del submit_ts, submitted
    decided = approve_ts <= w.now
    decided &= rejected_submissions(sub_ids)  # now: the rejected ones
    status[approve_ts <= w.now] = APPROVED
    status[decided] = REJECTED
    del decided
    np.copyto(updated, approve_ts, where=approve_ts <= w.now)
    del approve_ts
    put("status", status)
    put("updated", updated)
    put("sub", sub_ids)
    del status, updated, sub_ids
    put("note", rng.integers(0, len(NOTES), n))
    te.cols["id"][:n] = np.arange(100001, 100001 + n, dtype=np.int32)
    te.cols["alive"][:n] = True
    order = None  # frees the index (put() is done)
    te.n = n
    te.touched()
    w.cases["modstamp_ties"]["kantata.time_entries"] = clock.kt_datetime(int(bulk_ts))
    # edits to approved time: an admin corrects minutes days after approval
    appr = np.nonzero((te.status == APPROVED) & (te.updated < w.now - 3 * DAY))[0]
    if len(appr):
        pick = np.sort(rng.choice(appr, max(2, len(appr) // 100), replace=False))
        te.minutes[pick] = np.maximum(30, te.minutes[pick] - 60)
        te.updated[pick] = np.minimum(te.updated[pick] + rng.integers(DAY, 3 * DAY, len(pick)), w.now - 60)
        w.cases["edited_after_approval"] = [str(i) for i in te.id[pick].tolist()]
    # hard deletes
    cand = np.nonzero(te.status != APPROVED)[0] if n > 50 else np.arange(0)
    cand = cand if len(cand) > 4 else np.arange(te.n)
    dele = np.sort(rng.choice(cand, max(2, n // 200), replace=False))
    te.alive[dele] = False
    w.cases["deleted_time_entries"] = [str(i) for i in te.id[dele].tolist()]
    # time logged to the closed project after it closed
    p = next(p for p in projects if p["closed"])
    k = 3
    days = np.array([p["end_day"] + 2 + j for j in range(k)], np.int32)
    cts = days.astype(np.int64) * DAY + 17 * 3600
    rate, cost = hourly_rates(w.workers[p["team"][0]]["_level"], p["currency"])
    rows = te.append(id=np.arange(te.next_id(), te.next_id() + k, dtype=np.int64), alive=True,
                     ws=p["ws_idx"], user=p["team"][0], story=w.story_index[p["stories"][3]], day=days,
                     minutes=120, billable=True, status=DRAFT, created=cts, updated=cts,
                     rate=rate, cost=cost, note=0, sub=0)
    # ids must ascend with rows; these entries were created after the others only in id order
    w.cases["time_on_closed_project"]["time_entry_ids"] = [str(i) for i in te.id[rows].tolist()]
    te.touched()


# ---- expenses, invoices (and their payments) ----------------------------------------------
def _expenses(w, rnd) -> None:
    today = w.now // DAY
    for p in w.projects:
        for _ in range(rnd.randrange(0, 4)):
            if p["start_day"] >= today - 1:
                break
            eid = str(w.next_id("kt_expense", 80000))
            day = rnd.randrange(max(p["start_day"], w.hist_start // DAY), max(p["start_day"] + 1, min(p["end_day"], today - 1)))
            ts = clock.kt_datetime(day * DAY + 19 * 3600)
            w.kt["expenses"].put(eid, {
                "id": eid, "date": day_iso(day), "amount_in_cents": rnd.randrange(2000, 90000),
                "currency": p["currency"], "category": rnd.choice(["Travel", "Lodging", "Meals", "Software"]),
                "expense_category_id": str(rnd.randrange(1, 5)), "is_billable": rnd.random() < 0.7,
                "reimbursable": True, "is_invoiced": False, "notes": "", "vendor_id": None,
                "user_id": w.workers[rnd.choice(p["team"])]["_kt_user"], "workspace_id": p["ws_id"],
                "story_id": None, "foreign_exchange_amount": None, "created_at": ts, "updated_at": ts})


def _invoices(w, rnd) -> None:
    te = w.te
    live = te.alive & (te.status == APPROVED) & te.billable
    n_ws = max(1, len(te.ws_ids))
    sums = np.zeros(0)
    if live.any():  # billable cents per (month, workspace): one bincount over the live rows, no sort
        d0 = int(te.day.min())
        months = [clock.to_dt(d * DAY).month + 12 * clock.to_dt(d * DAY).year for d in range(d0, int(te.day.max()) + 1)]
        m0 = min(months)
        month = np.array(months, np.int32) - m0
        key = month[te.day[live] - d0] * n_ws + te.ws[live]
        sums = np.bincount(key, weights=te.minutes[live].astype(np.int64) * te.rate[live] // 60)
        del key
    del live
    cur_month = clock.to_dt(w.now).month + 12 * clock.to_dt(w.now).year
    mass_ts = w.now - 45 * DAY + 7 * 3600  # a mass update of customer records (shared lastmodifieddate)
    for cid in list(w.ns["customer"].rows)[:: 1]:
        if w.ns["customer"].rows[cid]["lastmodifieddate"] < mass_ts:
            w.ns_touch("customer", cid, mass_ts, isinactive="F")
    w.cases["modstamp_ties"]["netsuite.customer"] = clock.iso_z(mass_ts)
    by_ws = {p["ws_idx"]: p for p in w.projects}
    for key in np.nonzero(sums > 0)[0].tolist():
        total = float(sums[key])
        m, ws = m0 + key // n_ws, key % n_ws
        if m >= cur_month:
            continue
        y, mo = divmod(m - 1, 12)
        first_next = dt.date(y + (mo + 1) // 12, (mo + 1) % 12 + 1, 1)
        d = (first_next - clock.EPOCH_DATE).days
        ts = d * DAY + 6 * 3600 + rnd.randrange(0, 3600)
        tid = issue_invoice(w, by_ws[ws], int(total), d - 1, ts, f"Time & materials {y}-{mo + 1:02d}")
        if ts + 45 * DAY < w.now and rnd.random() < 0.9:
            record_payment(w, tid, ts + rnd.randrange(20, 45) * DAY)
    inv_ids = [t for t, r in w.ns["transaction"].rows.items() if r["status"] == "A"]
    for tid in inv_ids[:2]:  # voided & deleted invoices
        w.ns_delete("transaction", "invoice", tid, w.now - rnd.randrange(2, 20) * DAY)
