-- Version 5: the shared request-rate allowance per system (handoff.connectors.pacing).
-- One row per (system, allowance): the theoretical arrival time of the next request (GCRA). Every
-- client of every process reserves its send time here, so a backfill's workers and the minute's
-- scheduled run together stay under the rate the system documents. Only timing lives here: a
-- lost row costs nothing but a momentary burst, and a killed process holds nothing.

CREATE TABLE ops.api_allowance (
    system text NOT NULL,
    allowance text NOT NULL,
    next_at timestamptz NOT NULL,
    PRIMARY KEY (system, allowance)
);

COMMENT ON TABLE ops.api_allowance IS 'shared request pacing per system: the next free send time of each documented allowance';
