/**
 * The offline benchmark (issue 18 item 7): what the hourly dbt run reads, full refresh against
 * incremental, at a few lake sizes, and the lake's Parquet compression ratio. Not a test: it
 * prints figures and writes bench/results/offline-<date>[-<label>].json (+ .svg).
 *
 * Per lake size (days of generated events through the sidecar's own parser and lake row, written
 * as zstd Parquet by the lake writer's encoder, one file per source, partition and hour):
 *   1. every hour but the last lands; `dbt run` builds int_feature_events (the first run = a full
 *      build) and fct_user_features, fct_feature_tiles; the warehouse is copied ("before");
 *   2. the last hour lands; dbt compiles the models as the next hourly run would run them:
 *      int_feature_events full refresh, incremental with the project's lookback, incremental with
 *      --hourly-lookback (the hourly DAG's run), and the daily DAG's run: int_feature_events with the
 *      project's lookback, int_users_seen and the marts at as_of = the lake's end (midnight);
 *   3. each compiled query runs on a copy of "before" under DuckDB's profiler, materialized like
 *      dbt does (`create table ... as`): Parquet files and bytes read (the files of the partitions
 *      the query's filter keeps; the profiler's file count checks it), rows scanned from Parquet
 *      and from the warehouse's tables, the query's latency and the process CPU it took.
 * The compression ratio is raw event bytes (the JSON as produced) over Parquet bytes, for the
 * hourly files and for one file holding a whole day (production files are hour-sized per
 * partition at ~1.7M events: the day file is the closer one).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { DuckDBInstance } from '@duckdb/node-api';
import { parseEvent, type Source } from '../../sidecar/src/events/index.ts';
import { hourPartition, LAKE_COLUMNS, ParquetEncoder, toLakeRow, type LakeRow } from '../../sidecar/src/lake/index.ts';
import { generateWorkload } from '../../sidecar/src/loadgen/workload.ts';
import { writeReport } from '../report/svg.ts';
import { numberFlags, parseFlags } from '../common/cli.ts';

const USAGE = `offline benchmark (not a test): prints figures, writes bench/results/offline-<date>[-<label>].json
  --days LIST            lake sizes in days (default 2,4,8)
  --events-per-day N     events per day (default 40000)
  --users N              users (default 4000)
  --hourly-lookback H    lookback_hours of the cheap hourly variant (default 2)
  --label L              suffix of the results file`;

const { values } = parseFlags(
  {
    options: {
      days: { type: 'string' },
      'events-per-day': { type: 'string' },
      users: { type: 'string' },
      'hourly-lookback': { type: 'string' },
      label: { type: 'string' },
      help: { type: 'boolean' },
    },
  },
  USAGE,
);
const positive = numberFlags(USAGE);
const daysList = (values.days ?? '2,4,8').split(',').map((d) => positive(d, 0));
const eventsPerDay = positive(values['events-per-day'], 40_000);
const users = positive(values.users, 4_000);
const hourlyLookback = positive(values['hourly-lookback'], 2);
const DAY = 86_400_000;
const HOUR = 3_600_000;
const END = Date.UTC(2026, 10, 30);
const PARTITIONS: Record<Source, number> = { client: 4, billing: 1, support: 1 };
const REPO = process.cwd();
const DBT = join(REPO, '.venv/dbt/bin/dbt');

/** The longest reach of a window back from as_of, max(W + g) (the registry artifact): what fct_user_features scans. */
const featureReachMs = Math.max(
  ...(JSON.parse(readFileSync('dbt_project/feature_registry.json', 'utf8')) as { features: { windowMs: number; granularityMs: number }[] }).features.map((f) => f.windowMs + f.granularityMs),
);
/** The project's default lookback (dbt_project.yml), which the default incremental run uses. */
const projectLookback = Number(/lookback_hours:\s*(\d+)/.exec(readFileSync('dbt_project/dbt_project.yml', 'utf8'))?.[1] ?? NaN);

interface LakeFile {
  path: string;
  date: string;
  hour: string;
  bytes: number;
  /** Compressed bytes of each column's chunks (parquet_metadata). */
  columnBytes?: Map<string, number>;
}

/** Generates `days` of events ending at END and writes them as the lake writer would. */
async function writeLake(
  lake: string,
  days: number,
  encoder: ParquetEncoder,
): Promise<{ files: LakeFile[]; rows: number; rawBytes: number; dayFile: { rawBytes: number; parquetBytes: number; rows: number } }> {
  const workload = generateWorkload({ seed: 7, users, eventsPerUser: (eventsPerDay * days) / users, startMs: END - days * DAY, endMs: END });
  workload.sort((a, b) => a.ingestMs - b.ingestMs);
  const offsets = new Map<string, number>();
  const groups = new Map<string, { source: Source; partition: number; date: string; hour: string; rows: LakeRow[]; raw: number }>();
  let rows = 0;
  let rawBytes = 0;
  const firstDay: LakeRow[] = [];
  let firstDayRaw = 0;
  for (const record of workload) {
    // late arrivals of the last hours would land after END: the lake ends at END, full to its last hour
    if (record.ingestMs >= END) continue;
    const parsed = parseEvent(record.source, record.value);
    if (!parsed.ok) continue;
    const partition = Number.parseInt(parsed.event.userId.slice(-4), 36) % PARTITIONS[record.source];
    const topic = `churnfeat.${record.source}`;
    const key = `${topic}:${partition}`;
    const offset = offsets.get(key) ?? 0;
    offsets.set(key, offset + 1);
    const timestampMs = record.ingestMs + 5;
    const row = toLakeRow(parsed.event, { topic, partition, offset: String(offset), timestampMs });
    const { date, hour } = hourPartition(timestampMs);
    const group = `${record.source}/${date}/${hour}/${partition}`;
    const entry = groups.get(group) ?? { source: record.source, partition, date, hour, rows: [], raw: 0 };
    entry.rows.push(row);
    entry.raw += record.value.length;
    groups.set(group, entry);
    rows += 1;
    rawBytes += record.value.length;
    if (record.source === 'client' && timestampMs < END - (days - 1) * DAY) {
      firstDay.push(row);
      firstDayRaw += record.value.length;
    }
  }
  const files: LakeFile[] = [];
  for (const g of groups.values()) {
    const dir = join(lake, 'events', `source=${g.source}`, `date=${g.date}`, `hour=${g.hour}`);
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `churnfeat.${g.source}-${g.partition}-${g.rows[0]?.kafka_offset}-${g.rows[g.rows.length - 1]?.kafka_offset}.parquet`);
    const bytes = await encoder.encode(LAKE_COLUMNS as never, g.rows);
    writeFileSync(path, bytes);
    files.push({ path, date: g.date, hour: g.hour, bytes: bytes.length });
  }
  const metadata = await DuckDBInstance.create(':memory:');
  const meta = await metadata.connect();
  const reader = await meta.runAndReadAll(`select file_name, path_in_schema, sum(total_compressed_size) from parquet_metadata('${lake}/events/**/*.parquet') group by all`);
  const byFile = new Map(files.map((f) => [f.path, f]));
  for (const [name, column, bytes] of reader.getRows() as [string, string, bigint][]) {
    const f = byFile.get(name);
    if (f === undefined) continue;
    f.columnBytes ??= new Map();
    f.columnBytes.set(column, Number(bytes));
  }
  meta.closeSync();
  metadata.closeSync();
  const dayBytes = await encoder.encode(LAKE_COLUMNS as never, firstDay);
  return { files, rows, rawBytes, dayFile: { rawBytes: firstDayRaw, parquetBytes: dayBytes.length, rows: firstDay.length } };
}

function dbt(args: string[], env: Record<string, string>): void {
  const run = spawnSync(DBT, [...args, '--project-dir', 'dbt_project', '--profiles-dir', 'dbt_project'], {
    env: { ...process.env, ...env, DBT_SEND_ANONYMOUS_USAGE_STATS: 'false' },
    encoding: 'utf8',
  });
  if (run.status !== 0) {
    console.error(run.stdout.slice(-4000), run.stderr.slice(-2000));
    throw new Error(`dbt ${args.join(' ')} failed`);
  }
}

interface Profile {
  parquetFilesRead: number;
  parquetBytesRead: number;
  parquetRowsScanned: number;
  tableRowsScanned: Record<string, number>;
  latencyS: number;
  processCpuS: number;
}

/** Runs `sql` materialized under the profiler on a copy of `warehouse`; parquet bytes from the files its partition filter keeps. */
async function profile(warehouse: string, sql: string, files: readonly LakeFile[], work: string): Promise<Profile> {
  // dbt's SQL names the catalog after the warehouse file: the copy keeps its name
  const copyDir = mkdtempSync(join(work, 'profile-'));
  const copy = join(copyDir, 'warehouse.duckdb');
  copyFileSync(warehouse, copy);
  const out = join(work, 'profile.json');
  const instance = await DuckDBInstance.create(copy);
  const connection = await instance.connect();
  await connection.run(`pragma enable_profiling = 'json'`);
  await connection.run(`pragma profiling_output = '${out}'`);
  await connection.run(`set custom_profiling_settings = '{"OPERATOR_NAME": "true", "EXTRA_INFO": "true", "OPERATOR_ROWS_SCANNED": "true", "LATENCY": "true"}'`);
  const before = process.cpuUsage();
  await connection.run(`create table bench_out as ${sql}`);
  const cpu = process.cpuUsage(before);
  await connection.run(`pragma disable_profiling`);
  connection.closeSync();
  instance.closeSync();
  const tree = JSON.parse(readFileSync(out, 'utf8')) as ProfileNode;
  rmSync(copyDir, { recursive: true, force: true });
  // which files the literal partition filter keeps (the whole lake when there is none)
  const m = /lake_date > '(\d{4}-\d{2}-\d{2})' or \(lake_date = '\d{4}-\d{2}-\d{2}' and lake_hour >= '(\d{2})'\)/.exec(sql);
  const kept = m === null ? files : files.filter((f) => f.date > (m[1] as string) || (f.date === m[1] && f.hour >= (m[2] as string)));
  let parquetFilesRead = 0;
  let parquetRowsScanned = 0;
  let parquetBytesRead = 0;
  const tableRowsScanned: Record<string, number> = {};
  const walk = (node: ProfileNode): void => {
    const extra = node.extra_info ?? {};
    if (node.operator_name === 'READ_PARQUET') {
      const read = Number(extra['Total Files Read'] ?? 0);
      if (read !== kept.length) throw new Error(`the profiler read ${read} files, the partition filter keeps ${kept.length}`);
      parquetFilesRead += read;
      parquetRowsScanned += node.operator_rows_scanned ?? 0;
      // the column chunks of the projected columns in the files read
      const projected = (extra.Projections as string[] | undefined) ?? [];
      for (const f of kept) for (const column of projected) parquetBytesRead += f.columnBytes?.get(column) ?? 0;
    } else if (node.operator_name === 'SEQ_SCAN' && typeof extra.Table === 'string') {
      const table = extra.Table.split('.').pop() as string;
      tableRowsScanned[table] = (tableRowsScanned[table] ?? 0) + (node.operator_rows_scanned ?? 0);
    }
    for (const child of node.children ?? []) walk(child);
  };
  walk(tree);
  return {
    parquetFilesRead,
    parquetBytesRead,
    parquetRowsScanned,
    tableRowsScanned,
    latencyS: Math.round((tree.latency ?? 0) * 1000) / 1000,
    processCpuS: Math.round(((cpu.user + cpu.system) / 1e6) * 1000) / 1000,
  };
}

interface ProfileNode {
  operator_name?: string;
  operator_rows_scanned?: number;
  latency?: number;
  extra_info?: Record<string, unknown>;
  children?: ProfileNode[];
}

const compiled = (target: string, model: string, folder: string): string => readFileSync(join(target, 'compiled', 'churnfeat', 'models', folder, `${model}.sql`), 'utf8');

async function tableRows(warehouse: string, table: string): Promise<number> {
  const instance = await DuckDBInstance.create(warehouse, { access_mode: 'READ_ONLY' });
  const connection = await instance.connect();
  try {
    const rows = (await connection.runAndReadAll(`select count(*) from main.${table}`)).getRows() as unknown[][];
    return Number(rows[0]?.[0] ?? 0);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

const work = mkdtempSync(join(tmpdir(), 'churnfeat-bench-offline-'));
const encoder = await ParquetEncoder.create();
const sizes: unknown[] = [];
let compression: { hourlyFiles: number; dayFile: number; rawBytesPerEvent: number; parquetBytesPerEventHourly: number; parquetBytesPerEventDay: number } | null = null;
try {
  for (const days of daysList) {
    const dir = join(work, `lake-${days}d`);
    const lake = join(dir, 'lake');
    const target = join(dir, 'target');
    const warehouse = join(dir, 'warehouse.duckdb');
    const t0 = Date.now();
    const written = await writeLake(lake, days, encoder);
    const lastHour = hourPartition(END - HOUR);
    const late = written.files.filter((f) => f.date === lastHour.date && f.hour === lastHour.hour);
    for (const f of late) renameAside(f.path);
    const env = { CHURNFEAT_DUCKDB_PATH: warehouse };
    const vars = `{lake_root: '${lake}'}`;
    const select = ['--select', 'stg_lake__records', 'int_feature_events', 'int_users_seen', 'fct_user_features', 'fct_feature_tiles'];
    const firstStart = Date.now();
    dbt(['run', ...select, '--vars', vars, '--target-path', target], env);
    const firstRunS = (Date.now() - firstStart) / 1000;
    const before = join(dir, 'before.duckdb');
    copyFileSync(warehouse, before);
    for (const f of late) restore(f.path);
    const queries: Record<string, string> = {};
    // the next hourly run's SQL, compiled against the warehouse as it is before that run
    dbt(['compile', '--select', 'int_feature_events', '--vars', vars, '--target-path', target, '--full-refresh'], env);
    queries.fullRefresh = compiled(target, 'int_feature_events', 'intermediate');
    dbt(['compile', '--select', 'int_feature_events', '--vars', vars, '--target-path', target], env);
    queries.incremental = compiled(target, 'int_feature_events', 'intermediate');
    dbt(['compile', '--select', 'int_feature_events', '--vars', `{lake_root: '${lake}', lookback_hours: ${hourlyLookback}}`, '--target-path', target], env);
    queries.incrementalHourlyLookback = compiled(target, 'int_feature_events', 'intermediate');
    // the daily run: int_users_seen (48 h) and the marts at as_of = midnight (the interval's end), as churnfeat_dbt_daily runs them
    dbt(['compile', '--select', 'int_users_seen', 'fct_user_features', 'fct_feature_tiles', '--vars', `{lake_root: '${lake}', as_of: ${END}}`, '--target-path', target], env);
    queries.usersSeen = compiled(target, 'int_users_seen', 'intermediate');
    queries.fctUserFeatures = compiled(target, 'fct_user_features', 'marts');
    queries.fctFeatureTiles = compiled(target, 'fct_feature_tiles', 'marts');
    const profiles: Record<string, Profile> = {};
    for (const [name, sql] of Object.entries(queries)) profiles[name] = await profile(before, sql, written.files, dir);
    const lakeBytes = written.files.reduce((a, f) => a + f.bytes, 0);
    const intRows = await tableRows(before, 'int_feature_events');
    const entry = {
      days,
      lakeRecords: written.rows,
      lakeFiles: written.files.length,
      lakeParquetBytes: lakeBytes,
      rawEventBytes: written.rawBytes,
      intFeatureEventsRows: intRows,
      firstDbtRunWallS: firstRunS,
      lookbackHours: { project: projectLookback, hourly: hourlyLookback },
      featureReachMs,
      profiles,
      // the schedule churnfeat_dbt_hourly + churnfeat_dbt_daily run: each run's queries and their sums
      schedule: {
        hourly: sumProfiles(profiles, ['incrementalHourlyLookback']),
        daily: sumProfiles(profiles, ['incremental', 'usersSeen', 'fctUserFeatures', 'fctFeatureTiles']),
      },
      ratios: {
        parquetBytesIncrementalOverFull: round(profiles.incremental!.parquetBytesRead / profiles.fullRefresh!.parquetBytesRead),
        parquetBytesHourlyLookbackOverFull: round(profiles.incrementalHourlyLookback!.parquetBytesRead / profiles.fullRefresh!.parquetBytesRead),
        cpuIncrementalOverFull: round(profiles.incremental!.processCpuS / profiles.fullRefresh!.processCpuS),
        cpuHourlyLookbackOverFull: round(profiles.incrementalHourlyLookback!.processCpuS / profiles.fullRefresh!.processCpuS),
      },
      wallS: (Date.now() - t0) / 1000,
    };
    sizes.push(entry);
    compression = {
      hourlyFiles: round(written.rawBytes / lakeBytes),
      dayFile: round(written.dayFile.rawBytes / written.dayFile.parquetBytes),
      rawBytesPerEvent: Math.round(written.rawBytes / written.rows),
      parquetBytesPerEventHourly: Math.round(lakeBytes / written.rows),
      parquetBytesPerEventDay: Math.round(written.dayFile.parquetBytes / written.dayFile.rows),
    };
    const p = profiles;
    console.log(
      `${days} d lake: ${written.rows} records in ${written.files.length} files, ${(lakeBytes / 1e6).toFixed(1)} MB Parquet (raw ${(written.rawBytes / 1e6).toFixed(1)} MB); int_feature_events ${intRows} rows`,
    );
    for (const [name, q] of Object.entries(p)) {
      console.log(
        `  ${name.padEnd(26)} parquet ${String(q.parquetFilesRead).padStart(5)} files ${(q.parquetBytesRead / 1e6).toFixed(2).padStart(8)} MB ${String(q.parquetRowsScanned).padStart(8)} rows; tables ${JSON.stringify(q.tableRowsScanned)}; ${q.latencyS} s, ${q.processCpuS} CPU-s`,
      );
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

function renameAside(path: string): void {
  renameSync(path, `${path}.later`);
}
function restore(path: string): void {
  renameSync(`${path}.later`, path);
}
/** Parquet bytes and CPU of the queries one scheduled run executes, summed. */
function sumProfiles(profiles: Record<string, Profile>, names: string[]): { queries: string[]; parquetBytesRead: number; processCpuS: number } {
  const picked = names.map((n) => profiles[n] as Profile);
  return { queries: names, parquetBytesRead: picked.reduce((a, p) => a + p.parquetBytesRead, 0), processCpuS: round(picked.reduce((a, p) => a + p.processCpuS, 0)) };
}
function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

const date = new Date().toISOString().slice(0, 10);
const file = `bench/results/offline-${date}${values.label ? `-${values.label}` : ''}.json`;
mkdirSync('bench/results', { recursive: true });
const machine = {
  cpuModel: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  loadAverageAtEnd: loadavg().map((l) => Math.round(l * 100) / 100),
  node: process.version,
  gitCommit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim(),
};
const result = { kind: 'offline', machine, options: { daysList, eventsPerDay, users, hourlyLookback }, compression, sizes };
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
console.log(`compression (raw JSON / zstd Parquet): ${compression?.hourlyFiles}x in hourly files, ${compression?.dayFile}x in one file per day`);
type Entry = { days: number; profiles: Record<string, Profile>; schedule: Record<'hourly' | 'daily', { processCpuS: number }> };
const entries = sizes as Entry[];
const svg = writeReport(file, [
  {
    title: 'Parquet MB read by int_feature_events per hourly run',
    yLabel: 'MB',
    xLabels: entries.map((e) => `${e.days} d lake`),
    kind: 'bars',
    series: ['fullRefresh', 'incremental', 'incrementalHourlyLookback'].map((name) => ({ name, values: entries.map((e) => (e.profiles[name]?.parquetBytesRead ?? 0) / 1e6) })),
  },
  {
    title: 'DuckDB CPU-seconds per hourly run (int_feature_events)',
    yLabel: 'CPU-s',
    xLabels: entries.map((e) => `${e.days} d lake`),
    kind: 'bars',
    series: ['fullRefresh', 'incremental', 'incrementalHourlyLookback'].map((name) => ({ name, values: entries.map((e) => e.profiles[name]?.processCpuS ?? 0) })),
  },
  {
    title: 'DuckDB CPU-seconds per scheduled run: hourly (2 h) and daily (48 h + marts)',
    yLabel: 'CPU-s',
    xLabels: entries.map((e) => `${e.days} d lake`),
    kind: 'bars',
    series: (['hourly', 'daily'] as const).map((name) => ({ name, values: entries.map((e) => e.schedule[name].processCpuS) })),
  },
]);
console.log(`wrote ${file} and ${svg}`);
