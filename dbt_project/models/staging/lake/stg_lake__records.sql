-- Grain: one row per lake file row of a valid event: a Kafka record
-- (source, kafka_topic, kafka_partition, kafka_offset), twice if a replayed file holds it
-- twice. Typed, with the lateness verdict and the dedup time, and nothing that needs other
-- rows: no window function, so a filter on the lake partition (`lake_date`, `lake_hour`: the
-- UTC day and hour of kafka_ts_ms, the hive folders `date=`/`hour=`) reaches the Parquet
-- reader and an hourly incremental run reads only the new partitions (int_feature_events).
--   is_too_late  ingest_ms - event_ms > the registry's allowed lateness policy
--   dedup_ms     the time the online store files the event's dedup entry by (the store's
--                dedupTimeMs): event_ms, or event_ts as sent where event_ms was clamped to
--                ingest_ms (a device clock ahead); every copy of an event carries it unchanged
-- Synthetic users (the canary's `__canary__-*`, macro churnfeat_is_synthetic_user) are not
-- customers: dropped here.

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
        attributes,
        {{ churnfeat_lake_partition_date() }} as lake_date,
        {{ churnfeat_lake_partition_hour() }} as lake_hour
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
        lake_date,
        cast(lake_hour as {{ dbt.type_string() }}) as lake_hour,
        -- measures (exact epoch milliseconds: all feature math uses these)
        cast(event_ms as {{ dbt.type_bigint() }}) as event_ms,
        cast(ingest_ms as {{ dbt.type_bigint() }}) as ingest_ms,
        cast(kafka_ts_ms as {{ dbt.type_bigint() }}) as kafka_ts_ms
    from source_events
),

final as (
    select
        renamed.*,
        ingest_ms - event_ms > {{ churnfeat_policy('allowedLatenessMs') }} as is_too_late,
        case
            when event_ms < ingest_ms then event_ms
            else coalesce({{ churnfeat_rfc3339_to_ms('event_ts_raw') }}, event_ms)
        end as dedup_ms
    from renamed
)

select * from final
