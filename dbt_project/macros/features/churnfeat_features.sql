{#-
  The feature registry as the dbt macros use it, read from the registry artifact
  (macros/generated/churnfeat_registry.sql, written by `churnfeat compile` from the YAML
  meta; the sidecar reads the same artifact as feature_registry.json). Nothing here
  validates a definition: the compiler did, and churnfeat_check_registry() (on-run-start)
  fails the run when the YAML changed since.

  Returns a list of dicts, one per feature, sorted by name:
    name, model, file, source, event_types, where, function, attribute, scale,
    window_ms, granularity_ms, freshness_slo_ms, version, definition_hash
  Outside `execute` (parse time) the list is empty.
-#}
{% macro churnfeat_features() %}
    {%- set features = [] -%}
    {%- if not execute -%}
        {{ return(features) }}
    {%- endif -%}
    {%- set registry = churnfeat_registry() -%}
    {#- Unit tests pass the definitions they test as var('features_override') (a mapping
        of feature name -> meta block): the compiler compiled those blocks too, into
        unitTestFeatures, and they are looked up by name and block. -#}
    {%- set override = var('features_override', none) -%}
    {%- if override is not none -%}
        {%- for name, meta in override.items() -%}
            {%- set found = [] -%}
            {%- for entry in registry.unitTestFeatures if entry.name == name and entry.definition == meta -%}
                {%- do found.append(entry.feature) -%}
            {%- endfor -%}
            {%- if found | length == 0 -%}
                {%- do churnfeat_stale_registry('the unit test feature "' ~ name ~ '" (var features_override) is not in it') -%}
            {%- endif -%}
            {%- do features.append(churnfeat_feature_dict(found[0])) -%}
        {%- endfor -%}
        {{ return(features | sort(attribute='name')) }}
    {%- endif -%}
    {%- for feature in registry.features -%}
        {%- do features.append(churnfeat_feature_dict(feature)) -%}
    {%- endfor -%}
    {{ return(features) }}
{% endmacro %}


{#- One feature of the artifact in the names the SQL macros use. -#}
{% macro churnfeat_feature_dict(feature) %}
    {{ return({
        'name': feature.name,
        'model': feature.model,
        'file': feature.file,
        'source': feature.source,
        'event_types': feature.eventTypes,
        'where': feature.where,
        'function': feature.aggregation,
        'attribute': feature.attribute,
        'scale': feature.scale,
        'window_ms': feature.windowMs,
        'granularity_ms': feature.granularityMs,
        'freshness_slo_ms': feature.freshnessSloMs,
        'version': feature.version,
        'definition_hash': feature.definitionHash,
    }) }}
{% endmacro %}


{#- A policy of the registry (allowedLatenessMs, dedupMarginMs, dedupHorizonMs, maxTilesPerWindow). -#}
{% macro churnfeat_policy(name) %}
    {{ return(churnfeat_registry().policies[name]) }}
{% endmacro %}


{#- The version id of the registry (docs/feature-semantics.md, "Version identity"). -#}
{% macro churnfeat_registry_version() %}
    {{ return(churnfeat_registry().version) }}
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
