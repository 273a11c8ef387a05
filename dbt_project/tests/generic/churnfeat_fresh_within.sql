{#- Freshness at a point in time: fails when the newest `column_name` (epoch ms, e.g.
    ingest_ms) is older than max_age_hours before var('as_of') (the nightly run's
    data_interval_end), or when nothing at all arrived by then. Without as_of there is no
    point in time to judge (a build on old fixture data): it passes; `dbt source
    freshness` (the source's freshness config) judges against the clock. -#}
{% test churnfeat_fresh_within(model, column_name, max_age_hours) %}

{%- if var('as_of', none) is none %}
select 1 as not_judged where 1 = 0
{%- else %}
{%- set as_of_ms = churnfeat_time_literal_ms(var('as_of')) %}
with

newest as (
    select max({{ column_name }}) as newest_ms
    from {{ model }}
    where {{ column_name }} <= {{ as_of_ms }}
)

select
    newest_ms,
    {{ as_of_ms }} as as_of_ms,
    {{ max_age_hours }} as max_age_hours
from newest
where newest_ms is null or newest_ms < {{ as_of_ms }} - {{ max_age_hours * 3600000 }}
{%- endif %}

{% endtest %}
