{#-
  The value of one feature (feature-semantics §4) as an aggregate over the windowed rows
  of all features (columns feature_name, num_value, fixed_value, str_value, event_ms and,
  for `last`, recency_rank = 1 on the latest row by (event_ms, event_key)). Every
  aggregate is exact: counts are integers, sums add fixed-point integers and divide once.
-#}
{% macro churnfeat_aggregate(feature, alias='windowed') -%}
    {%- set is_feature = alias ~ '.feature_name = ' ~ churnfeat_string_literal(feature.name) -%}
    {%- if feature.function == 'count' -%}
        cast(count(case when {{ is_feature }} then 1 end) as {{ dbt.type_bigint() }})
    {%- elif feature.function == 'sum' -%}
        cast(sum(case when {{ is_feature }} then {{ alias }}.fixed_value end) as double) / cast({{ 10 ** feature.scale }} as double)
    {%- elif feature.function == 'count_distinct' -%}
        cast(count(distinct case when {{ is_feature }} then {{ alias }}.str_value end) as {{ dbt.type_bigint() }})
    {%- elif feature.function == 'min' -%}
        min(case when {{ is_feature }} then {{ alias }}.num_value end)
    {%- elif feature.function == 'max' -%}
        max(case when {{ is_feature }} then {{ alias }}.num_value end)
    {%- elif feature.function == 'last' -%}
        max(case when {{ is_feature }} and {{ alias }}.recency_rank = 1 then {{ alias }}.str_value end)
    {%- else -%}
        {{ exceptions.raise_compiler_error('churnfeat_aggregate: unknown aggregation ' ~ feature.function) }}
    {%- endif -%}
{%- endmacro %}


{#- The value of an empty window: 0 for count/sum/count_distinct, null otherwise. -#}
{% macro churnfeat_empty_value(feature) -%}
    {%- if feature.function in ['count', 'count_distinct'] -%}
        cast(0 as {{ dbt.type_bigint() }})
    {%- elif feature.function == 'sum' -%}
        cast(0 as double)
    {%- elif feature.function in ['min', 'max'] -%}
        cast(null as double)
    {%- else -%}
        cast(null as {{ dbt.type_string() }})
    {%- endif -%}
{%- endmacro %}


{#- largest event_ms among the events counted in the value (null when empty). -#}
{% macro churnfeat_latest_event_ms(feature, alias='windowed') -%}
    max(case when {{ alias }}.feature_name = {{ churnfeat_string_literal(feature.name) }} then {{ alias }}.event_ms end)
{%- endmacro %}
