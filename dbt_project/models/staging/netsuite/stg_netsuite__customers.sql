{#- externalid: SF-<Salesforce Account Id> or HS-<HubSpot company id> (int_customer_crosswalk). -#}
select
    n.source_id as customer_id,
    n.payload ->> 'entityid' as entity_id,
    n.payload ->> 'companyname' as customer_name,
    nullif(n.payload ->> 'externalid', '') as external_id,
    n.payload ->> 'subsidiary' as subsidiary_id,
    n.payload ->> 'currency' as currency_id,
    c.currency_code as currency,
    {{ ns_bool("n.payload ->> 'isinactive'") }} as is_inactive,
    {{ ns_date("n.payload ->> 'datecreated'") }} as created_date,
    {{ ns_timestamp("n.payload ->> 'lastmodified'") }} as last_modified_at,
    n.loaded_at as _loaded_at
from {{ source('raw_netsuite', 'customer') }} as n
left join {{ ref('stg_netsuite__currencies') }} as c on c.currency_id = n.payload ->> 'currency'
where not n.is_deleted
