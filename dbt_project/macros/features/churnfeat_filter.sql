{#-
  The SQL predicate that selects the events a feature reads (feature-semantics §2):
  its source, its event types and every `filter.where` predicate on attributes.<name>.
  Same rules as the sidecar's predicateHolds(): a missing attribute (absent or JSON null)
  fails every operator but neq / not_in, which it passes; eq / in compare with strict
  JSON types (the string "5" is not the number 5); gt / gte / lt / lte need a number.
  Every predicate renders to a boolean that is never SQL null.
-#}
{% macro churnfeat_filter_sql(feature, alias='events') %}
    {%- set event_types = [] -%}
    {%- for event_type in feature.event_types -%}
        {%- do event_types.append(churnfeat_string_literal(event_type)) -%}
    {%- endfor -%}
    {%- set conditions = [
        alias ~ '.source = ' ~ churnfeat_string_literal(feature.source),
        alias ~ '.event_type in (' ~ (event_types | join(', ')) ~ ')'
    ] -%}
    {%- for predicate in feature.where -%}
        {%- do conditions.append(churnfeat_predicate_sql(predicate, alias ~ '.attributes')) -%}
    {%- endfor -%}
    {%- set value_condition = churnfeat_input_present_sql(feature, alias ~ '.attributes') -%}
    {%- if value_condition -%}
        {%- do conditions.append(value_condition) -%}
    {%- endif -%}
    {{- return(conditions | join('\n        and ')) -}}
{% endmacro %}


{#- eq against one YAML value (string, number or boolean) with strict JSON typing. -#}
{% macro churnfeat_equals_sql(attributes, attribute, value) %}
    {%- if value is boolean -%}
        {{- return('coalesce(' ~ churnfeat_json_boolean(attributes, attribute) ~ ' = '
            ~ churnfeat_string_literal('true' if value else 'false') ~ ', false)') -}}
    {%- elif value is number -%}
        {{- return('coalesce(' ~ churnfeat_json_number(attributes, attribute) ~ ' = '
            ~ churnfeat_double_literal(value) ~ ', false)') -}}
    {%- else -%}
        {{- return('coalesce(' ~ churnfeat_json_string(attributes, attribute) ~ ' = '
            ~ churnfeat_string_literal(value) ~ ', false)') -}}
    {%- endif -%}
{% endmacro %}


{% macro churnfeat_predicate_sql(predicate, attributes) %}
    {%- set attribute = predicate.attribute -%}
    {%- set op = predicate.op -%}
    {%- if op == 'exists' -%}
        {{- return('coalesce(' ~ churnfeat_json_type(attributes, attribute) ~ " <> 'null', false)") -}}
    {%- elif op in ['eq', 'neq'] -%}
        {%- set equals = churnfeat_equals_sql(attributes, attribute, predicate.value) -%}
        {{- return(('not ' if op == 'neq' else '') ~ '(' ~ equals ~ ')') -}}
    {%- elif op in ['in', 'not_in'] -%}
        {%- set any_equal = [] -%}
        {%- for candidate in predicate.get('values') -%}
            {%- do any_equal.append(churnfeat_equals_sql(attributes, attribute, candidate)) -%}
        {%- endfor -%}
        {{- return(('not ' if op == 'not_in' else '') ~ '(' ~ (any_equal | join(' or ')) ~ ')') -}}
    {%- else -%}
        {%- set sql_op = {'gt': '>', 'gte': '>=', 'lt': '<', 'lte': '<='}[op] -%}
        {{- return('coalesce(' ~ churnfeat_json_number(attributes, attribute) ~ ' ' ~ sql_op ~ ' '
            ~ churnfeat_double_literal(predicate.value) ~ ', false)') -}}
    {%- endif -%}
{% endmacro %}


{#- For aggregations that read an attribute: the event only contributes when the
    attribute has the right JSON type (sum/min/max: a finite number;
    count_distinct/last: a string). Returns '' for count. -#}
{% macro churnfeat_input_present_sql(feature, attributes) %}
    {%- if feature.function in ['sum', 'min', 'max'] -%}
        {{- return(churnfeat_json_number(attributes, feature.attribute) ~ ' is not null') -}}
    {%- elif feature.function in ['count_distinct', 'last'] -%}
        {{- return(churnfeat_json_string(attributes, feature.attribute) ~ ' is not null') -}}
    {%- endif -%}
    {{- return('') -}}
{% endmacro %}
