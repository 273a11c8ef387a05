{#- A SQL string literal for a value from YAML. -#}
{% macro churnfeat_string_literal(value) %}
    {{- return(adapter.dispatch('churnfeat_string_literal', 'churnfeat')(value)) -}}
{% endmacro %}

{# Standard SQL: double the single quotes (DuckDB treats backslashes literally). #}
{% macro default__churnfeat_string_literal(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{# Snowflake: backslash is an escape character inside '...', so escape it too. #}
{% macro snowflake__churnfeat_string_literal(value) -%}
    '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}


{#- A DOUBLE literal for a YAML number, parsed from its shortest decimal text so both
    engines (and JavaScript) round it to the same double. -#}
{% macro churnfeat_double_literal(value) -%}
    cast('{{ value }}' as double)
{%- endmacro %}
