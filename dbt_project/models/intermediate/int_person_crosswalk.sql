{#- One row per person record in any system → its resource_id (the Workday Worker_ID), with the
    rule that matched. Rules, in order:
      Workday worker     anchor: resource_id = Worker_ID                            'workday_worker'
      Kantata user       1. external reference service_name 'workday' naming a live worker  'external_reference'
                         2. same normalized email as exactly one worker                      'email'
      NetSuite employee  1. externalid = a live Worker_ID                             'external_id'
                         2. same normalized email as exactly one worker                'email'
    No match: resource_id null, exception_reason 'unmatched'; two or more workers with the email:
    'ambiguous' with the candidates (int_identity_exceptions lists both). -#}
{{ config(materialized='table', post_hook=["create index on {{ this }} (system, source_id)", "analyze {{ this }}"]) }}  {#- as int_customer_crosswalk -#}
with workers as (
    select worker_id, {{ normalize_email('email') }} as email_key
    from {{ ref('stg_workday__workers') }}
),

users as (
    select u.user_id, {{ normalize_email('u.email') }} as email_key,
           (select min(r.service_model_ref) from {{ ref('stg_kantata__external_references') }} as r
            where r.subject_type = 'User' and r.subject_id = u.user_id and r.service_name = 'workday') as workday_ref
    from {{ ref('stg_kantata__users') }} as u
),

employees as (
    select employee_id, external_id, {{ normalize_email('email') }} as email_key
    from {{ ref('stg_netsuite__employees') }}
),

by_email as (
    select email_key, count(*) as n, min(worker_id) as worker_id, jsonb_agg(worker_id order by worker_id) as candidates
    from workers
    where email_key is not null
    group by email_key
),

matched as (
    select
        'kantata' as system, u.user_id as source_id,
        case when w.worker_id is not null then w.worker_id when e.n = 1 then e.worker_id end as resource_id,
        case when w.worker_id is not null then 'external_reference' when e.n = 1 then 'email' end as match_rule,
        case when w.worker_id is not null or e.n = 1 then null when e.n > 1 then 'ambiguous' else 'unmatched' end
            as exception_reason,
        case when w.worker_id is null and e.n > 1 then e.candidates end as candidates
    from users as u
    left join workers as w on w.worker_id = u.workday_ref
    left join by_email as e on e.email_key = u.email_key
    union all
    select
        'netsuite', p.employee_id,
        case when w.worker_id is not null then w.worker_id when e.n = 1 then e.worker_id end,
        case when w.worker_id is not null then 'external_id' when e.n = 1 then 'email' end,
        case when w.worker_id is not null or e.n = 1 then null when e.n > 1 then 'ambiguous' else 'unmatched' end,
        case when w.worker_id is null and e.n > 1 then e.candidates end
    from employees as p
    left join workers as w on w.worker_id = p.external_id
    left join by_email as e on e.email_key = p.email_key
)

select 'workday' as system, worker_id as source_id, worker_id as resource_id, 'workday_worker' as match_rule,
       null::text as exception_reason, null::jsonb as candidates
from workers
union all
select * from matched
