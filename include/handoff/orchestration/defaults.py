"""DAG defaults shared by every family."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

OWNER = "data-platform"
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)


def default_args(retries: int = 3) -> dict:
    return {"owner": OWNER, "retries": retries, "retry_delay": timedelta(seconds=20),
            "retry_exponential_backoff": True}
