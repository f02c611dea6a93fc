select
    s.source_id as subsidiary_id,
    s.payload ->> 'name' as subsidiary_name,
    s.payload ->> 'country' as country,
    s.payload ->> 'currency' as currency_id,
    c.currency_code as currency,
    {{ ns_bool("s.payload ->> 'isinactive'") }} as is_inactive,
    {{ ns_bool("s.payload ->> 'iselimination'") }} as is_elimination,
    {{ ns_timestamp("s.payload ->> 'lastmodified'") }} as last_modified_at,
    s.loaded_at as _loaded_at
from {{ source('raw_netsuite', 'subsidiary') }} as s
left join {{ ref('stg_netsuite__currencies') }} as c on c.currency_id = s.payload ->> 'currency'
where not s.is_deleted
