-- The outbox holds exactly the approved time entries dated on or after the ERP cutover
-- (int_erp_posting_cutover), no more, no less, at their current version.
-- In an incremental build: the time entries this build rewrote (macros/delta_tests.sql); everything else.
{%- set keys = delta_test_keys(['time_entry', 'outbox_time_entries']) %}
select coalesce(t.time_entry_id, o.time_entry_id) as time_entry_id,
       t.time_entry_id is null as only_in_outbox,
       o.time_entry_id is null as missing_from_outbox
from (select time_entry_id, updated_at from {{ ref('time_entry') }}
      where is_approved and date_performed >= (select cutover_date from {{ ref('int_erp_posting_cutover') }})
      {%- if keys %} and time_entry_id = any(array{{ keys }}){% endif %}) as t
full outer join (select * from {{ ref('outbox_time_entries') }}
                 {%- if keys %} where time_entry_id = any(array{{ keys }}){% endif %}) as o
    on o.time_entry_id = t.time_entry_id
where t.time_entry_id is null or o.time_entry_id is null or o.source_updated_at <> t.updated_at
