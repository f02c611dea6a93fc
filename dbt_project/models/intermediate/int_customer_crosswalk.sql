{#- One row per customer record in any system → its canonical customer_id, with the rule that
    matched. Rules, in order (the first that decides wins):
      Salesforce account   anchor: customer_id = 'SF-<Account Id>'                 rule 'salesforce_account'
      HubSpot company      1. same normalized domain as exactly one account          'domain'
                           2. same normalized company name as exactly one account    'normalized_name'
                           (2+ accounts → ambiguous: kept as its own customer, listed in int_identity_exceptions)
                           otherwise its own customer 'HS-<id>'                      'hubspot_company'
      NetSuite customer    1. externalid 'SF-<Id>' / 'HS-<id>' naming a live record   'external_id'
                           2. same normalized name as exactly one CRM customer         'normalized_name'
                           otherwise its own customer 'NS-<id>' (unmatched/ambiguous → exceptions)
    Normalizations: macros/identity.sql. -#}
{#- A table, not a view: read in every cycle by the models downstream of the time entries (and the
    exceptions mart), rebuilt only when its own sources change. -#}
{{ config(materialized='table', post_hook=["create index on {{ this }} (system, source_id)", "analyze {{ this }}"]) }}
with accounts as (
    select account_id, account_name, domain, {{ normalize_company_name('account_name') }} as name_key
    from {{ ref('stg_salesforce__accounts') }}
),

companies as (
    select company_id, company_name, domain, {{ normalize_company_name('company_name') }} as name_key
    from {{ ref('stg_hubspot__companies') }}
),

company_domain_candidates as (
    select c.company_id, a.account_id
    from companies as c
    join accounts as a on a.domain = c.domain
    where c.domain is not null
),

company_name_candidates as (
    select c.company_id, a.account_id
    from companies as c
    join accounts as a on a.name_key = c.name_key
    where c.name_key is not null
),

company_match as (
    select
        c.company_id,
        d.n as domain_n, d.account_id as domain_account_id,
        n.n as name_n, n.account_id as name_account_id,
        coalesce(d.candidates, n.candidates) as candidates
    from companies as c
    left join (select company_id, count(*) as n, min(account_id) as account_id,
                      jsonb_agg(account_id order by account_id) as candidates
               from company_domain_candidates group by company_id) as d using (company_id)
    left join (select company_id, count(*) as n, min(account_id) as account_id,
                      jsonb_agg(account_id order by account_id) as candidates
               from company_name_candidates group by company_id) as n using (company_id)
),

crm as (
    select
        'salesforce' as system, account_id as source_id, 'SF-' || account_id as customer_id,
        'salesforce_account' as match_rule, null::text as exception_reason, null::jsonb as candidates,
        name_key
    from accounts
    union all
    select
        'hubspot',
        m.company_id,
        case when m.domain_n = 1 then 'SF-' || m.domain_account_id
             when m.domain_n is null and m.name_n = 1 then 'SF-' || m.name_account_id
             else 'HS-' || m.company_id end,
        case when m.domain_n = 1 then 'domain'
             when m.domain_n is null and m.name_n = 1 then 'normalized_name'
             else 'hubspot_company' end,
        case when m.domain_n > 1 or (m.domain_n is null and m.name_n > 1) then 'ambiguous' end,
        case when m.domain_n > 1 or (m.domain_n is null and m.name_n > 1) then m.candidates end,
        c.name_key
    from company_match as m
    join companies as c using (company_id)
),

crm_customers as (
    -- one name per CRM customer: the customer's own record (SF account, or unmerged HubSpot company)
    select customer_id, name_key from crm where customer_id = case system when 'salesforce' then 'SF-' else 'HS-' end || source_id
),

netsuite as (
    select
        n.customer_id as netsuite_customer_id,
        n.external_id,
        {{ normalize_company_name('n.customer_name') }} as name_key,
        ext.customer_id as external_customer_id
    from {{ ref('stg_netsuite__customers') }} as n
    left join crm as ext
        on (ext.system = 'salesforce' and n.external_id = 'SF-' || ext.source_id)
        or (ext.system = 'hubspot' and n.external_id = 'HS-' || ext.source_id)
),

netsuite_name_candidates as (
    select n.netsuite_customer_id, count(*) as n, min(c.customer_id) as customer_id,
           jsonb_agg(c.customer_id order by c.customer_id) as candidates
    from netsuite as n
    join crm_customers as c on c.name_key = n.name_key
    where n.external_customer_id is null and n.name_key is not null
    group by n.netsuite_customer_id
)

select system, source_id, customer_id, match_rule, exception_reason, candidates
from crm
union all
select
    'netsuite',
    n.netsuite_customer_id,
    case when n.external_customer_id is not null then n.external_customer_id
         when c.n = 1 then c.customer_id
         else 'NS-' || n.netsuite_customer_id end,
    case when n.external_customer_id is not null then 'external_id'
         when c.n = 1 then 'normalized_name'
         else 'netsuite_customer' end,
    case when n.external_customer_id is not null or c.n = 1 then null
         when c.n > 1 then 'ambiguous' else 'unmatched' end,
    case when c.n > 1 then c.candidates end
from netsuite as n
left join netsuite_name_candidates as c using (netsuite_customer_id)
