-- Grain: one row per Kafka record of a valid event in the lake:
-- (source, kafka_topic, kafka_partition, kafka_offset). Every copy of an event is kept;
-- the dedup flags say which copy the marts count (docs/feature-semantics.md §1):
--   is_too_late          ingest_ms - event_ms > the registry's allowed lateness policy
--   is_first_copy        first copy of (user_id, source, event_key) by (partition, offset)
--   is_first_timely_copy first copy among the copies that are not too late (the lateness
--                        verdict comes before dedup, so a too-late copy never shadows a
--                        later timely one); false for too-late rows
-- A record written twice (a replayed file under a new name) is kept once. Synthetic users
-- (the canary's `__canary__-*`, macro churnfeat_is_synthetic_user) are not customers: dropped here.

with

source_events as (
    select
        source,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        kafka_ts_ms,
        event_key,
        event_id,
        user_id,
        device_id,
        event_type,
        event_ts,
        ingest_ts,
        event_ms,
        ingest_ms,
        attributes
    from {{ source('lake', 'events') }}
    where not {{ churnfeat_is_synthetic_user('user_id') }}
),

renamed as (
    select
        -- ids
        cast(source as {{ dbt.type_string() }}) as source,
        cast(kafka_topic as {{ dbt.type_string() }}) as kafka_topic,
        cast(kafka_partition as {{ dbt.type_int() }}) as kafka_partition,
        cast(kafka_offset as {{ dbt.type_bigint() }}) as kafka_offset,
        cast(event_key as {{ dbt.type_string() }}) as event_key,
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(device_id as {{ dbt.type_string() }}) as device_id,
        -- attributes
        cast(event_type as {{ dbt.type_string() }}) as event_type,
        cast(attributes as {{ dbt.type_string() }}) as attributes,
        cast(event_ts as {{ dbt.type_string() }}) as event_ts_raw,
        cast(ingest_ts as {{ dbt.type_string() }}) as ingest_ts_raw,
        -- measures (exact epoch milliseconds: all feature math uses these)
        cast(event_ms as {{ dbt.type_bigint() }}) as event_ms,
        cast(ingest_ms as {{ dbt.type_bigint() }}) as ingest_ms,
        cast(kafka_ts_ms as {{ dbt.type_bigint() }}) as kafka_ts_ms
    from source_events
),

records_ranked as (
    select
        renamed.*,
        row_number() over (
            partition by source, kafka_topic, kafka_partition, kafka_offset
            order by ingest_ms, event_key
        ) as record_copy_rank
    from renamed
),

records as (
    select
        records_ranked.*,
        ingest_ms - event_ms > {{ churnfeat_policy('allowedLatenessMs') }} as is_too_late
    from records_ranked
    where record_copy_rank = 1
),

copies_ranked as (
    select
        records.*,
        row_number() over (
            partition by user_id, source, event_key
            order by kafka_partition, kafka_offset, kafka_topic
        ) as copy_rank,
        row_number() over (
            partition by user_id, source, event_key, is_too_late
            order by kafka_partition, kafka_offset, kafka_topic
        ) as copy_rank_within_lateness
    from records
),

final as (
    select
        -- ids
        source,
        kafka_topic,
        kafka_partition,
        kafka_offset,
        event_key,
        event_id,
        user_id,
        device_id,
        -- attributes
        event_type,
        attributes,
        event_ts_raw,
        ingest_ts_raw,
        -- flags
        is_too_late,
        copy_rank = 1 as is_first_copy,
        (not is_too_late and copy_rank_within_lateness = 1) as is_first_timely_copy,
        -- measures
        event_ms,
        ingest_ms,
        kafka_ts_ms,
        ingest_ms - event_ms as lateness_ms,
        -- timestamps (UTC)
        {{ churnfeat_ms_to_timestamp('event_ms') }} as event_at,
        {{ churnfeat_ms_to_timestamp('ingest_ms') }} as ingested_at,
        {{ churnfeat_ms_to_timestamp('kafka_ts_ms') }} as kafka_published_at
    from copies_ranked
)

select * from final
