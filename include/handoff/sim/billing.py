"""NetSuite billing: invoices (with their line), customer payments applied to them, and the
weekly exchange rates.

The first world (history.py) invoices the past months; the clock (ticks.py) invoices each month
on its first day, records payments as they arrive and enters next week's exchange rates.

An invoice carries what aging needs: `foreignamountremaining` (its open amount in the
transaction currency), `status` ('A' Open, 'B' Paid In Full) and `closedate` (the day it was paid
in full). A payment is tied to the invoice it pays the way SuiteQL exposes it: a
`NextTransactionLineLink` row (previousdoc = invoice, nextdoc = payment, linktype 'Payment').

Billed time: the monthly invoice of a job bills the job's billable timebills of that month that
NetSuite holds when it is issued (`bill_time`); tests can bill chosen timebills at once
(`mark_billed`, the `/__sim/bill` admin endpoint). `w.billed_timebills` maps timebill id -> the
invoice id that billed it (0 when marked by hand). Billed time cannot be changed or deleted.
"""

from __future__ import annotations

from .clock import DAY
from .firm import NS_BASE_CURRENCY, NS_CURRENCIES, fx_rate


def issue_invoice(w, p: dict, amount_cents: int, trandate_day: int, ts: int, memo: str) -> int:
    tid = w.next_id("ns_tran", 70000)
    job = w.ns["job"].rows[p["job_id"]]
    w.ns["transaction"].put(tid, {
        "id": tid, "tranid": f"INV{tid}", "type": "CustInvc", "entity": p["job_id"], "trandate": trandate_day,
        "duedate": trandate_day + 30, "currency": job["currency"], "subsidiary": job["subsidiary"],
        "foreigntotal": f"{amount_cents / 100:.2f}", "foreignamountremaining": f"{amount_cents / 100:.2f}",
        "status": "A", "closedate": None, "memo": memo, "externalid": None,
        "createddate": ts, "lastmodifieddate": ts})
    lid = w.next_id("ns_line", 1)
    w.ns["transactionline"].put(lid, {
        "id": lid, "uniquekey": lid, "transaction": tid, "linesequencenumber": 1, "mainline": "F",
        "entity": p["job_id"], "item": job.get("custentity_handoff_service_item"), "quantity": "1",
        "rate": f"{amount_cents / 100:.2f}", "foreignamount": f"{-amount_cents / 100:.2f}", "memo": memo,
        "linelastmodifieddate": ts})
    return tid


def record_payment(w, inv_id: int, ts: int) -> int:
    """A customer payment of the invoice's whole amount, applied to it: the invoice becomes Paid
    In Full and a NextTransactionLineLink row (linktype 'Payment') ties the two."""
    inv = w.ns["transaction"].rows[inv_id]
    pid = w.next_id("ns_tran", 70000)
    w.ns["transaction"].put(pid, {
        "id": pid, "tranid": f"PYMT{pid}", "type": "CustPymt", "entity": inv["entity"], "trandate": ts // DAY,
        "duedate": None, "currency": inv["currency"], "subsidiary": inv["subsidiary"],
        "foreigntotal": inv["foreigntotal"], "status": "C", "memo": f"Payment for {inv['tranid']}",
        "externalid": None, "createddate": ts, "lastmodifieddate": ts})
    w.ns_touch("transaction", inv_id, ts, status="B", foreignamountremaining="0.00", closedate=ts // DAY)
    w.ns["nexttransactionlinelink"].put((inv_id, pid), {
        "previousdoc": inv_id, "previousline": 0, "previoustype": "CustInvc", "nextdoc": pid, "nextline": 0,
        "nexttype": "CustPymt", "linktype": "Payment", "foreignamount": inv["foreigntotal"],
        "lastmodifieddate": ts})
    return pid


def add_currency_rates(w, effective_day: int, ts: int) -> None:
    """One `currencyrate` row per foreign currency, effective `effective_day`, entered at `ts`:
    1 transactioncurrency = exchangerate basecurrency (USD)."""
    for cid, code, _name, _sign in NS_CURRENCIES:
        if cid == NS_BASE_CURRENCY:
            continue
        rid = w.next_id("ns_currencyrate", 1)
        w.ns["currencyrate"].put(rid, {
            "id": rid, "basecurrency": NS_BASE_CURRENCY, "transactioncurrency": cid,
            "exchangerate": f"{fx_rate(w.seed, code, effective_day):.4f}", "effectivedate": effective_day,
            "lastmodifieddate": ts})


def bill_time(w, invoices: dict[int, int], start_day: int, end_day: int) -> None:
    """The month's invoices (job id -> invoice id) bill the live billable timebills of their job
    dated in [start_day, end_day) that no invoice billed yet."""
    if not invoices:
        return
    for tb in w.ns["timebill"].rows.values():
        tid = invoices.get(tb["customer"])
        if (tid is not None and tb["isbillable"] == "T" and start_day <= tb["trandate"] < end_day
                and tb["id"] not in w.billed_timebills):
            w.billed_timebills[tb["id"]] = tid


def mark_billed(w, timebill_ids) -> None:
    """Bill chosen timebills by hand (tests): as if an invoice had included them."""
    for rid in timebill_ids:
        w.billed_timebills.setdefault(rid, 0)


def billed_by(w, timebill_id: int) -> str | None:
    """'INV<id>' (or 'an invoice' when billed by hand) if the timebill is billed, else None."""
    tid = w.billed_timebills.get(timebill_id)
    if tid is None:
        return None
    inv = w.ns["transaction"].get(tid)
    return inv["tranid"] if inv else "an invoice"
