-- Weekly utilization per resource (ISO weeks, Monday start).
-- Hours: every time entry logged in the week (draft, submitted or approved; hard-deleted ones
-- are gone), split billable / non-billable; approved_billable_hours for the stricter view.
-- Capacity: the worker's weekly capacity (Workday Scheduled_Weekly_Hours) prorated by the
-- working days (Mon-Fri) of the week the person was employed (hire and termination dates).
-- utilization = billable_hours / capacity_hours (null when there is no capacity).
-- Incremental (macros/delta.sql): a delta build adds, to the stored resource-weeks the time entries
-- changed since its last build touch, the difference of their hours after and before the changes
-- (sums of hours are exact), and drops a resource-week left without entries outside the person's
-- employment; when the resources or the range of weeks changed, everything is recomputed.
{{ config(
    materialized='incremental',
    unique_key='resource_week_id',
    on_schema_change='append_new_columns',
    incremental_strategy='delete+insert',
    pre_hook=["{% if is_incremental() and not delta_state(fct_utilization_weekly_inputs()).delta %}delete from {{ this }}{% endif %}"],
    post_hook=["{% set st = delta_state(fct_utilization_weekly_inputs()) %}{% if st.delta %}delete from {{ this }} as u where exists (select 1 from {{ delta_changes(st.since) }} as c where c.resource_id = u.resource_id and date_trunc('week', c.date_performed)::date = u.week_start) and not exists (select 1 from {{ ref('time_entry') }} as t where t.resource_id = u.resource_id and t.date_performed >= u.week_start and t.date_performed < u.week_start + 7) and not exists (select 1 from {{ ref('resource') }} as r where r.resource_id = u.resource_id and (r.hire_date is null or r.hire_date <= u.week_start + 4) and (r.termination_date is null or r.termination_date >= u.week_start)){% endif %}",
               "{{ delta_commit(fct_utilization_weekly_inputs()) }}",
               "{{ analyze_if_full_build(this) }}"],
) }}
{%- set st = delta_state(fct_utilization_weekly_inputs()) %}
with
{%- if st.delta %}
delta as (
    -- hours after minus hours before, per resource-week the changes touched
    select
        c.resource_id,
        date_trunc('week', c.date_performed)::date as week_start,
        sum(c.sign * c.hours) filter (where c.is_billable) as billable_hours,
        sum(c.sign * c.hours) filter (where not c.is_billable) as non_billable_hours,
        sum(c.sign * c.hours) filter (where c.is_billable and c.is_approved) as approved_billable_hours
    from {{ delta_changes(st.since) }} as c
    where c.resource_id is not null and c.date_performed is not null
    group by 1, 2
),

keys as (
    select resource_id, week_start from delta
),

entries as (
    -- the stored sums plus the difference, for the touched resource-weeks that still hold time
    select
        d.resource_id,
        d.week_start,
        coalesce(o.billable_hours, 0) + coalesce(d.billable_hours, 0) as billable_hours,
        coalesce(o.non_billable_hours, 0) + coalesce(d.non_billable_hours, 0) as non_billable_hours,
        coalesce(o.approved_billable_hours, 0) + coalesce(d.approved_billable_hours, 0) as approved_billable_hours
    from delta as d
    left join {{ this }} as o on o.resource_id = d.resource_id and o.week_start = d.week_start
    where exists (select 1 from {{ ref('time_entry') }} as t
                  where t.resource_id = d.resource_id
                    and t.date_performed >= d.week_start and t.date_performed < d.week_start + 7)
),
{%- else %}
entries as (
    select
        t.resource_id,
        date_trunc('week', t.date_performed)::date as week_start,
        sum(t.hours) filter (where t.is_billable) as billable_hours,
        sum(t.hours) filter (where not t.is_billable) as non_billable_hours,
        sum(t.hours) filter (where t.is_billable and t.is_approved) as approved_billable_hours
    from {{ ref('time_entry') }} as t
    where t.resource_id is not null
    group by 1, 2
),
{%- endif %}

bounds as (
    -- the weeks of all time entries (an index range read on date_performed, in either build)
    select date_trunc('week', min(date_performed))::date as first_week,
           date_trunc('week', max(date_performed))::date as last_week
    from {{ ref('time_entry') }}
    where resource_id is not null
),

weeks as (
    select generate_series(first_week, last_week, interval '7 day')::date as week_start
    from bounds
    where first_week is not null
),

resources as (
    select * from {{ ref('resource') }}
),

spine as (
    select r.resource_id, w.week_start
    from resources as r
    cross join weeks as w
    {%- if st.delta %}
    inner join keys as k on k.resource_id = r.resource_id and k.week_start = w.week_start
    {%- endif %}
    where (r.hire_date is null or r.hire_date <= w.week_start + 4)
      and (r.termination_date is null or r.termination_date >= w.week_start)
    union
    select e.resource_id, e.week_start
    from entries as e
    inner join resources as r on r.resource_id = e.resource_id
),

sized as (
    select
        s.resource_id,
        s.week_start,
        r.full_name,
        r.practice,
        r.department,
        r.company_id,
        r.weekly_capacity_hours,
        greatest(0,
            least(s.week_start + 4, coalesce(r.termination_date, s.week_start + 4))
            - greatest(s.week_start, coalesce(r.hire_date, s.week_start)) + 1
        ) as working_days_employed
    from spine as s
    inner join resources as r on r.resource_id = s.resource_id
)

select
    s.resource_id || ':' || to_char(s.week_start, 'YYYY-MM-DD') as resource_week_id,
    s.resource_id,
    s.full_name,
    s.practice,
    s.department,
    s.company_id,
    s.week_start,
    (s.week_start + 6) as week_end,
    extract(isoyear from s.week_start)::int as iso_year,
    extract(week from s.week_start)::int as iso_week,
    coalesce(e.billable_hours, 0)::numeric(10, 2) as billable_hours,
    coalesce(e.non_billable_hours, 0)::numeric(10, 2) as non_billable_hours,
    (coalesce(e.billable_hours, 0) + coalesce(e.non_billable_hours, 0))::numeric(10, 2) as total_hours,
    coalesce(e.approved_billable_hours, 0)::numeric(10, 2) as approved_billable_hours,
    s.weekly_capacity_hours::numeric(10, 2) as weekly_capacity_hours,
    s.working_days_employed,
    round(coalesce(s.weekly_capacity_hours, 0) * s.working_days_employed / 5.0, 2)::numeric(10, 2)
        as capacity_hours,
    round(coalesce(e.billable_hours, 0)
          / nullif(round(coalesce(s.weekly_capacity_hours, 0) * s.working_days_employed / 5.0, 2), 0), 4)::numeric(8, 4)
        as utilization
from sized as s
left join entries as e
    on e.resource_id = s.resource_id
   and e.week_start = s.week_start
