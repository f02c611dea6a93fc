{#- company_id: the deal's associated company (`associations.companies`, v3 list shape), null when
    the extract did not ask for associations (int_customer_crosswalk then falls back to the project's
    NetSuite customer). -#}
select
    source_id as deal_id,
    coalesce(
        payload -> 'associations' -> 'companies' -> 'results' -> 0 ->> 'id',
        payload -> 'properties' ->> 'associatedcompanyid'
    ) as company_id,
    payload -> 'properties' ->> 'dealname' as deal_name,
    payload -> 'properties' ->> 'dealstage' as stage,
    payload -> 'properties' ->> 'pipeline' as pipeline,
    {{ to_numeric("payload -> 'properties' ->> 'amount'") }} as amount,
    payload -> 'properties' ->> 'deal_currency_code' as currency,
    (payload -> 'properties' ->> 'closedate')::timestamptz as closed_at,
    (payload -> 'properties' ->> 'closedate')::timestamptz::date as close_date,
    payload -> 'properties' ->> 'dealstage' in ('closedwon', 'closedlost') as is_closed,
    coalesce({{ to_bool("payload -> 'properties' ->> 'hs_is_closed_won'") }},
             payload -> 'properties' ->> 'dealstage' = 'closedwon') as is_won,
    (payload -> 'properties' ->> 'createdate')::timestamptz as created_at,
    source_modified_at as last_modified_at,
    loaded_at as _loaded_at
from {{ source('raw_hubspot', 'deals') }}
where not is_deleted
