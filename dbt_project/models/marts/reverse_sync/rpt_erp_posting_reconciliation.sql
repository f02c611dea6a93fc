{#- Three-way reconciliation of the reverse sync, one row per source record (the outbox, the posting
    ledger and NetSuite compared in intermediate.int_erp_posting_reconciliation), with what depends on
    the clock computed when it is read, so it never goes stale between builds:
      is_exception  not in sync; work in progress (a posting queued or retrying, a posting the extract has
                    not read back yet) only once older than var('erp_posting_grace_minutes')
      age_hours     since the exception began (dead-lettered, queued, or landed in the warehouse)
    A view: analysts read it through its owner's rights, never the intermediate schema. -#}
{{ config(materialized='view') }}

{%- set grace = "interval '" ~ var('erp_posting_grace_minutes') ~ " minutes'" %}

select
    reconciliation_id,
    record_type,
    source_id,
    external_id,
    status,
    case
        when status = 'in_sync' then false
        -- not in the ledger yet and no landing time (billing events): the next sync plans it
        when status in ('awaiting_post', 'awaiting_removal') then coalesce(exception_since < now() - {{ grace }}, false)
        when status = 'posted_not_in_erp' then coalesce(posted_at < now() - {{ grace }}, true)
        else true
    end as is_exception,
    reason,
    fix_owner,
    round(extract(epoch from now() - coalesce(exception_since, posted_at)) / 3600.0, 2) as age_hours,
    exception_since,
    in_outbox,
    blocked_in_outbox,
    outbox_version,
    posted_version,
    ledger_state,
    ledger_operation,
    posting_id,
    attempts,
    last_error,
    ledger_erp_id,
    erp_ids,
    erp_records,
    outbox_amount,
    posted_amount,
    erp_amount,
    outbox_date,
    posted_date,
    erp_date
from {{ ref('int_erp_posting_reconciliation') }}
