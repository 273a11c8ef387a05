-- Grain: one row per user_id seen in the lake (ingested at or before as_of: int_users_seen).
-- The churn features at one point in time t = var('as_of') (epoch ms or ISO timestamp;
-- default: the newest ingest time in the lake), as available online at t
-- (docs/feature-semantics.md §3): the first timely copy of each event, ingested by t,
-- with event_ms <= t and tile_start(event_ms) >= tile_start(t) - W.
-- Columns: user_id, as_of, as_of_ms, one column per feature (named like the feature),
-- then <feature>__latest_event_ms per feature. Feature columns come from the
-- `config.meta.feature` blocks of this model's YAML, compiled into the registry artifact;
-- the model's meta `registry_version` is the artifact's version id.

{{ config(meta={'registry_version': churnfeat_registry_version()}) }}

-- What it scans (docs/dbt-offline.md "The schedule"): the user spine from int_users_seen (one
-- row per user, not the lake), and only the int_feature_events rows a window ending at as_of
-- can count (event_ms and ingest_ms after as_of minus the longest window and its tile), with
-- as_of as a literal, so Snowflake prunes micro-partitions (int_feature_events is clustered by
-- event time there).
{%- set as_of_ms = churnfeat_time_literal_ms(var('as_of')) if var('as_of', none) is not none else none %}

with

users_seen as (
    select * from {{ ref('int_users_seen') }}
),

feature_events as (
    select * from {{ ref('int_feature_events') }}
),

as_of_time as (
    {%- if as_of_ms is none %}
    -- the newest ingest time in the lake (every record's user is in users_seen)
    select max(last_ingest_ms) as as_of_ms
    from users_seen
    {%- else %}
    select {{ as_of_ms }} as as_of_ms
    {%- endif %}
),

user_spine as (
    select
        users_seen.user_id,
        as_of_time.as_of_ms
    from users_seen
    cross join as_of_time
    where users_seen.first_ingest_ms <= as_of_time.as_of_ms
),

user_features as (
    {{ churnfeat_point_in_time(
        'user_spine', 'as_available', spine_columns=['user_id', 'as_of_ms'], feature_events='feature_events',
        as_of_range={'from_ms': as_of_ms, 'to_ms': as_of_ms} if as_of_ms is not none else none
    ) | indent(4) }}
),

final as (
    -- sqlfluff (LT02) misplaces the indent after a whitespace-trimmed endfor:
    -- noqa: disable=LT02
    select
        user_id,
        as_of,
        as_of_ms
        {%- for feature in churnfeat_features() %},
        {{ feature.name }}
        {%- endfor %}
        {%- for feature in churnfeat_features() %},
        {{ feature.name }}__latest_event_ms
        {%- endfor %}
    from user_features
    -- noqa: enable=LT02
)

select * from final
