select
    source_id as organization_id,
    payload ->> 'Organization_Code' as organization_code,
    payload ->> 'Organization_Name' as organization_name,
    payload ->> 'Organization_Type' as organization_type,
    payload ->> 'Currency' as currency,
    loaded_at as _loaded_at
from {{ source('raw_workday', 'organizations') }}
where not is_deleted
