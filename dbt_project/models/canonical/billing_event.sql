{#- Completed billing milestones in Kantata: milestone stories (event_type 'milestone') and completed
    fixed-fee tasks ('fixed_fee'), for their budget amount in the project's currency, dated the day
    they were completed. -#}
select
    t.task_id::text as billing_event_id,
    t.project_id::text as project_id,
    t.task_id::text as task_id,
    (case when t.task_type = 'milestone' then 'milestone' else 'fixed_fee' end)::text as event_type,
    (t.completed_at at time zone 'UTC')::date as event_date,
    t.budget_amount::numeric(18, 2) as amount,
    t.currency::text as currency,
    'kantata'::text as system_of_record,
    t.source_ids as source_ids
from {{ ref('project_task') }} as t
where t.completed_at is not null
  and (t.task_type = 'milestone' or t.is_fixed_fee)
