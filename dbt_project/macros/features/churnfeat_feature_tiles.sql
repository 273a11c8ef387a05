{#-
  The body of fct_feature_tiles: per (user_id, feature_name, tile_start_ms), what the
  tile holds. `feature_events` has int_feature_events' columns; every row of a tile must
  be in it (a tile is aggregated whole). A tile exists as soon as any copy of any event
  falls into it, so its counts may be 0 (e.g. it only holds too-late records).

  applied_*   the first timely copies: what the online store adds to this tile
  corrected_event_count  the first copies, too-late ones included
-#}
{% macro churnfeat_feature_tiles_sql(feature_events) %}
    {%- set sum_features = churnfeat_features() | selectattr('function', 'equalto', 'sum') | list -%}
select
    -- ids
    user_id,
    feature_name,
    tile_start_ms,
    max(definition_hash) as definition_hash,
    -- measures
    cast(count(case when is_first_timely_copy then 1 end) as {{ dbt.type_bigint() }}) as applied_event_count,
    cast(count(case when is_first_copy then 1 end) as {{ dbt.type_bigint() }}) as corrected_event_count,
    cast(count(case when is_too_late then 1 end) as {{ dbt.type_bigint() }}) as too_late_record_count,
    cast(count(case when not is_first_copy then 1 end) as {{ dbt.type_bigint() }}) as duplicate_record_count,
    cast(sum(case when is_first_timely_copy then fixed_value end) as {{ dbt.type_bigint() }}) as applied_fixed_sum,
    {%- if sum_features %}
    case
        {%- for feature in sum_features %}
        when feature_name = {{ churnfeat_string_literal(feature.name) }}
            then cast(sum(case when is_first_timely_copy then fixed_value end) as double) / cast({{ 10 ** feature.scale }} as double)
        {%- endfor %}
    end as applied_sum,
    {%- else %}
    cast(null as double) as applied_sum,
    {%- endif %}
    min(case when is_first_timely_copy then num_value end) as applied_min,
    max(case when is_first_timely_copy then num_value end) as applied_max,
    cast(count(distinct case when is_first_timely_copy then str_value end) as {{ dbt.type_bigint() }}) as applied_distinct_values,
    max(case when is_first_timely_copy then event_ms end) as applied_latest_event_ms,
    max(ingest_ms) as max_ingest_ms,
    -- timestamps
    {{ churnfeat_ms_to_timestamp('tile_start_ms') }} as tile_start_at,
    {{ churnfeat_ms_to_timestamp('max(ingest_ms)') }} as last_ingested_at
from {{ feature_events }}
group by user_id, feature_name, tile_start_ms
{% endmacro %}
