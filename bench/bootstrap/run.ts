/**
 * The bootstrap benchmark: users per second loaded into Redis and Redis CPU per user loaded,
 * on a private redis-server. Not a test: it prints figures and writes
 * bench/results/bootstrap-<date>[-<label>].json with the machine.
 *
 * The warehouse is a DuckDB file of its own holding an `int_feature_events` table with dbt's
 * columns, built from a generated month of events through the sidecar's operators
 * (WorkloadTopics, writeFeatureEventsTable): what `dbt run --select +int_feature_events` leaves over that lake. The load
 * is the bootstrap's own (loadUsers: warehouse query, state build, one pipeline per batch,
 * checkpoint). Redis CPU is used_cpu_user + used_cpu_sys of INFO; commands per user from INFO
 * commandstats; memory is used_memory after the load. With `--shards N` (N > 1) the load runs
 * as N loader processes side by side, one per shard of the user space (`bootstrap --users k/N`,
 * user-shard.ts), each forked from this script once the warehouse exists and timed from the
 * moment all of them have opened it; loader CPU is the sum of theirs.
 */
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  ALL_USERS,
  BootstrapWarehouse,
  loadUsers,
  parseUserShard,
  shardProgressFields,
  WorkloadTopics,
  writeFeatureEventsTable,
  type CutPartition,
  type UserShard,
} from '../../sidecar/src/bootstrap/index.ts';
import { loadFeatureRegistry } from '../../sidecar/src/features/index.ts';
import { generateWorkload } from '../../sidecar/src/loadgen/workload.ts';
import { bootstrapKey, STORE_PROTOCOL_VERSION, versionPrefix } from '../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../sidecar/src/windows/index.ts';
import { describeMachine } from '../pipeline/machine.ts';
import { processCpuSeconds, startRedisServer } from '../serving/redis-process.ts';
import { numberFlags, parseFlags } from '../common/cli.ts';

const USAGE = `bootstrap benchmark (not a test): prints figures, writes bench/results/bootstrap-<date>[-<label>].json
  --users N        users in the warehouse (default 20000)
  --events N       events per user over the 30 days (default 120)
  --batch-users N  users per pipelined batch (default 500)
  --label L        suffix of the results file
  --shards N       load with N loader processes side by side, one per shard of the users (default 1: one loader in this process)
  --all-rows       read every row below the cut (no event-time bound), for comparison`;

const { values } = parseFlags(
  {
    options: {
      users: { type: 'string' },
      events: { type: 'string' },
      'batch-users': { type: 'string' },
      label: { type: 'string' },
      shards: { type: 'string' },
      'all-rows': { type: 'boolean' },
      help: { type: 'boolean' },
      // a forked shard loader: its shard, the warehouse and cut files, the Redis URL
      worker: { type: 'string' },
      warehouse: { type: 'string' },
      'cut-file': { type: 'string' },
      'redis-url': { type: 'string' },
    },
  },
  USAGE,
);
const num = numberFlags(USAGE);
const users = num(values.users, 20_000);
const eventsPerUser = num(values.events, 120);
const batchUsers = num(values['batch-users'], 500);
const shards = num(values.shards, 1);
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

interface ShardLoad {
  usersLoaded: number;
  applied: number;
  duplicates: number;
  rowsRead: number;
  cpuSeconds: number;
}

/** Loads one shard of the warehouse into Redis; `ready` is awaited once the warehouse is open (the clock starts after it). */
async function loadShard(client: Redis, duckdbPath: string, cut: CutPartition[], shard: UserShard, ready: () => Promise<void>): Promise<ShardLoad> {
  const warehouse = await BootstrapWarehouse.open(duckdbPath, 'int_feature_events', cut, registry.features, allowedLatenessMs, values['all-rows'] ? undefined : registry.policies.dedupMarginMs, shard);
  try {
    await ready();
    const cpu0 = process.cpuUsage();
    const loaded = await loadUsers({
      redis: client,
      warehouse,
      registry,
      keyPrefix: 'bench',
      keyspace: versionPrefix('bench', registry.version),
      key: bootstrapKey('bench', registry.version),
      fields: shardProgressFields(shard),
      batchUsers,
      after: '',
      usersLoaded: 0,
    });
    const cpu = process.cpuUsage(cpu0);
    return { ...loaded, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
  } finally {
    warehouse.close();
  }
}

if (values.worker !== undefined) {
  const client = new Redis(values['redis-url'] as string);
  const cut = JSON.parse(readFileSync(values['cut-file'] as string, 'utf8')) as CutPartition[];
  const go = new Promise<void>((resolve) => process.once('message', () => resolve()));
  const result = await loadShard(client, values.warehouse as string, cut, parseUserShard(values.worker), async () => {
    process.send?.('ready');
    await go;
  });
  process.send?.(result);
  client.disconnect();
  process.disconnect?.();
  process.exit(0);
}

/** Forks one loader process per shard, starts them together once all have opened the warehouse, and sums what they did. */
async function loadShards(url: string, duckdbPath: string, cutFile: string, onStart: () => Promise<void>): Promise<ShardLoad> {
  const children = Array.from({ length: shards }, (_, i) =>
    fork(process.argv[1] as string, [
      '--worker',
      `${i + 1}/${shards}`,
      '--warehouse',
      duckdbPath,
      '--cut-file',
      cutFile,
      '--redis-url',
      url,
      '--batch-users',
      String(batchUsers),
      ...(values['all-rows'] ? ['--all-rows'] : []),
    ]),
  );
  const message = (child: (typeof children)[number]) =>
    new Promise<unknown>((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`shard loader exited ${code}`)));
    });
  await Promise.all(children.map(message));
  await onStart();
  const results = children.map(message) as Promise<ShardLoad>[];
  for (const child of children) child.send('go');
  const all = await Promise.all(results);
  return all.reduce((sum, r) => ({
    usersLoaded: sum.usersLoaded + r.usersLoaded,
    applied: sum.applied + r.applied,
    duplicates: sum.duplicates + r.duplicates,
    rowsRead: sum.rowsRead + r.rowsRead,
    cpuSeconds: sum.cpuSeconds + r.cpuSeconds,
  }));
}
const work = mkdtempSync(join(tmpdir(), 'churnfeat-bench-bootstrap-'));
const server = await startRedisServer();
const redis = new Redis(server.url);
try {
  const machine = await describeMachine(redis);
  // the warehouse: int_feature_events of a generated month
  const t0 = Date.now();
  const end = Math.floor(Date.now() / DAY) * DAY;
  const workload = generateWorkload({ seed: 11, users, eventsPerUser, startMs: end - 30 * DAY, endMs: end, lateShare: 0.05, veryLateShare: 0.01, duplicateShare: 0.03 });
  const topics = new WorkloadTopics(operators, { topicOf: (source) => `bench.${source}.events`, partitions: PARTITIONS });
  const duckdbPath = join(work, 'warehouse.duckdb');
  const { rows: rowCount, records } = await writeFeatureEventsTable(duckdbPath, registry.features, topics.records(workload));
  const cut: CutPartition[] = topics.cut();
  console.log(`warehouse: ${rowCount} int_feature_events rows of ${records} records with feature ops, ${users} users, built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const cutFile = join(work, 'cut.json');
  writeFileSync(cutFile, JSON.stringify(cut));
  let before = '';
  let redisProc0 = 0;
  let wall0 = 0;
  const start = async (): Promise<void> => {
    before = await redis.info('all');
    redisProc0 = processCpuSeconds(server.pid);
    wall0 = performance.now();
  };
  const loaded = shards === 1 ? await loadShard(redis, duckdbPath, cut, ALL_USERS, start) : await loadShards(server.url, duckdbPath, cutFile, start);
  const wallS = (performance.now() - wall0) / 1000;
  const after = await redis.info('all');
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
    shards,
    wallSeconds: Math.round(wallS * 100) / 100,
    usersPerSecond: Math.round(loaded.usersLoaded / wallS),
    redisCpuSeconds: Math.round(redisCpuS * 1000) / 1000,
    redisProcessCpuSeconds: Math.round((processCpuSeconds(server.pid) - redisProc0) * 100) / 100,
    redisCpuMicrosPerUser: Math.round((redisCpuS * 1e6) / loaded.usersLoaded),
    redisUsersPerCpuSecond: Math.round(loaded.usersLoaded / redisCpuS),
    loaderCpuSeconds: Math.round(loaded.cpuSeconds * 100) / 100,
    usersPerLoaderCpuSecond: Math.round(loaded.usersLoaded / loaded.cpuSeconds),
    loadAverage1m: Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
    redisCommandsPerUser: Math.round((totalCommands / loaded.usersLoaded) * 100) / 100,
    commands,
    redisUsedMemoryBytesPerUser: Math.round(info(after, 'used_memory') / loaded.usersLoaded),
  };
  console.log(
    `bootstrap: ${summary.users} users${shards > 1 ? ` by ${shards} loaders` : ''} (${summary.rowsRead} of ${summary.warehouseRows} warehouse rows read) in ${summary.wallSeconds} s = ${summary.usersPerSecond} users/s (loader CPU ${summary.loaderCpuSeconds} s = ${summary.usersPerLoaderCpuSecond} users per loader CPU-second: the warehouse scan and the state build; load average ${summary.loadAverage1m}); ` +
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
