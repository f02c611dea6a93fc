{#- NetSuite invoices. The invoice's entity is its job: project via int_project_crosswalk, customer
    via the job's NetSuite customer (int_customer_crosswalk). amount_remaining: NetSuite's
    foreignamountremaining (0 once paid in full when the field is absent). -#}
select
    i.invoice_id::text as invoice_id,
    i.invoice_number::text as invoice_number,
    x.customer_id::text as customer_id,
    p.project_id::text as project_id,
    i.subsidiary_id::text as netsuite_subsidiary_id,
    i.invoice_date::date as invoice_date,
    i.due_date::date as due_date,
    i.currency::text as currency,
    i.amount::numeric(18, 2) as amount,
    coalesce(i.amount_remaining, case when i.status = 'paid' then 0 else i.amount end)::numeric(18, 2)
        as amount_remaining,
    i.status::text as status,
    i.closed_date::date as closed_date,
    i.job_id::text as netsuite_job_id,
    j.customer_id::text as netsuite_customer_id,
    'netsuite'::text as system_of_record,
    jsonb_build_object('netsuite', i.invoice_id) as source_ids
from {{ ref('stg_netsuite__invoices') }} as i
left join {{ ref('stg_netsuite__jobs') }} as j on j.job_id = i.job_id
left join {{ ref('int_customer_crosswalk') }} as x on x.system = 'netsuite' and x.source_id = j.customer_id
left join {{ ref('int_project_crosswalk') }} as p on p.netsuite_job_id = i.job_id
