{#- Billing events the reverse sync posted (customrecord_handoff_billing_event). -#}
select
    source_id as netsuite_billing_event_id,
    payload ->> 'name' as billing_event_name,
    nullif(payload ->> 'externalid', '') as external_id,
    payload ->> 'custrecord_hbe_job' as job_id,
    payload ->> 'custrecord_hbe_milestone' as story_id,
    {{ to_numeric("payload ->> 'custrecord_hbe_amount'") }} as amount,
    payload ->> 'custrecord_hbe_currency' as currency,
    {{ ns_date("payload ->> 'custrecord_hbe_date'") }} as event_date,
    {{ ns_bool("payload ->> 'isinactive'") }} as is_inactive,
    {{ ns_timestamp("payload ->> 'lastmodified'") }} as last_modified_at,
    loaded_at as _loaded_at
from {{ optional_source('raw_netsuite', 'billing_event') }} as src
where not is_deleted
