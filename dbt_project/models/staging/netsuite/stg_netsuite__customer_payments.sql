{#- Customer payments (transaction type CustPymt). entity is the JOB id. -#}
select
    t.source_id as payment_id,
    t.payload ->> 'tranid' as payment_number,
    t.payload ->> 'entity' as job_id,
    t.payload ->> 'subsidiary' as subsidiary_id,
    t.payload ->> 'currency' as currency_id,
    c.currency_code as currency,
    {{ ns_date("t.payload ->> 'trandate'") }} as payment_date,
    {{ to_numeric("t.payload ->> 'foreigntotal'") }} as amount,
    t.payload ->> 'status' as status_code,
    t.payload ->> 'memo' as memo,
    {{ ns_date("t.payload ->> 'createddate'") }} as created_date,
    {{ ns_timestamp("t.payload ->> 'lastmodified'") }} as last_modified_at,
    t.loaded_at as _loaded_at
from {{ source('raw_netsuite', 'customer_payment') }} as t
left join {{ ref('stg_netsuite__currencies') }} as c on c.currency_id = t.payload ->> 'currency'
where not t.is_deleted
