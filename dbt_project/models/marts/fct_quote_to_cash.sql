-- Quote-to-cash per won engagement (Salesforce opportunity or HubSpot deal):
-- closed won -> project created (Kantata workspace) -> first time entry (work date) -> first
-- invoice (NetSuite) -> first payment -> first invoice paid in full, with each stage's duration in
-- days (null until the stage is reached). An engagement with several projects uses the earliest.
with won as (
    select * from {{ ref('engagement') }} where is_won
),

first_project as (
    select distinct on (engagement_id) engagement_id, project_id, created_at
    from {{ ref('project') }}
    where engagement_id is not null
    order by engagement_id, created_at, project_id
),

first_time as (
    -- per project of a won engagement, through the time entry index on (project_id, date_performed)
    select fp.project_id,
           (select min(t.date_performed) from {{ ref('time_entry') }} as t where t.project_id = fp.project_id)
               as first_time_entry_date
    from (select distinct project_id from first_project) as fp
),

first_invoice as (
    select distinct on (project_id) project_id, invoice_id, invoice_date, amount_remaining
    from {{ ref('invoice') }}
    where project_id is not null
    order by project_id, invoice_date, invoice_id
),

payments as (
    select * from {{ ref('payment') }}
),

first_payment as (
    select project_id, min(payment_date) as first_payment_date
    from payments
    where project_id is not null
    group by 1
),

first_invoice_paid as (
    select fi.project_id, min(p.payment_date) as first_invoice_paid_date
    from first_invoice as fi
    inner join payments as p on p.invoice_id = fi.invoice_id
    where coalesce(fi.amount_remaining, 0) = 0
    group by 1
),

stages as (
    select
        w.engagement_id,
        w.customer_id,
        w.engagement_name,
        w.salesforce_opportunity_id,
        w.hubspot_deal_id,
        w.system_of_record,
        w.amount,
        w.currency,
        w.closed_won_at,
        coalesce(w.closed_won_at::date, w.close_date) as closed_won_date,
        fp.project_id,
        fp.created_at as project_created_at,
        fp.created_at::date as project_created_date,
        ft.first_time_entry_date,
        fi.invoice_id as first_invoice_id,
        fi.invoice_date as first_invoice_date,
        py.first_payment_date,
        pd.first_invoice_paid_date
    from won as w
    left join first_project as fp on fp.engagement_id = w.engagement_id
    left join first_time as ft on ft.project_id = fp.project_id
    left join first_invoice as fi on fi.project_id = fp.project_id
    left join first_payment as py on py.project_id = fp.project_id
    left join first_invoice_paid as pd on pd.project_id = fp.project_id
)

select
    *,
    (project_created_date - closed_won_date) as days_won_to_project,
    (first_time_entry_date - project_created_date) as days_project_to_first_time,
    (first_invoice_date - first_time_entry_date) as days_first_time_to_first_invoice,
    (first_payment_date - first_invoice_date) as days_first_invoice_to_first_payment,
    (first_invoice_paid_date - first_invoice_date) as days_first_invoice_to_paid,
    (first_payment_date - closed_won_date) as days_won_to_first_payment,
    case
        when first_invoice_paid_date is not null then 'paid'
        when first_payment_date is not null then 'first_payment'
        when first_invoice_date is not null then 'invoiced'
        when first_time_entry_date is not null then 'in_delivery'
        when project_id is not null then 'project_created'
        else 'won'
    end as current_stage
from stages
