{#- Records identity resolution could not place, instead of a guess: one row per (entity_type,
    system, source_id, missing_system).
      reason 'unmatched'  no counterpart found by any rule
      reason 'ambiguous'  a rule found several candidates (listed in candidates, jsonb array)
    missing_system: the system the counterpart was looked for in. -#}
{{ config(materialized='table', post_hook=["analyze {{ this }}"]) }}  {#- as int_customer_crosswalk -#}
with customer as (
    select 'customer' as entity_type, system, source_id, exception_reason as reason, candidates,
           case system when 'hubspot' then 'salesforce' else 'crm' end as missing_system,
           case when exception_reason = 'ambiguous'
                then 'several ' || case system when 'hubspot' then 'Salesforce accounts' else 'CRM customers' end
                     || ' share the normalized name/domain'
                else 'externalid names no live CRM record and no CRM customer has the normalized name' end as detail
    from {{ ref('int_customer_crosswalk') }}
    where exception_reason is not null
),

person as (
    select 'person', system, source_id, exception_reason, candidates, 'workday',
           case when exception_reason = 'ambiguous' then 'several Workday workers share the email'
                else 'no Workday worker by external id or email' end
    from {{ ref('int_person_crosswalk') }}
    where exception_reason is not null
    union all
    -- a Workday worker with no NetSuite employee (time cannot be posted for them)
    select 'person', 'workday', w.source_id, 'unmatched', null::jsonb, 'netsuite',
           'no NetSuite employee with this externalid or email'
    from {{ ref('int_person_crosswalk') }} as w
    where w.system = 'workday'
      and not exists (select 1 from {{ ref('int_person_crosswalk') }} as n
                      where n.system = 'netsuite' and n.resource_id = w.resource_id)
    union all
    -- a Workday worker with no Kantata user, while active
    select 'person', 'workday', x.source_id, 'unmatched', null::jsonb, 'kantata', 'no Kantata user (active worker)'
    from {{ ref('int_person_crosswalk') }} as x
    join {{ ref('stg_workday__workers') }} as w on w.worker_id = x.source_id and w.is_active
    where x.system = 'workday'
      and not exists (select 1 from {{ ref('int_person_crosswalk') }} as k
                      where k.system = 'kantata' and k.resource_id = x.resource_id)
),

project as (
    select 'project', 'kantata', kantata_workspace_id, 'unmatched', null::jsonb, 'netsuite',
           'no NetSuite job with externalid KANTATA-<workspace id>'
    from {{ ref('int_project_crosswalk') }}
    where kantata_workspace_id is not null and netsuite_job_id is null
    union all
    select 'project', 'netsuite', netsuite_job_id, 'unmatched', null::jsonb, 'kantata',
           'job externalid names no live Kantata workspace'
    from {{ ref('int_project_crosswalk') }}
    where kantata_workspace_id is null
    union all
    select 'project', 'kantata', kantata_workspace_id, engagement_exception, engagement_candidates, 'crm',
           case when engagement_exception = 'ambiguous' then 'several engagements have the workspace''s name'
                else 'no external reference and no engagement with the workspace''s name' end
    from {{ ref('int_project_crosswalk') }}
    where kantata_workspace_id is not null and engagement_exception is not null
)

select entity_type, system, source_id, reason, candidates, missing_system, detail from customer
union all
select * from person
union all
select * from project
