{#- Contacts of both CRMs, each under its own id ('SF-<Contact Id>' / 'HS-<contact id>'), with the
    customer of its account / company. -#}
select
    ('SF-' || c.contact_id)::text as contact_id,
    x.customer_id::text as customer_id,
    c.first_name::text as first_name,
    c.last_name::text as last_name,
    c.email::text as email,
    c.title::text as title,
    c.contact_id::text as salesforce_contact_id,
    null::text as hubspot_contact_id,
    'salesforce'::text as system_of_record,
    jsonb_build_object('salesforce', c.contact_id) as source_ids
from {{ ref('stg_salesforce__contacts') }} as c
left join {{ ref('int_customer_crosswalk') }} as x on x.system = 'salesforce' and x.source_id = c.account_id
union all
select
    'HS-' || c.contact_id,
    x.customer_id,
    c.first_name,
    c.last_name,
    c.email,
    c.title,
    null,
    c.contact_id,
    'hubspot',
    jsonb_build_object('hubspot', c.contact_id)
from {{ ref('stg_hubspot__contacts') }} as c
left join {{ ref('int_customer_crosswalk') }} as x on x.system = 'hubspot' and x.source_id = c.company_id
