/**
 * The bootstrap benchmark: users per second loaded into Redis and Redis CPU per user loaded,
 * on a private redis-server. Not a test: it prints figures and writes
 * bench/results/bootstrap-<date>[-<label>].json with the machine.
 *
 * The warehouse is a DuckDB file of its own holding an `int_feature_events` table with dbt's
 * columns, built from a generated month of events through the sidecar's operators
 * (featureRowsOf): what `dbt run --select +int_feature_events` leaves over that lake. The load
 * is the bootstrap's own (loadUsers: warehouse query, state build, one pipeline per batch,
 * checkpoint). Redis CPU is used_cpu_user + used_cpu_sys of INFO; commands per user from INFO
 * commandstats; memory is used_memory after the load.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { Redis } from 'ioredis';
import { BootstrapWarehouse, featureRowsOf, loadUsers, type CutPartition } from '../../sidecar/src/bootstrap/index.ts';
import { parseEvent, type Source } from '../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../sidecar/src/features/index.ts';
import { generateWorkload } from '../../sidecar/src/loadgen/workload.ts';
import { bootstrapKey, STORE_PROTOCOL_VERSION, versionPrefix } from '../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../sidecar/src/windows/index.ts';
import { describeMachine } from '../pipeline/machine.ts';
import { processCpuSeconds, startRedisServer } from '../serving/redis-process.ts';

const USAGE = `bootstrap benchmark (not a test): prints figures, writes bench/results/bootstrap-<date>[-<label>].json
  --users N        users in the warehouse (default 20000)
  --events N       events per user over the 30 days (default 120)
  --batch-users N  users per pipelined batch (default 500)
  --label L        suffix of the results file
  --all-rows       read every row below the cut (no event-time bound), for comparison`;

const { values } = parseArgs({
  options: { users: { type: 'string' }, events: { type: 'string' }, 'batch-users': { type: 'string' }, label: { type: 'string' }, 'all-rows': { type: 'boolean' }, help: { type: 'boolean' } },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const num = (text: string | undefined, fallback: number): number => {
  const n = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bad number ${text}\n${USAGE}`);
    process.exit(2);
  }
  return n;
};
const users = num(values.users, 20_000);
const eventsPerUser = num(values.events, 120);
const batchUsers = num(values['batch-users'], 500);
const PARTITIONS = 6;
const DAY = 86_400_000;

function info(text: string, field: string): number {
  return Number(new RegExp(`^${field}:([0-9.]+)`, 'm').exec(text)?.[1] ?? NaN);
}

function commandCalls(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const match of text.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) out[match[1] as string] = Number(match[2]);
  return out;
}

const registry = loadFeatureRegistry('dbt_project');
const operators = new WindowOperators(registry);
const { allowedLatenessMs } = registry.policies;
const work = mkdtempSync(join(tmpdir(), 'churnfeat-bench-bootstrap-'));
const server = await startRedisServer();
const redis = new Redis(server.url);
try {
  const machine = await describeMachine(redis);
  // the warehouse: int_feature_events of a generated month
  const t0 = Date.now();
  const end = Math.floor(Date.now() / DAY) * DAY;
  const workload = generateWorkload({ seed: 11, users, eventsPerUser, startMs: end - 30 * DAY, endMs: end, lateShare: 0.05, veryLateShare: 0.01, duplicateShare: 0.03 }).sort(
    (a, b) => a.ingestMs - b.ingestMs,
  );
  const offsets = new Map<string, number>();
  const ndjson = join(work, 'rows.ndjson');
  const out = openSync(ndjson, 'w');
  let lines: string[] = [];
  let rowCount = 0;
  let records = 0;
  for (const record of workload) {
    const parsed = parseEvent(record.source, record.value);
    if (!parsed.ok) continue;
    const partition = Number.parseInt(parsed.event.userId.replace(/\D/g, '') || '0', 10) % PARTITIONS;
    const topic = `bench.${record.source}.events`;
    const position = `${topic}:${partition}`;
    const offset = offsets.get(position) ?? 0;
    offsets.set(position, offset + 1);
    if (!operators.isRelevant(parsed.event)) continue;
    records += 1;
    for (const row of featureRowsOf(registry.features, { event: parsed.event, topic, partition, offset })) {
      lines.push(
        JSON.stringify({
          user_id: row.userId,
          feature_name: row.featureName,
          source: row.source,
          kafka_topic: row.topic,
          kafka_partition: row.partition,
          kafka_offset: row.offset,
          event_key: row.eventKey,
          event_ms: row.eventMs,
          ingest_ms: row.ingestMs,
          tile_start_ms: row.tileStartMs,
          fixed_value: row.fixedValue,
          num_value: row.numValue,
          str_value: row.strValue,
          event_ts_raw: parsed.event.eventTs,
          dedup_ms: row.dedupMs,
        }),
      );
    }
    if (lines.length >= 100_000) {
      rowCount += lines.length;
      writeSync(out, `${lines.join('\n')}\n`);
      lines = [];
    }
  }
  rowCount += lines.length;
  if (lines.length > 0) writeSync(out, `${lines.join('\n')}\n`);
  closeSync(out);
  const duckdbPath = join(work, 'warehouse.duckdb');
  const instance = await DuckDBInstance.create(duckdbPath);
  const connection = await instance.connect();
  await connection.run(
    `create table int_feature_events as select * from read_json('${ndjson}', format = 'newline_delimited', columns = {user_id: 'varchar', feature_name: 'varchar', source: 'varchar', kafka_topic: 'varchar', kafka_partition: 'integer', kafka_offset: 'bigint', event_key: 'varchar', event_ms: 'bigint', ingest_ms: 'bigint', tile_start_ms: 'bigint', fixed_value: 'bigint', num_value: 'double', str_value: 'varchar', event_ts_raw: 'varchar', dedup_ms: 'bigint'})`,
  );
  connection.closeSync();
  instance.closeSync();
  const cut: CutPartition[] = [...offsets].map(([position, next]) => {
    const [topic, partition] = position.split(':') as [string, string];
    return { source: topic.split('.')[1] as Source, topic, partition: Number(partition), offset: next };
  });
  console.log(`warehouse: ${rowCount} int_feature_events rows of ${records} relevant records, ${users} users, built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const warehouse = await BootstrapWarehouse.open(duckdbPath, 'int_feature_events', cut, registry.features, allowedLatenessMs, values['all-rows'] ? undefined : registry.policies.dedupMarginMs);
  const before = await redis.info('all');
  const node0 = process.cpuUsage();
  const redisProc0 = processCpuSeconds(server.pid);
  const wall0 = performance.now();
  const loaded = await loadUsers({
    redis,
    warehouse,
    registry,
    keyPrefix: 'bench',
    keyspace: versionPrefix('bench', registry.version),
    key: bootstrapKey('bench', registry.version),
    batchUsers,
    after: '',
    usersLoaded: 0,
  });
  const wallS = (performance.now() - wall0) / 1000;
  const after = await redis.info('all');
  const node1 = process.cpuUsage(node0);
  warehouse.close();
  const redisCpuS = info(after, 'used_cpu_user') + info(after, 'used_cpu_sys') - info(before, 'used_cpu_user') - info(before, 'used_cpu_sys');
  const calls0 = commandCalls(before);
  const calls1 = commandCalls(after);
  const commands: Record<string, number> = {};
  for (const [name, n] of Object.entries(calls1)) if (n - (calls0[name] ?? 0) > 0) commands[name] = n - (calls0[name] ?? 0);
  const totalCommands = Object.values(commands).reduce((a, b) => a + b, 0);
  const summary = {
    storeProtocolVersion: STORE_PROTOCOL_VERSION,
    users: loaded.usersLoaded,
    warehouseRows: rowCount,
    rowsRead: loaded.rowsRead,
    eventTimeBound: !values['all-rows'],
    eventsCounted: loaded.applied,
    duplicatesDropped: loaded.duplicates,
    batchUsers,
    wallSeconds: Math.round(wallS * 100) / 100,
    usersPerSecond: Math.round(loaded.usersLoaded / wallS),
    redisCpuSeconds: Math.round(redisCpuS * 1000) / 1000,
    redisProcessCpuSeconds: Math.round((processCpuSeconds(server.pid) - redisProc0) * 100) / 100,
    redisCpuMicrosPerUser: Math.round((redisCpuS * 1e6) / loaded.usersLoaded),
    redisUsersPerCpuSecond: Math.round(loaded.usersLoaded / redisCpuS),
    loaderCpuSeconds: Math.round(((node1.user + node1.system) / 1e6) * 100) / 100,
    usersPerLoaderCpuSecond: Math.round(loaded.usersLoaded / ((node1.user + node1.system) / 1e6)),
    loadAverage1m: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
    redisCommandsPerUser: Math.round((totalCommands / loaded.usersLoaded) * 100) / 100,
    commands,
    redisUsedMemoryBytesPerUser: Math.round(info(after, 'used_memory') / loaded.usersLoaded),
  };
  console.log(
    `bootstrap: ${summary.users} users (${summary.rowsRead} of ${summary.warehouseRows} warehouse rows read) in ${summary.wallSeconds} s = ${summary.usersPerSecond} users/s (loader CPU ${summary.loaderCpuSeconds} s = ${summary.usersPerLoaderCpuSecond} users per loader CPU-second: the warehouse scan and the state build; load average ${summary.loadAverage1m}); ` +
      `Redis CPU ${summary.redisCpuMicrosPerUser} µs/user (${summary.redisUsersPerCpuSecond} users per Redis CPU-second), ${summary.redisCommandsPerUser} commands/user, ${summary.redisUsedMemoryBytesPerUser} bytes/user`,
  );
  const date = new Date().toISOString().slice(0, 10);
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/bootstrap-${date}${values.label ? `-${values.label}` : ''}.json`;
  writeFileSync(file, `${JSON.stringify({ command: `npx tsx bench/bootstrap/run.ts ${process.argv.slice(2).join(' ')}`.trim(), machine, summary }, null, 2)}\n`);
  console.log(`wrote ${file}`);
} finally {
  redis.disconnect();
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
