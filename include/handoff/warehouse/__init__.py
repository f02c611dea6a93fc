"""Warehouse DDL owned by the extract layer: the `ops` schema (versioned migrations) and the
`raw_<source>` schemas."""

from handoff.warehouse.migrate import (
    ANALYST,
    LOADER,
    LOCK_KEY,
    RAW_COLUMNS,
    SCHEMA_VERSION,
    TRANSFORMER,
    Migration,
    MigrationError,
    ensure_raw_table,
    ensure_ready,
    load_migrations,
    migrate,
    pending,
    raw_table_name,
)

__all__ = [
    "ANALYST",
    "LOADER",
    "LOCK_KEY",
    "RAW_COLUMNS",
    "SCHEMA_VERSION",
    "TRANSFORMER",
    "Migration",
    "MigrationError",
    "ensure_raw_table",
    "ensure_ready",
    "load_migrations",
    "migrate",
    "pending",
    "raw_table_name",
]
