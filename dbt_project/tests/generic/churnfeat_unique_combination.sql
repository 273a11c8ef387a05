{#- Fails for every combination of `columns` that occurs more than once (the grain test
    of models whose key spans several columns; dbt_utils is not installable offline). -#}
{% test churnfeat_unique_combination(model, columns) %}

select
    {{ columns | join(', ') }},
    count(*) as row_count
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1

{% endtest %}
