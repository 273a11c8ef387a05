import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { SOURCES } from '../../sidecar/src/events/index.ts';

/** How the parity job runs dbt (the project's own definitions are the offline truth). */
export interface DbtOptions {
  /** dbt executable. Default: .venv/dbt/bin/dbt. */
  bin: string;
  /** Default: dbt_project. */
  projectDir: string;
  /** Default: dbt_project. */
  profilesDir: string;
  /** Profile target; null: the profile's default (CHURNFEAT_DBT_TARGET, else duckdb). */
  target: string | null;
  /** Environment for dbt (CHURNFEAT_DUCKDB_PATH, CHURNFEAT_LAKE_ROOT, SNOWFLAKE_*...). */
  env: Record<string, string>;
  /** --vars (lake_root, allowed_lateness_ms...). */
  vars: Record<string, unknown>;
}

/** The name the compiled SQL reads the spine from; the job binds it as a CTE. */
export const SPINE_NAME = 'parity_spine';

/** Columns of the parity spine: one row per sampled user. */
export const SPINE_COLUMNS = ['user_id', 'as_of_ms', ...SOURCES.map((source) => `max_offset_${source}`)] as const;

/** The SQL the job runs in the warehouse, compiled by dbt for the warehouse's dialect. */
export interface OfflineSql {
  /** Point-in-time features of the spine (macro churnfeat_point_in_time, as_available mode). */
  pointInTime: string;
  /** The relation of stg_lake__events (every lake record with its dedup flags). */
  lakeEvents: string;
}

const MARKER = '-- churnfeat-parity lake_events=';

async function dbt(options: DbtOptions, args: string[]): Promise<string> {
  const scratch = await mkdtemp(join(tmpdir(), 'churnfeat-parity-dbt-'));
  try {
    const result = await execa(
      options.bin,
      [
        ...args,
        '--project-dir',
        options.projectDir,
        '--profiles-dir',
        options.profilesDir,
        '--target-path',
        join(scratch, 'target'),
        '--log-path',
        join(scratch, 'logs'),
        ...(options.target ? ['--target', options.target] : []),
        '--vars',
        JSON.stringify(options.vars),
      ],
      { env: { DBT_SEND_ANONYMOUS_USAGE_STATS: 'false', ...options.env }, reject: false, all: true, timeout: 900_000 },
    );
    if (result.exitCode !== 0) throw new Error(`dbt ${args[0]} failed (exit ${result.exitCode}):\n${result.all}`);
    return result.stdout;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Runs int_feature_events and the lake's staging views (what the offline SQL reads; the
 * parity job reads stg_lake__events, which int_feature_events no longer depends on). `run`,
 * not `build`: the project's tests belong to its own pipeline, not to the parity check.
 */
export async function dbtBuildFeatureEvents(options: DbtOptions): Promise<void> {
  await dbt(options, ['run', '--select', '+int_feature_events', 'stg_lake__events', '--quiet']);
}

/**
 * Compiles the parity query with dbt: the project's `churnfeat_point_in_time` macro over a
 * spine named {@link SPINE_NAME} with offset limits, and the stg_lake__events relation.
 * Nothing is written to the warehouse.
 */
export async function compileOfflineSql(options: DbtOptions): Promise<OfflineSql> {
  const columns = `[${SPINE_COLUMNS.map((c) => `'${c}'`).join(', ')}]`;
  const inline = `${MARKER}{{ ref('stg_lake__events') }}\n{{ churnfeat_point_in_time('${SPINE_NAME}', 'as_available', spine_columns=${columns}) }}`;
  const out = await dbt(options, ['compile', '--quiet', '--inline', inline]);
  return parseCompiled(out);
}

/** Splits dbt's compiled output into the marker line and the query. */
export function parseCompiled(text: string): OfflineSql {
  const start = text.indexOf(MARKER);
  if (start < 0) throw new Error(`dbt compile printed no parity query:\n${text.slice(0, 2_000)}`);
  const body = text.slice(start + MARKER.length);
  const newline = body.indexOf('\n');
  return { lakeEvents: body.slice(0, newline).trim(), pointInTime: body.slice(newline + 1).trim() };
}
