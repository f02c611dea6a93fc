{#- One row per Workday worker (resource_id = Worker_ID), with its Kantata user and NetSuite employee
    (int_person_crosswalk). weekly_capacity_hours / fte: Workday Scheduled_Weekly_Hours / FTE (null
    when the report lacks them). match_rule: the rules that joined the other systems' records. -#}
with xwalk as (
    select * from {{ ref('int_person_crosswalk') }} where resource_id is not null
),

members as (
    select
        resource_id,
        min(source_id) filter (where system = 'kantata') as kantata_user_id,
        (array_agg(source_id order by (match_rule = 'external_id') desc, source_id)
            filter (where system = 'netsuite'))[1] as netsuite_employee_id,
        coalesce(string_agg(distinct match_rule, ',' order by match_rule)
                     filter (where system <> 'workday'), 'single_source') as match_rule
    from xwalk
    group by resource_id
)

select
    w.worker_id::text as resource_id,
    coalesce(w.legal_name, w.first_name || ' ' || w.last_name)::text as full_name,
    w.email::text as email,
    w.practice::text as practice,
    w.department::text as department,
    w.company_id::text as company_id,
    w.company_name::text as company_name,
    w.currency::text as currency,
    w.employee_type::text as employee_type,
    w.hire_date::date as hire_date,
    w.termination_date::date as termination_date,
    w.is_active as is_active,
    w.scheduled_weekly_hours::numeric(10, 2) as weekly_capacity_hours,
    w.fte::numeric(6, 4) as fte,
    m.kantata_user_id::text as kantata_user_id,
    m.netsuite_employee_id::text as netsuite_employee_id,
    e.subsidiary_id::text as netsuite_subsidiary_id,
    m.match_rule::text as match_rule,
    'workday'::text as system_of_record,
    jsonb_strip_nulls(jsonb_build_object(
        'workday', w.worker_id, 'kantata', m.kantata_user_id, 'netsuite', m.netsuite_employee_id)) as source_ids
from {{ ref('stg_workday__workers') }} as w
left join members as m on m.resource_id = w.worker_id
left join {{ ref('stg_netsuite__employees') }} as e on e.employee_id = m.netsuite_employee_id
