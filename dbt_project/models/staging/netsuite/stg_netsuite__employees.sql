{#- externalid = Workday Worker_ID. laborcost is a per-person cost: never leaves restricted/intermediate. -#}
select
    source_id as employee_id,
    payload ->> 'entityid' as entity_id,
    payload ->> 'firstname' as first_name,
    payload ->> 'lastname' as last_name,
    payload ->> 'email' as email,
    nullif(payload ->> 'externalid', '') as external_id,
    payload ->> 'subsidiary' as subsidiary_id,
    {{ to_numeric("payload ->> 'laborcost'") }} as labor_cost,
    {{ ns_bool("payload ->> 'isinactive'") }} as is_inactive,
    {{ ns_date("payload ->> 'hiredate'") }} as hire_date,
    {{ ns_date("payload ->> 'releasedate'") }} as release_date,
    {{ ns_date("payload ->> 'datecreated'") }} as created_date,
    {{ ns_timestamp("payload ->> 'lastmodified'") }} as last_modified_at,
    loaded_at as _loaded_at
from {{ source('raw_netsuite', 'employee') }}
where not is_deleted
