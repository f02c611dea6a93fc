{#- One row per project (int_project_crosswalk): Kantata workspace (system of record) with its
    NetSuite job and CRM engagement. status 'closed' when the workspace is archived or its status is
    Closed (key 500), or, without a workspace, the job is Closed; else 'active'.
    contract_type from the workspace's stories: billable tasks billed by the hour → 'time_and_materials';
    otherwise fixed-fee milestones → 'milestone'; otherwise fixed-fee tasks → 'fixed_fee'.
    (Completed milestones are billed as billing_event whatever the contract type.) -#}
with xwalk as (
    select * from {{ ref('int_project_crosswalk') }}
),

story_kinds as (
    select
        workspace_id,
        bool_or(is_billable and not coalesce(is_fixed_fee, false) and story_type <> 'milestone') as has_hourly,
        bool_or(story_type = 'milestone' and coalesce(is_fixed_fee, false)) as has_fixed_milestones,
        bool_or(coalesce(is_fixed_fee, false)) as has_fixed_fee
    from {{ ref('stg_kantata__stories') }}
    group by workspace_id
)

select
    p.project_id::text as project_id,
    p.engagement_id::text as engagement_id,
    coalesce(cj.customer_id, e.customer_id)::text as customer_id,
    coalesce(w.workspace_name, j.job_name)::text as project_name,
    (case when w.workspace_id is not null
              then case when w.is_archived or w.status_key = '500' then 'closed' else 'active' end
          when j.entity_status = 'Closed' then 'closed' else 'active' end)::text as status,
    coalesce(w.is_archived, false) as is_archived,
    (case when k.has_hourly then 'time_and_materials'
          when k.has_fixed_milestones then 'milestone'
          when k.has_fixed_fee then 'fixed_fee'
          else 'time_and_materials' end)::text as contract_type,
    coalesce(w.price_amount, w.price)::numeric(18, 2) as contract_value,
    coalesce(w.currency, j.currency)::text as currency,
    coalesce(w.start_date, j.start_date)::date as start_date,
    coalesce(w.due_date, j.projected_end_date)::date as due_date,
    coalesce(w.created_at, j.created_date::timestamp at time zone 'UTC')::timestamptz as created_at,
    p.kantata_workspace_id::text as kantata_workspace_id,
    p.netsuite_job_id::text as netsuite_job_id,
    j.customer_id::text as netsuite_customer_id,
    j.subsidiary_id::text as netsuite_subsidiary_id,
    j.service_item_id::text as netsuite_service_item_id,
    j.entity_status::text as netsuite_job_status,
    coalesce(p.engagement_match_rule, 'none')::text as match_rule,
    (case when w.workspace_id is not null then 'kantata' else 'netsuite' end)::text as system_of_record,
    jsonb_strip_nulls(jsonb_build_object(
        'kantata', p.kantata_workspace_id, 'netsuite', p.netsuite_job_id,
        'salesforce', e.salesforce_opportunity_id, 'hubspot', e.hubspot_deal_id)) as source_ids
from xwalk as p
left join {{ ref('stg_kantata__workspaces') }} as w on w.workspace_id = p.kantata_workspace_id
left join {{ ref('stg_netsuite__jobs') }} as j on j.job_id = p.netsuite_job_id
left join {{ ref('int_customer_crosswalk') }} as cj on cj.system = 'netsuite' and cj.source_id = j.customer_id
left join story_kinds as k on k.workspace_id = p.kantata_workspace_id
left join (
    select
        'SF-' || opportunity_id as engagement_id, opportunity_id as salesforce_opportunity_id,
        null as hubspot_deal_id, x.customer_id
    from {{ ref('stg_salesforce__opportunities') }} as o
    left join {{ ref('int_customer_crosswalk') }} as x on x.system = 'salesforce' and x.source_id = o.account_id
    union all
    select 'HS-' || deal_id, null, deal_id, x.customer_id
    from {{ ref('stg_hubspot__deals') }} as d
    left join {{ ref('int_customer_crosswalk') }} as x on x.system = 'hubspot' and x.source_id = d.company_id
) as e on e.engagement_id = p.engagement_id
