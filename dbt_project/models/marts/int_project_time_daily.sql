{#- Approved time per project, work date, currency and cost currency: the grain fct_project_margin
    converts at each day's rate. Hours, billable hours and amount (time_entry), cost and hours without a
    cost rate (as restricted.time_entry_cost: the cost rate in effect on the entry's date, in the rate's
    currency), and the approved billable time not invoiced in Kantata (fct_unbilled_wip's candidates).
    Sums only, nothing per person: fct_project_margin and fct_unbilled_wip read these few hundred thousand
    rows instead of every time entry. Transformer only (intermediate schema). A new column needs values in
    every row: on_schema_change fails, build it with --full-refresh.
    Incremental, additively (macros/delta.sql): a delta build sums the time entries changed since its last
    build as they were after minus as they were before (intermediate.time_entry__changes keeps both, with
    the measures), per group, and adds that to the groups' rows (strategy 'additive'): no time entry is
    read. Every measure is a sum of exact per-entry values (numeric), so the result is what a full build
    computes; billable_hours and hours_without_cost_rate are 0, not null, when no entry counts. When the
    cost rates changed, everything is recomputed.     Its first pre_hook makes sure the change table has the measures it reads (an upgraded warehouse
    where time_entry has not rebuilt yet).
-#}
{{ config(
    materialized='incremental',
    schema='intermediate',
    incremental_strategy='additive',
    additive_keys=['project_id', 'on_date'],
    additive_nullable_keys=['currency', 'cost_currency'],
    additive_sums=['approved_hours', 'billable_hours', 'billable_amount', 'cost_amount', 'hours_without_cost_rate',
                   'wip_amount', 'wip_positive_amount'],
    additive_count='entries',
    on_schema_change='fail',
    grants={'select': []},
    pre_hook=additive_pre_hooks('int_project_time_daily_inputs'),
    post_hook=additive_post_hooks('int_project_time_daily_inputs', ['project_id', 'on_date']),
) }}
{%- set st = delta_state(int_project_time_daily_inputs()) %}
with
approved as (
    -- each entry with its cost: the cost rate in effect on its date x its exact duration, in the rate's
    -- currency (as restricted.time_entry_cost; one pass over the entries, not a second join); a delta
    -- build: each changed entry before (sign -1) and after (sign +1)
    select
        t.sign,
        t.project_id, t.date_performed, t.hours, t.is_billable, t.billable_amount, t.currency, t.is_invoiced,
        round(t.minutes::numeric / 60 * r.hourly_cost_rate, 2)::numeric(18, 2) as cost_amount,
        r.currency as cost_currency
    from {{ delta_rows(st, ref('time_entry')) }} as t
    left join {{ ref('resource_cost_rate') }} as r
        on r.resource_id = t.resource_id
       and t.date_performed >= r.effective_from
       and (t.date_performed < r.effective_to or r.effective_to is null)
    where t.is_approved and t.project_id is not null
)

select
    a.project_id::text as project_id,
    a.date_performed::date as on_date,
    a.currency::text as currency,
    a.cost_currency::text as cost_currency,
    sum(a.sign * a.hours)::numeric(14, 2) as approved_hours,
    coalesce(sum(a.sign * a.hours) filter (where a.is_billable), 0)::numeric(14, 2) as billable_hours,
    coalesce(sum(a.sign * a.billable_amount) filter (where a.is_billable), 0)::numeric(20, 2) as billable_amount,
    sum(a.sign * a.cost_amount)::numeric(20, 2) as cost_amount,
    coalesce(sum(a.sign * a.hours) filter (where a.cost_amount is null), 0)::numeric(14, 2) as hours_without_cost_rate,
    sum(a.sign)::integer as entries,
    -- unbilled WIP candidates (fct_unbilled_wip): approved billable time Kantata has not invoiced
    coalesce(sum(a.sign * a.billable_amount) filter (where a.is_billable and not a.is_invoiced), 0)::numeric(20, 2)
        as wip_amount,
    coalesce(sum(a.sign * a.billable_amount) filter (where a.is_billable and not a.is_invoiced and a.billable_amount > 0), 0)::numeric(20, 2)
        as wip_positive_amount
from approved as a
group by 1, 2, 3, 4
