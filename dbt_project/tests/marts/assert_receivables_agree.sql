-- Overall DSO's open receivables equal the sum of the invoice aging mart (same invoices, same rates).
with dso as (
    select open_receivables_usd as amount from {{ ref('rpt_dso') }} where scope = 'overall'
),

aging as (
    select coalesce(sum(amount_remaining_usd), 0) as amount from {{ ref('fct_invoice_aging') }}
)

select dso.amount as dso_amount, aging.amount as aging_amount
from dso cross join aging
where abs(dso.amount - aging.amount) > 0.01
