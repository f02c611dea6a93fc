-- Version 2: "did data change" per extract attempt, and per-stream freshness for dbt.

-- Rows the attempt inserted, changed or marked deleted in raw (0 when a run re-read only
-- versions raw already had). Existing runs get 0: unknown, so they never count as a change.
ALTER TABLE ops.extract_runs ADD COLUMN changed bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN ops.extract_runs.changed IS
    'rows inserted, changed or marked deleted in raw by this attempt';

-- The successful attempts of a stream, newest last: what the view below aggregates.
CREATE INDEX extract_runs_success_idx ON ops.extract_runs (source, stream, finished_at)
    WHERE outcome = 'success';

-- One row per (source, stream) with any run. dbt source freshness reads it through
-- `loaded_at_query` (last_success_at: the data is current; last_change_at: the data moved).
CREATE VIEW ops.stream_freshness AS
WITH last_attempt AS (
    SELECT DISTINCT ON (source, stream) source, stream, started_at, outcome, error
    FROM ops.extract_runs
    ORDER BY source, stream, started_at DESC, batch_id DESC
), runs AS (
    -- A change counts whatever the attempt's outcome: a failed attempt's committed batches landed.
    SELECT source, stream,
           max(finished_at) FILTER (WHERE outcome = 'success') AS last_success_at,
           max(coalesce(finished_at, started_at)) FILTER (WHERE changed > 0) AS last_change_at
    FROM ops.extract_runs
    GROUP BY source, stream
)
SELECT a.source, a.stream,
       s.last_success_at,
       s.last_change_at,
       a.started_at AS last_attempt_at,
       a.outcome AS last_outcome,
       a.error AS last_error
FROM last_attempt a
LEFT JOIN runs s USING (source, stream);

COMMENT ON VIEW ops.stream_freshness IS
    'per stream: last successful extract, last one that changed raw, and the latest attempt';
