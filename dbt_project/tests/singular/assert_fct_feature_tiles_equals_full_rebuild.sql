-- fct_feature_tiles is incremental; this re-aggregates every tile from
-- int_feature_events with the macro the model uses and fails on any difference.
{{ config(tags=['full_rebuild_check']) }}

with

feature_events as (
    select * from {{ ref('int_feature_events') }}
),

rebuilt as (
    {{ churnfeat_feature_tiles_sql('feature_events') }}
),

stored as (
    select * from {{ ref('fct_feature_tiles') }}
),

missing_rows as (
    select * from rebuilt
    except
    select * from stored
),

unexpected_rows as (
    select * from stored
    except
    select * from rebuilt
),

final as (
    select 'missing from the table' as problem, missing_rows.* from missing_rows
    union all
    select 'not in a full rebuild' as problem, unexpected_rows.* from unexpected_rows
)

select * from final
