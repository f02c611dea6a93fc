"""NetSuite as a reverse sync target: outbox rows as timeBill and billing-event records, and
NetSuite's refusals as dead letters with a reason and the owner who can fix it.

One adapter per record type; the engine calls `create` / `update` / `delete` / `find` and, on a
failure, `classify`. Writes go through `handoff.connectors.netsuite.Client` (429/5xx/timeouts
retried under the ledger row's send key; a repeated key answered with the first outcome).

Reason -> owner (the outbox's blocking_reason vocabulary, plus what only NetSuite can tell):

    employee_missing_in_netsuite  master_data   unknown employee
    inactive_service_item         master_data   the job's service item is inactive
    subsidiary_mismatch           master_data   employee / job belongs to another subsidiary
    no_job                        pmo           unknown job (project not provisioned in NetSuite)
    project_closed                pmo           the job is closed
    invalid_hours                 pmo           hours out of range
    invalid_amount                pmo           billing event amount missing or not positive
    currency_mismatch             finance       transaction currency is not the job's
    period_closed                 finance       the accounting period (old or new date) is closed
    no_accounting_period          finance       no period covers the date
    time_already_billed           finance       an invoice covers the time: it cannot change
    record_missing_in_erp         finance       the posted record was removed in NetSuite by hand
    idempotency_conflict          finance       a key NetSuite saw before, first outcome unknown
    erp_refused                   finance       any other refusal (the ERP's words in last_error)
"""

from __future__ import annotations

from dataclasses import dataclass

import requests

from handoff.connectors.http import OutcomeUnknown, RetriesExhausted, SystemApiError
from handoff.connectors.netsuite import IDEMPOTENCY_ERROR, NetSuiteError

OWNER = {
    "employee_missing_in_netsuite": "master_data", "inactive_service_item": "master_data",
    "subsidiary_mismatch": "master_data", "resource_unmatched": "master_data",
    "no_job": "pmo", "project_closed": "pmo", "invalid_hours": "pmo", "invalid_amount": "pmo",
    "currency_mismatch": "finance", "period_closed": "finance", "no_accounting_period": "finance",
    "time_already_billed": "finance", "record_missing_in_erp": "finance", "idempotency_conflict": "finance",
    "erp_refused": "finance",
}
# o:errorPath -> reason, for refusals of a field's value
_BY_PATH = {
    "employee": "employee_missing_in_netsuite", "customer": "no_job", "custrecord_hbe_job": "no_job",
    "item": "inactive_service_item", "subsidiary": "subsidiary_mismatch", "hours": "invalid_hours",
    "custrecord_hbe_amount": "invalid_amount", "custrecord_hbe_currency": "currency_mismatch",
    "currency": "currency_mismatch",
}


@dataclass(frozen=True)
class Failure:
    """What to do with a failed attempt: `retry` later, or dead-letter for `reason` / `owner`."""

    retry: bool
    message: str
    reason: str | None = None
    owner: str | None = None
    code: str | None = None
    status: int | None = None


def _ref(value) -> dict | None:
    return None if value in (None, "") else {"id": str(value)}


def _compact(body: dict) -> dict:
    return {k: v for k, v in body.items() if v is not None}


class NetSuiteTarget:
    system = "netsuite"
    record_type = ""

    def __init__(self, client):
        self.client = client

    @staticmethod
    def payload(row: dict) -> dict:
        raise NotImplementedError

    # ---- verbs -----------------------------------------------------------------------------
    def create(self, posting: dict) -> str:
        return self.client.create(self.record_type, posting["payload"], posting["send_key"])

    def update(self, posting: dict) -> str:
        body = {k: v for k, v in posting["payload"].items() if k != "externalId"}
        return self.client.update(self.record_type, posting["erp_id"], body, posting["send_key"])

    def delete(self, posting: dict) -> None:
        self.client.delete(self.record_type, posting["erp_id"], posting["send_key"])

    def find(self, external_id: str) -> str | None:
        """The id of the record holding this external id, None if NetSuite has none."""
        rec = self.client.get_by_external_id(self.record_type, external_id)
        return None if rec is None else str(rec.get("id") or rec.get("internalId") or "") or None

    # ---- failures ----------------------------------------------------------------------------
    @staticmethod
    def gone(exc: BaseException) -> bool:
        """The record addressed does not exist (a removal that already happened)."""
        return isinstance(exc, SystemApiError) and exc.status == 404

    @staticmethod
    def duplicate(exc: BaseException) -> bool:
        """NetSuite already holds a record with this external id, or saw this key and cannot say
        what became of it: find the record by external id instead of failing."""
        return isinstance(exc, NetSuiteError) and (
            exc.code == "DUP_RCRD" or (exc.code == IDEMPOTENCY_ERROR and not exc.location))

    def classify(self, exc: BaseException) -> Failure:
        if isinstance(exc, RetriesExhausted | OutcomeUnknown | requests.RequestException | TimeoutError):
            return Failure(True, str(exc)[:2000], code=type(exc).__name__)
        if not isinstance(exc, SystemApiError):
            return Failure(True, f"{type(exc).__name__}: {exc}"[:2000], code=type(exc).__name__)
        code = getattr(exc, "code", None)
        if exc.status >= 500 or exc.status in (401, 403, 408, 429):
            return Failure(True, exc.message, code=code, status=exc.status)
        reason = _reason(exc)
        return Failure(False, exc.message, reason, OWNER[reason], code, exc.status)


def _reason(exc: SystemApiError) -> str:
    code = (getattr(exc, "code", None) or "").upper()
    path = getattr(exc, "path", None) or ""
    text = exc.message.lower()
    if "billed" in text or "invoiced" in text or "BILLED" in code:
        return "time_already_billed"
    if "accounting period" in text or "period" in path.lower():
        return "no_accounting_period" if "no accounting period" in text else "period_closed"
    if path == "customer" and "closed" in text:
        return "project_closed"
    if exc.status == 404 or code == "NONEXISTENT_ID":
        return "record_missing_in_erp"
    if code == IDEMPOTENCY_ERROR:
        return "idempotency_conflict"
    if path in _BY_PATH:
        return _BY_PATH[path]
    return "erp_refused"


class TimeBill(NetSuiteTarget):
    record_type = "timeBill"

    @staticmethod
    def payload(row: dict) -> dict:
        return _compact({
            "externalId": row["external_id"],
            "employee": _ref(row.get("employee_netsuite_id")),
            "customer": _ref(row.get("job_id")),
            "subsidiary": _ref(row.get("subsidiary_id")),
            "item": _ref(row.get("service_item_id")),
            "tranDate": str(row["tran_date"]) if row.get("tran_date") is not None else None,
            "hours": float(row["hours"]) if row.get("hours") is not None else None,
            "isBillable": bool(row.get("is_billable")),
            "memo": row.get("memo"),
        })


class BillingEvent(NetSuiteTarget):
    record_type = "customrecord_handoff_billing_event"

    @staticmethod
    def payload(row: dict) -> dict:
        return _compact({
            "externalId": row["external_id"],
            "name": f"{row.get('event_type') or 'milestone'} {row.get('milestone_id')}",
            "custrecord_hbe_job": _ref(row.get("job_id")),
            "custrecord_hbe_milestone": None if row.get("milestone_id") is None else str(row["milestone_id"]),
            "custrecord_hbe_amount": float(row["amount"]) if row.get("amount") is not None else None,
            "custrecord_hbe_currency": row.get("currency"),
            "custrecord_hbe_date": str(row["event_date"]) if row.get("event_date") is not None else None,
            "subsidiary": _ref(row.get("subsidiary_id")),
        })


TARGETS = {"time_entries": TimeBill, "billing_events": BillingEvent}
