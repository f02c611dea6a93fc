select
    source_id as user_id,
    payload ->> 'full_name' as full_name,
    payload ->> 'email_address' as email,
    payload ->> 'headline' as headline,
    payload ->> 'classification' as classification,
    payload ->> 'role_id' as role_id,
    payload ->> 'manager_id' as manager_user_id,
    payload ->> 'city' as city,
    payload ->> 'country' as country,
    payload -> 'external_reference_ids' as external_reference_ids,
    (payload ->> 'created_at')::timestamptz as created_at,
    (payload ->> 'updated_at')::timestamptz as updated_at,
    loaded_at as _loaded_at
from {{ source('raw_kantata', 'users') }}
where not is_deleted
