{#-
  Snowflake: declares the raw event lake (the S3 prefix the sidecar's lake writer fills)
  as the relation `<database>.<lake schema>.events` that source('lake', 'events') reads,
  with the same columns DuckDB sees through read_parquet (plus ingested_at, like the
  DuckDB source subquery). Run once per environment by an admin role:

    dbt run-operation create_lake_stage --target snowflake \
      --args '{dry_run: false, stage_url: "s3://<bucket>/<prefix>/", storage_integration: <integration>}'

  mode: 'external_table' (default): an auto-refreshing external table over the stage;
        nothing is copied, queries read Parquet in S3 (partition pruning on lake_date, lake_hour).
        'snowpipe': a native table filled by a Snowpipe COPY (auto_ingest), faster to
        query and clustered by ingest time; the lake stays the system of record. The table
        is TRANSIENT (no Fail-safe, which nobody can purge) with DATA_RETENTION_TIME_IN_DAYS =
        retention_days (0 or 1, the only values a transient table takes; default 1): a row
        the daily erasure deletes is unreachable within 24 h, inside the 72 h SLA
        (docs/deletion.md). The pipe loads the hourly objects only (hour=HH), never the
        bucket objects of a compacted day (hour=all), which hold the same records again.
  dry_run (default true): only print the statements (works on any target: this is
        how the DDL is compiled and reviewed locally).
-#}
{% macro create_lake_stage(dry_run=true, stage_url=none, storage_integration=none, mode='external_table', retention_days=1) %}
    {%- if mode not in ['external_table', 'snowpipe'] -%}
        {{ exceptions.raise_compiler_error("create_lake_stage: mode must be 'external_table' or 'snowpipe'") }}
    {%- endif -%}
    {%- if retention_days not in [0, 1] -%}
        {{ exceptions.raise_compiler_error('create_lake_stage: retention_days must be 0 or 1 (a transient table keeps at most 1 day of Time Travel), got ' ~ retention_days) }}
    {%- endif -%}
    {%- if not dry_run and target.type != 'snowflake' -%}
        {{ exceptions.raise_compiler_error('create_lake_stage runs on Snowflake only (target type: ' ~ target.type ~ '); use dry_run: true to print it') }}
    {%- endif -%}
    {%- if not dry_run and (stage_url is none or storage_integration is none) -%}
        {{ exceptions.raise_compiler_error('create_lake_stage: stage_url and storage_integration are required') }}
    {%- endif -%}
    {%- set database = target.database if target.type == 'snowflake' else 'CHURNFEAT' -%}
    {%- set schema = env_var('CHURNFEAT_LAKE_SCHEMA', 'lake') -%}
    {%- set lake = database ~ '.' ~ schema -%}
    {%- set url = stage_url or '<s3://bucket/prefix/>' -%}
    {%- set integration = storage_integration or '<storage_integration>' -%}
    {%- set columns = [
        ('source', 'varchar', 'varchar'),
        ('kafka_topic', 'varchar', 'varchar'),
        ('kafka_partition', 'integer', 'integer'),
        ('kafka_offset', 'bigint', 'bigint'),
        ('kafka_ts_ms', 'bigint', 'bigint'),
        ('event_key', 'varchar', 'varchar'),
        ('event_id', 'varchar', 'varchar'),
        ('user_id', 'varchar', 'varchar'),
        ('device_id', 'varchar', 'varchar'),
        ('event_type', 'varchar', 'varchar'),
        ('event_ts', 'varchar', 'varchar'),
        ('ingest_ts', 'varchar', 'varchar'),
        ('event_ms', 'bigint', 'bigint'),
        ('ingest_ms', 'bigint', 'bigint'),
        ('attributes', 'varchar', 'varchar'),
    ] -%}
    {#- hive folders: events/source=<s>/date=<YYYY-MM-DD>/hour=<HH>/<file>.parquet -#}
    {%- set lake_date_expr = "to_date(split_part(split_part(metadata$filename, 'date=', 2), '/', 1), 'YYYY-MM-DD')" -%}
    {%- set lake_hour_expr = "split_part(split_part(metadata$filename, 'hour=', 2), '/', 1)" -%}

    {%- set statements = [
        'create schema if not exists ' ~ lake,
        'create file format if not exists ' ~ lake ~ '.churnfeat_parquet type = parquet',
        'create stage if not exists ' ~ lake ~ '.churnfeat_lake\n'
            ~ "    url = '" ~ url ~ "'\n"
            ~ '    storage_integration = ' ~ integration ~ '\n'
            ~ '    file_format = ' ~ lake ~ '.churnfeat_parquet',
    ] -%}

    {%- if mode == 'external_table' -%}
        {%- set column_lines = [] -%}
        {%- for name, type, cast in columns -%}
            {%- do column_lines.append('    ' ~ name ~ ' ' ~ type ~ ' as (value:' ~ name ~ '::' ~ cast ~ ')') -%}
        {%- endfor -%}
        {%- do column_lines.append('    ingested_at timestamp_ntz as (to_timestamp_ntz(value:ingest_ms::bigint, 3))') -%}
        {%- do column_lines.append('    lake_date date as (' ~ lake_date_expr ~ ')') -%}
        {%- do column_lines.append('    lake_hour varchar as (' ~ lake_hour_expr ~ ')') -%}
        {%- do statements.append(
            'create external table if not exists ' ~ lake ~ '.events (\n'
            ~ (column_lines | join(',\n')) ~ '\n)\n'
            ~ 'partition by (lake_date, lake_hour)\n'
            ~ 'location = @' ~ lake ~ '.churnfeat_lake/events/\n'
            ~ "pattern = '.*[.]parquet'\n"
            ~ 'file_format = (format_name = ' ~ lake ~ '.churnfeat_parquet)\n'
            ~ 'auto_refresh = true') -%}
    {%- else -%}
        {%- set column_lines = [] -%}
        {%- set select_lines = [] -%}
        {%- for name, type, cast in columns -%}
            {%- do column_lines.append('    ' ~ name ~ ' ' ~ type) -%}
            {%- do select_lines.append('        $1:' ~ name ~ '::' ~ cast) -%}
        {%- endfor -%}
        {%- do column_lines.append('    ingested_at timestamp_ntz') -%}
        {%- do column_lines.append('    lake_file varchar') -%}
        {%- do column_lines.append('    lake_date date') -%}
        {%- do column_lines.append('    lake_hour varchar') -%}
        {%- do select_lines.append('        to_timestamp_ntz($1:ingest_ms::bigint, 3)') -%}
        {%- do select_lines.append('        metadata$filename') -%}
        {%- do select_lines.append('        ' ~ lake_date_expr) -%}
        {%- do select_lines.append('        ' ~ lake_hour_expr) -%}
        {%- do statements.append(
            'create transient table if not exists ' ~ lake ~ '.events (\n' ~ (column_lines | join(',\n')) ~ '\n)\n'
            ~ 'cluster by (lake_date, source)\n'
            ~ 'data_retention_time_in_days = ' ~ retention_days) -%}
        {#- A replay rewrites a file with the same content under the same name: COPY's load
            metadata skips a file it already loaded, and staging dedups records anyway. -#}
        {%- do statements.append(
            'create pipe if not exists ' ~ lake ~ '.events_pipe auto_ingest = true as\n'
            ~ 'copy into ' ~ lake ~ '.events\n'
            ~ 'from (\n    select\n' ~ (select_lines | join(',\n')) ~ '\n    from @' ~ lake ~ '.churnfeat_lake/events/\n)\n'
            ~ "pattern = '.*/hour=[0-9][0-9]/[^/]*[.]parquet'\n"
            ~ 'file_format = (format_name = ' ~ lake ~ '.churnfeat_parquet)') -%}
    {%- endif -%}

    {%- for statement in statements -%}
        {%- if dry_run -%}
            {{ print(statement ~ ';\n') }}
        {%- else -%}
            {%- do log('create_lake_stage: ' ~ statement.split('\n')[0], info=true) -%}
            {%- do run_query(statement) -%}
        {%- endif -%}
    {%- endfor -%}
{% endmacro %}
