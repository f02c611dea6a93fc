select
    source_id as workspace_id,
    payload ->> 'title' as workspace_name,
    payload ->> 'description' as description,
    coalesce((payload ->> 'archived')::boolean, false) as is_archived,
    payload -> 'status' ->> 'key' as status_key,
    payload -> 'status' ->> 'message' as status_message,
    {{ to_numeric("payload ->> 'price'") }} as price,
    {{ cents_to_amount("payload ->> 'price_in_cents'") }} as price_amount,
    {{ cents_to_amount("payload ->> 'budget_used_in_cents'") }} as budget_used_amount,
    (payload ->> 'budgeted')::boolean as is_budgeted,
    payload ->> 'currency' as currency,
    (payload ->> 'start_date')::date as start_date,
    (payload ->> 'due_date')::date as due_date,
    (payload ->> 'percentage_complete')::numeric as percentage_complete,
    payload ->> 'creator_id' as creator_user_id,
    payload ->> 'primary_maven_id' as lead_user_id,
    payload -> 'billing_milestone_ids' as billing_milestone_ids,
    payload -> 'external_reference_ids' as external_reference_ids,
    (payload ->> 'created_at')::timestamptz as created_at,
    (payload ->> 'updated_at')::timestamptz as updated_at,
    loaded_at as _loaded_at
from {{ source('raw_kantata', 'workspaces') }}
where not is_deleted
