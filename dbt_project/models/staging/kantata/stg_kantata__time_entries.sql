{#- Live time entries only. Hard deletes (reconciled by the extract, raw is_deleted) are in
    stg_kantata__time_entry_deletes, which the incremental canonical.time_entry applies. -#}
select
    source_id as time_entry_id,
    payload ->> 'workspace_id' as workspace_id,
    payload ->> 'story_id' as story_id,
    payload ->> 'user_id' as user_id,
    payload ->> 'role_id' as role_id,
    (payload ->> 'date_performed')::date as date_performed,
    (payload ->> 'time_in_minutes')::integer as minutes,
    round((payload ->> 'time_in_minutes')::numeric / 60, 2) as hours,
    coalesce((payload ->> 'billable')::boolean, false) as is_billable,
    coalesce((payload ->> 'approved')::boolean, false) as is_approved,
    coalesce((payload ->> 'is_invoiced')::boolean, false) as is_invoiced,
    payload ->> 'invoice_id' as invoice_id,
    {{ cents_to_amount("payload ->> 'rate_in_cents'") }} as bill_rate,
    {{ cents_to_amount("payload ->> 'cost_rate_in_cents'") }} as kantata_cost_rate,
    payload ->> 'currency' as currency,
    payload ->> 'notes' as notes,
    coalesce(payload ->> 'active_submission_id', payload ->> 'recent_submission_id') as submission_id,
    (payload ->> 'created_at')::timestamptz as created_at,
    (payload ->> 'updated_at')::timestamptz as updated_at,
    loaded_at as _loaded_at
from {{ source('raw_kantata', 'time_entries') }}
where not is_deleted
