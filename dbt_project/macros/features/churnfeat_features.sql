{#-
  The feature registry, read from the dbt graph: every model column of this project
  that carries a `config.meta.feature` block (dbt 1.10+) or the older `meta.feature`.
  The streaming sidecar reads the very same YAML blocks (sidecar/src/features/).

  Returns a list of dicts, one per feature, sorted by name:
    name, model, file, source, event_types, where, function, attribute, scale,
    window_ms, granularity_ms, freshness_slo_ms, version, definition_hash, meta
  Outside `execute` (parse time) the list is empty: the graph is not available yet.
-#}
{% macro churnfeat_features() %}
    {%- set features = [] -%}
    {%- if not execute -%}
        {{ return(features) }}
    {%- endif -%}
    {#- Unit tests run against a manifest without the models' YAML (graph is empty), so
        they pass the definitions they test as var('features_override'): a mapping of
        feature name -> meta block, validated exactly like the YAML. -#}
    {%- set override = var('features_override', none) -%}
    {%- if override is not none -%}
        {%- for name, meta in override.items() -%}
            {%- do features.append(churnfeat_compile_feature('var features_override', 'features_override', name, meta)) -%}
        {%- endfor -%}
        {{ return(features | sort(attribute='name')) }}
    {%- endif -%}
    {%- if graph.get('nodes') is none -%}
        {{ exceptions.raise_compiler_error("churnfeat_features: the dbt graph is empty here (a unit test?); pass the definitions as var('features_override')") }}
    {%- endif -%}
    {%- set seen = {} -%}
    {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.package_name == project_name -%}
        {%- for column in node.columns.values() -%}
            {%- set meta = churnfeat_column_feature_meta(column) -%}
            {%- if meta is not none -%}
                {%- set file = churnfeat_node_yaml_path(node) -%}
                {%- if column.name in seen -%}
                    {%- do churnfeat_definition_error(file, column.name, 'name', 'already declared in ' ~ seen[column.name]) -%}
                {%- endif -%}
                {%- do seen.update({column.name: file}) -%}
                {%- do features.append(churnfeat_compile_feature(file, node.name, column.name, meta)) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(features | sort(attribute='name')) }}
{% endmacro %}


{#- The feature block of one column: `config.meta.feature` first, then `meta.feature`. -#}
{% macro churnfeat_column_feature_meta(column) %}
    {%- set config_meta = ((column.get('config') or {}).get('meta') or {}) -%}
    {%- set plain_meta = (column.get('meta') or {}) -%}
    {%- if config_meta.get('feature') is not none -%}
        {{ return(config_meta.get('feature')) }}
    {%- endif -%}
    {{ return(plain_meta.get('feature')) }}
{% endmacro %}


{#- The YAML file (relative to the project) that declares a node's columns. -#}
{% macro churnfeat_node_yaml_path(node) %}
    {%- set patch_path = node.get('patch_path') -%}
    {%- if patch_path -%}
        {{ return(patch_path.split('://')[-1]) }}
    {%- endif -%}
    {{ return(node.get('original_file_path')) }}
{% endmacro %}


{#- One feature by name (raises when unknown). -#}
{% macro churnfeat_feature(name) %}
    {%- for feature in churnfeat_features() if feature.name == name -%}
        {{ return(feature) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("Unknown feature '" ~ name ~ "'") }}
{% endmacro %}


{#- The distinct sources read by at least one feature, sorted. -#}
{% macro churnfeat_feature_sources() %}
    {%- set sources = [] -%}
    {%- for feature in churnfeat_features() if feature.source not in sources -%}
        {%- do sources.append(feature.source) -%}
    {%- endfor -%}
    {{ return(sources | sort) }}
{% endmacro %}


{#- on-run-start hook: validates every definition (raises on the first bad one). -#}
{% macro churnfeat_validate_features() %}
    {%- if execute -%}
        {%- set features = churnfeat_features() -%}
        {%- do log('churnfeat: ' ~ (features | length) ~ ' feature definitions valid', info=false) -%}
    {%- endif -%}
{% endmacro %}
