select
    source_id as contact_id,
    nullif(payload -> 'properties' ->> 'associatedcompanyid', '') as company_id,
    payload -> 'properties' ->> 'firstname' as first_name,
    payload -> 'properties' ->> 'lastname' as last_name,
    payload -> 'properties' ->> 'email' as email,
    payload -> 'properties' ->> 'jobtitle' as title,
    (payload -> 'properties' ->> 'createdate')::timestamptz as created_at,
    source_modified_at as last_modified_at,
    loaded_at as _loaded_at
from {{ source('raw_hubspot', 'contacts') }}
where not is_deleted
