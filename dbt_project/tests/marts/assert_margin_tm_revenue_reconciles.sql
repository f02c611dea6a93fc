-- depends_on: {{ ref('int_project_time_daily') }}
-- T&M revenue in fct_project_margin adds up to the approved billable amounts of canonical time entries.
-- In an incremental build (macros/delta_tests.sql) in two cheaper steps that imply it: the mart adds up
-- to int_project_time_daily (its per project and day input, a few hundred thousand rows), and
-- int_project_time_daily equals the time entries on every (project, day) this build rewrote.
{%- set keys = delta_test_keys(['time_entry', 'int_project_time_daily']) %}
with mart as (
    select coalesce(sum(tm_revenue), 0) as amount from {{ ref('fct_project_margin') }}
),

{%- if keys %}
source as (
    select coalesce(sum(d.billable_amount), 0) as amount
    from {{ ref('int_project_time_daily') }} as d
    inner join {{ ref('project') }} as p on p.project_id = d.project_id
),

days as (
    select distinct c.project_id, c.date_performed
    from {{ time_entry_changes_relation() }} as c
    where {{ delta_test_changes_filter('c') }} and c.project_id is not null and c.date_performed is not null
),

daily as (
    select d.project_id, d.on_date, sum(d.billable_amount) as amount
    from {{ ref('int_project_time_daily') }} as d
    inner join days as k on k.project_id = d.project_id and k.date_performed = d.on_date
    group by 1, 2
),

entries as (
    select t.project_id, t.date_performed as on_date, sum(t.billable_amount) as amount
    from {{ ref('time_entry') }} as t
    inner join days as k on k.project_id = t.project_id and k.date_performed = t.date_performed
    where t.is_approved and t.is_billable
    group by 1, 2
)

select mart.amount as mart_amount, source.amount as source_amount
from mart cross join source
where abs(mart.amount - source.amount) > 0.01
union all
select coalesce(d.amount, 0), coalesce(e.amount, 0)
from daily as d
full outer join entries as e on e.project_id = d.project_id and e.on_date = d.on_date
where coalesce(d.amount, 0) <> coalesce(e.amount, 0)
{%- else %}
source as (
    select coalesce(sum(t.billable_amount), 0) as amount
    from {{ ref('time_entry') }} as t
    inner join {{ ref('project') }} as p on p.project_id = t.project_id
    where t.is_approved and t.is_billable
)

select mart.amount as mart_amount, source.amount as source_amount
from mart cross join source
where abs(mart.amount - source.amount) > 0.01
{%- endif %}
