-- Quote-to-cash stage durations (days) over the engagements that reached both ends of the stage:
-- count, p50 and p90 (continuous percentiles), mean, min, max.
with q as (
    select * from {{ ref('fct_quote_to_cash') }}
),

durations as (
    select 1 as stage_order, 'won_to_project' as stage, days_won_to_project as days from q
    union all select 2, 'project_to_first_time', days_project_to_first_time from q
    union all select 3, 'first_time_to_first_invoice', days_first_time_to_first_invoice from q
    union all select 4, 'first_invoice_to_first_payment', days_first_invoice_to_first_payment from q
    union all select 5, 'first_invoice_to_paid', days_first_invoice_to_paid from q
    union all select 6, 'won_to_first_payment', days_won_to_first_payment from q
),

stages as (
    select 1 as stage_order, 'won_to_project' as stage
    union all select 2, 'project_to_first_time'
    union all select 3, 'first_time_to_first_invoice'
    union all select 4, 'first_invoice_to_first_payment'
    union all select 5, 'first_invoice_to_paid'
    union all select 6, 'won_to_first_payment'
)

select
    s.stage,
    s.stage_order,
    count(d.days) as engagements,
    round(percentile_cont(0.5) within group (order by d.days)::numeric, 1) as p50_days,
    round(percentile_cont(0.9) within group (order by d.days)::numeric, 1) as p90_days,
    round(avg(d.days), 1) as mean_days,
    min(d.days) as min_days,
    max(d.days) as max_days
from stages as s
left join durations as d on d.stage = s.stage and d.days is not null
group by s.stage, s.stage_order
