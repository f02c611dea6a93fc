{#- One row per project: a Kantata workspace and/or a NetSuite job, with the CRM engagement it
    delivers. project_id = 'KANTATA-<workspace id>' (= the job's externalid), or 'NS-<job id>' for a
    job naming no live workspace. Rules:
      job ↔ workspace     job externalid 'KANTATA-<workspace id>'                       'external_id'
      workspace → engagement
                          1. workspace external reference (service_name salesforce / hubspot,
                             service_model_ref = opportunity / deal id)                  'external_reference'
                          2. workspace title = opportunity / deal name (normalized) among the
                             engagements of the job's customer, exactly one               'name_within_customer'
                          3. the same over all engagements, exactly one                   'name'
    engagement_match_rule null = no engagement (exception 'unmatched' or 'ambiguous'). -#}
{{ config(materialized='table', post_hook=["create index on {{ this }} (project_id)", "analyze {{ this }}"]) }}  {#- as int_customer_crosswalk -#}
with workspaces as (
    select workspace_id, workspace_name, lower(trim(workspace_name)) as name_key
    from {{ ref('stg_kantata__workspaces') }}
),

jobs as (
    select j.job_id, j.external_id, j.customer_id as netsuite_customer_id, x.customer_id
    from {{ ref('stg_netsuite__jobs') }} as j
    left join {{ ref('int_customer_crosswalk') }} as x on x.system = 'netsuite' and x.source_id = j.customer_id
),

engagements as (
    select 'SF-' || o.opportunity_id as engagement_id, 'salesforce' as system, o.opportunity_id as source_id,
           lower(trim(o.opportunity_name)) as name_key, x.customer_id
    from {{ ref('stg_salesforce__opportunities') }} as o
    left join {{ ref('int_customer_crosswalk') }} as x on x.system = 'salesforce' and x.source_id = o.account_id
    union all
    select 'HS-' || d.deal_id, 'hubspot', d.deal_id, lower(trim(d.deal_name)), x.customer_id
    from {{ ref('stg_hubspot__deals') }} as d
    left join {{ ref('int_customer_crosswalk') }} as x on x.system = 'hubspot' and x.source_id = d.company_id
),

ws_job as (
    select
        coalesce(w.workspace_id, null) as workspace_id,
        j.job_id,
        case when w.workspace_id is not null then 'KANTATA-' || w.workspace_id else 'NS-' || j.job_id end as project_id,
        case when w.workspace_id is not null and j.job_id is not null then 'external_id' end as job_match_rule,
        w.name_key,
        j.customer_id
    from workspaces as w
    full outer join jobs as j on j.external_id = 'KANTATA-' || w.workspace_id
),

by_reference as (
    select distinct on (r.subject_id) r.subject_id as workspace_id, e.engagement_id
    from {{ ref('stg_kantata__external_references') }} as r
    join engagements as e
        on e.system = r.service_name and e.source_id = r.service_model_ref
    where r.subject_type = 'Workspace'
    order by r.subject_id, r.external_reference_id
),

by_name_in_customer as (
    select p.workspace_id, count(*) as n, min(e.engagement_id) as engagement_id,
           jsonb_agg(e.engagement_id order by e.engagement_id) as candidates
    from ws_job as p
    join engagements as e on e.name_key = p.name_key and e.customer_id = p.customer_id
    where p.workspace_id is not null
    group by p.workspace_id
),

by_name as (
    select p.workspace_id, count(*) as n, min(e.engagement_id) as engagement_id,
           jsonb_agg(e.engagement_id order by e.engagement_id) as candidates
    from ws_job as p
    join engagements as e on e.name_key = p.name_key
    where p.workspace_id is not null
    group by p.workspace_id
)

select
    p.project_id,
    p.workspace_id as kantata_workspace_id,
    p.job_id as netsuite_job_id,
    p.job_match_rule,
    case when r.engagement_id is not null then r.engagement_id
         when c.n = 1 then c.engagement_id
         when c.n is null and n.n = 1 then n.engagement_id end as engagement_id,
    case when r.engagement_id is not null then 'external_reference'
         when c.n = 1 then 'name_within_customer'
         when c.n is null and n.n = 1 then 'name' end as engagement_match_rule,
    case when r.engagement_id is not null or c.n = 1 or (c.n is null and n.n = 1) then null
         when c.n > 1 or n.n > 1 then 'ambiguous'
         else 'unmatched' end as engagement_exception,
    case when r.engagement_id is null and c.n > 1 then c.candidates
         when r.engagement_id is null and c.n is null and n.n > 1 then n.candidates end as engagement_candidates
from ws_job as p
left join by_reference as r using (workspace_id)
left join by_name_in_customer as c using (workspace_id)
left join by_name as n using (workspace_id)
