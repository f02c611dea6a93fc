{#- The reverse sync's cutover: records dated before it are history the ERP already holds (the firm
    posted them before Handoff), so the outboxes leave them out and the reconciliation does not
    chase them. var('erp_posting_start_date') pins it; without it, the first build freezes the
    start of the earliest accounting period NetSuite had open then (the go-live), and later builds
    keep that date: a period closing afterwards never silently drops what was not posted in time
    (that stays an exception). A full refresh of this model re-derives it. -#}
{{ config(materialized='incremental', unique_key='cutover_id', on_schema_change='fail') }}

{%- set pinned = var('erp_posting_start_date', none) %}

{% if pinned is not none %}
select 'netsuite'::text as cutover_id, cast('{{ pinned }}' as date) as cutover_date, 'var erp_posting_start_date'::text as basis,
       now() as decided_at
{% elif is_incremental() %}
select cutover_id, cutover_date, basis, decided_at from {{ this }}
{% else %}
select 'netsuite'::text as cutover_id, min(start_date) as cutover_date,
       'first open accounting period at the first build'::text as basis, now() as decided_at
from {{ ref('stg_netsuite__accounting_periods') }}
where not coalesce(is_closed, false) and not coalesce(is_year, false) and not coalesce(is_quarter, false)
  and not coalesce(is_adjustment, false)
{% endif %}
