{#- Kantata stories: tasks and billing milestones. completed_at: the story's last update while its
    state is 'completed' (Kantata exposes no completion time in this feed). -#}
select
    s.story_id::text as task_id,
    ('KANTATA-' || s.workspace_id)::text as project_id,
    s.parent_story_id::text as parent_task_id,
    s.story_name::text as task_name,
    (case when s.story_type = 'milestone' then 'milestone' else 'task' end)::text as task_type,
    s.state::text as state,
    coalesce(s.is_billable, false) as is_billable,
    coalesce(s.is_fixed_fee, false) as is_fixed_fee,
    s.budget_amount::numeric(18, 2) as budget_amount,
    w.currency::text as currency,
    s.start_date::date as start_date,
    s.due_date::date as due_date,
    (case when s.state = 'completed' then s.updated_at end)::timestamptz as completed_at,
    'kantata'::text as system_of_record,
    jsonb_build_object('kantata', s.story_id) as source_ids
from {{ ref('stg_kantata__stories') }} as s
left join {{ ref('stg_kantata__workspaces') }} as w on w.workspace_id = s.workspace_id
