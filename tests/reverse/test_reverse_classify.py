"""NetSuite's refusals (in the simulator's words, NetSuite's format) -> dead-letter reason and
fix owner; transient failures -> retry."""

from __future__ import annotations

import pytest

from handoff.connectors.http import OutcomeUnknown, RetriesExhausted
from handoff.connectors.netsuite import NetSuiteError
from handoff.reverse.netsuite import OWNER, TimeBill


def refusal(detail, code, path=None, status=400, location=None) -> NetSuiteError:
    d = {"detail": detail, "o:errorCode": code, **({"o:errorPath": path} if path else {})}
    return NetSuiteError(status, f"{code}: {detail}", "…/timeBill", [d], location)


@pytest.mark.parametrize("exc, reason", [
    (refusal("Invalid Field Value 999 for the following field: employee", "INVALID_KEY_OR_REF", "employee"),
     "employee_missing_in_netsuite"),
    (refusal("Invalid Field Value 999 for the following field: customer", "INVALID_KEY_OR_REF", "customer"), "no_job"),
    (refusal("Project PRJ-1 is closed; time cannot be entered.", "INVALID_FLD_VALUE", "customer"), "project_closed"),
    (refusal("Invalid Field Value 103 for the following field: item", "INVALID_KEY_OR_REF", "item"),
     "inactive_service_item"),
    (refusal("Invalid Field Value 2 for the following field: subsidiary. The employee belongs to subsidiary 1.",
             "INVALID_FLD_VALUE", "subsidiary"), "subsidiary_mismatch"),
    (refusal("Invalid Field Value 30.0 for the following field: hours", "INVALID_FLD_VALUE", "hours"), "invalid_hours"),
    (refusal("The accounting period Jan 2026 is closed. You cannot post to a closed period.", "INVALID_FLD_VALUE",
             "tranDate"), "period_closed"),
    (refusal("The accounting period Jan 2026 is closed. A transaction dated in a closed period cannot be changed "
             "or deleted.", "INVALID_FLD_VALUE", "tranDate"), "period_closed"),
    (refusal("No accounting period exists for this date.", "INVALID_FLD_VALUE", "tranDate"), "no_accounting_period"),
    (refusal("This time entry has been billed on INV70123. You cannot change or delete billed time.",
             "CANT_MODIFY_BILLED_TIME"), "time_already_billed"),
    (refusal("Currency EUR does not match the project currency USD.", "INVALID_FLD_VALUE", "custrecord_hbe_currency"),
     "currency_mismatch"),
    (refusal("The record instance does not exist.", "NONEXISTENT_ID", status=404), "record_missing_in_erp"),
    (refusal("The idempotency key 'k' was already used by job 7.", "IDEMPOTENCY_ERROR"), "idempotency_conflict"),
    (refusal("Something else entirely.", "UNEXPECTED_ERROR"), "erp_refused"),
])
def test_refusals_are_dead_letters_with_reason_and_owner(exc, reason):
    f = TimeBill(client=None).classify(exc)
    assert (f.retry, f.reason, f.owner, f.status) == (False, reason, OWNER[reason], exc.status)
    assert f.message == exc.message and f.code == exc.code


@pytest.mark.parametrize("exc", [
    refusal("An unexpected error occurred.", "SERVER_ERROR", status=503),
    refusal("Invalid login attempt.", "INVALID_LOGIN", status=401),
    RetriesExhausted("netsuite POST …: gave up after 8 attempts: HTTP 429"),
    OutcomeUnknown("netsuite POST …: the write may or may not have been applied"),
    TimeoutError("netsuite job … not completed after 60s"),
])
def test_transient_failures_are_retried(exc):
    f = TimeBill(client=None).classify(exc)
    assert f.retry and f.reason is None and f.owner is None


def test_owners_are_the_three_teams():
    assert set(OWNER.values()) == {"finance", "pmo", "master_data"}
