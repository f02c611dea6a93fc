-- Version 3: the transform layer's bookkeeping (one row per transform cycle), the index its
-- "what changed since" query uses, and the analyst kept out of ops.

-- One row per cycle of the `transform` DAG (handoff.transform.selection). A cycle rebuilds what
-- is downstream of the raw streams whose extract attempts changed rows after the previous good
-- cycle's watermark; `watermark` is where this cycle read up to.
CREATE TABLE ops.transform_runs (
    run_id bigserial PRIMARY KEY,
    dag_id text, dag_run_id text,
    mode text NOT NULL CHECK (mode IN ('changed', 'full', 'manual')),
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    watermark timestamptz NOT NULL,
    previous_watermark timestamptz,
    changed_sources text[] NOT NULL DEFAULT '{}',
    select_args text,
    full_refresh boolean NOT NULL DEFAULT false,
    outcome text NOT NULL DEFAULT 'running'
        CHECK (outcome IN ('running', 'success', 'failed', 'nothing_changed')),
    nodes_built text[] NOT NULL DEFAULT '{}',
    nodes_failed text[] NOT NULL DEFAULT '{}',
    error text);

COMMENT ON TABLE ops.transform_runs IS
    'one row per transform cycle: what changed, what dbt was asked to build, what it built';
COMMENT ON COLUMN ops.transform_runs.watermark IS
    'extract attempts that changed raw and finished up to here are covered by this cycle';
COMMENT ON COLUMN ops.transform_runs.changed_sources IS
    'raw_<source>.<stream> whose extract attempts changed rows since the previous good cycle';
COMMENT ON COLUMN ops.transform_runs.select_args IS
    'the dbt --select of the build (empty: the whole project; null: no build)';

-- The previous good cycle: newest watermark of a successful, non-manual cycle.
CREATE INDEX transform_runs_watermark_idx ON ops.transform_runs (watermark)
    WHERE outcome IN ('success', 'nothing_changed') AND mode <> 'manual';

-- "Which streams changed since": only the attempts that changed raw rows.
CREATE INDEX extract_runs_changed_idx ON ops.extract_runs (finished_at) WHERE changed > 0;

-- The transformer (dbt) reads the run logs for the integration-health mart.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'handoff_transformer') THEN
        GRANT USAGE ON SCHEMA ops TO handoff_transformer;
        GRANT SELECT ON ops.extract_runs, ops.rejected_records, ops.schema_changes, ops.transform_runs,
            ops.stream_freshness TO handoff_transformer;
    END IF;
END
$$;

-- The analyst reads canonical and marts only, never ops or raw_* (the integration-health mart
-- is how ops reaches analysts). Version 2 let the analyst read ops.stream_freshness.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'handoff_analyst') THEN
        REVOKE ALL ON ALL TABLES IN SCHEMA ops FROM handoff_analyst;
        REVOKE USAGE ON SCHEMA ops FROM handoff_analyst;
        ALTER DEFAULT PRIVILEGES IN SCHEMA ops REVOKE SELECT ON TABLES FROM handoff_analyst;
    END IF;
END
$$;
