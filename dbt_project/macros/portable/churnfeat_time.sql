{#-
  Epoch-millisecond arithmetic. Feature math stays on BIGINT epoch milliseconds (exact,
  identical to the sidecar); timestamps are derived for people, always UTC, no zone.
-#}

{#- Epoch ms (BIGINT) -> UTC TIMESTAMP without zone. -#}
{% macro churnfeat_ms_to_timestamp(ms) %}
    {{- return(adapter.dispatch('churnfeat_ms_to_timestamp', 'churnfeat')(ms)) -}}
{% endmacro %}

{# DuckDB: epoch_ms(BIGINT) returns a TIMESTAMP in UTC. #}
{% macro duckdb__churnfeat_ms_to_timestamp(ms) -%}
    epoch_ms(cast({{ ms }} as bigint))
{%- endmacro %}

{# Snowflake: to_timestamp_ntz with scale 3 reads the number as milliseconds. #}
{% macro snowflake__churnfeat_ms_to_timestamp(ms) -%}
    to_timestamp_ntz(cast({{ ms }} as bigint), 3)
{%- endmacro %}

{% macro default__churnfeat_ms_to_timestamp(ms) -%}
    {{ dbt.dateadd('millisecond', ms, "cast('1970-01-01 00:00:00' as " ~ dbt.type_timestamp() ~ ")") }}
{%- endmacro %}


{#- UTC TIMESTAMP (or TIMESTAMPTZ) -> epoch ms BIGINT. -#}
{% macro churnfeat_timestamp_to_ms(ts) %}
    {{- return(adapter.dispatch('churnfeat_timestamp_to_ms', 'churnfeat')(ts)) -}}
{% endmacro %}

{# DuckDB: epoch_ms(TIMESTAMP) returns BIGINT milliseconds. #}
{% macro duckdb__churnfeat_timestamp_to_ms(ts) -%}
    epoch_ms({{ ts }})
{%- endmacro %}

{# Snowflake: date_part(epoch_millisecond, ...) is the exact inverse of to_timestamp_ntz(ms, 3). #}
{% macro snowflake__churnfeat_timestamp_to_ms(ts) -%}
    date_part(epoch_millisecond, {{ ts }})
{%- endmacro %}

{% macro default__churnfeat_timestamp_to_ms(ts) -%}
    {{ dbt.datediff("cast('1970-01-01 00:00:00' as " ~ dbt.type_timestamp() ~ ")", ts, 'millisecond') }}
{%- endmacro %}


{#- A time literal given as epoch ms (number) or an ISO/RFC 3339 string -> SQL epoch ms. -#}
{% macro churnfeat_time_literal_ms(value) %}
    {%- if value is number and value is not boolean -%}
        {{ return('cast(' ~ (value | int) ~ ' as bigint)') }}
    {%- elif value is string and modules.re.match('^-?[0-9]+$', value) -%}
        {{ return('cast(' ~ value ~ ' as bigint)') }}
    {%- elif value is string -%}
        {%- set parsed = modules.datetime.datetime.fromisoformat(value.replace('Z', '+00:00')) -%}
        {%- if parsed.tzinfo is none -%}
            {%- set parsed = parsed.replace(tzinfo=modules.pytz.utc) -%}
        {%- endif -%}
        {%- set epoch = modules.datetime.datetime(1970, 1, 1, tzinfo=modules.pytz.utc) -%}
        {%- set delta = parsed - epoch -%}
        {{ return('cast(' ~ (delta.days * 86400000 + delta.seconds * 1000 + delta.microseconds // 1000) ~ ' as bigint)') }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error('Not a point in time: ' ~ value ~ ' (use epoch milliseconds or an ISO 8601 timestamp)') }}
{% endmacro %}


{#- tile_start(x) = floor(x / g) * g on epoch milliseconds (feature-semantics §3). -#}
{% macro churnfeat_tile_start(ms, granularity_ms) -%}
    cast(floor({{ ms }} / {{ granularity_ms }}) as bigint) * {{ granularity_ms }}
{%- endmacro %}


{#- RFC 3339 text (as validated by the sidecar) -> epoch ms BIGINT, null when it does not
    parse; sub-millisecond digits are cut, as parseRfc3339Ms does. -#}
{% macro churnfeat_rfc3339_to_ms(text) %}
    {{- return(adapter.dispatch('churnfeat_rfc3339_to_ms', 'churnfeat')(text)) -}}
{% endmacro %}

{# DuckDB: a TIMESTAMPTZ cast reads the zone offset; epoch_ms of it is UTC milliseconds. #}
{% macro duckdb__churnfeat_rfc3339_to_ms(text) -%}
    epoch_ms(try_cast({{ text }} as timestamptz))
{%- endmacro %}

{# Snowflake: try_cast to timestamp_tz reads the offset (input format AUTO, as
   try_to_timestamp_tz does) and returns null instead of failing; written as try_cast
   because fakesnow does not know try_to_timestamp_tz. #}
{% macro snowflake__churnfeat_rfc3339_to_ms(text) -%}
    date_part(epoch_millisecond, try_cast({{ text }} as timestamp_tz))
{%- endmacro %}

{% macro default__churnfeat_rfc3339_to_ms(text) -%}
    {{ churnfeat_timestamp_to_ms('cast(' ~ text ~ ' as ' ~ dbt.type_timestamp() ~ ')') }}
{%- endmacro %}
