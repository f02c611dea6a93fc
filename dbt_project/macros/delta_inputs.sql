{#- The small inputs of each delta model (macros/delta.sql): when their hash changes, the model's next
    incremental build recomputes everything. Whole rows of the small relations it joins, and for the
    utilization the week range of the time entries (the spine of weeks). -#}

{% macro outbox_time_entries_inputs() -%}
    {{ delta_hash_of([
        "select resource_id, full_name, netsuite_employee_id, netsuite_subsidiary_id from " ~ ref('resource'),
        "select project_id, project_name, kantata_workspace_id, netsuite_job_id, netsuite_subsidiary_id, "
            ~ "netsuite_service_item_id, status, currency from " ~ ref('project'),
        "select item_id, is_inactive from " ~ ref('stg_netsuite__items'),
        "select * from " ~ ref('stg_netsuite__accounting_periods'),
        "select cutover_date from " ~ ref('int_erp_posting_cutover'),
    ]) }}
{%- endmacro %}

{% macro fct_utilization_weekly_inputs() -%}
    {{ delta_hash_of([
        "select resource_id, full_name, practice, department, company_id, weekly_capacity_hours, hire_date, "
            ~ "termination_date from " ~ ref('resource'),
        "select date_trunc('week', min(date_performed))::date as first_week, "
            ~ "date_trunc('week', max(date_performed))::date as last_week from " ~ ref('time_entry')
            ~ " where resource_id is not null",
    ]) }}
{%- endmacro %}

{% macro int_project_time_daily_inputs() -%}
    {#- 'additive': the version of its delta path (a warehouse built by the previous one starts over) -#}
    {{ delta_hash_of(["select * from " ~ ref('resource_cost_rate'), "select 'additive' as delta_path"]) }}
{%- endmacro %}

{% macro int_submission_approval_stamps_inputs() -%}
    {#- no small inputs: the version of its delta path only -#}
    {{ delta_hash_of(["select 'additive' as delta_path"]) }}
{%- endmacro %}

{% macro rpt_reconciliation_exceptions_inputs() -%}
    {{ delta_hash_of([
        "select project_id, project_name, customer_id, status, due_date, kantata_workspace_id, netsuite_job_id from "
            ~ ref('project'),
    ]) }}
{%- endmacro %}

{#- The time entries whose three-way reconciliation (int_erp_posting_reconciliation) may have changed
    since `since` (its watermark): changed in canonical.time_entry (hence in the outbox), written in the
    posting ledger, or read back from NetSuite (deletions included). Kept once per build in a temporary
    table (erp_reconciliation_keys_relation, dropped at commit) that the pre_hook's delete and the model
    both read: computed twice, a ledger row committed in between would be recomputed without its old
    row deleted. The ledger's updated_at is its writer's transaction start, and the reverse sync plans
    inside its transaction: var('incremental_lookback_minutes') of margin there. -#}
{% macro erp_reconciliation_keys_relation() -%}int_erp_posting_reconciliation__keys{%- endmacro %}

{% macro erp_reconciliation_keys(since) -%}
    {%- set built = "'" ~ since ~ "'::timestamptz" -%}
    create temporary table {{ erp_reconciliation_keys_relation() }} on commit drop as
    select c.time_entry_id as source_id from {{ delta_changes(since) }} as c where c.time_entry_id is not null
    union
    select l.source_id from {{ source('ops', 'erp_postings') }} as l
    where l.updated_at >= {{ built }} - interval '{{ var("incremental_lookback_minutes") }} minutes'
      and l.target_system = 'netsuite' and l.source_system = 'kantata' and l.source_record_type = 'time_entry'
    union
    select substr(b.payload ->> 'externalid', length('KANTATA-TE-') + 1)
    from {{ optional_source('raw_netsuite', 'timebill') }} as b
    where b.loaded_at >= {{ written_since(built, 'netsuite', 'timebill') }}
      and b.payload ->> 'externalid' like 'KANTATA-TE-%';
    analyze {{ erp_reconciliation_keys_relation() }}
{%- endmacro %}
