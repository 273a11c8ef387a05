-- Grain: one row per (feature, lake record) for every record that the feature reads
-- (source, event type and `where` predicates match, and the attribute of sum/min/max/
-- count_distinct/last has the right JSON type). Unique key:
-- (feature_name, source, kafka_topic, kafka_partition, kafka_offset).
-- Rendered from the feature definitions in marts/_marts__models.yml; no feature is named here.
--
-- Incremental, and a full refresh gives the same table (proved by the singular test
-- assert_int_feature_events_equals_full_rebuild and scripts/check_incremental.py,
-- scripts/check_incremental_batches.py):
-- * The batch is every lake record with kafka_ts_ms at or after max(kafka_ts_ms) of this
--   table minus var('lookback_hours'): only those lake partitions (`lake_date`, `lake_hour`)
--   are read.
--   Their dedup flags are decided against each other and against the rows already kept
--   whose event keys they share and whose dedup times lie within the dedup horizon
--   (allowed lateness + dedup margin, from the registry artifact): the rule of
--   churnfeat_feature_events_deduplicated_sql, the same on both paths. A kept row's flag
--   only ever turns false (a batch copy comes before it); those rows are re-emitted from
--   this table with their new flags, and delete+insert on the unique key replaces them.
-- * A feature definition that the last build did not cover (new, or redefined: its
--   definition or the lateness policy changed), or a removed one, makes the run a full
--   rebuild: which records some feature reads decides dedup for every feature. The
--   definitions each build covered are recorded by the post_hook in the table
--   int_feature_events__definitions (macro churnfeat_record_built_definitions), so a
--   feature that reads no record yet (no rows) does not force a rebuild.
-- The one assumption: a record lands in the lake no later than `lookback_hours` after the
-- newest record already processed (by kafka_ts_ms). Older backfills need `--full-refresh`.
-- Snowflake: clustered by the day of event_ms, the range the marts' point-in-time bound reads
-- (DuckDB has no cluster keys).

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['feature_name', 'source', 'kafka_topic', 'kafka_partition', 'kafka_offset'],
        on_schema_change='fail',
        cluster_by=['floor(event_ms / 86400000)'] if target.type == 'snowflake' else none,
        pre_hook="{{ churnfeat_delete_stale_feature_rows() }}",
        post_hook=[
            "{{ churnfeat_record_built_definitions('create') }}",
            "{{ churnfeat_record_built_definitions('delete') }}",
            "{{ churnfeat_record_built_definitions('insert') }}"
        ]
    )
}}

{%- set lookback_ms = var('lookback_hours') | int * 3600000 %}
{%- set bounds = churnfeat_incremental_first_partition(lookback_ms) if is_incremental() else none %}
{%- set first_partition = bounds if bounds is not none and not bounds.rebuild else none %}

with

{% if is_incremental() %}
{%- if bounds is not none and bounds.rebuild %}
-- {{ bounds.reason }} (seen when the model was compiled): rebuild everything
batch_bound as (
    select cast(-9000000000000000000 as {{ dbt.type_bigint() }}) as from_kafka_ts_ms
),
{%- elif first_partition is not none %}
-- the last build covered every current definition (checked when the model was compiled): the bound as a literal
batch_bound as (
    select cast({{ first_partition.from_ms }} as {{ dbt.type_bigint() }}) as from_kafka_ts_ms
),
{%- else %}
-- (unit tests) the bound from the fixture of this table
batch_bound as (
    select
        coalesce(
            max(kafka_ts_ms) - {{ lookback_ms }},
            cast(-9000000000000000000 as {{ dbt.type_bigint() }})
        ) as from_kafka_ts_ms
    from {{ this }}
),
{%- endif %}

kept_rows as (
    select *
    from {{ this }}
    where kafka_ts_ms < (select from_kafka_ts_ms from batch_bound)
        {%- if first_partition is not none %}
        -- only the dedup times a batch copy can meet (literals, so storage can skip the rest)
        and dedup_ms between {{ first_partition.dedup_from_ms if first_partition.dedup_from_ms is not none else 0 }}
            and {{ first_partition.dedup_to_ms if first_partition.dedup_to_ms is not none else -1 }}
        {%- endif %}
),
{% endif %}

lake_records as (
    select *
    from {{ ref('stg_lake__records') }}
    {%- if is_incremental() %}
    where kafka_ts_ms >= (select from_kafka_ts_ms from batch_bound)
        {%- if first_partition is not none %}
        -- the same bound as literals on the partition columns, so only those files are read
        and {{ churnfeat_lake_partitions_from(first_partition) }}
        {%- endif %}
    {%- endif %}
),

-- A record written twice (a replayed file under a new name) is kept once.
records as (
    {{ churnfeat_records_once('lake_records') }}
),

feature_events as (
    {{ churnfeat_feature_events_deduplicated_sql('records', 'kept_rows' if is_incremental() else none) }}
),

final as (
    select * from feature_events
)

select * from final
