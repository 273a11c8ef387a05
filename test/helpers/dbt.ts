/** dbt and DuckDB for tests: the dbt runner and one-query helpers. */
import { resolve } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { execa } from 'execa';

/**
 * Runs dbt from the project's virtualenv against a DuckDB file of the test's own. Each vitest
 * worker has its own target and log folders (`<project>/target/vitest-<worker>`): test files run
 * side by side, and two dbt processes writing one target folder (manifest, partial parse file)
 * would race; one worker's runs keep dbt's partial parsing between them.
 */
export async function runDbt(args: string[], env: { duckdbPath: string; lakeRoot: string }, vars: Record<string, unknown> = {}, projectDir = 'dbt_project'): Promise<string> {
  const worker = `vitest-${process.env.VITEST_POOL_ID ?? '0'}`;
  const folders = ['--target-path', resolve(projectDir, 'target', worker), '--log-path', resolve(projectDir, 'logs', worker)];
  const result = await execa('.venv/dbt/bin/dbt', [...args, '--project-dir', projectDir, '--profiles-dir', projectDir, ...folders, '--vars', JSON.stringify({ lake_root: env.lakeRoot, ...vars })], {
    env: { CHURNFEAT_DUCKDB_PATH: env.duckdbPath, CHURNFEAT_LAKE_ROOT: env.lakeRoot, DBT_SEND_ANONYMOUS_USAGE_STATS: 'false' },
    reject: false,
    all: true,
    timeout: 300_000,
  });
  if (result.exitCode !== 0) throw new Error(`dbt ${args.join(' ')} failed (exit ${result.exitCode}):\n${result.all}`);
  return result.all ?? '';
}

/** Runs one query on a DuckDB file and returns plain row objects. */
export async function queryDuckDb(path: string, sql: string): Promise<Array<Record<string, unknown>>> {
  const instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll(sql);
    return reader.getRowObjectsJS() as Array<Record<string, unknown>>;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Runs one query on an in-memory DuckDB (e.g. over read_parquet) and returns plain row objects. */
export async function duckQuery(sql: string): Promise<Array<Record<string, unknown>>> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJS() as Array<Record<string, unknown>>;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
