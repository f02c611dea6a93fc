{#- Kantata expenses. -#}
select
    e.expense_id::text as expense_id,
    ('KANTATA-' || e.workspace_id)::text as project_id,
    p.resource_id::text as resource_id,
    e.user_id::text as kantata_user_id,
    e.expense_date::date as expense_date,
    e.amount::numeric(18, 2) as amount,
    e.currency::text as currency,
    e.category::text as category,
    e.is_billable as is_billable,
    e.is_reimbursable as is_reimbursable,
    'kantata'::text as system_of_record,
    jsonb_build_object('kantata', e.expense_id) as source_ids
from {{ ref('stg_kantata__expenses') }} as e
left join {{ ref('int_person_crosswalk') }} as p on p.system = 'kantata' and p.source_id = e.user_id
