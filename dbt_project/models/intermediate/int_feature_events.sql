-- Grain: one row per (feature, lake record) for every record that the feature reads
-- (source, event type and `where` predicates match, and the attribute of sum/min/max/
-- count_distinct/last has the right JSON type). Unique key:
-- (feature_name, source, kafka_topic, kafka_partition, kafka_offset).
-- Rendered from the feature definitions in marts/_marts__models.yml; no feature is named here.
--
-- Incremental, and a full refresh gives the same table (proved by the singular test
-- assert_int_feature_events_equals_full_rebuild and scripts/check_incremental.py):
-- * A row depends on its own record, on its feature's definition, and, through the dedup
--   flags, on the other copies of its event (same user_id, source, event_key) and nothing
--   else. The flags come from stg_lake__events, a view over the whole lake, so they are
--   always computed over every copy in the lake.
-- * An incremental run rebuilds every row of every event key that has a copy ingested
--   at or after max(ingest_ms) of this table minus var('lookback_hours'): new records
--   and the old copies whose flags a new copy can flip are rebuilt together, and
--   delete+insert on the unique key replaces them. Rows never leave the lake, so no row
--   has to be deleted.
-- * A feature whose definition (or the lateness policy) changed is rebuilt in full: the
--   pre_hook deletes its rows (their definition_hash is stale), and a feature with no
--   rows in the table reads every record.
-- The one assumption: a record lands in the lake no later than `lookback_hours` after the
-- newest record already processed. Older backfills need `--full-refresh`.

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['feature_name', 'source', 'kafka_topic', 'kafka_partition', 'kafka_offset'],
        on_schema_change='fail',
        pre_hook="{{ churnfeat_delete_stale_feature_rows() }}"
    )
}}

with

lake_events as (
    select * from {{ ref('stg_lake__events') }}
),

{% if is_incremental() %}
-- Features with rows in the table. The pre_hook has already deleted the rows of any
-- feature whose definition changed, so a feature missing here is (re)built in full.
built_features as (
    select distinct feature_name
    from {{ this }}
),

watermark as (
    select coalesce(
        max(ingest_ms) - {{ var('lookback_hours') | int * 3600000 }},
        cast(-9000000000000000000 as {{ dbt.type_bigint() }})
    ) as rebuild_from_ingest_ms
    from {{ this }}
),

changed_keys as (
    select distinct
        user_id,
        source,
        event_key
    from lake_events
    where ingest_ms >= (select rebuild_from_ingest_ms from watermark)
),

scoped_events as (
    select
        lake_events.*,
        changed_keys.event_key is not null as is_changed_key
    from lake_events
    left join changed_keys
        on lake_events.user_id = changed_keys.user_id
        and lake_events.source = changed_keys.source
        and lake_events.event_key = changed_keys.event_key
),
{% endif %}

feature_events as (
    {{ churnfeat_feature_events_sql('scoped_events' if is_incremental() else 'lake_events', is_incremental()) }}
),

final as (
    select * from feature_events
)

select * from final
