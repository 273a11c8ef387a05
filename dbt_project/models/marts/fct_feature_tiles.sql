-- Grain: one row per (user_id, feature_name, tile_start_ms): the content of one tile of
-- one feature for one user, for analytics and monitoring (spikes, drops, too-late and
-- duplicate rates). applied_* columns are what the online store adds to the tile.
-- Note: applied_distinct_values counts within the tile only (not additive across tiles).
--
-- Incremental with the same argument as int_feature_events: a tile's row depends only on
-- the int_feature_events rows in it. An incremental run re-aggregates, whole, every tile
-- that holds a copy of an event key with a copy ingested at or after
-- max(max_ingest_ms) - var('lookback_hours') (new copies and the old copies whose flags
-- they flip), plus every tile of a feature whose definition changed; delete+insert
-- replaces those tiles. Tiles never disappear (int rows never do), so nothing else
-- changes, and the table equals a full refresh (singular test
-- assert_fct_feature_tiles_equals_full_rebuild).

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['user_id', 'feature_name', 'tile_start_ms'],
        on_schema_change='fail',
        pre_hook="{{ churnfeat_delete_stale_feature_rows() }}"
    )
}}

with

feature_events as (
    select * from {{ ref('int_feature_events') }}
),

{% if is_incremental() %}
-- Features with tiles in the table (the pre_hook deleted those of changed definitions).
built_features as (
    select distinct feature_name
    from {{ this }}
),

watermark as (
    select coalesce(
        max(max_ingest_ms) - {{ var('lookback_hours') | int * 3600000 }},
        cast(-9000000000000000000 as {{ dbt.type_bigint() }})
    ) as rebuild_from_ingest_ms
    from {{ this }}
),

changed_keys as (
    select distinct
        user_id,
        source,
        event_key
    from feature_events
    where ingest_ms >= (select rebuild_from_ingest_ms from watermark)
),

changed_tiles as (
    select distinct
        feature_events.user_id,
        feature_events.feature_name,
        feature_events.tile_start_ms
    from feature_events
    inner join changed_keys
        on feature_events.user_id = changed_keys.user_id
        and feature_events.source = changed_keys.source
        and feature_events.event_key = changed_keys.event_key
    union
    select distinct
        user_id,
        feature_name,
        tile_start_ms
    from feature_events
    where feature_name not in (select feature_name from built_features)
),

scoped_events as (
    select feature_events.*
    from feature_events
    inner join changed_tiles
        on feature_events.user_id = changed_tiles.user_id
        and feature_events.feature_name = changed_tiles.feature_name
        and feature_events.tile_start_ms = changed_tiles.tile_start_ms
),
{% endif %}

tiles as (
    {{ churnfeat_feature_tiles_sql('scoped_events' if is_incremental() else 'feature_events') | indent(4) }}
),

final as (
    select * from tiles
)

select * from final
