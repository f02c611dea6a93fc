-- Every hour logged by a known resource lands in exactly one resource-week of fct_utilization_weekly.
-- In an incremental build: over the resource-weeks of the time entries this build rewrote (their keys
-- before and after; macros/delta_tests.sql); over everything otherwise.
{%- set keys = delta_test_keys(['time_entry', 'fct_utilization_weekly']) %}
{%- if keys %}
with weeks as (
    select distinct c.resource_id, date_trunc('week', c.date_performed)::date as week_start
    from {{ time_entry_changes_relation() }} as c
    where {{ delta_test_changes_filter('c') }} and c.resource_id is not null and c.date_performed is not null
),

mart as (
    select coalesce(sum(u.total_hours), 0) as hours
    from {{ ref('fct_utilization_weekly') }} as u
    inner join weeks as w on w.resource_id = u.resource_id and w.week_start = u.week_start
),

source as (
    select coalesce(sum(t.hours), 0) as hours
    from {{ ref('time_entry') }} as t
    inner join weeks as w
        on w.resource_id = t.resource_id and t.date_performed >= w.week_start and t.date_performed < w.week_start + 7
)
{%- else %}
with mart as (
    select coalesce(sum(total_hours), 0) as hours from {{ ref('fct_utilization_weekly') }}
),

source as (
    select coalesce(sum(hours), 0) as hours from {{ ref('time_entry') }} where resource_id is not null
)
{%- endif %}

select mart.hours as mart_hours, source.hours as source_hours
from mart cross join source
where mart.hours <> source.hours
