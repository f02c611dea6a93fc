{#- Effective-dated hourly cost rates of each resource (Workday Cost_Rates): in effect from
    effective_from until effective_to (exclusive; null = still in effect). Two rows for one date: the
    later one in the report wins. Per-person cost: never in canonical, never granted to analysts. -#}
with rates as (
    select
        worker_id,
        effective_date,
        hourly_cost_rate,
        currency,
        row_number() over (partition by worker_id, effective_date order by hourly_cost_rate desc) as dup
    from {{ ref('stg_workday__worker_cost_rates') }}
    where effective_date is not null
)

select
    worker_id::text as resource_id,
    effective_date::date as effective_from,
    lead(effective_date) over (partition by worker_id order by effective_date)::date as effective_to,
    hourly_cost_rate::numeric(18, 4) as hourly_cost_rate,
    currency::text as currency
from rates
where dup = 1
