-- Grain: one row per user_id seen in the lake (ingested at or before as_of).
-- The churn features at one point in time t = var('as_of') (epoch ms or ISO timestamp;
-- default: the newest ingest time in the lake), as available online at t
-- (docs/feature-semantics.md §3): the first timely copy of each event, ingested by t,
-- with event_ms <= t and tile_start(event_ms) >= tile_start(t) - W.
-- Columns: user_id, as_of, as_of_ms, one column per feature (named like the feature),
-- then <feature>__latest_event_ms per feature. Feature columns come from the
-- `config.meta.feature` blocks of this model's YAML, compiled into the registry artifact;
-- the model's meta `registry_version` is the artifact's version id.

{{ config(meta={'registry_version': churnfeat_registry_version()}) }}

with

lake_events as (
    select * from {{ ref('stg_lake__records') }}
),

feature_events as (
    select * from {{ ref('int_feature_events') }}
),

as_of_time as (
    {%- if var('as_of', none) is none %}
    select max(ingest_ms) as as_of_ms
    from lake_events
    {%- else %}
    select {{ churnfeat_time_literal_ms(var('as_of')) }} as as_of_ms
    {%- endif %}
),

user_spine as (
    select distinct
        lake_events.user_id,
        as_of_time.as_of_ms
    from lake_events
    cross join as_of_time
    where lake_events.ingest_ms <= as_of_time.as_of_ms
),

user_features as (
    {{ churnfeat_point_in_time(
        'user_spine', 'as_available', spine_columns=['user_id', 'as_of_ms'], feature_events='feature_events'
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
