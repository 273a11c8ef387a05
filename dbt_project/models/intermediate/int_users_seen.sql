-- Grain: one row per user_id seen in the lake: the earliest ingest time of any of the user's
-- records, the latest, and the latest kafka_ts_ms (the incremental runs' bound).
-- The user spine of fct_user_features: a user seen by as_of has a row there, with empty
-- values when no event is in a window, so the spine cannot be bounded by the windows; this
-- small table (one row per subscriber) replaces a scan of the whole lake's user ids.
-- Incremental like int_feature_events: a run reads only the lake partitions at or after
-- max(last_kafka_ts_ms) - var('lookback_hours') (literals, so files are pruned) and merges
-- them into the kept rows by min/max, which is what a full refresh computes over the whole
-- lake; the same assumption (a record lands within lookback_hours of the newest processed).

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='user_id',
        on_schema_change='fail'
    )
}}

{%- set lookback_ms = var('lookback_hours') | int * 3600000 %}
{%- set first_partition = none %}
{%- if execute and is_incremental() and model.resource_type != 'unit_test' %}
    {%- set from_ms = run_query('select max(last_kafka_ts_ms) - ' ~ lookback_ms ~ ' from ' ~ this).rows[0][0] %}
    {%- if from_ms is not none %}
        {%- set first_partition = churnfeat_lake_partition_of(from_ms | int) %}
        {%- do first_partition.update({'from_ms': from_ms | int}) %}
    {%- endif %}
{%- endif %}

with

lake_records as (
    select
        user_id,
        ingest_ms,
        kafka_ts_ms
    from {{ ref('stg_lake__records') }}
    {%- if is_incremental() %}
    where kafka_ts_ms >= (
        select coalesce(max(last_kafka_ts_ms) - {{ lookback_ms }}, cast(-9000000000000000000 as {{ dbt.type_bigint() }}))
        from {{ this }}
    )
        {%- if first_partition is not none %}
        -- the same bound as literals on the partition columns, so only those files are read
        and {{ churnfeat_lake_partitions_from(first_partition) }}
        {%- endif %}
    {%- endif %}
),

batch_users as (
    select
        user_id,
        min(ingest_ms) as first_ingest_ms,
        max(ingest_ms) as last_ingest_ms,
        max(kafka_ts_ms) as last_kafka_ts_ms
    from lake_records
    group by user_id
),

{%- if is_incremental() %}

merged as (
    select
        batch_users.user_id,
        least(batch_users.first_ingest_ms, coalesce(kept.first_ingest_ms, batch_users.first_ingest_ms)) as first_ingest_ms,
        greatest(batch_users.last_ingest_ms, coalesce(kept.last_ingest_ms, batch_users.last_ingest_ms)) as last_ingest_ms,
        greatest(batch_users.last_kafka_ts_ms, coalesce(kept.last_kafka_ts_ms, batch_users.last_kafka_ts_ms))
            as last_kafka_ts_ms
    from batch_users
    left join {{ this }} as kept
        on batch_users.user_id = kept.user_id
),
{%- endif %}

final as (
    select * from {{ 'merged' if is_incremental() else 'batch_users' }}
)

select * from final
