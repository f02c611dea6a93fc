{#- Soft-deleted stories (deleted_at set) land as is_deleted and are dropped here. -#}
select
    source_id as story_id,
    payload ->> 'workspace_id' as workspace_id,
    payload ->> 'parent_id' as parent_story_id,
    payload ->> 'root_id' as root_story_id,
    payload ->> 'title' as story_name,
    payload ->> 'story_type' as story_type,
    payload ->> 'state' as state,
    (payload ->> 'billable')::boolean as is_billable,
    (payload ->> 'fixed_fee')::boolean as is_fixed_fee,
    {{ cents_to_amount("payload ->> 'budget_estimate_in_cents'") }} as budget_amount,
    (payload ->> 'percentage_complete')::numeric as percentage_complete,
    (payload ->> 'start_date')::date as start_date,
    (payload ->> 'due_date')::date as due_date,
    (payload ->> 'created_at')::timestamptz as created_at,
    (payload ->> 'updated_at')::timestamptz as updated_at,
    loaded_at as _loaded_at
from {{ source('raw_kantata', 'stories') }}
where not is_deleted
