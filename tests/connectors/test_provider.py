"""Each system is an Airflow connection type with its own form fields and a working Test connection."""

from __future__ import annotations

import pytest
from helpers import connect_env

from handoff.platform.connections import env_name, http_connection
from handoff.systems import SYSTEMS


def test_connection_types_are_registered_with_their_fields():
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    hooks = pm.hooks
    for s in SYSTEMS:
        info = hooks[s.conn_type]
        assert info is not None and info.hook_class_name == f"handoff.connectors.{s.name}.Hook", s.name
    widgets = pm.connection_form_widgets
    assert widgets["extra__handoff_workday__tenant"].field["value"] == "handoff"
    assert "extra__handoff_salesforce__api_version" in widgets
    assert not any(k.startswith("extra__handoff_kantata__") for k in widgets)  # Kantata has no settings


@pytest.mark.parametrize("system", [s.name for s in SYSTEMS])
def test_test_connection_reads_one_record(system, sims, warehouse_url, monkeypatch):
    from airflow.providers_manager import ProvidersManager

    connect_env(monkeypatch, sims, warehouse_url)
    hook_cls = ProvidersManager().hooks[f"handoff_{system}"]
    from importlib import import_module

    module, cls = hook_cls.hook_class_name.rsplit(".", 1)
    ok, message = getattr(import_module(module), cls)(f"handoff_{system}").test_connection()
    assert ok, message
    assert "authenticated and read 1 " in message or "worker(s)" in message


def test_test_connection_reports_a_bad_secret_without_it(sims, monkeypatch):
    from handoff.connectors.kantata import Hook

    monkeypatch.setenv(env_name("handoff_kantata"),
                       http_connection(sims.url("kantata"), sims.credentials.client_id, "wrong-secret-123",
                                       conn_type="handoff_kantata"))
    ok, message = Hook("handoff_kantata").test_connection()
    assert not ok and "invalid_client" in message and "wrong-secret-123" not in message
