{#- Salesforce users are deactivated (is_active), never deleted. -#}
select
    source_id as user_id,
    payload ->> 'Name' as full_name,
    payload ->> 'Username' as username,
    payload ->> 'Email' as email,
    (payload ->> 'IsActive')::boolean as is_active,
    payload ->> 'Title' as title,
    (payload ->> 'CreatedDate')::timestamptz as created_at,
    (payload ->> 'LastModifiedDate')::timestamptz as last_modified_at,
    source_modified_at as system_modstamp,
    loaded_at as _loaded_at
from {{ source('raw_salesforce', 'User') }}
where not is_deleted
