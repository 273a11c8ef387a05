{#-
  The rows of int_feature_events for the records of `events_relation` (stg_lake__records'
  columns; one row per record: staging's replayed-file duplicates already dropped), with
  the dedup flags decided against the copies in `kept_relation` (rows of int_feature_events
  from earlier runs; none on a full build) and against each other. One macro for the model's
  two paths and the singular test's full rebuild, so they cannot drift.

  The dedup rule (docs/feature-semantics.md §1, as the online store applies it): among the
  copies of (user_id, source, event_key) that some feature reads, the first copy by
  (kafka_partition, kafka_offset, kafka_topic) wins; a copy is shadowed only by an earlier
  copy whose dedup time lies within the dedup horizon H = allowed lateness + dedup margin
  of its own (the registry's policies). Copies of one event share their dedup time (it is
  event_ts), so for them this is the whole-history rule; only copies re-stamped more than H
  apart count twice, as online, where the first copy's entry has expired by then.
    is_first_copy         no earlier copy within H (too-late copies included: `corrected`)
    is_first_timely_copy  not too late, and no earlier timely copy within H (`as_available`)

  Columns: feature_name, definition_hash, user_id, source, kafka_topic, kafka_partition,
  kafka_offset, event_key, is_too_late, is_first_copy, is_first_timely_copy, num_value,
  fixed_value, str_value, event_ts_raw, event_ms, ingest_ms, tile_start_ms, dedup_ms,
  kafka_ts_ms.
-#}
{% macro churnfeat_feature_events_deduplicated_sql(events_relation, kept_relation=none) %}
    {%- set horizon_ms = churnfeat_policy('allowedLatenessMs') | int + churnfeat_policy('dedupMarginMs') | int %}
    with

    batch_rows as (
        {{ churnfeat_feature_events_sql(events_relation) | indent(8) }}
    ),

    -- the records some feature reads (online, a record no feature reads never reaches dedup)
    batch_copies as (
        select distinct
            user_id, source, event_key, kafka_topic, kafka_partition, kafka_offset, dedup_ms, is_too_late
        from batch_rows
    ),
    {%- if kept_relation is not none %}

    -- the copies kept by earlier runs that a batch copy can shadow or be shadowed by: the
    -- same event keys, dedup times within the horizon of the batch's
    kept_copies as (
        select distinct
            kept.user_id,
            kept.source,
            kept.event_key,
            kept.kafka_topic,
            kept.kafka_partition,
            kept.kafka_offset,
            kept.dedup_ms,
            kept.is_too_late,
            kept.is_first_copy,
            kept.is_first_timely_copy
        from {{ kept_relation }} as kept
        inner join (select distinct user_id, source, event_key from batch_copies) as batch_keys
            on kept.user_id = batch_keys.user_id
            and kept.source = batch_keys.source
            and kept.event_key = batch_keys.event_key
        where kept.dedup_ms >= (select min(dedup_ms) from batch_copies) - {{ horizon_ms }}
            and kept.dedup_ms <= (select max(dedup_ms) from batch_copies) + {{ horizon_ms }}
    ),

    context_copies as (
        select user_id, source, event_key, kafka_topic, kafka_partition, kafka_offset, dedup_ms, is_too_late
        from batch_copies
        union all
        select user_id, source, event_key, kafka_topic, kafka_partition, kafka_offset, dedup_ms, is_too_late
        from kept_copies
    ),
    {%- endif %}

    batch_shadowed as (
        {{ churnfeat_dedup_shadowed('batch_copies', 'context_copies' if kept_relation is not none else 'batch_copies', horizon_ms) | indent(8) }}
    ),

    batch_flags as (
        select
            {{ churnfeat_record_key('batch_copies') }},
            batch_shadowed.kafka_offset is null as is_first_copy,
            not batch_copies.is_too_late and coalesce(not batch_shadowed.has_earlier_timely_copy, true) as is_first_timely_copy
        from batch_copies
        left join batch_shadowed
            on {{ churnfeat_record_key_join('batch_copies', 'batch_shadowed') }}
    ),
    {%- if kept_relation is not none %}

    -- a kept copy's flags only ever turn false: by a batch copy that comes earlier within H
    kept_shadowed as (
        {{ churnfeat_dedup_shadowed('kept_copies', 'batch_copies', horizon_ms) | indent(8) }}
    ),

    kept_flips as (
        select
            {{ churnfeat_record_key('kept_copies') }},
            false as is_first_copy,
            kept_copies.is_first_timely_copy and not kept_shadowed.has_earlier_timely_copy as is_first_timely_copy
        from kept_copies
        inner join kept_shadowed
            on {{ churnfeat_record_key_join('kept_copies', 'kept_shadowed') }}
        where kept_copies.is_first_copy
            or (kept_copies.is_first_timely_copy and kept_shadowed.has_earlier_timely_copy)
    ),
    {%- endif %}

    {%- set flag_columns = ['is_first_copy', 'is_first_timely_copy'] %}
    {%- set columns = ['feature_name', 'definition_hash', 'user_id', 'source', 'kafka_topic', 'kafka_partition',
        'kafka_offset', 'event_key', 'is_too_late', 'is_first_copy', 'is_first_timely_copy', 'num_value',
        'fixed_value', 'str_value', 'event_ts_raw', 'event_ms', 'ingest_ms', 'tile_start_ms', 'dedup_ms', 'kafka_ts_ms'] %}

    deduplicated as (
        {%- for pair in [('batch_rows', 'batch_flags')] + ([(kept_relation, 'kept_flips')] if kept_relation is not none else []) %}
        {%- if not loop.first %}
        union all
        {%- endif %}
        select
            {%- for column in columns %}
            {{ 'flags' if column in flag_columns else 'rows' }}.{{ column }}{{ ',' if not loop.last }}
            {%- endfor %}
        from {{ pair[0] }} as rows
        inner join {{ pair[1] }} as flags
            on {{ churnfeat_record_key_join('rows', 'flags') }}
        {%- endfor %}
    )

    select * from deduplicated
{% endmacro %}


{#- Per copy of `judged` that an earlier copy of `context` shadows (same user, source and
    event key, lower (partition, offset, topic), dedup time within `horizon_ms`): its record
    key and whether a timely copy is among the shadowing ones. Copies not shadowed are absent. -#}
{% macro churnfeat_dedup_shadowed(judged, context, horizon_ms) %}
select
    {{ churnfeat_record_key('judged', indent=4) }},
    max(case when not earlier.is_too_late then 1 else 0 end) = 1 as has_earlier_timely_copy
from {{ judged }} as judged
inner join {{ context }} as earlier
    on judged.user_id = earlier.user_id
    and judged.source = earlier.source
    and judged.event_key = earlier.event_key
    and earlier.dedup_ms between judged.dedup_ms - {{ horizon_ms }} and judged.dedup_ms + {{ horizon_ms }}
    and (
        earlier.kafka_partition < judged.kafka_partition
        or (earlier.kafka_partition = judged.kafka_partition and earlier.kafka_offset < judged.kafka_offset)
        or (
            earlier.kafka_partition = judged.kafka_partition
            and earlier.kafka_offset = judged.kafka_offset
            and earlier.kafka_topic < judged.kafka_topic
        )
    )
group by
    {{ churnfeat_record_key('judged', indent=4) }}
{% endmacro %}


{#-
  Per feature, the records of `events_relation` (stg_lake__records' columns) it reads with
  the input its aggregation takes (feature-semantics §2, §4), as one `union all`, without the
  dedup flags (churnfeat_feature_events_deduplicated_sql adds them). Rendered entirely from
  the feature definitions; no feature is named here.

  Columns: feature_name, definition_hash, user_id, source, kafka_topic, kafka_partition,
  kafka_offset, event_key, is_too_late, num_value (DOUBLE: the attribute of sum/min/max),
  fixed_value (BIGINT: the attribute of sum rounded to `scale` decimals as
  floor(v * 10^scale + 0.5)), str_value (the string of count_distinct/last), event_ts_raw,
  event_ms, ingest_ms, tile_start_ms, dedup_ms (the store's dedup time: event_ms, or
  event_ts where event_ms was clamped to ingest_ms; the bootstrap bounds its reads by it),
  kafka_ts_ms (the lake partition's time).
-#}
{% macro churnfeat_feature_events_sql(events_relation) %}
    {%- set features = churnfeat_features() -%}
    {%- if features | length == 0 %}
    -- no feature definitions (or parse time): an empty relation of the right shape
    select
        {{ churnfeat_typed_columns([
            ['feature_name', 'string'], ['definition_hash', 'string'], ['user_id', 'string'], ['source', 'string'],
            ['kafka_topic', 'string'], ['kafka_partition', 'int'], ['kafka_offset', 'bigint'], ['event_key', 'string'],
            ['is_too_late', 'boolean'], ['num_value', 'double'], ['fixed_value', 'bigint'], ['str_value', 'string'],
            ['event_ts_raw', 'string'], ['event_ms', 'bigint'], ['ingest_ms', 'bigint'], ['tile_start_ms', 'bigint'],
            ['dedup_ms', 'bigint'], ['kafka_ts_ms', 'bigint']
        ], indent=8, value='null') }}
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
        {{ churnfeat_feature_input_columns(feature, 'events.attributes') }},
        events.event_ts_raw,
        events.event_ms,
        events.ingest_ms,
        {{ churnfeat_tile_start('events.event_ms', feature.granularity_ms) }} as tile_start_ms,
        events.dedup_ms,
        events.kafka_ts_ms
    from {{ events_relation }} as events
    where {{ churnfeat_filter_sql(feature, 'events') }}
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


{#-
  The feature definitions a build of `this` covered are recorded in a table beside it,
  <this>__definitions (registry_version, feature_name, definition_hash): written by the
  model's post_hook after every successful run, read when the next run is compiled. It is
  what decides whether a run may be incremental, not which features have rows (a feature
  that reads no record yet has none, and would otherwise force a full rebuild every run).
-#}
{% macro churnfeat_built_definitions_relation(base=none) %}
    {%- set base = base if base is not none else this -%}
    {{ return(api.Relation.create(database=base.database, schema=base.schema, identifier=base.identifier ~ '__definitions')) }}
{% endmacro %}


{#- run-operation (the backfill DAG, after deleting some features' rows): forgets that the
    last build covered `features`, so the next run of int_feature_events rebuilds them
    (every feature: which records some feature reads decides dedup for all). -#}
{% macro churnfeat_forget_built_definitions(features) %}
    {%- set relation = churnfeat_built_definitions_relation(ref('int_feature_events')) -%}
    {%- if adapter.get_relation(database=relation.database, schema=relation.schema, identifier=relation.identifier) is none -%}
        {{ return('') }}
    {%- endif -%}
    {%- set names = [] -%}
    {%- for name in features -%}
        {%- do names.append(churnfeat_string_literal(name)) -%}
    {%- endfor -%}
    {%- if names -%}
        {%- do run_query('delete from ' ~ relation ~ ' where feature_name in (' ~ names | join(', ') ~ ')') -%}
        {#- run-operation does not commit by itself -#}
        {%- do adapter.commit() -%}
    {%- endif -%}
{% endmacro %}


{#- The registry's features as sorted 'name:definition_hash' strings. -#}
{% macro churnfeat_current_definitions() %}
    {%- set current = [] -%}
    {%- for feature in churnfeat_features() -%}
        {%- do current.append(feature.name ~ ':' ~ feature.definition_hash) -%}
    {%- endfor -%}
    {{ return(current | sort) }}
{% endmacro %}


{#- post_hook of int_feature_events: records the definitions this run built (a no-op when
    parsing and in unit tests). Three statements, one hook each. -#}
{% macro churnfeat_record_built_definitions(step) %}
    {%- if execute and model.resource_type != 'unit_test' -%}
        {%- set relation = churnfeat_built_definitions_relation() -%}
        {%- if step == 'create' -%}
            create table if not exists {{ relation }} (
                registry_version {{ dbt.type_string() }},
                feature_name {{ dbt.type_string() }},
                definition_hash {{ dbt.type_string() }}
            )
        {%- elif step == 'delete' -%}
            delete from {{ relation }}
        {%- elif churnfeat_features() -%}
            insert into {{ relation }} (registry_version, feature_name, definition_hash) values
            {%- for feature in churnfeat_features() %}
                ({{ churnfeat_string_literal(churnfeat_registry_version()) }}, {{ churnfeat_string_literal(feature.name) }}, {{ churnfeat_string_literal(feature.definition_hash) }}){{ ',' if not loop.last }}
            {%- endfor %}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}


{#-
  What an incremental run of int_feature_events reads, as literals for pruning (the
  model's own bounds, computed in SQL, still apply): 'from_ms', max(kafka_ts_ms) - lookback
  of the table, {'date': 'YYYY-MM-DD', 'hour': 'HH'} of it (UTC), the first lake partition read, and
  'dedup_from_ms' / 'dedup_to_ms', the dedup times of the batch's records widened by the
  dedup horizon (the kept rows a batch copy can meet; null when the batch is empty).
  {'rebuild': true, 'reason': ...} when the definitions recorded by the last build
  (churnfeat_built_definitions_relation) are not the registry's: a feature is new,
  redefined or removed (which records some feature reads changed), or nothing was
  recorded; and when the table is empty. none (the model computes its bound in SQL) at
  parse time and in unit tests, where `this` is a fixture the query cannot see; there the
  recorded definitions come from var('built_definitions') ('name:hash' strings), if set.
-#}
{% macro churnfeat_incremental_first_partition(lookback_ms) %}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set current = churnfeat_current_definitions() -%}
    {%- if model.resource_type == 'unit_test' -%}
        {%- set recorded = var('built_definitions', none) -%}
        {%- if recorded is not none and (recorded | sort) != current -%}
            {{ return({'rebuild': true, 'reason': 'the recorded feature definitions are not the registry\'s'}) }}
        {%- endif -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set relation = churnfeat_built_definitions_relation() -%}
    {%- if adapter.get_relation(database=relation.database, schema=relation.schema, identifier=relation.identifier) is none -%}
        {{ return({'rebuild': true, 'reason': 'no record of the feature definitions built'}) }}
    {%- endif -%}
    {%- set recorded_query -%}
        select feature_name || ':' || definition_hash from {{ relation }}
    {%- endset -%}
    {%- set recorded = run_query(recorded_query).columns[0].values() | list | sort -%}
    {%- if recorded != current -%}
        {#- a feature is new, redefined or removed: which records some feature reads changed -#}
        {{ return({'rebuild': true, 'reason': 'a feature is new, redefined or removed'}) }}
    {%- endif -%}
    {%- set from_ms = run_query('select max(kafka_ts_ms) - ' ~ lookback_ms ~ ' from ' ~ this).rows[0][0] -%}
    {%- if from_ms is none -%}
        {{ return({'rebuild': true, 'reason': 'the table is empty'}) }}
    {%- endif -%}
    {%- set first = churnfeat_lake_partition_of(from_ms | int) -%}
    {%- set horizon_ms = churnfeat_policy('allowedLatenessMs') | int + churnfeat_policy('dedupMarginMs') | int -%}
    {%- set batch_query -%}
        select min(dedup_ms) - {{ horizon_ms }}, max(dedup_ms) + {{ horizon_ms }}
        from {{ ref('stg_lake__records') }}
        where kafka_ts_ms >= {{ from_ms | int }}
            and {{ churnfeat_lake_partitions_from(first) }}
    {%- endset -%}
    {%- set batch = run_query(batch_query).rows[0] -%}
    {%- do first.update({'from_ms': from_ms | int, 'dedup_from_ms': batch[0], 'dedup_to_ms': batch[1]}) -%}
    {{ return(first) }}
{% endmacro %}


{#- The lake partition {'date': 'YYYY-MM-DD', 'hour': 'HH'} (UTC) of epoch ms `at_ms`. -#}
{% macro churnfeat_lake_partition_of(at_ms) %}
    {%- set at = modules.datetime.datetime.utcfromtimestamp(at_ms // 1000) -%}
    {{ return({'date': at.strftime('%Y-%m-%d'), 'hour': at.strftime('%H')}) }}
{% endmacro %}


{#- The lake partitions at or after `first` ({'date', 'hour'}), as a filter on
    stg_lake__records' lake_date / lake_hour that prunes files (a compacted day's hour
    'all' sorts after every hour: its buckets are read whole). -#}
{% macro churnfeat_lake_partitions_from(first) -%}
    (lake_date > '{{ first.date }}' or (lake_date = '{{ first.date }}' and lake_hour >= '{{ first.hour }}'))
{% endmacro %}


{#- The records of `relation` (stg_lake__records' columns) once each: a record written twice
    (a replayed file under a new name, same content) keeps its first row. Adds record_copy_rank. -#}
{% macro churnfeat_records_once(relation) %}
select ranked.*
from (
    select
        records.*,
        row_number() over (
            partition by records.source, records.kafka_topic, records.kafka_partition, records.kafka_offset
            order by records.ingest_ms, records.event_key
        ) as record_copy_rank
    from {{ relation }} as records
) as ranked
where ranked.record_copy_rank = 1
{% endmacro %}


{#- The key of one copy of a lake record among int_feature_events' rows of a feature (the unique
    key without feature_name): `alias`'s columns, one per line at `indent` spaces after the first. -#}
{% macro churnfeat_record_key(alias, indent=12) -%}
    {%- for column in ['user_id', 'source', 'kafka_topic', 'kafka_partition', 'kafka_offset'] -%}
        {{ alias }}.{{ column }}{{ (',\n' ~ ' ' * indent) if not loop.last }}
    {%- endfor -%}
{%- endmacro %}


{#- `left` and `right` are the same copy: the join predicate on churnfeat_record_key's columns. -#}
{% macro churnfeat_record_key_join(left, right, indent=12) -%}
    {%- for column in ['user_id', 'source', 'kafka_topic', 'kafka_partition', 'kafka_offset'] -%}
        {{ '' if loop.first else '\n' ~ ' ' * indent ~ 'and ' }}{{ left }}.{{ column }} = {{ right }}.{{ column }}
    {%- endfor -%}
{%- endmacro %}
