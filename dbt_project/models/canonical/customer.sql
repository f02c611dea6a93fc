{#- One row per resolved customer (int_customer_crosswalk). System of record: Salesforce when an
    account is part of it, else HubSpot, else NetSuite; its name/domain/country/currency win,
    the other systems fill gaps. match_rule: the rules that joined the other systems' records,
    comma-separated ('single_source' when only one record). -#}
with xwalk as (
    select * from {{ ref('int_customer_crosswalk') }}
),

members as (
    select
        customer_id,
        min(source_id) filter (where system = 'salesforce') as salesforce_account_id,
        -- the HubSpot company: the customer itself (HS-), or the duplicate merged into the account (SF-)
        min(source_id) filter (where system = 'hubspot') as hubspot_company_id,
        -- the NetSuite customer whose externalid names the system of record first
        (array_agg(source_id order by (match_rule = 'external_id') desc, source_id)
            filter (where system = 'netsuite'))[1] as netsuite_customer_id,
        coalesce(string_agg(distinct match_rule, ',' order by match_rule)
                     filter (where match_rule not in ('salesforce_account', 'hubspot_company', 'netsuite_customer')),
                 'single_source') as match_rule
    from xwalk
    group by customer_id
)

select
    m.customer_id::text as customer_id,
    coalesce(a.account_name, c.company_name, n.customer_name)::text as customer_name,
    coalesce(a.domain, c.domain)::text as domain,
    coalesce({{ country_code('a.billing_country') }}, {{ country_code('c.country') }}, s.country)::text as country,
    coalesce(a.currency, c.currency, n.currency)::text as currency,
    m.salesforce_account_id::text as salesforce_account_id,
    m.hubspot_company_id::text as hubspot_company_id,
    m.netsuite_customer_id::text as netsuite_customer_id,
    n.subsidiary_id::text as netsuite_subsidiary_id,
    m.match_rule::text as match_rule,
    (case when a.account_id is not null then 'salesforce' when c.company_id is not null then 'hubspot'
          else 'netsuite' end)::text as system_of_record,
    jsonb_strip_nulls(jsonb_build_object(
        'salesforce', m.salesforce_account_id, 'hubspot', m.hubspot_company_id,
        'netsuite', m.netsuite_customer_id)) as source_ids
from members as m
left join {{ ref('stg_salesforce__accounts') }} as a on a.account_id = m.salesforce_account_id
left join {{ ref('stg_hubspot__companies') }} as c on c.company_id = m.hubspot_company_id
left join {{ ref('stg_netsuite__customers') }} as n on n.customer_id = m.netsuite_customer_id
left join {{ ref('stg_netsuite__subsidiaries') }} as s on s.subsidiary_id = n.subsidiary_id
