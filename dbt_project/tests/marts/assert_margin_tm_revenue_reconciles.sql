-- T&M revenue in fct_project_margin adds up to the approved billable amounts of canonical time entries.
with mart as (
    select coalesce(sum(tm_revenue), 0) as amount from {{ ref('fct_project_margin') }}
),

source as (
    select coalesce(sum(t.billable_amount), 0) as amount
    from {{ ref('time_entry') }} as t
    inner join {{ ref('project') }} as p on p.project_id = t.project_id
    where t.is_approved and t.is_billable
)

select mart.amount as mart_amount, source.amount as source_amount
from mart cross join source
where abs(mart.amount - source.amount) > 0.01
