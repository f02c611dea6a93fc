-- Weekly utilization per practice: sums of fct_utilization_weekly (utilization = billable hours /
-- capacity hours of the practice's people that week, not an average of personal ratios).
select
    coalesce(practice, '(none)') || ':' || to_char(week_start, 'YYYY-MM-DD') as practice_week_id,
    coalesce(practice, '(none)') as practice,
    week_start,
    min(week_end) as week_end,
    min(iso_year) as iso_year,
    min(iso_week) as iso_week,
    count(*) filter (where capacity_hours > 0) as headcount,
    sum(billable_hours)::numeric(12, 2) as billable_hours,
    sum(non_billable_hours)::numeric(12, 2) as non_billable_hours,
    sum(capacity_hours)::numeric(12, 2) as capacity_hours,
    round(sum(billable_hours) / nullif(sum(capacity_hours), 0), 4)::numeric(8, 4) as utilization
from {{ ref('fct_utilization_weekly') }}
group by 1, 2, 3
