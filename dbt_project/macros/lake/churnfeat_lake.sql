{#-
  Where the lake is, and (DuckDB) the table macro source('lake', 'events') reads.

  dbt 1.11 does not change into --project-dir, and the source's YAML is rendered at parse
  time, without macros, so a relative `lake_root` could only be resolved against whatever
  directory dbt was started from, and would be frozen, relative, into the staging view.
  Instead an on-run-start hook (re)creates a DuckDB table macro that reads the lake by an
  absolute path, with relative paths resolved against the project directory
  (default '../.cache/lake' = <repo>/.cache/lake, from any working directory). The staging view reads
  that macro, so it works from any working directory, for dbt and for other readers of the
  warehouse (the parity job), and `dbt source freshness` reads the same thing.
-#}

{#- This project's directory as dbt was given it (--project-dir: relative to the working
    directory, or absolute), from the graph; none when the graph is not available
    (parse time, unit tests). -#}
{% macro churnfeat_project_root() %}
    {%- if execute and graph.get('nodes') -%}
        {%- for node in graph.nodes.values() if node.get('root_path') and node.package_name == project_name -%}
            {{ return(node.root_path) }}
        {%- endfor -%}
    {%- endif -%}
    {{ return(none) }}
{% endmacro %}


{#- Collapses '.' and '..' segments of a '/'-separated path. -#}
{% macro churnfeat_normalize_path(path) %}
    {%- set parts = [] -%}
    {%- for part in path.split('/') -%}
        {%- if part == '..' and parts and parts[-1] not in ['', '..'] -%}
            {%- do parts.pop() -%}
        {%- elif part == '.' or (part == '' and not loop.first) -%}
        {%- else -%}
            {%- do parts.append(part) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(parts | join('/') if parts != [''] else '/') }}
{% endmacro %}


{% macro churnfeat_is_absolute_path(path) %}
    {{ return(path.startswith('/') or modules.re.match('^[A-Za-z][A-Za-z0-9+.-]*://', path) is not none
        or modules.re.match('^[A-Za-z]:[\\\\/]', path) is not none) }}
{% endmacro %}


{#- The directory dbt was started from, when it can be known, else none. dbt does not
    expose it, but DuckDB resolves its database file to an absolute path: with a relative
    target.path, the difference is the working directory. -#}
{% macro churnfeat_working_directory() %}
    {{- return(adapter.dispatch('churnfeat_working_directory', 'churnfeat')()) -}}
{% endmacro %}

{% macro duckdb__churnfeat_working_directory() %}
    {%- set configured = churnfeat_normalize_path(target.get('path', '') | string) -%}
    {%- if not execute or configured in ['', ':memory:'] or churnfeat_is_absolute_path(configured) or configured.startswith('..') -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set opened = run_query('select path from duckdb_databases() where database_name = current_database()').columns[0].values()[0] -%}
    {%- if opened and opened.endswith('/' ~ configured) -%}
        {{ return(opened[:(opened | length) - (configured | length) - 1]) }}
    {%- endif -%}
    {{ return(none) }}
{% endmacro %}

{% macro default__churnfeat_working_directory() %}
    {{ return(none) }}
{% endmacro %}


{#- var('lake_root') resolved: absolute paths and URIs (s3://...) unchanged; a relative
    path is relative to dbt_project/, and made absolute when the working directory is
    known (otherwise it stays relative to it, which is right for this dbt run). -#}
{% macro churnfeat_lake_root() %}
    {%- set root = (var('lake_root') | string).rstrip('/') -%}
    {%- if churnfeat_is_absolute_path(root) -%}
        {{ return(root) }}
    {%- endif -%}
    {%- set project_root = churnfeat_project_root() -%}
    {%- if project_root is none -%}
        {{ return(root) }}
    {%- endif -%}
    {%- set path = project_root ~ '/' ~ root -%}
    {%- if not churnfeat_is_absolute_path(path) -%}
        {%- set working_directory = churnfeat_working_directory() -%}
        {%- if working_directory is not none -%}
            {%- set path = working_directory ~ '/' ~ path -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(churnfeat_normalize_path(path)) }}
{% endmacro %}


{#- on-run-start: creates the relation source('lake', 'events') resolves to. -#}
{% macro churnfeat_create_lake_reader() %}
    {{- return(adapter.dispatch('churnfeat_create_lake_reader', 'churnfeat')()) -}}
{% endmacro %}

{#- DuckDB: a table macro <schema>.churnfeat_lake_events() over the Parquet files; with no
    file yet (read_parquet would fail), one that returns no row with the same columns. -#}
{% macro duckdb__churnfeat_create_lake_reader() %}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set pattern = churnfeat_lake_root() ~ '/events/**/*.parquet' -%}
    {%- set file_count = run_query('select count(*) from glob(' ~ churnfeat_string_literal(pattern) ~ ')').columns[0].values()[0] -%}
    {%- do adapter.create_schema(api.Relation.create(database=target.database, schema=target.schema)) -%}
    {%- set compaction_pattern = churnfeat_lake_root() ~ '/_compaction/events/**/*.json' -%}
    {%- set compacted_count = run_query('select count(*) from glob(' ~ churnfeat_string_literal(compaction_pattern) ~ ')').columns[0].values()[0] -%}
    {%- if file_count > 0 -%}
        {#- Compacted days (docs/deletion.md, "Lake compaction"): a hour=all bucket object is
            read only when its day's manifest lists it in objects, an hourly object only when
            the manifest does not list it in landed; one manifest PUT swaps the copies. The
            manifests are read at query time, inside the macro. -#}
        {%- do log('churnfeat: lake ' ~ pattern ~ ' (' ~ file_count ~ ' files, ' ~ compacted_count ~ ' compacted days)', info=false) -%}
        {%- set root = churnfeat_string_literal(churnfeat_lake_root() ~ '/') -%}
        {%- set body -%}
{%- if compacted_count > 0 %}
with

manifests as (
    select objects, landed
    from read_json(
        {{ churnfeat_string_literal(compaction_pattern) }},
        format = 'auto',
        columns = {
            objects: 'STRUCT(object VARCHAR, bucket BIGINT, "rows" BIGINT)[]',
            landed: 'STRUCT(object VARCHAR, topic VARCHAR, "partition" BIGINT, "first" VARCHAR, "last" VARCHAR, records BIGINT)[]'
        }
    )
),

retired_hourly as (
    select {{ root }} || unnest(list_transform(landed, x -> x.object)) as filename from manifests
),

current_buckets as (
    select {{ root }} || unnest(list_transform(objects, x -> x.object)) as filename from manifests
)
{% endif %}
select
    * exclude (filename),
    {{ churnfeat_ms_to_timestamp('ingest_ms') }} as ingested_at
from read_parquet(
    {{ churnfeat_string_literal(pattern) }},
    filename = true,
    hive_partitioning = true,
    union_by_name = true,
    hive_types_autocast = false
)
{%- if compacted_count > 0 %}
where filename not in (select filename from retired_hourly)
    and (hour != 'all' or filename in (select filename from current_buckets))
{%- endif %}
        {%- endset -%}
    {%- else -%}
        {%- do log('churnfeat: no lake file matches ' ~ pattern ~ '; the lake reads as empty', info=true) -%}
        {%- set body -%}
select
    cast(null as varchar) as source,
    cast(null as varchar) as kafka_topic,
    cast(null as integer) as kafka_partition,
    cast(null as bigint) as kafka_offset,
    cast(null as bigint) as kafka_ts_ms,
    cast(null as varchar) as event_key,
    cast(null as varchar) as event_id,
    cast(null as varchar) as user_id,
    cast(null as varchar) as device_id,
    cast(null as varchar) as event_type,
    cast(null as varchar) as event_ts,
    cast(null as varchar) as ingest_ts,
    cast(null as bigint) as event_ms,
    cast(null as bigint) as ingest_ms,
    cast(null as varchar) as attributes,
    cast(null as varchar) as "date",
    cast(null as varchar) as "hour",
    cast(null as timestamp) as ingested_at
where 1 = 0
        {%- endset -%}
    {%- endif -%}
    {{ return('create or replace macro ' ~ target.schema ~ '.churnfeat_lake_events() as table\n' ~ body) }}
{% endmacro %}

{#- Snowflake: the external table (or Snowpipe table) is created once by create_lake_stage. -#}
{% macro default__churnfeat_create_lake_reader() %}
    {{ return('') }}
{% endmacro %}


{#- The lake partition of a record: lake_date, the UTC day of its kafka_ts_ms (hive folder
    `date=` of events/source=/date=/hour=) as a DATE, and lake_hour, the folder `hour=` as
    text ('00'-'23', or 'all' for a compacted day's buckets). Filters on them prune whole files;
    compare them with 'YYYY-MM-DD' / 'HH' string literals (DuckDB keeps lake_date as text,
    Snowflake as a DATE, which casts such a literal). -#}
{% macro churnfeat_lake_partition_date() %}
    {{- return(adapter.dispatch('churnfeat_lake_partition_date', 'churnfeat')()) -}}
{% endmacro %}

{# DuckDB: the hive column `date` of read_parquet, as text ('YYYY-MM-DD', hive_types_autocast
   off): a filter on the text skips whole files, one on cast("date" as date) does not (DuckDB 1.5). #}
{% macro duckdb__churnfeat_lake_partition_date() -%}
    "date"
{%- endmacro %}

{# Snowflake: the external table's partition column (create_lake_stage), which prunes files. #}
{% macro default__churnfeat_lake_partition_date() -%}
    lake_date
{%- endmacro %}

{% macro churnfeat_lake_partition_hour() %}
    {{- return(adapter.dispatch('churnfeat_lake_partition_hour', 'churnfeat')()) -}}
{% endmacro %}

{# DuckDB: the hive column `hour` of read_parquet (text). #}
{% macro duckdb__churnfeat_lake_partition_hour() -%}
    "hour"
{%- endmacro %}

{# Snowflake: the external table's second partition column (create_lake_stage). #}
{% macro default__churnfeat_lake_partition_hour() -%}
    lake_hour
{%- endmacro %}
