{#- NetSuite customer payments. invoice_id from the payment's application (NextTransactionLineLink;
    the first applied invoice when several), else from the memo 'Payment for INV<n>'. -#}
with applied as (
    select payment_id, min(invoice_id) as invoice_id
    from {{ ref('stg_netsuite__payment_applications') }}
    group by payment_id
)

select
    y.payment_id::text as payment_id,
    x.customer_id::text as customer_id,
    p.project_id::text as project_id,
    coalesce(a.invoice_id, i.invoice_id)::text as invoice_id,
    y.payment_date::date as payment_date,
    y.currency::text as currency,
    y.amount::numeric(18, 2) as amount,
    y.payment_number::text as payment_number,
    y.job_id::text as netsuite_job_id,
    j.customer_id::text as netsuite_customer_id,
    'netsuite'::text as system_of_record,
    jsonb_build_object('netsuite', y.payment_id) as source_ids
from {{ ref('stg_netsuite__customer_payments') }} as y
left join applied as a on a.payment_id = y.payment_id
left join {{ ref('stg_netsuite__invoices') }} as i
    on a.invoice_id is null and y.memo = 'Payment for ' || i.invoice_number
left join {{ ref('stg_netsuite__jobs') }} as j on j.job_id = y.job_id
left join {{ ref('int_customer_crosswalk') }} as x on x.system = 'netsuite' and x.source_id = j.customer_id
left join {{ ref('int_project_crosswalk') }} as p on p.netsuite_job_id = y.job_id
