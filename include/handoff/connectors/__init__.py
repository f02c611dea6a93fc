"""One client per system, shared by extract, reverse sync and provisioning.

`handoff.connectors.<system>` holds the system's hook (its Airflow connection and settings) and
client (authentication, errors in the system's own words, request primitives such as a SOQL
query or a SuiteQL page, safe retries; writes only with an idempotency key or an upsert).
`connect(name)` opens the client of a system named in `handoff.systems`.
"""

from __future__ import annotations

from importlib import import_module

from handoff.connectors.http import RetryPolicy, SystemClient
from handoff.systems import system


def connect(name: str, policy: RetryPolicy | None = None, conn_id: str | None = None) -> SystemClient:
    """The client of system `name` on its connection (`handoff_<name>` unless `conn_id` is given)."""
    sys_ = system(name)
    return import_module(f"handoff.connectors.{name}").Client(conn_id or sys_.conn_id, policy)
