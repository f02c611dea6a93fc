{#- Casts for raw payload values (every raw value is jsonb; most sources render them as strings). -#}

{#- NetSuite SuiteQL renders dates as M/D/YYYY (no time), everything as a string. -#}
{% macro ns_date(expr) -%}
    to_date(nullif({{ expr }}, ''), 'FMMM/FMDD/YYYY')
{%- endmacro %}

{#- `TO_CHAR(col, 'YYYY-MM-DD HH24:MI:SS')` columns (the extract's `lastmodified`), UTC. -#}
{% macro ns_timestamp(expr) -%}
    (nullif({{ expr }}, '')::timestamp at time zone 'UTC')
{%- endmacro %}

{#- NetSuite booleans render 'T' / 'F'. -#}
{% macro ns_bool(expr) -%}
    coalesce(({{ expr }}) = 'T', false)
{%- endmacro %}

{#- Strings holding numbers ('1234.50'); empty strings are null. -#}
{% macro to_numeric(expr) -%}
    nullif({{ expr }}, '')::numeric
{%- endmacro %}

{#- Kantata amounts in cents (integers) to amounts in the currency's unit. -#}
{% macro cents_to_amount(expr) -%}
    (({{ expr }})::numeric / 100)
{%- endmacro %}

{#- JSON booleans, or the strings 'true'/'false'/'1'/'0'. -#}
{% macro to_bool(expr) -%}
    (case lower(nullif({{ expr }}, '')) when 'true' then true when '1' then true when 't' then true
        when 'false' then false when '0' then false when 'f' then false end)
{%- endmacro %}

{#- Country names as the CRMs spell them, to ISO 3166-1 alpha-2 (unknown names pass through). -#}
{% macro country_code(expr) -%}
    (case lower(trim({{ expr }}))
        when 'united states' then 'US' when 'usa' then 'US' when 'us' then 'US'
        when 'united kingdom' then 'GB' when 'uk' then 'GB' when 'gb' then 'GB' when 'great britain' then 'GB'
        when 'germany' then 'DE' when 'de' then 'DE' when 'deutschland' then 'DE'
        when 'france' then 'FR' when 'netherlands' then 'NL' when 'ireland' then 'IE' when 'canada' then 'CA'
        else nullif(trim({{ expr }}), '') end)
{%- endmacro %}
