{#-
  Invariants of a features table (fct_user_features, fct_training_features), rendered
  from the feature definitions: count/sum/count_distinct are never null; a feature's
  value is empty exactly when its __latest_event_ms is null; no counted event is after
  as_of. Returns one row per violation.
-#}
{% test churnfeat_feature_values_consistent(model) %}

{%- set features = churnfeat_features() -%}

with

checks as (
    {%- for feature in features %}
    {% if not loop.first %}union all{% endif %}
    select
        {{ churnfeat_string_literal(feature.name) }} as feature_name,
        user_id,
        as_of_ms,
        cast({{ feature.name }} as {{ dbt.type_string() }}) as feature_value,
        {{ feature.name }}__latest_event_ms as latest_event_ms
    from {{ model }}
    where {{ feature.name }}__latest_event_ms > as_of_ms
        {%- if feature.function in ['count', 'count_distinct'] %}
        or {{ feature.name }} is null
        or {{ feature.name }} < 0
        or ({{ feature.name }} = 0) <> ({{ feature.name }}__latest_event_ms is null)
        {%- elif feature.function == 'sum' %}
        or {{ feature.name }} is null
        or ({{ feature.name }}__latest_event_ms is null and {{ feature.name }} <> 0)
        {%- else %}
        or ({{ feature.name }} is null) <> ({{ feature.name }}__latest_event_ms is null)
        {%- endif %}
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as feature_name,
        cast(null as {{ dbt.type_string() }}) as user_id,
        cast(null as {{ dbt.type_bigint() }}) as as_of_ms,
        cast(null as {{ dbt.type_string() }}) as feature_value,
        cast(null as {{ dbt.type_bigint() }}) as latest_event_ms
    where 1 = 0
    {%- endfor %}
)

select * from checks

{% endtest %}
