-- Grain: one row per (user_id, as_of, mode) of the label spine (var('spine_relation'),
-- default the label_spine seed) and mode in ('as_available', 'corrected').
-- Point-in-time training rows (docs/feature-semantics.md §3):
--   as_available  what the online store could have served at as_of: first timely copy,
--                 ingested by as_of, not too late (and, when the spine has
--                 max_offset_<source> columns, at most that Kafka offset)
--   corrected     the truth known later: every event by event time, too-late ones
--                 included, first copy of each event, no ingest-time filter
-- Both use the same tiles as the online store, so a window covers [W, W + g].
-- The spine's other columns (labels) are carried through.
-- Users erased under GDPR/CCPA (the suppression list churnfeat_deleted_users, filled by the
-- run-operation churnfeat_delete_users, docs/deletion.md) are left out, whatever the spine says.

{% set spine = churnfeat_spine_relation() %}

with

as_available as (
    {{ churnfeat_point_in_time(spine, 'as_available') | indent(4) }}
),

corrected as (
    {{ churnfeat_point_in_time(spine, 'corrected') | indent(4) }}
),

deleted_users as (
    select user_id from {{ churnfeat_deleted_users_relation() }}
),

training_rows as (
    select * from as_available
    union all
    select * from corrected
),

final as (
    select training_rows.*
    from training_rows
    where training_rows.user_id not in (select deleted_users.user_id from deleted_users)
)

select * from final
