-- depends_on: {{ ref('int_project_time_daily') }}
-- Unbilled WIP per project is never negative and never more than its approved billable time plus
-- completed milestones.
-- In an incremental build the approved billable time comes per project and day (macros/delta_tests.sql).
with wip as (
    select project_id, sum(unbilled_amount) as unbilled from {{ ref('fct_unbilled_wip') }} group by 1
),

time_ as (
    {%- if delta_test_keys(['time_entry', 'int_project_time_daily']) %}
    -- incremental build: the approved billable amounts per project and day (int_project_time_daily,
    -- checked against the rewritten time entries by assert_margin_tm_revenue_reconciles)
    select project_id, sum(billable_amount) as amount
    from {{ ref('int_project_time_daily') }}
    group by 1
    {%- else %}
    select project_id, sum(billable_amount) as amount
    from {{ ref('time_entry') }}
    where is_approved and is_billable
    group by 1
    {%- endif %}
),

milestones as (
    select project_id, sum(amount) as amount from {{ ref('billing_event') }} group by 1
)

select w.project_id, w.unbilled, coalesce(t.amount, 0) + coalesce(m.amount, 0) as ceiling
from wip as w
left join time_ as t on t.project_id = w.project_id
left join milestones as m on m.project_id = w.project_id
where w.unbilled < 0 or w.unbilled > coalesce(t.amount, 0) + coalesce(m.amount, 0) + 0.01
