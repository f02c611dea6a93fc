"""Ground truth decides: the world the simulators hold, extracted and built by dbt, against their truth.

The reconciliation-exceptions mart names exactly the deliberate messiness cases (`sims.cases()`),
case by case; hours per project and per person, invoice and payment totals per customer equal the
truth endpoints exactly. One world per session (`dbt_world`, default scale), read-only here.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

import pytest

CONTRACT = {
    "customer": "customer_id customer_name domain country currency salesforce_account_id hubspot_company_id "
                "netsuite_customer_id match_rule",
    "contact": "contact_id customer_id first_name last_name email title salesforce_contact_id hubspot_contact_id",
    "engagement": "engagement_id customer_id engagement_name stage is_closed is_won close_date closed_won_at amount "
                  "currency created_at salesforce_opportunity_id hubspot_deal_id",
    "contract_line": "contract_line_id engagement_id line_name product_code quantity unit_price amount currency "
                     "service_date",
    "project": "project_id engagement_id customer_id project_name status is_archived contract_type contract_value "
               "currency start_date due_date created_at kantata_workspace_id netsuite_job_id netsuite_customer_id "
               "netsuite_subsidiary_id netsuite_service_item_id",
    "project_task": "task_id project_id parent_task_id task_name task_type state is_billable is_fixed_fee "
                    "budget_amount currency start_date due_date completed_at",
    "resource": "resource_id full_name email practice department company_id company_name currency employee_type "
                "hire_date termination_date is_active weekly_capacity_hours fte kantata_user_id netsuite_employee_id "
                "netsuite_subsidiary_id match_rule",
    "time_entry": "time_entry_id project_id task_id resource_id kantata_user_id date_performed hours is_billable "
                  "is_approved bill_rate billable_amount currency is_invoiced created_at updated_at submission_id",
    "expense": "expense_id project_id resource_id expense_date amount currency category is_billable is_reimbursable",
    "invoice": "invoice_id invoice_number customer_id project_id netsuite_subsidiary_id invoice_date due_date currency "
               "amount amount_remaining status",
    "payment": "payment_id customer_id project_id invoice_id payment_date currency amount",
    "billing_event": "billing_event_id project_id task_id event_type event_date amount currency",
    "fx_rate": "fx_rate_id from_currency to_currency effective_date valid_to exchange_rate",
}


def test_dbt_build_has_no_failures(dbt_world):
    """dbt's own tests (keys, relationships, accepted values, unit tests) pass on the world."""
    assert dbt_world.build_failures == [], dbt_world.build_results.get("stdout_tail")


def test_canonical_contract_columns(dbt_world):
    schema = dbt_world.schema("canonical")
    cols: dict[str, set[str]] = defaultdict(set)
    for t, c in dbt_world.query("SELECT table_name, column_name FROM information_schema.columns "
                                "WHERE table_schema = %s", schema):
        cols[t].add(c)
    missing = {t: sorted((set(spec.split()) | {"system_of_record", "source_ids"}) - cols.get(t, set()))
               for t, spec in CONTRACT.items()}
    assert {t: m for t, m in missing.items() if m} == {}


# -- the reconciliation-exceptions mart, case by case ------------------------------------------

@pytest.fixture(scope="module")
def cases(dbt_world) -> dict:
    return dbt_world.sims.cases()


@pytest.fixture(scope="module")
def exceptions(dbt_world) -> dict[str, list[tuple]]:
    rows = dbt_world.query(
        f"SELECT exception_type, entity_type, entity_id, system, detail, fix_owner, related_ids "
        f"FROM {dbt_world.schema('marts')}.rpt_reconciliation_exceptions")
    out: dict[str, list[tuple]] = defaultdict(list)
    for r in rows:
        out[r[0]].append(r)
    return out


def ids(rows) -> set[str]:
    return {r[2] for r in rows}


def test_exceptions_have_owner_system_and_detail(exceptions):
    bad = [r[:4] for rows in exceptions.values() for r in rows
           if not (r[1] and r[2] and r[3] and r[4] and r[5] in ("finance", "pmo", "master_data"))]
    assert bad == []


def test_exceptions_unique(dbt_world):
    dup = dbt_world.query(f"SELECT exception_type, entity_type, entity_id, count(*) FROM "
                          f"{dbt_world.schema('marts')}.rpt_reconciliation_exceptions GROUP BY 1, 2, 3 HAVING count(*) > 1")
    assert dup == []


def test_closed_won_without_project(cases, exceptions):
    rows = exceptions["closed_won_without_project"]
    assert cases["closed_won_without_project"], "the world holds the case"
    assert ids(rows) == set(cases["closed_won_without_project"])
    assert {r[3] for r in rows} == {"salesforce"}


def test_time_on_closed_project(cases, exceptions):
    case = cases["time_on_closed_project"]
    rows = exceptions["time_on_closed_project"]
    assert ids(rows) == set(case["time_entry_ids"])
    assert {(r[6] or {}).get("kantata_workspace_id") for r in rows} == {str(case["workspace_id"])}
    assert {str((r[6] or {}).get("netsuite_job_id")) for r in rows} == {str(case["job_id"])}


def test_employee_missing_in_netsuite(cases, exceptions):
    assert ids(exceptions["employee_missing_in_netsuite"]) == set(cases["employee_missing_in_netsuite"])


def test_hubspot_duplicates(cases, exceptions):
    got = {r[2]: (r[6] or {}).get("salesforce_account_id") for r in exceptions["hubspot_duplicates"]}
    assert got == {str(k): v for k, v in cases["hubspot_duplicates"].items()}


def test_edited_after_approval(cases, exceptions):
    want = set(cases["edited_after_approval"])
    got = ids(exceptions["edited_after_approval"])
    assert want, "the world holds the case"
    assert (sorted(got - want)[:20], sorted(want - got)[:20]) == ([], [])


def test_currency_mix(cases, exceptions, dbt_world):
    got: dict[str, set[str]] = defaultdict(set)
    for r in exceptions["currency_mix"]:
        got[(r[6] or {}).get("currency")].add(r[2])
    assert dict(got) == {c: set(ws) for c, ws in cases["currency_mix"].items()}
    # ... and the canonical projects carry those currencies
    canon = defaultdict(set)
    for ws, cur in dbt_world.query(f"SELECT kantata_workspace_id, currency FROM {dbt_world.schema('canonical')}.project "
                                   "WHERE kantata_workspace_id IS NOT NULL"):
        canon[cur].add(ws)
    assert dict(canon) == {c: set(ws) for c, ws in cases["currency_mix"].items()}


# -- hours -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def truth_entries(dbt_world) -> list[dict]:
    return dbt_world.sims.truth("kantata", "time_entries")["records"]


@pytest.fixture(scope="module")
def canonical_entries(dbt_world) -> list[tuple]:
    c = dbt_world.schema("canonical")
    return dbt_world.query(
        f"SELECT coalesce(t.source_ids->>'kantata', t.time_entry_id), p.kantata_workspace_id, t.resource_id, "
        f"t.kantata_user_id, t.hours, t.is_approved, t.is_billable "
        f"FROM {c}.time_entry t LEFT JOIN {c}.project p USING (project_id)")


def hours(minutes: int) -> Decimal:
    return (Decimal(minutes) / 60).quantize(Decimal("0.01"))


def test_time_entry_ids_equal_truth(dbt_world, truth_entries, canonical_entries):
    want = {r["id"] for r in truth_entries}
    got = [r[0] for r in canonical_entries]
    assert len(got) == len(set(got))
    got_set = set(got)
    deleted = set(dbt_world.sims.cases()["deleted_time_entries"])
    assert deleted and not (deleted & got_set), sorted(deleted & got_set)[:20]
    assert (sorted(got_set - want)[:20], sorted(want - got_set)[:20]) == ([], [])


def _totals(rows, key):
    all_, approved = defaultdict(Decimal), defaultdict(Decimal)
    for r in rows:
        k, h, ok = key(r)
        all_[k] += h
        if ok:
            approved[k] += h
    return dict(all_), {k: v for k, v in approved.items() if v}


def test_hours_per_project_equal_truth(truth_entries, canonical_entries):
    want = _totals(truth_entries, lambda r: (r["workspace_id"], hours(r["time_in_minutes"]), r["approved"]))
    got = _totals(canonical_entries, lambda r: (r[1], Decimal(r[4]), r[5]))
    assert got[0] == want[0], "all hours per project"
    assert got[1] == want[1], "approved hours per project"
    bill_want = _totals(truth_entries, lambda r: (r["workspace_id"], hours(r["time_in_minutes"]), r["billable"]))[1]
    bill_got = _totals(canonical_entries, lambda r: (r[1], Decimal(r[4]), r[6]))[1]
    assert bill_got == bill_want, "billable hours per project"


def test_hours_per_person_equal_truth(dbt_world, truth_entries, canonical_entries):
    sims = dbt_world.sims
    email_of_user = {u["id"]: u["email_address"].lower() for u in sims.truth("kantata", "users")["records"]}
    worker_of_email = {w["Email"].lower(): w["Worker_ID"] for w in sims.truth("workday", "Handoff_Workers")["records"]}
    want_user = _totals(truth_entries, lambda r: (r["user_id"], hours(r["time_in_minutes"]), r["approved"]))
    got_user = _totals(canonical_entries, lambda r: (r[3], Decimal(r[4]), r[5]))
    assert got_user == want_user, "hours per Kantata user (all, approved)"
    want_res = _totals(truth_entries, lambda r: (worker_of_email.get(email_of_user[r["user_id"]]),
                                                 hours(r["time_in_minutes"]), r["approved"]))
    got_res = _totals(canonical_entries, lambda r: (r[2], Decimal(r[4]), r[5]))
    assert got_res == want_res, "hours per resource (Workday worker), all and approved"


# -- invoices and payments ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def ns(dbt_world) -> dict:
    """Truth totals per real customer. A NetSuite customer is a CRM customer's (externalid SF-<account>
    or HS-<company>); a HubSpot company duplicating a Salesforce account (case `hubspot_duplicates`) is
    that account's customer, so its NetSuite customer's money counts for the account."""
    sims = dbt_world.sims
    dups = {str(k): v for k, v in sims.cases()["hubspot_duplicates"].items()}
    jobs = {j["id"]: j for j in sims.truth("netsuite", "job")["records"]}
    customers = {c["id"]: c for c in sims.truth("netsuite", "customer")["records"]}
    tx = sims.truth("netsuite", "transaction")["records"]

    def customer_key(entity: str) -> str:
        ns_id = entity if entity in customers else (jobs[entity].get("customer") or jobs[entity]["parent"])
        ext = customers[ns_id].get("externalid") or ""
        if ext.startswith("SF-"):
            return f"SF:{ext[3:]}"
        if ext.startswith("HS-"):
            return f"SF:{dups[ext[3:]]}" if ext[3:] in dups else f"HS:{ext[3:]}"
        return f"NS:{ns_id}"

    out = {}
    for typ in ("CustInvc", "CustPymt"):
        per_customer, per_id = defaultdict(Decimal), {}
        for r in tx:
            if r["type"] == typ:
                per_customer[customer_key(r["entity"])] += Decimal(r["foreigntotal"])
                per_id[r["id"]] = Decimal(r["foreigntotal"])
        out[typ] = (dict(per_customer), per_id)
    return out


def _canonical_money(world, table: str, id_col: str):
    c = world.schema("canonical")
    rows = world.query(
        f"SELECT coalesce(x.source_ids->>'netsuite', x.{id_col}), "
        f"coalesce('SF:' || cu.salesforce_account_id, 'HS:' || cu.hubspot_company_id, 'NS:' || cu.netsuite_customer_id), "
        f"x.amount FROM {c}.{table} x LEFT JOIN {c}.customer cu USING (customer_id)")
    per_customer, per_id = defaultdict(Decimal), {}
    for tid, cust, amount in rows:
        per_customer[cust] += amount
        assert tid not in per_id, f"{table} {tid} twice"
        per_id[tid] = amount
    return dict(per_customer), per_id


@pytest.mark.parametrize("table,id_col,typ", [("invoice", "invoice_id", "CustInvc"),
                                              ("payment", "payment_id", "CustPymt")])
def test_money_per_customer_equals_truth(dbt_world, ns, table, id_col, typ):
    want_customer, want_id = ns[typ]
    assert want_id, f"the world has no {typ}: use a scale with payments"
    got_customer, got_id = _canonical_money(dbt_world, table, id_col)
    assert (sorted(set(got_id) - set(want_id)), sorted(set(want_id) - set(got_id))) == ([], [])
    assert {k: v for k, v in got_id.items() if v != want_id[k]} == {}, f"{table} amounts"
    assert got_customer == want_customer, f"{table} totals per customer (Salesforce account, else HubSpot company)"


def test_invoices_and_payments_sit_on_their_jobs_projects(dbt_world):
    """Each invoice/payment's project is the one whose NetSuite job the transaction names; an invoice's
    open amount is NetSuite's."""
    sims, c = dbt_world.sims, dbt_world.schema("canonical")
    tx = {r["id"]: r for r in sims.truth("netsuite", "transaction")["records"]}
    wrong = []
    for table, id_col in (("invoice", "invoice_id"), ("payment", "payment_id")):
        for tid, job in dbt_world.query(
                f"SELECT coalesce(x.source_ids->>'netsuite', x.{id_col}), p.netsuite_job_id "
                f"FROM {c}.{table} x LEFT JOIN {c}.project p USING (project_id)"):
            if tx[tid]["entity"] != job:
                wrong.append((table, tid, tx[tid]["entity"], job))
    assert wrong[:20] == []
    remaining = {r["id"]: Decimal(r["foreignamountremaining"]) for r in tx.values()
                 if r["type"] == "CustInvc" and r.get("foreignamountremaining") is not None}
    got = dict(dbt_world.query(f"SELECT coalesce(source_ids->>'netsuite', invoice_id), amount_remaining "
                               f"FROM {c}.invoice"))
    if remaining:
        assert {k: (got.get(k), v) for k, v in remaining.items() if got.get(k) != v} == {}


# -- cost (effective-dated rates) and margin ------------------------------------------------------

def cents(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def truth_cost(dbt_world, truth_entries) -> dict[str, tuple]:
    """Per time entry: (Workday worker, rate in effect on the entry's date or None, currency, cost)."""
    sims = dbt_world.sims
    email_of_user = {u["id"]: u["email_address"].lower() for u in sims.truth("kantata", "users")["records"]}
    workers = {w["Email"].lower(): w for w in sims.truth("workday", "Handoff_Workers")["records"]}
    out = {}
    for e in truth_entries:
        w = workers.get(email_of_user[e["user_id"]])
        rates = sorted((r["Effective_Date"], Decimal(r["Hourly_Cost_Rate"]), r["Currency"])
                       for r in (w or {}).get("Cost_Rates", []) if r["Effective_Date"] <= e["date_performed"])
        if not rates:
            out[e["id"]] = (w and w["Worker_ID"], None, None, None)
            continue
        _, rate, cur = rates[-1]
        out[e["id"]] = (w["Worker_ID"], rate, cur, cents(Decimal(e["time_in_minutes"]) / 60 * rate))
    return out


def test_time_entry_cost_uses_the_rate_in_effect(dbt_world, truth_cost):
    rows = dbt_world.query(
        f"SELECT c.time_entry_id, c.resource_id, c.hourly_cost_rate, c.currency, c.cost_amount "
        f"FROM {dbt_world.schema('restricted')}.time_entry_cost c", url=dbt_world.transformer_url)
    got = {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}
    assert set(got) == set(truth_cost)
    wrong = {k: (got[k], v) for k, v in truth_cost.items() if got[k] != v}
    assert dict(list(wrong.items())[:10]) == {}, f"{len(wrong)} entries costed differently from Workday's rates"
    assert sum(1 for v in truth_cost.values() if v[1] is not None) > len(truth_cost) * 0.9


@pytest.fixture(scope="module")
def usd_rate(dbt_world):
    """1 unit of a currency in USD on a date: NetSuite's rate with the latest effective date on or before it."""
    sims = dbt_world.sims
    code = {c["id"]: c["symbol"] for c in sims.truth("netsuite", "currency")["records"]}
    table = defaultdict(list)
    for r in sims.truth("netsuite", "currencyrate")["records"]:
        assert code[r["basecurrency"]] == "USD"
        m, d, y = (int(x) for x in r["effectivedate"].split("/"))
        table[code[r["transactioncurrency"]]].append((f"{y:04d}-{m:02d}-{d:02d}", Decimal(r["exchangerate"])))
    for rows in table.values():
        rows.sort()

    def rate(currency: str, on: str) -> Decimal:
        if currency == "USD":
            return Decimal(1)
        rows = table[currency]
        before = [r for d, r in rows if d <= on]
        return before[-1] if before else rows[0][1]

    return rate


def test_project_margin_equals_truth(dbt_world, truth_entries, truth_cost, usd_rate):
    """Per project, from the truth alone: approved (billable) hours; T&M revenue = approved billable
    hours x bill rate, and in USD at each day's NetSuite rate; cost = approved hours x the person's cost
    rate in effect (in the rate's currency), converted per day (through USD) into the project's currency
    and into USD. Amounts are converted per (project, day, currency) and rounded to cents, as documented."""
    keys = ("approved_hours", "billable_hours", "tm_revenue", "tm_revenue_usd", "cost_amount", "cost_usd")
    want = defaultdict(lambda: dict.fromkeys(keys, Decimal(0)))
    revenue_day, cost_day = defaultdict(Decimal), defaultdict(Decimal)
    for e in truth_entries:
        if not e["approved"]:
            continue
        w, h = want[e["workspace_id"]], hours(e["time_in_minutes"])
        w["approved_hours"] += h
        if e["billable"]:
            w["billable_hours"] += h
            amount = cents(Decimal(e["time_in_minutes"]) / 60 * Decimal(e["rate_in_cents"]) / 100)
            w["tm_revenue"] += amount
            revenue_day[(e["workspace_id"], e["date_performed"], e["currency"])] += amount
        _, _, cur, cost = truth_cost[e["id"]]
        if cost is not None:
            cost_day[(e["workspace_id"], e["date_performed"], cur, e["currency"])] += cost
    for (ws, day, cur), amount in revenue_day.items():
        want[ws]["tm_revenue_usd"] += cents(amount * usd_rate(cur, day))
    for (ws, day, cur, project_cur), amount in cost_day.items():
        want[ws]["cost_usd"] += cents(amount * usd_rate(cur, day))
        want[ws]["cost_amount"] += amount if cur == project_cur else \
            cents(amount * usd_rate(cur, day) / usd_rate(project_cur, day))
    rows = dbt_world.query(f"SELECT kantata_workspace_id, {', '.join(keys)} "
                           f"FROM {dbt_world.schema('marts')}.fct_project_margin WHERE kantata_workspace_id IS NOT NULL")
    got = {r[0]: dict(zip(keys, r[1:], strict=True)) for r in rows}
    wrong = {ws: {k: (got.get(ws, {}).get(k), v) for k, v in w.items() if got.get(ws, {}).get(k) != v}
             for ws, w in want.items()}
    wrong = {ws: d for ws, d in wrong.items() if d}
    assert dict(list(wrong.items())[:5]) == {}, f"{len(wrong)} of {len(want)} projects differ"
    assert any(cur != pc for _, _, cur, pc in cost_day), "the world costs some project in another currency"


# -- the outbox, against NetSuite itself -----------------------------------------------------------

def test_outbox_postable_iff_netsuite_accepts(dbt_world):
    """What the outbox calls postable, the NetSuite simulator accepts; what it blocks for a reason
    NetSuite checks (closed project), NetSuite refuses. A sample per reason, posted
    for real (timeBill writes land only in this world's NetSuite ledger)."""
    import requests

    rows = dbt_world.query(
        f"SELECT time_entry_id, employee_netsuite_id, job_id, subsidiary_id, tran_date, hours, is_billable, "
        f"external_id, blocking_reason, is_postable FROM {dbt_world.schema('outbox')}.outbox_time_entries "
        f"ORDER BY time_entry_id")
    by_reason = defaultdict(list)
    for r in rows:
        by_reason[r[8] or "postable"].append(r)
    counts = {k: len(v) for k, v in by_reason.items()}
    assert by_reason["postable"] and by_reason["employee_missing_in_netsuite"], counts
    # exactly the approved entries from the cutover on (earlier ones are history NetSuite holds; the
    # first build froze the cutover at the first open period, so none is in a closed period);
    # those on the closed project and the missing employee's are blocked
    (cutover,), = dbt_world.query(f"SELECT cutover_date FROM {dbt_world.schema('intermediate')}.int_erp_posting_cutover")
    period = dbt_world.query(f"SELECT min(start_date) FROM {dbt_world.schema('staging')}.stg_netsuite__accounting_periods "
                             "WHERE NOT is_closed AND NOT coalesce(is_year, false) AND NOT coalesce(is_quarter, false)")
    assert cutover == period[0][0] and "period_closed" not in by_reason, counts
    sims, case = dbt_world.sims, dbt_world.sims.cases()
    truth = [e for e in sims.truth("kantata", "time_entries")["records"]
             if e["approved"] and e["date_performed"] >= cutover.isoformat()]
    assert {r[0] for r in rows} == {e["id"] for e in truth}
    blocked = {r[0] for r in rows if not r[9]}
    on_closed = {e["id"] for e in truth if e["workspace_id"] == str(case["time_on_closed_project"]["workspace_id"])}
    assert on_closed <= blocked
    email_of_user = {u["id"]: u["email_address"].lower() for u in sims.truth("kantata", "users")["records"]}
    worker_of_email = {w["Email"].lower(): w["Worker_ID"] for w in sims.truth("workday", "Handoff_Workers")["records"]}
    of_missing = {e["id"] for e in truth
                  if worker_of_email.get(email_of_user[e["user_id"]]) in set(case["employee_missing_in_netsuite"])}
    assert of_missing, "the missing employee has approved time"
    assert {r[0] for r in rows if r[1] is None} == of_missing
    assert {r[0] for r in by_reason["employee_missing_in_netsuite"]} == of_missing

    base = dbt_world.sims.url("netsuite")
    creds = dbt_world.sims.credentials
    token = requests.post(f"{base}/services/rest/auth/oauth2/v1/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": creds.client_id,
        "client_secret": creds.client_secret}).json()["access_token"]
    wrong = []
    for reason in ("postable", "project_closed"):  # the closed project's time may all predate the cutover
        sample = [r for r in by_reason[reason] if r[1] and r[2]]
        for r in sample[:: max(1, len(sample) // 15)][:15]:
            body = {"employee": {"id": r[1]}, "customer": {"id": r[2]}, "tranDate": r[4].isoformat(),
                    "hours": float(r[5]), "isBillable": bool(r[6]), "externalId": r[7]}
            if r[3]:
                body["subsidiary"] = {"id": r[3]}
            resp = requests.post(f"{base}/services/rest/record/v1/timeBill", json=body, timeout=10,
                                 headers={"Authorization": f"Bearer {token}"})
            if (resp.status_code == 204) != (reason == "postable"):
                wrong.append((reason, r[0], resp.status_code, resp.text[:200]))
    assert wrong == []
