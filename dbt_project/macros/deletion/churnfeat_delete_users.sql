{#-
  GDPR/CCPA erasure in the warehouse (docs/deletion.md). Run by `churnfeat delete run`
  (and the churnfeat_deletion_daily DAG) after the lake objects were rewritten:

    dbt run-operation churnfeat_delete_users \
      --args '{users: [{user_id: u1, deleted_before_ms: 1733050000000}]}'

  1. records the users in the suppression table churnfeat_deleted_users (user_id,
     deleted_before_ms): the training table and the parity sample leave them out;
  2. deletes their rows from every table of this project that has a user_id column
     (models materialized as table or incremental, and seeds; views hold nothing):
     event-grain tables (an event_ms column) lose the rows with event_ms before the
     deletion, every other table (aggregates, the training table) every row of the user;
  3. on Snowflake, deletes them from the raw table when the lake is loaded by Snowpipe
     (an external table reads the rewritten lake objects after its refresh);
  4. verifies: counts what is left in every table and in the lake source, logs one line
     `churnfeat-deletion-verified <json>` and fails when anything is left.
  An unknown user is a successful no-op (0 rows deleted, 0 left).
-#}
{% macro churnfeat_delete_users(users) %}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set targets = [] -%}
    {%- for user in users -%}
        {%- if user.user_id is not string or not modules.re.match('^[A-Za-z0-9_.-]{1,64}$', user.user_id) -%}
            {{ exceptions.raise_compiler_error('churnfeat_delete_users: users[' ~ loop.index0 ~ '].user_id must match ^[A-Za-z0-9_.-]{1,64}$') }}
        {%- endif -%}
        {%- if user.deleted_before_ms is not number -%}
            {{ exceptions.raise_compiler_error('churnfeat_delete_users: users[' ~ loop.index0 ~ '].deleted_before_ms must be epoch milliseconds') }}
        {%- endif -%}
        {%- do targets.append({'user_id': user.user_id, 'deleted_before_ms': user.deleted_before_ms | int}) -%}
    {%- endfor -%}
    {%- do churnfeat_refresh_lake_reader() -%}
    {%- set suppression = churnfeat_ensure_deleted_users() -%}
    {%- for user in targets -%}
        {%- do run_query('delete from ' ~ suppression ~ ' where user_id = ' ~ churnfeat_string_literal(user.user_id)) -%}
        {%- do run_query('insert into ' ~ suppression ~ ' (user_id, deleted_before_ms) values ('
            ~ churnfeat_string_literal(user.user_id) ~ ', ' ~ user.deleted_before_ms ~ ')') -%}
    {%- endfor -%}
    {%- do adapter.commit() -%}
    {%- set deleted = {} -%}
    {%- for relation, event_grain in churnfeat_user_tables() -%}
        {%- set predicate = churnfeat_deleted_rows_predicate(targets, event_grain) -%}
        {%- do deleted.update({relation.identifier: churnfeat_count_where(relation, predicate)}) -%}
        {%- if deleted[relation.identifier] > 0 -%}
            {%- do run_query('delete from ' ~ relation ~ ' where ' ~ predicate) -%}
        {%- endif -%}
        {#- run-operation does not commit by itself -#}
        {%- do adapter.commit() -%}
    {%- endfor -%}
    {%- do churnfeat_delete_users_from_raw(targets) -%}
    {%- do adapter.commit() -%}
    {%- do churnfeat_report_left(targets, deleted, 'churnfeat_delete_users') -%}
{% endmacro %}


{#- Counts, without deleting, what churnfeat_delete_users would delete: the verify step. -#}
{% macro churnfeat_verify_deleted_users(users) %}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- do churnfeat_refresh_lake_reader() -%}
    {%- do churnfeat_report_left(users, none, 'churnfeat_verify_deleted_users') -%}
{% endmacro %}


{#- The verification both operations end with: counts the users' rows left in every table and
    in the lake source (`deleted`: rows deleted per table, when deleting), prints one line
    `churnfeat-deletion-verified <json>` and fails when anything is left. -#}
{% macro churnfeat_report_left(users, deleted, caller_name) %}
    {%- set report = {'tables': {}, 'left': 0, 'users': users | length} -%}
    {%- if deleted is not none -%}
        {%- do report.update({'deleted': deleted.values() | sum}) -%}
    {%- endif -%}
    {%- for relation, event_grain in churnfeat_user_tables() -%}
        {%- set left = churnfeat_count_where(relation, churnfeat_deleted_rows_predicate(users, event_grain, verify=true)) -%}
        {%- set entry = {'left': left} -%}
        {%- if deleted is not none -%}
            {%- do entry.update({'deleted': deleted.get(relation.identifier, 0) - left}) -%}
        {%- endif -%}
        {%- do report.tables.update({relation.identifier: entry}) -%}
        {%- do report.update({'left': report.left + left}) -%}
    {%- endfor -%}
    {%- set lake_left = churnfeat_count_where(source('lake', 'events'), churnfeat_deleted_rows_predicate(users, true)) -%}
    {%- do report.update({'lake_source_left': lake_left, 'left': report.left + lake_left}) -%}
    {{ print('churnfeat-deletion-verified ' ~ tojson(report)) }}
    {%- if report.left > 0 -%}
        {{ exceptions.raise_compiler_error(caller_name ~ ': ' ~ report.left ~ ' rows of the deleted users are left: ' ~ tojson(report)) }}
    {%- endif -%}
{% endmacro %}


{#- run-operation runs no on-run-start hook: (re)create the DuckDB lake reader here, so the
    lake source reads the objects as they are now. -#}
{% macro churnfeat_refresh_lake_reader() %}
    {%- set reader = churnfeat_create_lake_reader() -%}
    {%- if reader | trim != '' -%}
        {%- do run_query(reader) -%}
    {%- endif -%}
{% endmacro %}


{#- The suppression list (user_id, deleted_before_ms), created when missing; returns its name.
    It holds the ids of erased users only, which the erasure itself needs (docs/deletion.md). -#}
{% macro churnfeat_ensure_deleted_users() %}
    {%- set name = target.schema ~ '.churnfeat_deleted_users' -%}
    {%- if execute -%}
        {%- do adapter.create_schema(api.Relation.create(database=target.database, schema=target.schema)) -%}
        {%- do run_query(adapter.dispatch('churnfeat_create_deleted_users', 'churnfeat')(name)) -%}
    {%- endif -%}
    {{ return(name) }}
{% endmacro %}

{% macro default__churnfeat_create_deleted_users(name) %}
    {{ return('create table if not exists ' ~ name ~ ' (user_id varchar, deleted_before_ms bigint)') }}
{% endmacro %}

{#- Snowflake: transient, no Time Travel, no Fail-safe (it is rewritten, never restored). -#}
{% macro snowflake__churnfeat_create_deleted_users(name) %}
    {{ return('create transient table if not exists ' ~ name ~ ' (user_id varchar, deleted_before_ms bigint) data_retention_time_in_days = 0') }}
{% endmacro %}


{#- on-run-start: the suppression list exists before fct_training_features reads it. -#}
{% macro churnfeat_create_deleted_users_hook() %}
    {%- do churnfeat_ensure_deleted_users() -%}
    {{ return('') }}
{% endmacro %}


{#- The relation name fct_training_features anti-joins (the table churnfeat_delete_users fills). -#}
{% macro churnfeat_deleted_users_relation() %}
    {{ return(target.schema ~ '.churnfeat_deleted_users') }}
{% endmacro %}


{#- (relation, event_grain) of every table of this project that holds a user_id column. -#}
{% macro churnfeat_user_tables() %}
    {%- set out = [] -%}
    {%- for node in graph.nodes.values()
            if node.package_name == project_name
            and node.resource_type in ['model', 'seed']
            and node.config.materialized in ['table', 'incremental', 'seed'] -%}
        {%- set relation = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) -%}
        {%- if relation is not none -%}
            {%- set columns = adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list -%}
            {%- if 'user_id' in columns -%}
                {%- do out.append((relation, 'event_ms' in columns)) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(out) }}
{% endmacro %}


{#- The rows of the users a deletion removes: before the deletion (event grain), or all. -#}
{#- verify: a row of an aggregate table is a leftover unless the user came back (has lake
    rows from at or after the deletion): the delete step removed every aggregate row of the
    user, so a returning customer's rows were rebuilt from the (clean) lake since. -#}
{% macro churnfeat_deleted_rows_predicate(users, event_grain, verify=false) %}
    {%- if users | length == 0 -%}
        {{ return('1 = 0') }}
    {%- endif -%}
    {%- set terms = [] -%}
    {%- for user in users -%}
        {%- if event_grain -%}
            {%- do terms.append('(user_id = ' ~ churnfeat_string_literal(user.user_id) ~ ' and event_ms < ' ~ (user.deleted_before_ms | int) ~ ')') -%}
        {%- elif verify -%}
            {%- do terms.append('(user_id = ' ~ churnfeat_string_literal(user.user_id) ~ ' and not exists (select 1 from ' ~ source('lake', 'events')
                ~ ' as returned where returned.user_id = ' ~ churnfeat_string_literal(user.user_id) ~ ' and returned.event_ms >= ' ~ (user.deleted_before_ms | int) ~ '))') -%}
        {%- else -%}
            {%- do terms.append('user_id = ' ~ churnfeat_string_literal(user.user_id)) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return('(' ~ terms | join(' or ') ~ ')') }}
{% endmacro %}


{% macro churnfeat_count_where(relation, predicate) %}
    {%- set result = run_query('select count(*) from ' ~ relation ~ ' where ' ~ predicate) -%}
    {{ return(result.columns[0].values()[0] | int) }}
{% endmacro %}


{#- The raw copy in the warehouse: DuckDB reads the lake files themselves (rewritten by the
    lake step), so there is none; Snowflake's Snowpipe table is one. -#}
{% macro churnfeat_delete_users_from_raw(users) %}
    {{ return(adapter.dispatch('churnfeat_delete_users_from_raw', 'churnfeat')(users)) }}
{% endmacro %}

{% macro default__churnfeat_delete_users_from_raw(users) %}
    {{ return(none) }}
{% endmacro %}

{#- Snowflake: a Snowpipe-loaded raw table loses the rows; an external table is refreshed so
    it reads the rewritten objects (its metadata still lists the object names, unchanged). -#}
{% macro snowflake__churnfeat_delete_users_from_raw(users) %}
    {%- set raw = source('lake', 'events') -%}
    {%- set kind = run_query("select table_type from " ~ raw.database ~ ".information_schema.tables where table_schema = upper('" ~ raw.schema ~ "') and table_name = upper('" ~ raw.identifier ~ "')") -%}
    {%- set table_type = kind.columns[0].values()[0] if kind.rows | length > 0 else none -%}
    {%- if table_type == 'EXTERNAL TABLE' -%}
        {%- do run_query('alter external table ' ~ raw ~ ' refresh') -%}
    {%- elif table_type is not none -%}
        {%- do run_query('delete from ' ~ raw ~ ' where ' ~ churnfeat_deleted_rows_predicate(users, true)) -%}
    {%- endif -%}
    {{ return(none) }}
{% endmacro %}


{#- post-hook of every model: on Snowflake, no Time Travel copy of deleted rows outlives a
    day (dbt-snowflake builds transient tables, which have no Fail-safe). -#}
{% macro churnfeat_retention_post_hook() %}
    {{ return(adapter.dispatch('churnfeat_retention_post_hook', 'churnfeat')()) }}
{% endmacro %}

{% macro default__churnfeat_retention_post_hook() %}
    {{ return('') }}
{% endmacro %}

{% macro snowflake__churnfeat_retention_post_hook() %}
    {%- if model.config.materialized in ['table', 'incremental'] -%}
        {{ return('alter table ' ~ this ~ ' set data_retention_time_in_days = 1') }}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}
