"""What reverse sync reads: the dbt outbox models, one row per source record at its current version.

Every outbox model has the same bookkeeping columns (see dbt_project/models/outbox): `external_id`
(per record), `idempotency_key` (per version), `source_system`, `source_record_type`,
`source_version`, `is_postable`, `blocking_reason`, `fix_owner`; the rest is the record's content.
The reader runs as the loader (SELECT on `outbox`), in the schema dbt built
(`HANDOFF_DBT_SCHEMA_PREFIX`, as dbt's generate_schema_name).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from psycopg import sql
from psycopg.rows import dict_row


@dataclass(frozen=True)
class OutboxSource:
    name: str  # what callers say: sync(source="time_entries")
    relation: str  # the dbt model
    id_column: str  # the source record id
    hash_column: str | None = None  # content of what is posted (None: the version is a content hash)

    def read(self, conn, schema_prefix: str | None = None) -> list[dict]:
        """Every row of the outbox model, ordered by source id."""
        prefix = os.environ.get("HANDOFF_DBT_SCHEMA_PREFIX", "") if schema_prefix is None else schema_prefix
        query = sql.SQL("SELECT * FROM {} ORDER BY {}").format(
            sql.Identifier(f"{prefix}outbox", self.relation), sql.Identifier(self.id_column))
        return conn.cursor(row_factory=dict_row).execute(query).fetchall()

    def source_id(self, row: dict) -> str:
        return str(row[self.id_column])

    def content_hash(self, row: dict) -> str:
        return str(row[self.hash_column] if self.hash_column else row["source_version"])


SOURCES = {
    "time_entries": OutboxSource("time_entries", "outbox_time_entries", "time_entry_id", "content_hash"),
    "billing_events": OutboxSource("billing_events", "outbox_billing_events", "billing_event_id"),
}


def source(name: str) -> OutboxSource:
    try:
        return SOURCES[name]
    except KeyError:
        raise KeyError(f"unknown outbox source {name!r}; known: {', '.join(SOURCES)}") from None
