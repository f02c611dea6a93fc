{#- Time bills (written by the reverse sync). customer = job id. -#}
select
    source_id as timebill_id,
    payload ->> 'employee' as employee_id,
    payload ->> 'customer' as job_id,
    payload ->> 'subsidiary' as subsidiary_id,
    payload ->> 'item' as item_id,
    {{ ns_date("payload ->> 'trandate'") }} as tran_date,
    {{ to_numeric("payload ->> 'hours'") }} as hours,
    {{ ns_bool("payload ->> 'isbillable'") }} as is_billable,
    nullif(payload ->> 'externalid', '') as external_id,
    payload ->> 'memo' as memo,
    {{ ns_timestamp("payload ->> 'lastmodified'") }} as last_modified_at,
    loaded_at as _loaded_at
from {{ optional_source('raw_netsuite', 'timebill') }} as src
where not is_deleted
