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


{#- Typed columns, one per line at `indent` spaces after the first, each ending in a comma but the
    last: `cast(<from> as <type>) as <name>` for [name, type, from] (from defaults to name;
    `value` replaces every from, e.g. 'null' for an empty relation of the right shape); a type
    of none keeps the column as it is. Types: string, int, bigint, boolean (dbt.type_*), double. -#}
{% macro churnfeat_typed_columns(columns, indent=4, value=none) -%}
    {%- for column in columns -%}
        {%- set name = column[0] -%}
        {%- set type = column[1] -%}
        {%- set source = value if value is not none else (column[2] if column | length > 2 else name) -%}
        {%- if type is none -%}
            {{ source }}{{ '' if source == name else ' as ' ~ name }}
        {%- else -%}
            {%- set sql_type = 'double' if type == 'double' else {'string': dbt.type_string(), 'int': dbt.type_int(), 'bigint': dbt.type_bigint(), 'boolean': dbt.type_boolean()}[type] -%}
            cast({{ source }} as {{ sql_type }}) as {{ name }}
        {%- endif -%}
        {{ (',\n' ~ ' ' * indent) if not loop.last }}
    {%- endfor -%}
{%- endmacro %}
