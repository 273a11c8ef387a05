import { execa } from 'execa';

/** What the run-operation reports (its line `churnfeat-deletion-verified <json>`). */
export interface WarehouseReport {
  tables: Record<string, { deleted?: number; left: number }>;
  deleted?: number;
  left: number;
  lake_source_left: number;
  users: number;
}

const MARKER = 'churnfeat-deletion-verified ';

/** How the erasure runs dbt: the project's wrapper script and the environment dbt reads. */
export interface WarehouseRunner {
  /** The dbt wrapper (dbt_project/scripts/dbt.sh: picks the venv's dbt, the project and profiles dirs). */
  dbtScript: string;
  /** dbt --target; '' for the profile's default (CHURNFEAT_DBT_TARGET, else duckdb). */
  target: string;
  /** --vars (lake_root for a local lake). */
  vars: Record<string, unknown>;
  env?: Record<string, string>;
}

async function runOperation(runner: WarehouseRunner, macro: string, users: ReadonlyArray<{ user_id: string; deleted_before_ms: number }>): Promise<WarehouseReport> {
  const args = ['run-operation', macro, '--args', JSON.stringify({ users }), '--vars', JSON.stringify(runner.vars)];
  if (runner.target !== '') args.push('--target', runner.target);
  const result = await execa(runner.dbtScript, args, { reject: false, all: true, env: runner.env ?? {} });
  const line = (result.all ?? '').split('\n').find((l) => l.includes(MARKER));
  if (line === undefined) throw new Error(`dbt run-operation ${macro} failed (exit ${result.exitCode}): ${(result.all ?? '').slice(-2000)}`);
  return JSON.parse(line.slice(line.indexOf(MARKER) + MARKER.length)) as WarehouseReport;
}

/**
 * Deletes the users from every warehouse table and verifies (macro churnfeat_delete_users,
 * dbt_project/macros/deletion/): the report says what each table lost and what is left
 * (the macro fails when anything is).
 */
export function eraseFromWarehouse(runner: WarehouseRunner, users: ReadonlyArray<{ user_id: string; deleted_before_ms: number }>): Promise<WarehouseReport> {
  return runOperation(runner, 'churnfeat_delete_users', users);
}

/** Counts what is left of the users in every warehouse table and in the lake source, deleting nothing. */
export function verifyWarehouse(runner: WarehouseRunner, users: ReadonlyArray<{ user_id: string; deleted_before_ms: number }>): Promise<WarehouseReport> {
  return runOperation(runner, 'churnfeat_verify_deleted_users', users);
}
