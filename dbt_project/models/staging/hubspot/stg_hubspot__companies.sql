select
    source_id as company_id,
    payload -> 'properties' ->> 'name' as company_name,
    payload -> 'properties' ->> 'domain' as website,
    {{ normalize_domain("payload -> 'properties' ->> 'domain'") }} as domain,
    payload -> 'properties' ->> 'industry' as industry,
    payload -> 'properties' ->> 'country' as country,
    payload -> 'properties' ->> 'city' as city,
    payload -> 'properties' ->> 'hs_currency' as currency,
    (payload -> 'properties' ->> 'createdate')::timestamptz as created_at,
    source_modified_at as last_modified_at,
    loaded_at as _loaded_at
from {{ source('raw_hubspot', 'companies') }}
where not is_deleted
