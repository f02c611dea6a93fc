{#- Jobs (projects). externalid KANTATA-<workspace id>; entitystatus 'Closed' blocks time posting. -#}
select
    j.source_id as job_id,
    j.payload ->> 'entityid' as entity_id,
    j.payload ->> 'companyname' as job_name,
    nullif(j.payload ->> 'externalid', '') as external_id,
    j.payload ->> 'customer' as customer_id,
    j.payload ->> 'parent' as parent_id,
    j.payload ->> 'subsidiary' as subsidiary_id,
    j.payload ->> 'currency' as currency_id,
    c.currency_code as currency,
    j.payload ->> 'entitystatus' as entity_status,
    j.payload ->> 'custentity_handoff_service_item' as service_item_id,
    {{ ns_bool("j.payload ->> 'isinactive'") }} as is_inactive,
    {{ ns_date("j.payload ->> 'startdate'") }} as start_date,
    {{ ns_date("j.payload ->> 'projectedenddate'") }} as projected_end_date,
    {{ ns_date("j.payload ->> 'datecreated'") }} as created_date,
    {{ ns_timestamp("j.payload ->> 'lastmodified'") }} as last_modified_at,
    j.loaded_at as _loaded_at
from {{ source('raw_netsuite', 'job') }} as j
left join {{ ref('stg_netsuite__currencies') }} as c on c.currency_id = j.payload ->> 'currency'
where not j.is_deleted
