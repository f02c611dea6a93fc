{#- Opportunity line items ('SF-<Id>') and HubSpot deal line items ('HS-<id>'; engagement_id null
    when the extract carries no deal association). -#}
select
    ('SF-' || l.opportunity_line_item_id)::text as contract_line_id,
    ('SF-' || l.opportunity_id)::text as engagement_id,
    l.line_name::text as line_name,
    l.product_code::text as product_code,
    l.quantity::numeric(18, 4) as quantity,
    l.unit_price::numeric(18, 4) as unit_price,
    coalesce(l.total_price, l.quantity * l.unit_price)::numeric(18, 2) as amount,
    l.currency::text as currency,
    l.service_date::date as service_date,
    'salesforce'::text as system_of_record,
    jsonb_build_object('salesforce', l.opportunity_line_item_id) as source_ids
from {{ ref('stg_salesforce__opportunity_line_items') }} as l
union all
select
    'HS-' || l.line_item_id,
    case when l.deal_id is not null then 'HS-' || l.deal_id end,
    l.line_name,
    l.product_code,
    l.quantity,
    l.unit_price,
    coalesce(l.amount, l.quantity * l.unit_price),
    l.currency,
    null::date,
    'hubspot',
    jsonb_build_object('hubspot', l.line_item_id)
from {{ ref('stg_hubspot__line_items') }} as l
