/**
 * GC of a retired registry version (docs/lifecycle.md): how fast `collectVersionKeys` removes
 * a version's keys, what Redis spends per key, and what readers of the active version see
 * meanwhile. On a private redis-server: USERS users loaded into the active version's keyspace
 * and into a retired version's (the serving benchmark's user profile, written directly), then
 * a reader reads active users one FCALL_RO at a time, without GC (baseline) and during a GC of
 * each setting. Figures: keys/s, users/s, Redis CPU us per key removed (the reads served
 * meanwhile included), read latency p50/p99/max per phase.
 *
 *   npx tsx bench/lifecycle/run.ts [--users 50000]
 *
 * Writes bench/results/lifecycle-gc-<date>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { loadFeatureRegistry, type FeatureRegistry } from '../../sidecar/src/features/index.ts';
import { collectVersionKeys, countVersionKeys, functionNames, loadFunctionLibrary, userStateKey, versionPrefix } from '../../sidecar/src/store/index.ts';
import { describeMachine } from '../pipeline/machine.ts';
import { loadUsers } from '../serving/load-users.ts';
import { processCpuSeconds, startRedisServer } from '../serving/redis-process.ts';
import { benchUserId } from '../serving/user-profile.ts';

const { values } = parseArgs({ options: { users: { type: 'string', default: '50000' } } });
const USERS = Number(values.users);
const PREFIX = 'gcbench';
const SETTINGS = [
  { batch: 500, pauseMs: 5, label: 'default (batch 500, pause 5 ms)' },
  { batch: 500, pauseMs: 0, label: 'no pause (batch 500)' },
  { batch: 5_000, pauseMs: 0, label: 'large batches (5000, no pause)' },
];

const say = (line: string): void => void process.stdout.write(`${line}\n`);

interface Latency {
  reads: number;
  p50_us: number;
  p99_us: number;
  max_us: number;
}

function summarize(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
  return { reads: samples.length, p50_us: at(0.5), p99_us: at(0.99), max_us: Math.round(sorted.at(-1) ?? 0) };
}

/** Reads active users one FCALL_RO at a time until `stop` resolves; the latency of each, in us. */
async function readWhile(reader: Redis, active: FeatureRegistry, stop: Promise<unknown>): Promise<Latency> {
  const fn = functionNames(active.version).read;
  const keyspace = versionPrefix(PREFIX, active.version);
  const samples: number[] = [];
  let done = false;
  void stop.then(() => {
    done = true;
  });
  for (let i = 0; !done; i++) {
    const started = performance.now();
    await reader.call('FCALL_RO', fn, 1, userStateKey(keyspace, benchUserId(i % USERS)));
    samples.push((performance.now() - started) * 1000);
  }
  return summarize(samples);
}

const server = await startRedisServer();
const admin = new Redis(server.url);
const reader = new Redis(server.url);
try {
  const active = loadFeatureRegistry('dbt_project');
  // The retired version: the same features under another version id (its keyspace is what GC removes).
  const retired: FeatureRegistry = { ...active, version: 'feedface00000000' };
  await loadFunctionLibrary(admin, active, PREFIX);
  const nowMs = Date.now();
  say(`churnfeat lifecycle GC benchmark: ${USERS.toLocaleString('en')} users per version, private redis-server ${server.url}`);
  await loadUsers({ redis: admin, registry: active, prefix: PREFIX, allowedLatenessMs: active.policies.allowedLatenessMs, users: USERS, mode: 'direct', nowMs });
  const activeKeys = await countVersionKeys(admin, PREFIX, active.version);
  const baselineStop = new Promise((resolve) => setTimeout(resolve, 3_000));
  const baseline = await readWhile(reader, active, baselineStop);
  say(`baseline reads of the active version: p50 ${baseline.p50_us} us, p99 ${baseline.p99_us} us, max ${baseline.max_us} us (${baseline.reads} reads)`);
  const runs = [];
  for (const setting of SETTINGS) {
    await loadUsers({ redis: admin, registry: retired, prefix: PREFIX, allowedLatenessMs: active.policies.allowedLatenessMs, users: USERS, mode: 'direct', nowMs });
    const before = await countVersionKeys(admin, PREFIX, retired.version);
    const cpuBefore = processCpuSeconds(server.pid);
    const started = performance.now();
    const gc = collectVersionKeys(admin, PREFIX, retired.version, { batch: setting.batch, pauseMs: setting.pauseMs });
    const reads = await readWhile(reader, active, gc);
    const done = await gc;
    const seconds = (performance.now() - started) / 1000;
    const cpu = processCpuSeconds(server.pid) - cpuBefore;
    const left = await countVersionKeys(admin, PREFIX, retired.version);
    const untouched = await countVersionKeys(admin, PREFIX, active.version);
    const run = {
      setting: setting.label,
      batch: setting.batch,
      pause_ms: setting.pauseMs,
      keys: before.keys,
      users: before.users,
      removed: done.deleted,
      left: left.keys,
      active_keys_untouched: untouched.keys === activeKeys.keys,
      seconds: Math.round(seconds * 100) / 100,
      keys_per_s: Math.round(done.deleted / seconds),
      users_per_s: Math.round(done.usersDeleted / seconds),
      // Redis CPU of the whole phase: the GC's commands and the reads served meanwhile (more reads fit between paused batches).
      redis_cpu_us_per_key_incl_reads: Math.round(((cpu * 1e6) / Math.max(1, done.deleted)) * 10) / 10,
      reads_during_gc: reads,
    };
    runs.push(run);
    say(
      `${setting.label}: ${run.removed} keys of ${run.users} users in ${run.seconds} s = ${run.keys_per_s} keys/s, ${run.users_per_s} users/s; Redis ${run.redis_cpu_us_per_key_incl_reads} us CPU per key (reads included); ` +
        `reads meanwhile p50 ${reads.p50_us} us, p99 ${reads.p99_us} us, max ${reads.max_us} us; left ${run.left}, active untouched ${run.active_keys_untouched}`,
    );
  }
  const result = { benchmark: 'lifecycle-gc', at: new Date().toISOString(), users_per_version: USERS, machine: await describeMachine(admin), baseline_reads: baseline, runs };
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/lifecycle-gc-${result.at.slice(0, 10)}.json`;
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  say(`wrote ${file}`);
} finally {
  admin.disconnect();
  reader.disconnect();
  await server.stop();
}
