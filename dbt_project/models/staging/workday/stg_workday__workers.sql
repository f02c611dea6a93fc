{#- Workers from the Handoff_Workers report. RaaS omits empty fields (Termination_Date, Manager_ID).
    Scheduled_Weekly_Hours and FTE are null when the report does not carry them. -#}
select
    source_id as worker_id,
    payload ->> 'Legal_Name' as legal_name,
    payload ->> 'First_Name' as first_name,
    payload ->> 'Last_Name' as last_name,
    payload ->> 'Email' as email,
    payload ->> 'Employee_Type' as employee_type,
    (payload ->> 'Hire_Date')::date as hire_date,
    nullif(payload ->> 'Termination_Date', '')::date as termination_date,
    coalesce({{ to_bool("payload ->> 'Active'") }}, false) as is_active,
    payload ->> 'Department' as department,
    payload ->> 'Practice' as practice,
    payload ->> 'Company' as company_name,
    payload ->> 'Company_ID' as company_id,
    payload ->> 'Currency' as currency,
    payload ->> 'Manager_ID' as manager_worker_id,
    {{ to_numeric("payload ->> 'Scheduled_Weekly_Hours'") }} as scheduled_weekly_hours,
    {{ to_numeric("payload ->> 'FTE'") }} as fte,
    loaded_at as _loaded_at
from {{ source('raw_workday', 'workers') }}
where not is_deleted
