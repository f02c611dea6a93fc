-- Every hour logged by a known resource lands in exactly one resource-week of fct_utilization_weekly.
with mart as (
    select coalesce(sum(total_hours), 0) as hours from {{ ref('fct_utilization_weekly') }}
),

source as (
    select coalesce(sum(hours), 0) as hours from {{ ref('time_entry') }} where resource_id is not null
)

select mart.hours as mart_hours, source.hours as source_hours
from mart cross join source
where mart.hours <> source.hours
