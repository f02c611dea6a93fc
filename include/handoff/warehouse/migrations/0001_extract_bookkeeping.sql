-- Version 1: the extract layer's bookkeeping, exactly as the unversioned `migrate` created it
-- before versioned migrations existed (every warehouse created by that code is at version 1).
-- Applied once; never edit an applied migration: add the next numbered file instead.

CREATE SCHEMA IF NOT EXISTS ops;

CREATE TABLE IF NOT EXISTS ops.schema_migrations (
    version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());

-- Cursor per stream; advanced in the same transaction as the rows it covers.
CREATE TABLE IF NOT EXISTS ops.extract_state (
    source text NOT NULL, stream text NOT NULL,
    cursor_ts timestamptz,
    cursor_extra jsonb NOT NULL DEFAULT '{}'::jsonb,
    last_batch_id text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, stream));

CREATE TABLE IF NOT EXISTS ops.extract_runs (
    batch_id text PRIMARY KEY,
    dag_id text, dag_run_id text, task_id text, try_number int,
    source text NOT NULL, stream text NOT NULL,
    mode text NOT NULL,
    window_start timestamptz, window_end timestamptz,
    started_at timestamptz NOT NULL DEFAULT now(), finished_at timestamptz,
    pages int NOT NULL DEFAULT 0, records int NOT NULL DEFAULT 0,
    rejects int NOT NULL DEFAULT 0, deletes int NOT NULL DEFAULT 0,
    retries int NOT NULL DEFAULT 0, duration_s double precision,
    outcome text NOT NULL DEFAULT 'running', error text);

CREATE INDEX IF NOT EXISTS extract_runs_stream_idx ON ops.extract_runs (source, stream, started_at);

CREATE TABLE IF NOT EXISTS ops.rejected_records (
    id bigserial PRIMARY KEY,
    source text NOT NULL, stream text NOT NULL, batch_id text NOT NULL,
    source_id text, reason text NOT NULL, payload jsonb,
    rejected_at timestamptz NOT NULL DEFAULT now());

CREATE INDEX IF NOT EXISTS rejected_records_stream_idx ON ops.rejected_records (source, stream);

-- A record rejected again by a look-back or rerun is not a new rejection.
CREATE UNIQUE INDEX IF NOT EXISTS rejected_records_once
    ON ops.rejected_records (source, stream, coalesce(source_id, ''), reason, md5(payload::text));

-- Fields seen per stream (the baseline for drift detection) and the changes detected.
CREATE TABLE IF NOT EXISTS ops.stream_fields (
    source text NOT NULL, stream text NOT NULL, field text NOT NULL,
    first_batch_id text, first_seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, stream, field));

CREATE TABLE IF NOT EXISTS ops.schema_changes (
    id bigserial PRIMARY KEY,
    source text NOT NULL, stream text NOT NULL, field text NOT NULL,
    change text NOT NULL CHECK (change IN ('added', 'missing')),
    batch_id text NOT NULL, detected_at timestamptz NOT NULL DEFAULT now(),
    sample jsonb,
    UNIQUE (source, stream, field, change));
