-- Grain: one row per Kafka record of a valid event in the lake:
-- (source, kafka_topic, kafka_partition, kafka_offset). Every copy of an event is kept,
-- with whole-lake dedup flags for tools that read lake records (the parity job, audits);
-- the marts count the flags of int_feature_events, decided incrementally within the dedup
-- horizon over the records some feature reads (docs/dbt-offline.md). Flags here:
--   is_too_late          ingest_ms - event_ms > the registry's allowed lateness policy
--   is_first_copy        first copy of (user_id, source, event_key) by (partition, offset)
--   is_first_timely_copy first copy among the copies that are not too late (the lateness
--                        verdict comes before dedup, so a too-late copy never shadows a
--                        later timely one); false for too-late rows
-- A record written twice (a replayed file under a new name) is kept once. Typing, the
-- lateness verdict and the synthetic users' removal are stg_lake__records'.

with

records as (
    {{ churnfeat_records_once(ref('stg_lake__records')) }}
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
        dedup_ms,
        -- timestamps (UTC)
        {{ churnfeat_ms_to_timestamp('event_ms') }} as event_at,
        {{ churnfeat_ms_to_timestamp('ingest_ms') }} as ingested_at,
        {{ churnfeat_ms_to_timestamp('kafka_ts_ms') }} as kafka_published_at
    from copies_ranked
)

select * from final
