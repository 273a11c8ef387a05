{#-
  JSON access on the `attributes` column (JSON text). DuckDB and Snowflake spell JSON
  paths and type names differently, so each macro dispatches. Attribute names are
  validated identifiers (^[A-Za-z_][A-Za-z0-9_]*$), safe to splice into a path.

  churnfeat_json_type(json_text, attribute) -> 'string' | 'number' | 'boolean' | 'null'
      | 'object' | 'array', or SQL null when the attribute is missing.
-#}
{% macro churnfeat_json_type(json_text, attribute) %}
    {{- return(adapter.dispatch('churnfeat_json_type', 'churnfeat')(json_text, attribute)) -}}
{% endmacro %}

{# DuckDB: json_type() names the parsed SQL type (integers come back as BIGINT/UBIGINT/HUGEINT). #}
{% macro duckdb__churnfeat_json_type(json_text, attribute) -%}
    case json_type({{ json_text }}, '$."{{ attribute }}"')
        when 'VARCHAR' then 'string'
        when 'BIGINT' then 'number'
        when 'UBIGINT' then 'number'
        when 'HUGEINT' then 'number'
        when 'DOUBLE' then 'number'
        when 'BOOLEAN' then 'boolean'
        when 'NULL' then 'null'
        when 'OBJECT' then 'object'
        when 'ARRAY' then 'array'
    end
{%- endmacro %}

{# Snowflake: typeof() on a VARIANT path; a missing path is SQL null, JSON null is NULL_VALUE. #}
{% macro snowflake__churnfeat_json_type(json_text, attribute) -%}
    case typeof(parse_json({{ json_text }}):"{{ attribute }}")
        when 'VARCHAR' then 'string'
        when 'INTEGER' then 'number'
        when 'DECIMAL' then 'number'
        when 'DOUBLE' then 'number'
        when 'BOOLEAN' then 'boolean'
        when 'NULL_VALUE' then 'null'
        when 'OBJECT' then 'object'
        when 'ARRAY' then 'array'
    end
{%- endmacro %}

{% macro default__churnfeat_json_type(json_text, attribute) -%}
    {{ exceptions.raise_compiler_error('churnfeat_json_type: no implementation for adapter ' ~ adapter.type()) }}
{%- endmacro %}


{#- The attribute as text when it is a JSON string, else null. -#}
{% macro churnfeat_json_string(json_text, attribute) %}
    {{- return(adapter.dispatch('churnfeat_json_string', 'churnfeat')(json_text, attribute)) -}}
{% endmacro %}

{% macro duckdb__churnfeat_json_string(json_text, attribute) -%}
    case when json_type({{ json_text }}, '$."{{ attribute }}"') = 'VARCHAR'
        then json_extract_string({{ json_text }}, '$."{{ attribute }}"') end
{%- endmacro %}

{% macro snowflake__churnfeat_json_string(json_text, attribute) -%}
    case when typeof(parse_json({{ json_text }}):"{{ attribute }}") = 'VARCHAR'
        then parse_json({{ json_text }}):"{{ attribute }}"::varchar end
{%- endmacro %}

{% macro default__churnfeat_json_string(json_text, attribute) -%}
    {{ exceptions.raise_compiler_error('churnfeat_json_string: no implementation for adapter ' ~ adapter.type()) }}
{%- endmacro %}


{#- The attribute as a DOUBLE when it is a finite JSON number, else null (the sidecar
    parses JSON numbers into IEEE doubles and drops non-finite ones). -#}
{% macro churnfeat_json_number(json_text, attribute) %}
    {{- return(adapter.dispatch('churnfeat_json_number', 'churnfeat')(json_text, attribute)) -}}
{% endmacro %}

{# DuckDB: a literal like 1e400 parses to inf, which JSON.parse also yields and the sidecar drops. #}
{% macro duckdb__churnfeat_json_number(json_text, attribute) -%}
    case when json_type({{ json_text }}, '$."{{ attribute }}"') in ('BIGINT', 'UBIGINT', 'HUGEINT', 'DOUBLE')
              and isfinite(cast(json_extract({{ json_text }}, '$."{{ attribute }}"') as double))
        then cast(json_extract({{ json_text }}, '$."{{ attribute }}"') as double) end
{%- endmacro %}

{# Snowflake: parse_json rejects numbers out of the DOUBLE range, so no finiteness check is needed. #}
{% macro snowflake__churnfeat_json_number(json_text, attribute) -%}
    case when typeof(parse_json({{ json_text }}):"{{ attribute }}") in ('INTEGER', 'DECIMAL', 'DOUBLE')
        then parse_json({{ json_text }}):"{{ attribute }}"::double end
{%- endmacro %}

{% macro default__churnfeat_json_number(json_text, attribute) -%}
    {{ exceptions.raise_compiler_error('churnfeat_json_number: no implementation for adapter ' ~ adapter.type()) }}
{%- endmacro %}


{#- The attribute as 'true'/'false' text when it is a JSON boolean, else null. -#}
{% macro churnfeat_json_boolean(json_text, attribute) %}
    {{- return(adapter.dispatch('churnfeat_json_boolean', 'churnfeat')(json_text, attribute)) -}}
{% endmacro %}

{% macro duckdb__churnfeat_json_boolean(json_text, attribute) -%}
    case when json_type({{ json_text }}, '$."{{ attribute }}"') = 'BOOLEAN'
        then json_extract_string({{ json_text }}, '$."{{ attribute }}"') end
{%- endmacro %}

{% macro snowflake__churnfeat_json_boolean(json_text, attribute) -%}
    case when typeof(parse_json({{ json_text }}):"{{ attribute }}") = 'BOOLEAN'
        then case when parse_json({{ json_text }}):"{{ attribute }}"::boolean then 'true' else 'false' end end
{%- endmacro %}

{% macro default__churnfeat_json_boolean(json_text, attribute) -%}
    {{ exceptions.raise_compiler_error('churnfeat_json_boolean: no implementation for adapter ' ~ adapter.type()) }}
{%- endmacro %}
