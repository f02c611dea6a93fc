select
    source_id as expense_id,
    payload ->> 'workspace_id' as workspace_id,
    payload ->> 'story_id' as story_id,
    payload ->> 'user_id' as user_id,
    (payload ->> 'date')::date as expense_date,
    {{ cents_to_amount("payload ->> 'amount_in_cents'") }} as amount,
    payload ->> 'currency' as currency,
    payload ->> 'category' as category,
    payload ->> 'expense_category_id' as expense_category_id,
    coalesce((payload ->> 'is_billable')::boolean, false) as is_billable,
    coalesce((payload ->> 'reimbursable')::boolean, false) as is_reimbursable,
    coalesce((payload ->> 'is_invoiced')::boolean, false) as is_invoiced,
    payload ->> 'notes' as notes,
    (payload ->> 'created_at')::timestamptz as created_at,
    (payload ->> 'updated_at')::timestamptz as updated_at,
    loaded_at as _loaded_at
from {{ source('raw_kantata', 'expenses') }}
where not is_deleted
