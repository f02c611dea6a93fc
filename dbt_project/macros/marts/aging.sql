{#- Aging bucket of an age in days: '0-30', '31-60', '61-90', '90+' (negative ages count as 0-30). -#}
{% macro marts_aging_bucket(days) -%}
case when ({{ days }}) <= 30 then '0-30'
     when ({{ days }}) <= 60 then '31-60'
     when ({{ days }}) <= 90 then '61-90'
     else '90+' end
{%- endmacro %}
