"""The clock's changes: what happens in the firm during one tick (one world hour).

Consultants log time, the week's drafts are submitted and approved, approved time is corrected or
drafts hard-deleted, opportunities and deals progress (won ones open projects), milestones
complete, NetSuite invoices and records payments, Workday adds cost rates. Random draws come from
an RNG seeded by (seed, tick): the state after N ticks depends only on seed, scale and N. The
first world (tick 0) is built by history.py.
"""

from __future__ import annotations

import random

import numpy as np

from . import clock
from .billing import add_currency_rates, bill_time, issue_invoice, record_payment
from .clock import DAY, TICK_SPAN
from .crm import hs_deal, sf_opportunity
from .firm import HS_STAGES, SF_STAGES, hourly_rates
from .projects import active_workers, project_for_deal, project_for_opportunity
from .timeentries import APPROVED, DRAFT, REJECTED, SUBMITTED, rejected_submissions, submission_ids


def apply_tick(w, tick: int) -> None:
    rnd = random.Random(f"{w.seed}:tick:{tick}")
    nrng = np.random.default_rng([w.seed, tick])
    now = w.now
    d = clock.to_dt(now)
    weekday, hour = d.weekday(), d.hour

    def ts() -> int:  # a moment inside this tick's hour
        return now - rnd.randrange(TICK_SPAN - 1)

    _time_entries(w, rnd, nrng, now, weekday, hour, ts)
    _crm(w, rnd, ts)
    _milestones(w, rnd, ts)
    _finance(w, rnd, now, d, ts)
    if rnd.random() < 0.02:  # Workday: a new effective-dated cost rate from tomorrow
        wk = rnd.choice([x for x in w.workers if x["_term_day"] is None])
        last = wk["Cost_Rates"][-1]
        wk["Cost_Rates"] = wk["Cost_Rates"] + [{"Effective_Date": clock.day_iso(now // DAY + 1),
                                                "Hourly_Cost_Rate": f"{float(last['Hourly_Cost_Rate']) * 1.03:.2f}",
                                                "Currency": last["Currency"]}]


def _active_projects(w, today):
    return [p for p in w.projects if p["start_day"] <= today <= p["end_day"] and not p["closed"]]


def _time_entries(w, rnd, nrng, now, weekday, hour, ts) -> None:
    te, today = w.te, now // DAY
    active = active_workers(w)
    projects = _active_projects(w, today)
    if weekday < 5 and 9 <= hour <= 18 and projects:
        k = int(nrng.binomial(len(active), 0.12))
        if k:
            picks = [rnd.choice(projects) for _ in range(k)]
            users = [rnd.choice(p["team"]) for p in picks]
            created = np.sort(np.array([ts() for _ in range(k)], np.int64))
            rate = [hourly_rates(w.workers[u]["_level"], p["currency"]) for u, p in zip(users, picks, strict=True)]
            te.append(id=np.arange(te.next_id(), te.next_id() + k, dtype=np.int64), alive=True,
                      ws=[p["ws_idx"] for p in picks], user=users,
                      story=[w.story_index[p["stories"][rnd.randrange(4)]] for p in picks], day=today,
                      minutes=[rnd.randrange(1, 17) * 30 for _ in range(k)],
                      billable=[rnd.random() < 0.85 for _ in range(k)], status=DRAFT, created=created,
                      updated=created, rate=[r[0] for r in rate], cost=[r[1] for r in rate],
                      note=[rnd.randrange(15) for _ in range(k)], sub=0)
    if weekday == 4 and hour == 17:  # Friday: the week's drafts are submitted
        week0 = today - 4
        rows = np.nonzero(te.alive & (te.status == DRAFT) & (te.day >= week0) & (te.day <= today))[0]
        hist0 = w.hist_start // DAY
        te.status[rows] = SUBMITTED
        te.updated[rows] = now
        te.sub[rows] = submission_ids(te.user[rows].astype(np.int64), week0, hist0)
    if weekday == 0 and hour == 10:  # Monday: managers approve (a few user-weeks rejected) at once
        rows = np.nonzero(te.alive & (te.status == SUBMITTED))[0]
        rejected = rejected_submissions(te.sub[rows])
        te.status[rows] = np.where(rejected, REJECTED, APPROVED)
        te.updated[rows] = now
    if rnd.random() < 0.3:  # an approved entry is corrected afterwards
        rows = np.nonzero(te.alive & (te.status == APPROVED))[0]
        if len(rows):
            r = int(rows[rnd.randrange(len(rows))])
            te.minutes[r] = max(30, int(te.minutes[r]) + rnd.choice([-60, -30, 30, 60]))
            te.updated[r] = ts()
            w.cases["edited_after_approval"].append(str(int(te.id[r])))
    if rnd.random() < 0.15:  # a draft or submitted entry is hard-deleted
        rows = np.nonzero(te.alive & ((te.status == DRAFT) | (te.status == SUBMITTED)))[0]
        if len(rows):
            r = int(rows[rnd.randrange(len(rows))])
            te.alive[r] = False
            w.cases["deleted_time_entries"].append(str(int(te.id[r])))
    te.touched()


def _crm(w, rnd, ts) -> None:
    active = active_workers(w)
    if rnd.random() < 0.08:
        open_opps = [o for o in w.sf["Opportunity"].values() if not o["IsClosed"] and not o["IsDeleted"]]
        if open_opps:
            o = rnd.choice(open_opps)
            i = [s for s, _ in SF_STAGES].index(o["StageName"])
            nxt = 5 if rnd.random() < 0.2 else min(i + 1, 4)
            stage, prob = SF_STAGES[nxt]
            t = ts()
            o = w.sf_touch("Opportunity", o["Id"], t, StageName=stage, Probability=prob, IsClosed=nxt >= 4,
                           IsWon=nxt == 4, CloseDate=clock.day_iso(t // DAY) if nxt >= 4 else o["CloseDate"])
            if nxt == 4:
                project_for_opportunity(w, rnd, o, t // DAY + 3, t + 600, active)
    if rnd.random() < 0.05:
        acc = w.sf["Account"].rows[rnd.choice(w.sf_accounts)]
        sf_opportunity(w, rnd, len(w.sf["Opportunity"]) + 1, acc, ts())
    if rnd.random() < 0.03:
        live = [c for c in w.sf["Contact"].values() if not c["IsDeleted"]]
        c = rnd.choice(live)
        t = ts()
        w.sf_touch("Contact", c["Id"], t, IsDeleted=True)
        w.sf_deleted["Contact"][c["Id"]] = t
    if rnd.random() < 0.1:
        open_deals = [d for d in w.hs["deals"].values() if d["properties"]["dealstage"] not in ("closedwon", "closedlost")]
        if open_deals:
            d = rnd.choice(open_deals)
            i = HS_STAGES.index(d["properties"]["dealstage"])
            stage = "closedlost" if rnd.random() < 0.15 else HS_STAGES[min(i + 1, 5)]
            t = ts()
            d = w.hs_touch("deals", d["id"], t, dealstage=stage, hs_is_closed_won=str(stage == "closedwon").lower())
            if stage == "closedwon":
                project_for_deal(w, rnd, d, t // DAY + 3, t + 600, active)
    if rnd.random() < 0.03:
        hs_deal(w, rnd, rnd.choice(w.hs_companies), ts())
    if rnd.random() < 0.02:
        live = [c for c in w.hs["contacts"].values() if not c["archived"]]
        rec = w.hs_touch("contacts", rnd.choice(live)["id"], ts())
        w.hs["contacts"].put(rec["id"], dict(rec, archived=True, archivedAt=rec["updatedAt"]))


def _milestones(w, rnd, ts) -> None:
    if rnd.random() < 0.1:
        today = w.now // DAY
        stories = w.kt["stories"].rows
        due = [s for p in _active_projects(w, today) for s in p["stories"][4:]
               if stories[s]["state"] != "completed" and stories[s]["deleted_at"] is None  # not soft-deleted
               and clock.parse_day(stories[s]["due_date"]) <= today]
        if due:
            w.kt_touch("stories", rnd.choice(due), ts(), state="completed", percentage_complete=100)


def _finance(w, rnd, now, d, ts) -> None:
    te = w.te
    if d.day == 1 and d.hour == 6:  # invoice last month's approved billable time per project
        first = clock.parse_day(d.date().isoformat())
        prev = clock.parse_day(clock.to_dt((first - 1) * DAY).date().replace(day=1).isoformat())
        live = te.alive & (te.status == APPROVED) & te.billable & (te.day >= prev) & (te.day < first)
        cents = np.bincount(te.ws[live], weights=te.minutes[live].astype(np.int64) * te.rate[live] // 60,
                            minlength=len(te.ws_ids))
        by_ws = {p["ws_idx"]: p for p in w.projects}
        invoices = {}
        for ws in np.nonzero(cents > 0)[0].tolist():
            invoices[by_ws[ws]["job_id"]] = issue_invoice(w, by_ws[ws], int(cents[ws]), first - 1, ts(),
                                                          f"Time & materials {clock.day_iso(prev)[:7]}")
        bill_time(w, invoices, prev, first)  # the timebills NetSuite holds for that time
    if d.weekday() == 6 and d.hour == 18:  # Sunday evening: next week's exchange rates (no random draw)
        add_currency_rates(w, now // DAY + 1, now)
    if rnd.random() < 0.1:
        open_inv = [t for t in w.ns["transaction"].values()
                    if t["type"] == "CustInvc" and t["status"] == "A" and t["createddate"] < now - 20 * DAY]
        if open_inv:
            record_payment(w, min(open_inv, key=lambda t: t["id"])["id"], ts())
