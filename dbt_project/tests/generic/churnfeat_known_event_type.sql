{#- Fails for every row whose event_type is not an event type of its source
    (the registry artifact's sources, compiled from contracts/events/). -#}
{% test churnfeat_known_event_type(model, column_name, source_column='source') %}

{%- set known = churnfeat_registry().sources -%}

select
    {{ source_column }},
    {{ column_name }},
    count(*) as row_count
from {{ model }}
where not (
    {%- for source, event_types in known.items() %}
    {% if not loop.first %}or {% endif %}({{ source_column }} = {{ churnfeat_string_literal(source) }} and {{ column_name }} in (
        {%- for event_type in event_types %}{{ churnfeat_string_literal(event_type) }}{% if not loop.last %}, {% endif %}{% endfor -%}
    ))
    {%- endfor %}
)
group by {{ source_column }}, {{ column_name }}

{% endtest %}
