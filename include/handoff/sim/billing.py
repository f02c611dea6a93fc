"""NetSuite billing: invoices (with their line) and customer payments.

The first world (history.py) invoices the past months; the clock (ticks.py) invoices each month
on its first day and records payments as they arrive.
"""

from __future__ import annotations

from .clock import DAY


def issue_invoice(w, p: dict, amount_cents: int, trandate_day: int, ts: int, memo: str) -> int:
    tid = w.next_id("ns_tran", 70000)
    job = w.ns["job"].rows[p["job_id"]]
    w.ns["transaction"].put(tid, {
        "id": tid, "tranid": f"INV{tid}", "type": "CustInvc", "entity": p["job_id"], "trandate": trandate_day,
        "duedate": trandate_day + 30, "currency": job["currency"], "subsidiary": job["subsidiary"],
        "foreigntotal": f"{amount_cents / 100:.2f}", "status": "A", "memo": memo, "externalid": None,
        "createddate": ts, "lastmodifieddate": ts})
    lid = w.next_id("ns_line", 1)
    w.ns["transactionline"].put(lid, {
        "id": lid, "uniquekey": lid, "transaction": tid, "linesequencenumber": 1, "mainline": "F",
        "entity": p["job_id"], "item": "Professional Services", "quantity": "1",
        "rate": f"{amount_cents / 100:.2f}", "foreignamount": f"{-amount_cents / 100:.2f}", "memo": memo,
        "linelastmodifieddate": ts})
    return tid


def record_payment(w, inv_id: int, ts: int) -> int:
    inv = w.ns["transaction"].rows[inv_id]
    pid = w.next_id("ns_tran", 70000)
    w.ns["transaction"].put(pid, {
        "id": pid, "tranid": f"PYMT{pid}", "type": "CustPymt", "entity": inv["entity"], "trandate": ts // DAY,
        "duedate": None, "currency": inv["currency"], "subsidiary": inv["subsidiary"],
        "foreigntotal": inv["foreigntotal"], "status": "C", "memo": f"Payment for {inv['tranid']}",
        "externalid": None, "createddate": ts, "lastmodifieddate": ts})
    w.ns_touch("transaction", inv_id, ts, status="B")
    return pid
