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
-- Columns: ids (source .. device_id), attributes (event_type .. lake_hour), measures in exact
-- epoch milliseconds (event_ms, ingest_ms, kafka_ts_ms: all feature math uses these).

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
        {{ churnfeat_typed_columns([
            ['source', 'string'], ['kafka_topic', 'string'], ['kafka_partition', 'int'], ['kafka_offset', 'bigint'],
            ['event_key', 'string'], ['event_id', 'string'], ['user_id', 'string'], ['device_id', 'string'],
            ['event_type', 'string'], ['attributes', 'string'], ['event_ts_raw', 'string', 'event_ts'],
            ['ingest_ts_raw', 'string', 'ingest_ts'], ['lake_date', none], ['lake_hour', 'string'],
            ['event_ms', 'bigint'], ['ingest_ms', 'bigint'], ['kafka_ts_ms', 'bigint']
        ], indent=8) }}
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
