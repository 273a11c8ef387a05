{#-
  Parses a duration string '30s', '10m', '1h', '7d' into milliseconds (same grammar as
  the sidecar's parseDuration: ^[1-9][0-9]*(s|m|h|d)$). Returns none for anything else;
  callers turn none into a definition error that names the field.
-#}
{% macro churnfeat_parse_duration_ms(text) %}
    {%- if text is not string -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set match = modules.re.match('^([1-9][0-9]*)(s|m|h|d)$', text) -%}
    {%- if not match -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set unit_ms = {'s': 1000, 'm': 60000, 'h': 3600000, 'd': 86400000} -%}
    {{ return((match.group(1) | int) * unit_ms[match.group(2)]) }}
{% endmacro %}
