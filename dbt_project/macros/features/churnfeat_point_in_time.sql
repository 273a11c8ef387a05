{#-
  Features of many (user_id, as_of) points in one query: the point-in-time join behind
  fct_user_features, fct_training_features and the parity job.

  spine_relation  a relation, or the name of a CTE in scope, with one row per
                  (user_id, as_of): columns user_id and as_of (UTC timestamp) and/or
                  as_of_ms (epoch ms). Optional nullable BIGINT columns
                  max_offset_<source> (one per source a feature reads) limit
                  as_available mode to the records of that source with
                  kafka_offset <= the value (the offsets the online store had applied;
                  a user's records of one source share a partition, keyed by user_id).
                  Any other column (labels...) is carried through.
  mode            'as_available': what the online path had at as_of (feature-semantics
                  §1, §3): first timely copy, ingest_ms <= as_of, not too late.
                  'corrected': all events by event time (too-late ones included), the
                  first copy of each event, no ingest-time filter.
  spine_columns   the spine's column names when it is a CTE (a relation is introspected).
  feature_events  relation with int_feature_events' rows (default: ref it).
  as_of_range     optional {'from_ms': .., 'to_ms': ..}: the smallest and largest as_of of
                  the spine as literals (fct_user_features knows its one as_of), so the
                  scan of feature_events is bounded by constants Snowflake prunes
                  micro-partitions with; default: the spine's min/max as scalar subqueries.

  Every event counted has event_ms <= as_of and tile_start(event_ms) >= tile_start(as_of) - W,
  hence event_ms > as_of - W - g, and ingest_ms >= event_ms (event_ms is min(event_ts,
  ingest_ts)): the scan of feature_events keeps only event_ms and ingest_ms at or after the
  earliest as_of minus the longest reach (W + g, churnfeat_feature_reach_ms()) and event_ms up
  to the latest as_of. Implied by the join's own predicates, so the values do not change.
  Output: the spine's columns (plus as_of / as_of_ms when missing), mode, one column per
  feature (its value, feature-semantics §4), one <feature>__latest_event_ms per feature.
-#}
{% macro churnfeat_point_in_time(spine_relation, mode, spine_columns=none, feature_events=none, as_of_range=none) %}
    {%- if mode not in ['as_available', 'corrected'] -%}
        {{ exceptions.raise_compiler_error("churnfeat_point_in_time: mode must be 'as_available' or 'corrected', not '" ~ mode ~ "'") }}
    {%- endif -%}
    {%- set feature_events = feature_events if feature_events is not none else ref('int_feature_events') -%}
    {%- set features = churnfeat_features() -%}

    {#- The spine's columns: given, introspected, or assumed (user_id, as_of) when they
        cannot be read: at parse time, in unit tests (the spine is a CTE there), and when
        compiling before the spine exists. -#}
    {%- if spine_columns is none -%}
        {%- set spine_columns = [] -%}
        {%- set introspectable = execute and spine_relation is not string
                and spine_relation.schema and spine_relation.identifier
                and not spine_relation.identifier.startswith('__dbt__cte__') -%}
        {%- set existing = load_relation(spine_relation) if introspectable else none -%}
        {%- if existing is not none -%}
            {%- for column in adapter.get_columns_in_relation(existing) -%}
                {%- do spine_columns.append(column.name | lower) -%}
            {%- endfor -%}
        {%- endif -%}
        {%- if spine_columns | length == 0 -%}
            {%- set spine_columns = ['user_id', 'as_of'] -%}
        {%- endif -%}
    {%- endif -%}
    {%- set spine_columns = spine_columns | map('lower') | list -%}
    {%- if execute and 'user_id' not in spine_columns -%}
        {{ exceptions.raise_compiler_error('churnfeat_point_in_time: the spine ' ~ spine_relation ~ ' has no user_id column (columns: ' ~ (spine_columns | join(', ')) ~ ')') }}
    {%- endif -%}
    {%- if execute and 'as_of' not in spine_columns and 'as_of_ms' not in spine_columns -%}
        {{ exceptions.raise_compiler_error('churnfeat_point_in_time: the spine ' ~ spine_relation ~ ' needs an as_of or as_of_ms column') }}
    {%- endif -%}
    {%- set offset_limits = [] -%}
    {%- if mode == 'as_available' -%}
        {%- for source in churnfeat_feature_sources() if ('max_offset_' ~ source) in spine_columns -%}
            {%- do offset_limits.append({'source': source, 'column': 'max_offset_' ~ source}) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set has_last = features | selectattr('function', 'equalto', 'last') | list | length > 0 -%}
    {%- set key_columns = ['user_id', 'as_of_ms'] + (offset_limits | map(attribute='column') | list) -%}
    {%- set spine_as_of_ms = 'as_of_ms' if 'as_of_ms' in spine_columns else churnfeat_timestamp_to_ms('as_of') -%}
    {%- if as_of_range is not none -%}
        {%- set from_as_of_ms = as_of_range.from_ms -%}
        {%- set to_as_of_ms = as_of_range.to_ms -%}
    {%- else -%}
        {%- set from_as_of_ms = '(select min(' ~ spine_as_of_ms ~ ') from ' ~ spine_relation ~ ')' -%}
        {%- set to_as_of_ms = '(select max(' ~ spine_as_of_ms ~ ') from ' ~ spine_relation ~ ')' -%}
    {%- endif -%}

select
    spine.*,
    {{ churnfeat_string_literal(mode) }} as mode
    {%- for feature in features %},
    coalesce(aggregated.{{ feature.name }}, {{ churnfeat_empty_value(feature) }}) as {{ feature.name }}
    {%- endfor %}
    {%- for feature in features %},
    aggregated.{{ feature.name }}__latest_event_ms
    {%- endfor %}
from (
    select
        spine_rows.*
        {%- if 'as_of_ms' not in spine_columns %},
        {{ churnfeat_timestamp_to_ms('spine_rows.as_of') }} as as_of_ms
        {%- endif %}
        {%- if 'as_of' not in spine_columns %},
        {{ churnfeat_ms_to_timestamp('spine_rows.as_of_ms') }} as as_of
        {%- endif %}
    from {{ spine_relation }} as spine_rows
) as spine
left join (
    select
        {{ key_columns | join(',\n        ') }}
        {%- for feature in features %},
        {{ churnfeat_aggregate(feature) }} as {{ feature.name }},
        {{ churnfeat_latest_event_ms(feature) }} as {{ feature.name }}__latest_event_ms
        {%- endfor %}
    from (
        select
            spine_keys.*,
            events.feature_name,
            events.event_key,
            events.event_ms,
            events.num_value,
            events.fixed_value,
            events.str_value
            {%- if has_last %},
            row_number() over (
                partition by {% for column in key_columns %}spine_keys.{{ column }}, {% endfor %}events.feature_name
                order by events.event_ms desc, events.event_key desc
            ) as recency_rank
            {%- endif %}
        from (
            select distinct
                user_id,
                {{ spine_as_of_ms }}{{ '' if 'as_of_ms' in spine_columns else ' as as_of_ms' }}
                {%- for limit in offset_limits %},
                {{ limit.column }}
                {%- endfor %}
            from {{ spine_relation }}
        ) as spine_keys
        inner join (
            -- what a window ending at some as_of of the spine can count (see above): pruned by time
            select *
            from {{ feature_events }}
            where event_ms >= {{ from_as_of_ms }} - {{ churnfeat_feature_reach_ms() }}
                and ingest_ms >= {{ from_as_of_ms }} - {{ churnfeat_feature_reach_ms() }}
                and event_ms <= {{ to_as_of_ms }}
        ) as events
            on events.user_id = spine_keys.user_id
        inner join (
            {{ churnfeat_feature_params_sql() | indent(12) }}
        ) as params
            on params.feature_name = events.feature_name
        where events.event_ms <= spine_keys.as_of_ms
            and events.tile_start_ms >= {{ churnfeat_tile_start('spine_keys.as_of_ms', 'params.granularity_ms') }} - params.window_ms
            {%- if mode == 'as_available' %}
            and events.is_first_timely_copy
            and events.ingest_ms <= spine_keys.as_of_ms
            {%- for limit in offset_limits %}
            and (
                events.source <> {{ churnfeat_string_literal(limit.source) }}
                or spine_keys.{{ limit.column }} is null
                or events.kafka_offset <= spine_keys.{{ limit.column }}
            )
            {%- endfor %}
            {%- else %}
            and events.is_first_copy
            {%- endif %}
    ) as windowed
    group by {{ key_columns | join(', ') }}
) as aggregated
    on aggregated.user_id = spine.user_id
    and aggregated.as_of_ms = spine.as_of_ms
    {%- for limit in offset_limits %}
    and aggregated.{{ limit.column }} is not distinct from spine.{{ limit.column }}
    {%- endfor %}
{% endmacro %}


{#- The longest reach back of any feature's window from its as_of: max(W + g) in ms (0 without features). -#}
{% macro churnfeat_feature_reach_ms() -%}
    {%- set reach = [0] -%}
    {%- for feature in churnfeat_features() -%}
        {%- do reach.append(feature.window_ms | int + feature.granularity_ms | int) -%}
    {%- endfor -%}
    {{ reach | max }}
{%- endmacro %}


{#- One row per feature: feature_name, granularity_ms, window_ms. -#}
{% macro churnfeat_feature_params_sql() -%}
    {%- set features = churnfeat_features() -%}
    {%- for feature in features -%}
        {%- if not loop.first %}
union all
{% endif -%}
select {{ churnfeat_string_literal(feature.name) }} as feature_name, cast({{ feature.granularity_ms }} as {{ dbt.type_bigint() }}) as granularity_ms, cast({{ feature.window_ms }} as {{ dbt.type_bigint() }}) as window_ms
    {%- else -%}
select cast(null as {{ dbt.type_string() }}) as feature_name, cast(null as {{ dbt.type_bigint() }}) as granularity_ms, cast(null as {{ dbt.type_bigint() }}) as window_ms where 1 = 0
    {%- endfor -%}
{%- endmacro %}


{#- A relation from "table", "schema.table" or "database.schema.table". -#}
{% macro churnfeat_relation_from_name(name) %}
    {%- set parts = name.split('.') -%}
    {%- if parts | length == 1 -%}
        {{ return(api.Relation.create(database=target.database, schema=target.schema, identifier=parts[0])) }}
    {%- elif parts | length == 2 -%}
        {{ return(api.Relation.create(database=target.database, schema=parts[0], identifier=parts[1])) }}
    {%- elif parts | length == 3 -%}
        {{ return(api.Relation.create(database=parts[0], schema=parts[1], identifier=parts[2])) }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error('Not a relation name: ' ~ name ~ ' (use table, schema.table or database.schema.table)') }}
{% endmacro %}


{#- The spine of fct_training_features: var('spine_relation') or the label_spine seed. -#}
{% macro churnfeat_spine_relation() %}
    {%- set name = var('spine_relation', none) -%}
    {%- if name -%}
        {{ return(churnfeat_relation_from_name(name)) }}
    {%- endif -%}
    {{ return(ref('label_spine')) }}
{% endmacro %}


{#-
  run-operation for the parity job: writes the point-in-time features of a spine table
  into a new table (replacing it), one block of rows per mode.

    dbt run-operation churnfeat_point_in_time_to_table --project-dir dbt_project \
      --profiles-dir dbt_project \
      --args '{spine: main.parity_spine, target_table: main.parity_offline, modes: [as_available]}'
-#}
{% macro churnfeat_point_in_time_to_table(spine, target_table, modes=['as_available', 'corrected']) %}
    {%- set spine_relation = churnfeat_relation_from_name(spine) -%}
    {%- set target_relation = churnfeat_relation_from_name(target_table) -%}
    {%- if adapter.get_relation(spine_relation.database, spine_relation.schema, spine_relation.identifier) is none -%}
        {{ exceptions.raise_compiler_error('churnfeat_point_in_time_to_table: spine ' ~ spine_relation ~ ' does not exist') }}
    {%- endif -%}
    {%- set parts = [] -%}
    {%- for mode in modes -%}
        {%- do parts.append('select * from (\n' ~ churnfeat_point_in_time(spine_relation, mode) ~ '\n) as ' ~ mode ~ '_rows') -%}
    {%- endfor -%}
    {%- set sql = parts | join('\nunion all\n') -%}
    {%- set existing = adapter.get_relation(target_relation.database, target_relation.schema, target_relation.identifier) -%}
    {%- if existing is not none -%}
        {%- do adapter.drop_relation(existing) -%}
    {%- endif -%}
    {%- do adapter.create_schema(target_relation) -%}
    {%- do run_query(create_table_as(false, target_relation, sql)) -%}
    {%- set counted = run_query('select count(*) from ' ~ target_relation) -%}
    {%- do log('churnfeat: wrote ' ~ counted.columns[0].values()[0] ~ ' rows to ' ~ target_relation, info=true) -%}
    {%- do adapter.commit() -%}
{% endmacro %}
