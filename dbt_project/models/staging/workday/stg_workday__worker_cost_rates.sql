{#- One row per Cost_Rates entry of a worker: the hourly cost rate effective from Effective_Date. -#}
select
    w.source_id as worker_id,
    (r.value ->> 'Effective_Date')::date as effective_date,
    {{ to_numeric("r.value ->> 'Hourly_Cost_Rate'") }} as hourly_cost_rate,
    coalesce(r.value ->> 'Currency', w.payload ->> 'Currency') as currency,
    w.loaded_at as _loaded_at
from {{ source('raw_workday', 'workers') }} as w
cross join lateral jsonb_array_elements(
    case when jsonb_typeof(w.payload -> 'Cost_Rates') = 'array' then w.payload -> 'Cost_Rates'
         when jsonb_typeof(w.payload -> 'Cost_Rates') = 'object' then jsonb_build_array(w.payload -> 'Cost_Rates')
         else '[]'::jsonb end
) as r(value)
where not w.is_deleted
