{#-
  on-run-start hook: fails the run when the registry artifact is stale, i.e. when the
  feature blocks (column `config.meta.feature`) or the policies block (model
  `config.meta.feature_policies`) in the dbt graph are not exactly the blocks the artifact
  was compiled from (its `inputs`). dbt cannot run the compiler; it only compares, and
  names the command that rewrites the artifact.
-#}
{% macro churnfeat_check_registry() %}
    {%- if execute -%}
        {%- set registry = churnfeat_registry() -%}
        {%- set expected = registry.inputs.definitions -%}
        {%- set found = {} -%}
        {%- set policies = [] -%}
        {%- for node in graph.nodes.values()
                if node.resource_type == 'model' and node.package_name == project_name -%}
            {%- set node_policies = churnfeat_meta_block(node, 'feature_policies') -%}
            {%- if node_policies is not none -%}
                {%- do policies.append({'file': churnfeat_node_yaml_path(node), 'model': node.name, 'meta': node_policies}) -%}
            {%- endif -%}
            {%- for column in node.columns.values() -%}
                {%- set meta = churnfeat_meta_block(column, 'feature') -%}
                {%- if meta is not none -%}
                    {%- do found.update({column.name: {'file': churnfeat_node_yaml_path(node), 'model': node.name, 'meta': meta}}) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- for name in found.keys() | sort if name not in expected -%}
            {%- do churnfeat_stale_registry('feature "' ~ name ~ '" is in the YAML but not in the artifact') -%}
        {%- endfor -%}
        {%- for name in expected.keys() | sort -%}
            {%- if name not in found -%}
                {%- do churnfeat_stale_registry('feature "' ~ name ~ '" is in the artifact but no longer in the YAML') -%}
            {%- elif found[name] != expected[name] -%}
                {%- do churnfeat_stale_registry('feature "' ~ name ~ '" (' ~ found[name].file ~ ') changed in the YAML') -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if policies != [registry.inputs.policies] -%}
            {%- do churnfeat_stale_registry('the feature_policies block changed in the YAML') -%}
        {%- endif -%}
        {%- do log('churnfeat: registry ' ~ registry.version ~ ' is current (' ~ (registry.features | length) ~ ' features)', info=false) -%}
    {%- endif -%}
{% endmacro %}


{% macro churnfeat_stale_registry(problem) %}
    {{ exceptions.raise_compiler_error(
        'Stale feature registry: ' ~ problem ~ ' since feature_registry.json was compiled. '
        ~ 'Run `churnfeat compile` (make compile) and commit '
        ~ 'feature_registry.json and macros/generated/churnfeat_registry.sql.') }}
{% endmacro %}


{#- The `<key>` block of a node's or column's `config.meta` (dbt 1.10+), else of its `meta`. -#}
{% macro churnfeat_meta_block(holder, key) %}
    {%- set config_meta = ((holder.get('config') or {}).get('meta') or {}) -%}
    {%- if config_meta.get(key) is not none -%}
        {{ return(config_meta.get(key)) }}
    {%- endif -%}
    {{ return((holder.get('meta') or {}).get(key)) }}
{% endmacro %}


{#- The YAML file (relative to the project) that declares a node's columns. -#}
{% macro churnfeat_node_yaml_path(node) %}
    {%- set patch_path = node.get('patch_path') -%}
    {%- if patch_path -%}
        {{ return(patch_path.split('://')[-1]) }}
    {%- endif -%}
    {{ return(node.get('original_file_path')) }}
{% endmacro %}
