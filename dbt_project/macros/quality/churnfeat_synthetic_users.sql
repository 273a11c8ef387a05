{#-
  Synthetic users are never customers: the canary's users (`__canary__-<source>-<partition>`,
  sidecar/src/canary/probe-plan.ts CANARY_USER_PREFIX) are dropped in staging, so no mart,
  training table or export built on staging has them. The prefix is the dbt var
  churnfeat_synthetic_user_prefix; test/unit/quality/synthetic-users.test.ts pins it to the
  TypeScript constant. A prefix test (substr) rather than LIKE: `_` is a LIKE wildcard.
-#}
{% macro churnfeat_synthetic_user_prefix() -%}
    {{ return(var('churnfeat_synthetic_user_prefix')) }}
{%- endmacro %}

{% macro churnfeat_is_synthetic_user(column) -%}
    {%- set prefix = churnfeat_synthetic_user_prefix() -%}
    (substr({{ column }}, 1, {{ prefix | length }}) = '{{ prefix }}')
{%- endmacro %}
