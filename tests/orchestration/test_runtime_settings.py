"""Runtime settings: env first, then Airflow Variables, then defaults; a bad value fails naming it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from handoff.extract.dag_factory import runtime_settings
from handoff.orchestration.settings import SettingError


def test_defaults_env_and_variables(monkeypatch):
    for name in ("LOOKBACK_SECONDS", "COMMIT_RECORDS", "RECONCILE_MINUTES"):
        monkeypatch.delenv(f"HANDOFF_EXTRACT_{name}", raising=False)
    assert runtime_settings().lookback == timedelta(seconds=600)
    monkeypatch.setenv("HANDOFF_EXTRACT_LOOKBACK_SECONDS", "30")
    monkeypatch.setenv("AIRFLOW_VAR_HANDOFF_EXTRACT_RECONCILE_MINUTES", "5")  # a Variable, from the env backend
    s = runtime_settings()
    assert s.lookback == timedelta(seconds=30) and s.reconcile_every == timedelta(minutes=5)
    assert s.commit_records == 5000


def test_a_bad_environment_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("HANDOFF_EXTRACT_LOOKBACK_SECONDS", "ten minutes")
    with pytest.raises(SettingError, match="environment variable HANDOFF_EXTRACT_LOOKBACK_SECONDS = 'ten minutes'"):
        runtime_settings()


def test_a_bad_variable_names_the_variable(monkeypatch):
    monkeypatch.delenv("HANDOFF_EXTRACT_COMMIT_RECORDS", raising=False)
    monkeypatch.setenv("AIRFLOW_VAR_HANDOFF_EXTRACT_COMMIT_RECORDS", "-5")
    with pytest.raises(SettingError, match="Airflow Variable handoff_extract_commit_records = '-5'.*negative"):
        runtime_settings()
