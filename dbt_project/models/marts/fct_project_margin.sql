-- Margin per project, in the project's currency and in the reporting currency (USD).
-- Revenue by contract type:
--   time_and_materials  approved billable hours x bill rate (time_entry.billable_amount)
--   fixed_fee/milestone completed billing milestones' amounts (billing_event)
-- Both components are shown for every project; `revenue` is the one the contract type earns.
-- Cost: approved hours (billable and not) x the person's cost rate in effect on the entry's date
-- (restricted.time_entry_cost), aggregated per project: no per-person figure leaves this model.
-- Time and cost come per project and day from int_project_time_daily (incremental), so this table
-- aggregates a few hundred thousand rows, not every time entry.
-- Hours dated before the person's first cost rate carry no cost: hours_without_cost_rate shows them.
-- Conversion: each day's amounts at the NetSuite rate in effect that day (macro fx_rate_join);
-- cost in another currency than the project's converts through USD on the entry's date.
-- revenue_fx_rate = revenue_usd / revenue (the effective rate), fx rate dates give the range used.
with projects as (
    select * from {{ ref('project') }}
),

daily as (
    -- approved time per project, work date, currency and cost currency (incremental, macros/delta.sql)
    select * from {{ ref('int_project_time_daily') }}
),

tm_daily as (
    select
        project_id, on_date, currency,
        sum(approved_hours) as hours,
        sum(billable_hours) as billable_hours,
        sum(billable_amount) as billable_amount
    from daily
    group by 1, 2, 3
),

tm as (
    select
        d.project_id,
        sum(d.hours) as approved_hours,
        coalesce(sum(d.billable_hours), 0) as billable_hours,
        sum(d.billable_amount) as tm_revenue,
        sum({{ to_reporting('d.billable_amount', 'fx') }}) as tm_revenue_usd,
        min(fx.rate_date) as first_rate_date,
        max(fx.rate_date) as last_rate_date
    from tm_daily as d
    {{ fx_rate_join('d.currency', 'd.on_date', 'fx') }}
    group by 1
),

milestones_daily as (
    select project_id, event_date as on_date, currency, sum(amount) as amount, count(*) as events
    from {{ ref('billing_event') }}
    where project_id is not null
    group by 1, 2, 3
),

milestones as (
    select
        d.project_id,
        sum(d.events) as completed_milestones,
        sum(d.amount) as milestone_revenue,
        sum({{ to_reporting('d.amount', 'fx') }}) as milestone_revenue_usd,
        min(fx.rate_date) as first_rate_date,
        max(fx.rate_date) as last_rate_date
    from milestones_daily as d
    {{ fx_rate_join('d.currency', 'd.on_date', 'fx') }}
    group by 1
),

cost_daily as (
    select d.project_id, d.on_date, d.cost_currency as currency, p.currency as project_currency,
           sum(d.cost_amount) as cost_amount,
           sum(d.hours_without_cost_rate) as hours_without_cost_rate
    from daily as d
    inner join projects as p on p.project_id = d.project_id
    group by 1, 2, 3, 4
),

cost as (
    select
        d.project_id,
        sum({{ to_reporting('d.cost_amount', 'fx') }}) as cost_usd,
        sum(case when d.currency = d.project_currency then d.cost_amount
                 else round(d.cost_amount * fx.rate / nullif(fxp.rate, 0), 2) end) as cost_amount,
        sum(d.hours_without_cost_rate) as hours_without_cost_rate
    from cost_daily as d
    {{ fx_rate_join('d.currency', 'd.on_date', 'fx') }}
    {{ fx_rate_join('d.project_currency', 'd.on_date', 'fxp') }}
    group by 1
),

joined as (
    select
        p.project_id,
        p.project_name,
        p.customer_id,
        p.engagement_id,
        p.kantata_workspace_id,
        p.netsuite_job_id,
        p.status,
        p.contract_type,
        p.currency,
        coalesce(tm.approved_hours, 0) as approved_hours,
        coalesce(tm.billable_hours, 0) as billable_hours,
        coalesce(tm.tm_revenue, 0) as tm_revenue,
        coalesce(tm.tm_revenue_usd, 0) as tm_revenue_usd,
        coalesce(ms.completed_milestones, 0) as completed_milestones,
        coalesce(ms.milestone_revenue, 0) as milestone_revenue,
        coalesce(ms.milestone_revenue_usd, 0) as milestone_revenue_usd,
        case when p.contract_type = 'time_and_materials' then coalesce(tm.tm_revenue, 0)
             else coalesce(ms.milestone_revenue, 0) end as revenue,
        case when p.contract_type = 'time_and_materials' then coalesce(tm.tm_revenue_usd, 0)
             else coalesce(ms.milestone_revenue_usd, 0) end as revenue_usd,
        coalesce(c.cost_amount, 0) as cost_amount,
        coalesce(c.cost_usd, 0) as cost_usd,
        coalesce(c.hours_without_cost_rate, 0) as hours_without_cost_rate,
        case when p.contract_type = 'time_and_materials' then tm.first_rate_date else ms.first_rate_date end
            as fx_rate_date_from,
        case when p.contract_type = 'time_and_materials' then tm.last_rate_date else ms.last_rate_date end
            as fx_rate_date_to
    from projects as p
    left join tm on tm.project_id = p.project_id
    left join milestones as ms on ms.project_id = p.project_id
    left join cost as c on c.project_id = p.project_id
)

select
    project_id,
    project_name,
    customer_id,
    engagement_id,
    kantata_workspace_id,
    netsuite_job_id,
    status,
    contract_type,
    currency,
    approved_hours::numeric(12, 2) as approved_hours,
    billable_hours::numeric(12, 2) as billable_hours,
    tm_revenue::numeric(18, 2) as tm_revenue,
    completed_milestones::int as completed_milestones,
    milestone_revenue::numeric(18, 2) as milestone_revenue,
    revenue::numeric(18, 2) as revenue,
    cost_amount::numeric(18, 2) as cost_amount,
    hours_without_cost_rate::numeric(12, 2) as hours_without_cost_rate,
    (revenue - cost_amount)::numeric(18, 2) as margin,
    round((revenue - cost_amount) / nullif(revenue, 0), 4)::numeric(8, 4) as margin_pct,
    '{{ var("reporting_currency") }}'::text as reporting_currency,
    tm_revenue_usd::numeric(18, 2) as tm_revenue_usd,
    milestone_revenue_usd::numeric(18, 2) as milestone_revenue_usd,
    revenue_usd::numeric(18, 2) as revenue_usd,
    cost_usd::numeric(18, 2) as cost_usd,
    (revenue_usd - cost_usd)::numeric(18, 2) as margin_usd,
    round((revenue_usd - cost_usd) / nullif(revenue_usd, 0), 4)::numeric(8, 4) as margin_pct_usd,
    round(revenue_usd / nullif(revenue, 0), 6)::numeric(18, 6) as revenue_fx_rate,
    fx_rate_date_from,
    fx_rate_date_to
from joined
