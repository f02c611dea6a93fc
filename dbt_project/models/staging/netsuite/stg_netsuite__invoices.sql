{#- Invoices (transaction type CustInvc). entity is the JOB id, not the customer. status 'A' open,
    'B' paid in full. -#}
select
    t.source_id as invoice_id,
    t.payload ->> 'tranid' as invoice_number,
    t.payload ->> 'entity' as job_id,
    t.payload ->> 'subsidiary' as subsidiary_id,
    t.payload ->> 'currency' as currency_id,
    c.currency_code as currency,
    {{ ns_date("t.payload ->> 'trandate'") }} as invoice_date,
    {{ ns_date("t.payload ->> 'duedate'") }} as due_date,
    {{ ns_date("t.payload ->> 'closedate'") }} as closed_date,
    {{ to_numeric("t.payload ->> 'foreigntotal'") }} as amount,
    {{ to_numeric("t.payload ->> 'foreignamountremaining'") }} as amount_remaining,
    t.payload ->> 'status' as status_code,
    case t.payload ->> 'status' when 'A' then 'open' when 'B' then 'paid' when 'V' then 'voided'
        else lower(t.payload ->> 'status') end as status,
    t.payload ->> 'memo' as memo,
    nullif(t.payload ->> 'externalid', '') as external_id,
    {{ ns_date("t.payload ->> 'createddate'") }} as created_date,
    {{ ns_timestamp("t.payload ->> 'lastmodified'") }} as last_modified_at,
    t.loaded_at as _loaded_at
from {{ source('raw_netsuite', 'invoice') }} as t
left join {{ ref('stg_netsuite__currencies') }} as c on c.currency_id = t.payload ->> 'currency'
where not t.is_deleted
