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
    r.*,
    case
        when r.status = 'in_sync' then false
        -- not in the ledger yet and no landing time (billing events): the next sync plans it
        when r.status in ('awaiting_post', 'awaiting_removal') then coalesce(r.exception_since < now() - {{ grace }}, false)
        when r.status = 'posted_not_in_erp' then coalesce(r.posted_at < now() - {{ grace }}, true)
        else true
    end as is_exception,
    round(extract(epoch from now() - coalesce(r.exception_since, r.posted_at)) / 3600.0, 2) as age_hours
from {{ ref('int_erp_posting_reconciliation') }} as r
