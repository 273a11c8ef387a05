-- int_feature_events is incremental; this recomputes it from the whole lake with the very
-- macros the model's full build uses and fails on any row that differs (either direction). Green after
-- every incremental run = incremental equals full refresh on this data.
-- (It scans the whole lake: exclude it with --exclude tag:full_rebuild_check where that is
-- too expensive.)
{{ config(tags=['full_rebuild_check']) }}

with

lake_records as (
    {{ churnfeat_records_once(ref('stg_lake__records')) }}
),

rebuilt as (
    {{ churnfeat_feature_events_deduplicated_sql('lake_records') }}
),

stored as (
    select * from {{ ref('int_feature_events') }}
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
