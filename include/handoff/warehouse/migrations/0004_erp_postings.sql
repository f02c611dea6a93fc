-- Version 4: the posting ledger of reverse sync (handoff.reverse): one row per source record version
-- (and per removal) written to a target system, and its append-only audit of state changes.
-- Generic: NetSuite timeBills and billing events first; later writes (customers and jobs from
-- closed-won deals, status back to the CRM) are other (target_system, record_type) pairs.

CREATE TABLE ops.erp_postings (
    posting_id bigserial PRIMARY KEY,
    target_system text NOT NULL,
    record_type text NOT NULL,
    source_system text NOT NULL,
    source_record_type text NOT NULL,
    source_id text NOT NULL,
    source_version text NOT NULL,
    operation text NOT NULL CHECK (operation IN ('create', 'update', 'delete')),
    idempotency_key text NOT NULL UNIQUE,
    send_key text NOT NULL UNIQUE,
    external_id text NOT NULL,
    payload jsonb,
    content_hash text,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN (
        'pending', 'in_flight', 'posted', 'retrying', 'dead_lettered', 'superseded', 'reversed')),
    attempts int NOT NULL DEFAULT 0,
    erp_id text,
    last_error text,
    last_error_code text,
    last_http_status int,
    dead_letter_reason text,
    fix_owner text CHECK (fix_owner IN ('finance', 'pmo', 'master_data')),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_owner text,
    lease_until timestamptz,
    supersedes bigint REFERENCES ops.erp_postings (posting_id),
    replays int NOT NULL DEFAULT 0,
    run_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    posted_at timestamptz,
    dead_lettered_at timestamptz,
    CHECK (state <> 'dead_lettered' OR (dead_letter_reason IS NOT NULL AND fix_owner IS NOT NULL))
);

COMMENT ON TABLE ops.erp_postings IS
    'reverse sync ledger: one row per source record version (and per removal) posted to a target system';
COMMENT ON COLUMN ops.erp_postings.idempotency_key IS
    'the version''s key: the outbox''s for create/update, <key of the removed version>:delete for a removal';
COMMENT ON COLUMN ops.erp_postings.send_key IS
    'the key actually sent (X-NetSuite-Idempotency-Key): a replay after a definite refusal sends a fresh one';
COMMENT ON COLUMN ops.erp_postings.state IS
    'pending, in_flight (leased), posted, retrying, dead_lettered, superseded (an update replaced it, or it '
    'was withdrawn before it was sent), reversed (a posted removal took it out of the target)';
COMMENT ON COLUMN ops.erp_postings.last_error IS 'the target''s own words for the last failure';
COMMENT ON COLUMN ops.erp_postings.supersedes IS 'posting_id of the posted version this row replaces or removes';

-- The claim: due rows of one target record type.
CREATE INDEX erp_postings_due_idx ON ops.erp_postings (target_system, record_type, next_attempt_at)
    WHERE state IN ('pending', 'retrying', 'in_flight');
-- The plan: every row of a source record.
CREATE INDEX erp_postings_source_idx ON ops.erp_postings
    (target_system, record_type, source_system, source_record_type, source_id);
-- At most one live (posted) version of a record in the target.
CREATE UNIQUE INDEX erp_postings_live_idx ON ops.erp_postings (target_system, record_type, external_id)
    WHERE state = 'posted' AND operation <> 'delete';
-- Replay and the reconciliation read dead letters by reason and age.
CREATE INDEX erp_postings_dead_idx ON ops.erp_postings (dead_letter_reason, dead_lettered_at)
    WHERE state = 'dead_lettered';

CREATE TABLE ops.erp_posting_events (
    event_id bigserial PRIMARY KEY,
    posting_id bigint NOT NULL REFERENCES ops.erp_postings (posting_id),
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    from_state text,
    to_state text NOT NULL,
    detail text,
    run_id text
);

COMMENT ON TABLE ops.erp_posting_events IS 'append-only audit of ops.erp_postings state changes';
CREATE INDEX erp_posting_events_posting_idx ON ops.erp_posting_events (posting_id, at);

-- The loader (reverse sync) writes both (schema-wide grants in handoff.warehouse.migrate); dbt
-- (transformer) reads them for the reconciliation; the analyst reads no ops relation.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'handoff_transformer') THEN
        GRANT USAGE ON SCHEMA ops TO handoff_transformer;
        GRANT SELECT ON ops.erp_postings, ops.erp_posting_events TO handoff_transformer;
    END IF;
END
$$;
