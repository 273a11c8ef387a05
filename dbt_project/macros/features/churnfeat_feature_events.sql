{#-
  The body of int_feature_events: for every feature, the events it reads with the input
  its aggregation takes (feature-semantics §2, §4), as one `union all`. Rendered entirely
  from the feature definitions; no feature is named here.

  events_relation  a relation or CTE with the columns of stg_lake__events
  incremental      when true, `events_relation` also has `is_changed_key`, and a CTE
                   `built_features` (feature names with rows in the table) is in scope:
                   a feature only reads the changed keys, unless it has no rows yet
                   (new, or its stale rows were deleted by the pre_hook), when it reads
                   everything.

  Columns: feature_name, definition_hash, user_id, source, kafka_topic, kafka_partition,
  kafka_offset, event_key, is_too_late, is_first_copy, is_first_timely_copy,
  num_value (DOUBLE: the attribute of sum/min/max), fixed_value (BIGINT: the attribute of
  sum rounded to `scale` decimals as floor(v * 10^scale + 0.5)), str_value (the string of
  count_distinct/last), event_ts_raw (event_ts as sent: the dedup time of a record whose
  event_ms was clamped to ingest_ms, read by the bootstrap), event_ms, ingest_ms, tile_start_ms.
-#}
{% macro churnfeat_feature_events_sql(events_relation, incremental=false) %}
    {%- set features = churnfeat_features() -%}
    {%- if features | length == 0 %}
    -- no feature definitions (or parse time): an empty relation of the right shape
    select
        cast(null as {{ dbt.type_string() }}) as feature_name,
        cast(null as {{ dbt.type_string() }}) as definition_hash,
        cast(null as {{ dbt.type_string() }}) as user_id,
        cast(null as {{ dbt.type_string() }}) as source,
        cast(null as {{ dbt.type_string() }}) as kafka_topic,
        cast(null as {{ dbt.type_int() }}) as kafka_partition,
        cast(null as {{ dbt.type_bigint() }}) as kafka_offset,
        cast(null as {{ dbt.type_string() }}) as event_key,
        cast(null as {{ dbt.type_boolean() }}) as is_too_late,
        cast(null as {{ dbt.type_boolean() }}) as is_first_copy,
        cast(null as {{ dbt.type_boolean() }}) as is_first_timely_copy,
        cast(null as double) as num_value,
        cast(null as {{ dbt.type_bigint() }}) as fixed_value,
        cast(null as {{ dbt.type_string() }}) as str_value,
        cast(null as {{ dbt.type_string() }}) as event_ts_raw,
        cast(null as {{ dbt.type_bigint() }}) as event_ms,
        cast(null as {{ dbt.type_bigint() }}) as ingest_ms,
        cast(null as {{ dbt.type_bigint() }}) as tile_start_ms
    where 1 = 0
    {%- endif -%}
    {%- for feature in features %}
    {% if not loop.first %}union all{% endif %}
    -- {{ feature.name }}: {{ feature.function }} over {{ feature.source }} {{ feature.event_types | join(', ') }}, tiles of {{ feature.granularity_ms }} ms
    select
        {{ churnfeat_string_literal(feature.name) }} as feature_name,
        {{ churnfeat_string_literal(feature.definition_hash) }} as definition_hash,
        events.user_id,
        events.source,
        events.kafka_topic,
        events.kafka_partition,
        events.kafka_offset,
        events.event_key,
        events.is_too_late,
        events.is_first_copy,
        events.is_first_timely_copy,
        {{ churnfeat_feature_input_columns(feature, 'events.attributes') }},
        events.event_ts_raw,
        events.event_ms,
        events.ingest_ms,
        {{ churnfeat_tile_start('events.event_ms', feature.granularity_ms) }} as tile_start_ms
    from {{ events_relation }} as events
    where {{ churnfeat_filter_sql(feature, 'events') }}
    {%- if incremental %}
        and (
            events.is_changed_key
            or {{ churnfeat_string_literal(feature.name) }} not in (select feature_name from built_features)
        )
    {%- endif %}
    {%- endfor %}
{% endmacro %}


{#- num_value, fixed_value, str_value of one event for one feature. -#}
{% macro churnfeat_feature_input_columns(feature, attributes) -%}
    {%- if feature.function == 'sum' -%}
        {{ churnfeat_json_number(attributes, feature.attribute) }} as num_value,
        cast(floor({{ churnfeat_json_number(attributes, feature.attribute) }} * cast({{ 10 ** feature.scale }} as double) + 0.5) as {{ dbt.type_bigint() }}) as fixed_value,
        cast(null as {{ dbt.type_string() }}) as str_value
    {%- elif feature.function in ['min', 'max'] -%}
        {{ churnfeat_json_number(attributes, feature.attribute) }} as num_value,
        cast(null as {{ dbt.type_bigint() }}) as fixed_value,
        cast(null as {{ dbt.type_string() }}) as str_value
    {%- elif feature.function in ['count_distinct', 'last'] -%}
        cast(null as double) as num_value,
        cast(null as {{ dbt.type_bigint() }}) as fixed_value,
        {{ churnfeat_json_string(attributes, feature.attribute) }} as str_value
    {%- else -%}
        cast(null as double) as num_value,
        cast(null as {{ dbt.type_bigint() }}) as fixed_value,
        cast(null as {{ dbt.type_string() }}) as str_value
    {%- endif -%}
{%- endmacro %}


{#-
  pre_hook of the incremental feature models: drops the rows of features whose definition
  changed or that no longer exist, so the model rebuilds them in full (a feature with no
  rows reads everything). A no-op on a first or full-refresh run.
-#}
{% macro churnfeat_delete_stale_feature_rows() %}
    {%- if execute and is_incremental() -%}
        {%- set current = [] -%}
        {%- for feature in churnfeat_features() -%}
            {%- do current.append(churnfeat_string_literal(feature.name ~ ':' ~ feature.definition_hash)) -%}
        {%- endfor -%}
        delete from {{ this }}
        where feature_name || ':' || definition_hash not in ({{ current | join(', ') if current else "''" }})
    {%- endif -%}
{% endmacro %}
