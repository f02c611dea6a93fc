"""Run every stream of every source once, in registry order: a catch-up outside Airflow.

Used where a whole world must land in raw without a scheduler: the transform tests and the dbt
benchmark (load a simulated world, then build dbt on it) and a developer's local warehouse.
Connections come from the environment (`AIRFLOW_CONN_HANDOFF_*`), as for any task.
"""

from __future__ import annotations

from datetime import timedelta

import psycopg

from handoff.connectors.http import RetryPolicy
from handoff.extract.runner import ExtractSettings, RunResult, StreamRunner
from handoff.extract.sources import SOURCE_NAMES, get_source


def extract_everything(warehouse_url: str, policy: RetryPolicy | None = None,
                       sources: tuple[str, ...] = SOURCE_NAMES, **settings) -> list[RunResult]:
    """One run per stream (deletes reconciled in the same run unless `reconcile_every` says otherwise)."""
    settings.setdefault("lookback", timedelta(0))
    settings.setdefault("reconcile_every", timedelta(0))
    results = []
    with psycopg.connect(warehouse_url) as conn:
        for name in sources:
            src = get_source(name)
            client = src.client(policy)
            try:
                for stream in src.streams:
                    results.append(StreamRunner(stream, client, conn, ExtractSettings(**settings)).run())
            finally:
                client.close()
    return results
