{#-
  Validates one `config.meta.feature` block and compiles it into the dict that the other
  macros render SQL from. The rules mirror contracts/features/feature-definition.schema.json
  and the semantic checks of the sidecar's compileFeature, so a block that one side rejects
  the other rejects too. Errors name the YAML file, the feature and the field.
-#}
{% macro churnfeat_definition_error(file, feature, field, problem) %}
    {{ exceptions.raise_compiler_error(
        'Invalid feature definition: ' ~ file ~ ': feature "' ~ feature ~ '", field "'
        ~ field ~ '": ' ~ problem) }}
{% endmacro %}


{% macro churnfeat_compile_feature(file, model, name, meta) %}
    {%- set identifier = '^[A-Za-z_][A-Za-z0-9_]*$' -%}
    {%- set snake_case = '^[a-z][a-z0-9_]*$' -%}
    {%- set known_types = var('event_types') -%}
    {%- set aggregations = ['count', 'sum', 'count_distinct', 'last', 'min', 'max'] -%}
    {%- set ops = ['eq', 'neq', 'in', 'not_in', 'gt', 'gte', 'lt', 'lte', 'exists'] -%}

    {%- if not modules.re.match(snake_case, name) -%}
        {%- do churnfeat_definition_error(file, name, 'name', 'feature names are snake_case: ' ~ snake_case) -%}
    {%- endif -%}
    {%- if meta is not mapping -%}
        {%- do churnfeat_definition_error(file, name, '(block)', 'must be a mapping') -%}
    {%- endif -%}
    {%- for key in meta.keys() if key not in ['entity', 'source', 'filter', 'aggregation', 'window',
            'granularity', 'freshness_slo', 'owner', 'version', 'description'] -%}
        {%- do churnfeat_definition_error(file, name, key, 'unknown field') -%}
    {%- endfor -%}
    {%- for key in ['entity', 'source', 'filter', 'aggregation', 'window', 'granularity', 'freshness_slo']
            if meta.get(key) is none -%}
        {%- do churnfeat_definition_error(file, name, key, 'is required') -%}
    {%- endfor -%}

    {#- entity and source -#}
    {%- if meta.entity != 'user_id' -%}
        {%- do churnfeat_definition_error(file, name, 'entity', 'must be user_id') -%}
    {%- endif -%}
    {%- if meta.source is not string or meta.source not in known_types -%}
        {%- do churnfeat_definition_error(file, name, 'source', 'must be one of ' ~ (known_types.keys() | sort | join(', '))) -%}
    {%- endif -%}

    {#- filter -#}
    {%- set filter = meta.filter -%}
    {%- if filter is not mapping -%}
        {%- do churnfeat_definition_error(file, name, 'filter', 'must be a mapping') -%}
    {%- endif -%}
    {%- for key in filter.keys() if key not in ['event_types', 'where'] -%}
        {%- do churnfeat_definition_error(file, name, 'filter.' ~ key, 'unknown field') -%}
    {%- endfor -%}
    {%- set event_types = filter.get('event_types') -%}
    {%- if event_types is string or event_types is not sequence or event_types | length == 0 -%}
        {%- do churnfeat_definition_error(file, name, 'filter.event_types', 'must be a non-empty list') -%}
    {%- endif -%}
    {%- if (event_types | unique | list | length) != (event_types | length) -%}
        {%- do churnfeat_definition_error(file, name, 'filter.event_types', 'must not repeat an event type') -%}
    {%- endif -%}
    {%- for event_type in event_types -%}
        {%- if event_type is not string or event_type not in known_types[meta.source] -%}
            {%- do churnfeat_definition_error(file, name, 'filter.event_types',
                '"' ~ event_type ~ '" is not an event type of source ' ~ meta.source) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set where = filter.get('where') or [] -%}
    {%- if where is string or where is not sequence -%}
        {%- do churnfeat_definition_error(file, name, 'filter.where', 'must be a list') -%}
    {%- endif -%}
    {%- for predicate in where -%}
        {%- set field = 'filter.where.' ~ loop.index0 -%}
        {%- if predicate is not mapping -%}
            {%- do churnfeat_definition_error(file, name, field, 'must be a mapping') -%}
        {%- endif -%}
        {%- for key in predicate.keys() if key not in ['attribute', 'op', 'value', 'values'] -%}
            {%- do churnfeat_definition_error(file, name, field ~ '.' ~ key, 'unknown field') -%}
        {%- endfor -%}
        {%- if predicate.attribute is not string or not modules.re.match(identifier, predicate.attribute) -%}
            {%- do churnfeat_definition_error(file, name, field ~ '.attribute', 'must match ' ~ identifier) -%}
        {%- endif -%}
        {%- if predicate.op not in ops -%}
            {%- do churnfeat_definition_error(file, name, field ~ '.op', 'must be one of ' ~ (ops | join(', '))) -%}
        {%- endif -%}
        {%- if predicate.op in ['in', 'not_in'] -%}
            {%- set values = predicate.get('values') -%}
            {%- if values is none or values is string or values is not sequence or values | length == 0 -%}
                {%- do churnfeat_definition_error(file, name, field ~ '.values', 'is required (a non-empty list) for ' ~ predicate.op) -%}
            {%- endif -%}
            {%- for candidate in values if candidate is boolean or not (candidate is string or candidate is number) -%}
                {%- do churnfeat_definition_error(file, name, field ~ '.values', 'items must be strings or numbers') -%}
            {%- endfor -%}
        {%- elif predicate.op in ['eq', 'neq'] -%}
            {%- if predicate.get('value') is none or not (predicate.value is string or predicate.value is number) -%}
                {%- do churnfeat_definition_error(file, name, field ~ '.value', 'is required (string, number or boolean) for ' ~ predicate.op) -%}
            {%- endif -%}
        {%- elif predicate.op in ['gt', 'gte', 'lt', 'lte'] -%}
            {%- if predicate.get('value') is none or predicate.value is boolean or predicate.value is not number -%}
                {%- do churnfeat_definition_error(file, name, field ~ '.value', 'is required (a number) for ' ~ predicate.op) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}

    {#- aggregation -#}
    {%- set aggregation = meta.aggregation -%}
    {%- if aggregation is not mapping -%}
        {%- do churnfeat_definition_error(file, name, 'aggregation', 'must be a mapping') -%}
    {%- endif -%}
    {%- for key in aggregation.keys() if key not in ['function', 'attribute', 'scale'] -%}
        {%- do churnfeat_definition_error(file, name, 'aggregation.' ~ key, 'unknown field') -%}
    {%- endfor -%}
    {%- set function = aggregation.get('function') -%}
    {%- if function not in aggregations -%}
        {%- do churnfeat_definition_error(file, name, 'aggregation.function',
            'unknown aggregation "' ~ function ~ '"; one of ' ~ (aggregations | join(', '))) -%}
    {%- endif -%}
    {%- set attribute = aggregation.get('attribute') -%}
    {%- if function == 'count' and attribute is not none -%}
        {%- do churnfeat_definition_error(file, name, 'aggregation.attribute', 'count takes no attribute') -%}
    {%- endif -%}
    {%- if function != 'count' and attribute is none -%}
        {%- do churnfeat_definition_error(file, name, 'aggregation.attribute', 'is required for ' ~ function) -%}
    {%- endif -%}
    {%- if attribute is not none and (attribute is not string or not modules.re.match(identifier, attribute)) -%}
        {%- do churnfeat_definition_error(file, name, 'aggregation.attribute', 'must match ' ~ identifier) -%}
    {%- endif -%}
    {%- set scale = aggregation.get('scale') -%}
    {%- if scale is not none and function != 'sum' -%}
        {%- do churnfeat_definition_error(file, name, 'aggregation.scale', 'only sum takes a scale') -%}
    {%- endif -%}
    {%- if scale is not none and (scale is boolean or scale is not integer or scale < 0 or scale > 6) -%}
        {%- do churnfeat_definition_error(file, name, 'aggregation.scale', 'must be an integer from 0 to 6') -%}
    {%- endif -%}

    {#- durations -#}
    {%- set durations = {} -%}
    {%- for key in ['window', 'granularity', 'freshness_slo'] -%}
        {%- set ms = churnfeat_parse_duration_ms(meta[key]) -%}
        {%- if ms is none -%}
            {%- do churnfeat_definition_error(file, name, key, 'not a duration ("' ~ meta[key] ~ '"); use <n>s, <n>m, <n>h or <n>d') -%}
        {%- endif -%}
        {%- do durations.update({key: ms}) -%}
    {%- endfor -%}
    {%- if durations.window % durations.granularity != 0 -%}
        {%- do churnfeat_definition_error(file, name, 'window', 'must be a multiple of granularity (' ~ meta.granularity ~ ')') -%}
    {%- endif -%}
    {%- if durations.window // durations.granularity > 2000 -%}
        {%- do churnfeat_definition_error(file, name, 'granularity', 'more than 2000 tiles per window; choose a coarser granularity') -%}
    {%- endif -%}

    {%- set version = meta.get('version', 1) -%}
    {%- if version is boolean or version is not integer or version < 1 -%}
        {%- do churnfeat_definition_error(file, name, 'version', 'must be an integer >= 1') -%}
    {%- endif -%}

    {#- What the stored rows of int_feature_events depend on: when it changes, the
        incremental models rebuild this feature in full. -#}
    {%- set row_inputs = {
        'source': meta.source, 'filter': {'event_types': event_types, 'where': where},
        'aggregation': {'function': function, 'attribute': attribute, 'scale': scale or 0},
        'granularity_ms': durations.granularity, 'version': version,
        'allowed_lateness_ms': var('allowed_lateness_ms') | int} -%}

    {{ return({
        'name': name,
        'model': model,
        'file': file,
        'source': meta.source,
        'event_types': event_types | list,
        'where': where | list,
        'function': function,
        'attribute': attribute,
        'scale': (scale or 0) | int,
        'window_ms': durations.window,
        'granularity_ms': durations.granularity,
        'freshness_slo_ms': durations.freshness_slo,
        'version': version,
        'definition_hash': local_md5(tojson(row_inputs, sort_keys=true))[:16],
        'meta': meta,
    }) }}
{% endmacro %}
