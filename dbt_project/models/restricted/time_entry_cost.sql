{{ config(materialized='view') }}
{#- Cost of each time entry: the resource's cost rate in effect on the entry's date
    (effective_from <= date_performed < effective_to) × its exact duration (minutes / 60), in the
    rate's currency (the worker's company currency, which may differ from the project's).
    An entry dated before the resource's first rate, or without a resource, has no rate: hourly_cost_rate,
    cost_amount and rate_effective_from are null (never a guessed rate).
    A view: always consistent with the incremental canonical.time_entry (edits, deletes, rate changes)
    and free to build; what reads it (margin marts) pays the join once. -#}
select
    t.time_entry_id::text as time_entry_id,
    t.resource_id::text as resource_id,
    t.project_id::text as project_id,
    t.date_performed::date as date_performed,
    t.hours::numeric(10, 2) as hours,
    r.hourly_cost_rate::numeric(18, 4) as hourly_cost_rate,
    round(t.minutes::numeric / 60 * r.hourly_cost_rate, 2)::numeric(18, 2) as cost_amount,
    r.currency::text as currency,
    r.effective_from::date as rate_effective_from
from {{ ref('time_entry') }} as t
left join {{ ref('resource_cost_rate') }} as r
    on r.resource_id = t.resource_id
   and t.date_performed >= r.effective_from
   and (t.date_performed < r.effective_to or r.effective_to is null)
