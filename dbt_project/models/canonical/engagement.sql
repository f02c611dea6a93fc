{#- Salesforce opportunities ('SF-<Id>') and HubSpot deals ('HS-<id>'). customer_id: the account's /
    associated company's customer; for a deal without a company association, the customer of the
    NetSuite job of its project. closed_won_at: the last modification of a won record, capped at
    the end of its close date (neither CRM exposes the stage-change time in these feeds). -#}
with project_customer as (
    select p.engagement_id, min(x.customer_id) as customer_id
    from {{ ref('int_project_crosswalk') }} as p
    join {{ ref('stg_netsuite__jobs') }} as j on j.job_id = p.netsuite_job_id
    join {{ ref('int_customer_crosswalk') }} as x on x.system = 'netsuite' and x.source_id = j.customer_id
    where p.engagement_id is not null
    group by p.engagement_id
)

select
    ('SF-' || o.opportunity_id)::text as engagement_id,
    coalesce(x.customer_id, pc.customer_id)::text as customer_id,
    o.opportunity_name::text as engagement_name,
    o.stage::text as stage,
    coalesce(o.is_closed, false) as is_closed,
    coalesce(o.is_won, false) as is_won,
    o.close_date::date as close_date,
    (case when o.is_won then least(o.last_modified_at, (o.close_date + 1)::timestamp at time zone 'UTC') end)::timestamptz
        as closed_won_at,
    o.amount::numeric(18, 2) as amount,
    o.currency::text as currency,
    o.created_at::timestamptz as created_at,
    o.opportunity_id::text as salesforce_opportunity_id,
    null::text as hubspot_deal_id,
    'salesforce'::text as system_of_record,
    jsonb_build_object('salesforce', o.opportunity_id) as source_ids
from {{ ref('stg_salesforce__opportunities') }} as o
left join {{ ref('int_customer_crosswalk') }} as x on x.system = 'salesforce' and x.source_id = o.account_id
left join project_customer as pc on pc.engagement_id = 'SF-' || o.opportunity_id
union all
select
    'HS-' || d.deal_id,
    coalesce(x.customer_id, pc.customer_id),
    d.deal_name,
    d.stage,
    d.is_closed,
    d.is_won,
    d.close_date,
    case when d.is_won then least(d.last_modified_at, (d.close_date + 1)::timestamp at time zone 'UTC') end,
    d.amount,
    d.currency,
    d.created_at,
    null,
    d.deal_id,
    'hubspot',
    jsonb_build_object('hubspot', d.deal_id)
from {{ ref('stg_hubspot__deals') }} as d
left join {{ ref('int_customer_crosswalk') }} as x on x.system = 'hubspot' and x.source_id = d.company_id
left join project_customer as pc on pc.engagement_id = 'HS-' || d.deal_id
