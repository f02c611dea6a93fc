"""Warehouse DDL owned by the extract layer: the `ops` schema and the `raw_<source>` schemas."""

from handoff.warehouse.migrate import RAW_COLUMNS, ensure_raw_table, migrate, raw_table_name

__all__ = ["RAW_COLUMNS", "ensure_raw_table", "migrate", "raw_table_name"]
