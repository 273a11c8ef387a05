{#- Offline volume check, one day at a time: fails for every group (e.g. source x event_type)
    whose count on the checked day is below min_ratio or above max_ratio times the median of
    the same weekday over the previous lookback_weeks weeks. The checked day is the UTC day
    ending at var('as_of') (the nightly run's data_interval_end), else the last complete
    day of the data. Counts first copies only (is_first_copy), by event time. A group with
    fewer than min_history_weeks past weekdays, or an expectation under min_expected, is not
    judged (cold start, too little to tell). Thresholds live in the YAML that applies it.
    Pure epoch-ms arithmetic: the same SQL on DuckDB and Snowflake. -#}
{% test churnfeat_daily_volume_in_range(model, group_by, min_ratio=0.5, max_ratio=3, lookback_weeks=4, min_history_weeks=2, min_expected=100) %}

{%- set day_ms = 86400000 -%}
{%- set groups = group_by | join(', ') -%}

with

reference as (
    select
    {%- if var('as_of', none) is none %}
        cast(floor((select max(event_ms) from {{ model }}) / {{ day_ms }}.0) as {{ dbt.type_bigint() }}) - 1 as checked_day
    {%- else %}
        cast(floor(({{ churnfeat_time_literal_ms(var('as_of')) }} - 1) / {{ day_ms }}.0) as {{ dbt.type_bigint() }}) as checked_day
    {%- endif %}
),

daily as (
    select
        {{ groups }},
        cast(floor(event_ms / {{ day_ms }}.0) as {{ dbt.type_bigint() }}) as event_day,
        count(*) as events
    from {{ model }}
    where is_first_copy
    group by {{ groups }}, cast(floor(event_ms / {{ day_ms }}.0) as {{ dbt.type_bigint() }})
),

history as (
    select daily.*
    from daily
    cross join reference
    where
        daily.event_day < reference.checked_day
        and daily.event_day >= reference.checked_day - {{ 7 * lookback_weeks }}
        and mod(reference.checked_day - daily.event_day, 7) = 0
),

expected as (
    select
        {{ groups }},
        median(events) as expected_events,
        count(*) as history_weeks
    from history
    group by {{ groups }}
),

observed as (
    select daily.*
    from daily
    cross join reference
    where daily.event_day = reference.checked_day
),

final as (
    select
        {%- for column in group_by %}
        expected.{{ column }},
        {%- endfor %}
        expected.expected_events,
        expected.history_weeks,
        coalesce(observed.events, 0) as observed_events,
        coalesce(observed.events, 0) / expected.expected_events as ratio
    from expected
    left join observed
        on {% for column in group_by %}{% if not loop.first %} and {% endif %}expected.{{ column }} = observed.{{ column }}{% endfor %}
    where
        expected.history_weeks >= {{ min_history_weeks }}
        and expected.expected_events >= {{ min_expected }}
        and (
            coalesce(observed.events, 0) < {{ min_ratio }} * expected.expected_events
            or coalesce(observed.events, 0) > {{ max_ratio }} * expected.expected_events
        )
)

select * from final

{% endtest %}
