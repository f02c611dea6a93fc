"""Deadline alerts replace SLAs: each extract DAG alerts when a run lands late."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from airflow.sdk import AsyncCallback, DeadlineReference

from handoff.extract.dag_factory import build_dag
from handoff.orchestration.deadlines import missed_deadline


@pytest.mark.parametrize(("source", "seconds"), [("kantata", 90), ("salesforce", 90), ("hubspot", 90),
                                                  ("netsuite", 900), ("workday", 900)])
def test_deadline_follows_the_schedule(source, seconds):
    (alert,) = build_dag(source).deadline
    assert alert.interval == timedelta(seconds=seconds)
    assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT
    assert isinstance(alert.callback, AsyncCallback)
    assert alert.callback.path == "handoff.orchestration.deadlines.missed_deadline"
    assert alert.callback.kwargs == {"dag_id": f"extract_{source}", "seconds": float(seconds), "what": "extract"}


def test_deadline_is_configurable(monkeypatch):
    monkeypatch.setenv("HANDOFF_EXTRACT_KANTATA_DEADLINE_SECONDS", "45")
    (alert,) = build_dag("kantata").deadline
    assert alert.interval == timedelta(seconds=45)
    assert "45 s after it was queued" in build_dag("kantata").doc_md


def test_missed_deadline_callback_names_the_run(caplog):
    with caplog.at_level(logging.WARNING, logger="handoff.orchestration.deadlines"):
        asyncio.run(missed_deadline("extract_kantata", 90.0, "extract", context={"dag_run": {"run_id": "scheduled__x"}}))
    assert "extract deadline missed: extract_kantata run scheduled__x" in caplog.text


def test_deadlines_can_be_switched_off_for_dag_test(monkeypatch):
    monkeypatch.setenv("HANDOFF_EXTRACT_DEADLINES", "off")
    assert not build_dag("kantata").deadline
