/**
 * The bootstrap on the real stack: Kafka, the lake writer, dbt over the lake (DuckDB), Redis.
 * A reference sidecar streams every record from offset 0; a version is bootstrapped from the
 * warehouse up to the cut (what the lake holds) and its own sidecar streams from the cut.
 * Every user's read answers must be equal at several as-of times, duplicates across the seam
 * included; Redis is flushed mid-run and the version rebuilt from lake + warehouse + the Kafka
 * tail; a loader killed with SIGKILL resumes to the very same keys.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { runBootstrap, defaultVersionGroup, type BootstrapRun } from '../../../sidecar/src/bootstrap/index.ts';
import { resolveOptions } from '../../../sidecar/src/config/index.ts';
import { SOURCES } from '../../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { ensureTopics } from '../../../sidecar/src/kafka/index.ts';
import { LakeWriter, LocalLakeStorage, resolveLakeWriterOptions } from '../../../sidecar/src/lake/index.ts';
import { generateWorkload, type WorkloadRecord } from '../../../sidecar/src/loadgen/workload.ts';
import { Sidecar } from '../../../sidecar/src/pipeline/index.ts';
import { activeVersionKey, bootstrapKey, functionNames, userStateKey, versionPrefix } from '../../../sidecar/src/store/index.ts';
import { dbtBuildFeatureEvents } from '../../../parity/src/index.ts';
import { churnfeatArgs } from '../../helpers/cli.ts';
import { kafkaClient, namespaceTopics, produceWorkload } from '../../helpers/kafka.ts';
import { highWatermarks, waitUntilLanded } from '../../helpers/lake.ts';
import { parityDbtOptions } from '../../helpers/parity-pipeline.ts';
import { deleteRedisKeys, privateRedis, testRedis } from '../../helpers/redis.ts';
import { REDIS_URL, testNamespace, type TestNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const HOUR = 3_600_000;
const registry = loadFeatureRegistry('dbt_project');
const version = registry.version;
const readFn = functionNames(registry.version).read;

let ns: TestNamespace;
let admin: Admin;
let redis: Redis;
let lakeRoot: string;
let duckdbPath: string;
let storage: LocalLakeStorage;
let end: number;
let before: WorkloadRecord[];
let after: WorkloadRecord[];
let resent: WorkloadRecord[];
let users: string[];
let reference: Sidecar;
let cleanups: Array<() => Promise<unknown>> = [];

/** A sidecar on base prefix `keyPrefix` (it writes the registry version's keyspace under it) with its own group; the caller stops it. */
async function startStore(keyPrefix: string, groupId: string, redisUrl = REDIS_URL): Promise<Sidecar> {
  const options = resolveOptions({ ...ns.options, keyPrefix, redisUrl, groupId, clientId: groupId });
  const sidecar = new Sidecar(options, registry);
  await sidecar.start();
  return sidecar;
}

function bootstrapRun(overrides: Partial<BootstrapRun>): BootstrapRun {
  return {
    redis,
    admin,
    storage,
    registry,
    keyPrefix: ns.id,
    version,
    topicNamespace: ns.options.topicNamespace,
    groupId: defaultVersionGroup(`${ns.id}${version}`),
    duckdbPath,
    table: 'int_feature_events',
    batchUsers: 7,
    dryRun: false,
    rebuild: false,
    cutOnly: false,
    ...overrides,
  };
}

/** Users whose read answers (features) differ between the reference and `keyspace` on `store`, over several as-of times. */
async function mismatches(store: Redis, keyspace: string): Promise<string[]> {
  const out: string[] = [];
  for (const asOf of [end, end + 5 * 60_000, end + 3 * HOUR, end + 25 * HOUR]) {
    for (const user of users) {
      const want = JSON.parse(String(await redis.call('FCALL', readFn, 1, userStateKey(versionPrefix(`${ns.id}r`, version), user), String(asOf)))) as { features: unknown };
      const got = JSON.parse(String(await store.call('FCALL', readFn, 1, userStateKey(keyspace, user), String(asOf)))) as { features: unknown };
      if (JSON.stringify(got.features) !== JSON.stringify(want.features)) out.push(`${user}@${asOf}`);
    }
  }
  return out;
}

/** Every key under `keyspace` but the bootstrap record, with its hash contents or string value (bytes as hex). */
async function dump(keyspace: string, skip: string): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  for (const key of (await redis.keys(`${keyspace}:*`)).sort()) {
    if (key === skip) continue;
    // the read head (store protocol 7) is a string
    if ((await redis.type(key)) === 'string') {
      out[key.slice(keyspace.length)] = { '': ((await redis.getBuffer(key)) as Buffer).toString('hex') };
      continue;
    }
    const fields = await redis.hgetallBuffer(key);
    out[key.slice(keyspace.length)] = Object.fromEntries(Object.entries(fields).map(([f, v]) => [f, v.toString('hex')]));
  }
  return out;
}

beforeAll(async () => {
  ns = testNamespace();
  redis = new Redis(REDIS_URL);
  admin = kafkaClient(`${ns.id}-admin`).admin();
  await admin.connect();
  const work = mkdtempSync(join(tmpdir(), 'churnfeat-bootstrap-'));
  cleanups.push(async () => rmSync(work, { recursive: true, force: true }));
  lakeRoot = `${work}/lake`;
  duckdbPath = `${work}/warehouse.duckdb`;
  storage = new LocalLakeStorage(lakeRoot);
  await ensureTopics(admin, ns.topics);
  cleanups.push(() => admin.deleteTopics({ topics: namespaceTopics(ns) }).catch(() => undefined));
  cleanups.push(() => deleteRedisKeys(REDIS_URL, ns.id));

  end = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
  const workload = generateWorkload({ seed: 13, users: 60, eventsPerUser: 40, startMs: end - 26 * HOUR, endMs: end, lateShare: 0.08, veryLateShare: 0.03, duplicateShare: 0.06 }).sort(
    (a, b) => a.ingestMs - b.ingestMs,
  );
  const cutAt = Math.floor(workload.length * 0.6);
  before = workload.slice(0, cutAt);
  // copies of records before the cut, re-sent after it: a version must drop them as duplicates
  resent = before.filter((r) => r.kind === 'valid').slice(-30);
  after = [...workload.slice(cutAt), ...resent];
  const skewed = deviceClockRecords(end);
  before.push(...skewed.before);
  resent.push(...skewed.resent);
  after.push(...skewed.resent);
  users = [...new Set([...workload, ...skewed.before].map((r) => r.key))];

  reference = await startStore(`${ns.id}r`, `${ns.id}-reference`);
  cleanups.push(() => reference.stop());
  const lakeWriter = await startLakeWriterOutsideTest();
  await produceWorkload(ns, before);
  await waitUntilLanded(
    storage,
    await highWatermarks(
      admin,
      SOURCES.map((s) => ns.topics.sources[s]),
    ),
  );
  // the lake stops here: every cut is what landed, and the Kafka tail after it is what the
  // version's sidecar (re)consumes: the lake behind the sidecar, as after a Redis loss
  await lakeWriter.stop();
  await dbtBuildFeatureEvents(parityDbtOptions(duckdbPath, lakeRoot));
  await produceWorkload(ns, after);
  await waitFor('the reference to consume everything', async () => (await reference.metrics.totals()).consumed >= before.length + after.length, { timeoutMs: 120_000 });
}, 240_000);

/**
 * Two users whose device clocks are off: one runs 30 h ahead (event_ms is clamped to ingest, the
 * store files the dedup entry by event_ts) and its later tickets move the source clock 25.5 h on
 * (past the dedup horizon of the clamped event_ms, not of event_ts); one runs 20 h behind. The
 * skewed ticket of each is re-sent after the seam, still timely: streaming finds it a duplicate.
 */
function deviceClockRecords(endMs: number): { before: WorkloadRecord[]; resent: WorkloadRecord[] } {
  const ticket = (user: string, id: string, eventMs: number, ingestMs: number): WorkloadRecord => ({
    source: 'support',
    key: user,
    ingestMs,
    kind: 'valid',
    value: Buffer.from(
      JSON.stringify({
        event_id: id,
        user_id: user,
        device_id: `${user}-d`,
        event_type: 'ticket_created',
        event_ts: new Date(eventMs).toISOString(),
        ingest_ts: new Date(ingestMs).toISOString(),
        attributes: { ticket_id: id },
      }),
    ),
  });
  const ahead = 'u-clock-ahead';
  const behind = 'u-clock-behind';
  return {
    before: [
      ticket(ahead, 'ahead-1', endMs + 4 * HOUR, endMs - 26 * HOUR),
      ticket(ahead, 'ahead-2', endMs - 10 * HOUR, endMs - 10 * HOUR),
      ticket(ahead, 'ahead-3', endMs - HOUR / 2, endMs - HOUR / 2),
      ticket(behind, 'behind-1', endMs - 21 * HOUR, endMs - HOUR),
      ticket(behind, 'behind-2', endMs - HOUR / 2, endMs - HOUR / 2),
    ],
    resent: [ticket(ahead, 'ahead-1', endMs + 4 * HOUR, endMs + HOUR / 2), ticket(behind, 'behind-1', endMs - 21 * HOUR, endMs + HOUR / 2)],
  };
}

/** The lake writer of the shared setup (startLakeWriter ties its cleanup to a test). */
async function startLakeWriterOutsideTest(): Promise<LakeWriter> {
  const writer = new LakeWriter(
    resolveLakeWriterOptions({
      brokers: ns.options.brokers,
      topicNamespace: ns.options.topicNamespace,
      groupId: `${ns.id}-lake`,
      clientId: `${ns.id}-lake`,
      flushRecords: 2_000,
      flushIntervalMs: 500,
      sessionTimeoutMs: 6_000,
    }),
    { storage },
  );
  await writer.start();
  return writer;
}

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  cleanups = [];
  await admin?.disconnect();
  redis?.disconnect();
});

describe('churnfeat bootstrap on the real stack', () => {
  it(
    'refuses the active version, then bootstrap up to the cut plus streaming from it answers as streaming everything does; after a FLUSHALL mid-run the rebuild answers the same again',
    { timeout: 180_000 },
    async () => {
      const own = await privateRedis();
      const store = testRedis(own.url);
      const run = bootstrapRun({ redis: store, cutOnly: true });
      const keyspace = versionPrefix(ns.id, version);

      await store.set(activeVersionKey(ns.id), version);
      await expect(runBootstrap(run)).rejects.toMatchObject({ code: 'bootstrap_refused' });
      expect(await store.exists(bootstrapKey(ns.id, version))).toBe(0);
      await store.del(activeVersionKey(ns.id));
      await expect(runBootstrap({ ...run, cutOnly: false })).rejects.toMatchObject({ code: 'invalid_config' });

      const cutRun = await runBootstrap(run);
      expect(cutRun.state).toBe('loading');
      expect(cutRun.plan.cut.reduce((sum, c) => sum + c.offset, 0)).toBe(before.length);
      const dry = await runBootstrap({ ...run, cutOnly: false, dryRun: true });
      expect(dry.state).toBe('planned');
      expect(dry.plan.cutRecorded).toBe(true);
      expect(await store.hget(bootstrapKey(ns.id, version), 'users_loaded')).toBe('0');
      const loaded = await runBootstrap({ ...run, cutOnly: false });
      expect(loaded.state).toBe('complete');
      expect(loaded.usersLoaded).toBe(dry.plan.users);
      expect(await store.hget(bootstrapKey(ns.id, version), 'state')).toBe('complete');
      // nothing outside the version's keyspace was written
      expect((await store.keys('*')).filter((k) => !k.startsWith(`${keyspace}:`))).toEqual([]);

      let versionStore = await startStore(ns.id, run.groupId, own.url);
      const tail = after.length;
      await waitFor('the version to consume from the cut', async () => (await versionStore.metrics.totals()).consumed >= tail, { timeoutMs: 120_000 });
      const totals = await versionStore.metrics.totals();
      expect(totals.consumed).toBe(tail);
      expect(totals.duplicate).toBeGreaterThanOrEqual(resent.length);
      expect(await mismatches(store, keyspace)).toEqual([]);

      // Redis loses everything while the version's sidecar runs
      await store.flushall();
      await waitFor('the sidecar to register its library again', async () => (await store.call('FUNCTION', 'LIST')) !== null && ((await store.call('FUNCTION', 'LIST')) as unknown[]).length > 0, {
        timeoutMs: 30_000,
      });
      expect((await mismatches(store, keyspace)).length).toBeGreaterThan(0);
      await expect(runBootstrap({ ...run, cutOnly: false, rebuild: true, afterCut: async () => undefined })).rejects.toMatchObject({ code: 'bootstrap_refused' });
      await versionStore.stop();
      const rebuilt = await runBootstrap({ ...run, cutOnly: false, rebuild: true, afterCut: () => dbtBuildFeatureEvents(parityDbtOptions(duckdbPath, lakeRoot)) });
      expect(rebuilt.state).toBe('complete');
      versionStore = await startStore(ns.id, run.groupId, own.url);
      onTestFinished(() => versionStore.stop());
      // the records between the cut and the offsets the group had committed are consumed again
      await waitFor('the rebuilt version to consume the tail again', async () => (await versionStore.metrics.totals()).consumed >= tail, { timeoutMs: 120_000 });
      expect(await mismatches(store, keyspace)).toEqual([]);
    },
  );

  it('a loader killed with SIGKILL mid-load resumes where it stopped and ends with the same keys as an uninterrupted load', { timeout: 180_000 }, async () => {
    const whole = `${ns.id}w`;
    const killed = `${ns.id}k`;
    const common = [
      '--version',
      version,
      '--lake',
      lakeRoot,
      '--duckdb-path',
      duckdbPath,
      '--topic-namespace',
      ns.options.topicNamespace,
      '--redis-url',
      REDIS_URL,
      '--brokers',
      ns.options.brokers.join(','),
      '--no-progress',
    ];
    const cli = (prefix: string, ...args: string[]): Promise<{ code: number | null; output: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, churnfeatArgs('bootstrap', ...common, '--key-prefix', prefix, '--group', `${prefix}-g`, ...args), { stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        child.stdout.on('data', (d: Buffer) => (output += d.toString()));
        child.stderr.on('data', (d: Buffer) => (output += d.toString()));
        child.on('exit', (code) => resolve({ code, output }));
      });
    expect((await cli(whole, '--cut-only')).code).toBe(0);
    const straight = await cli(whole, '--batch-users', '1');
    expect(straight.code, straight.output).toBe(0);

    expect((await cli(killed, '--cut-only')).code).toBe(0);
    const key = bootstrapKey(killed, version);
    const child = spawn(process.execPath, churnfeatArgs('bootstrap', ...common, '--key-prefix', killed, '--group', `${killed}-g`, '--batch-users', '1'), { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const loadedAtKill = await waitFor(
      'the loader to checkpoint a few batches',
      async () => {
        const n = Number((await redis.hget(key, 'users_loaded')) ?? 0);
        return n >= 3 ? n : null;
      },
      { timeoutMs: 60_000, intervalMs: 2 },
    );
    child.kill('SIGKILL');
    await exited;
    expect(await redis.hget(key, 'state')).toBe('loading');
    expect(loadedAtKill).toBeLessThan(users.length);
    const resumed = await cli(killed, '--batch-users', '5');
    expect(resumed.code, resumed.output).toBe(0);
    expect(await redis.hget(key, 'state')).toBe('complete');
    expect(await dump(versionPrefix(killed, version), key)).toEqual(await dump(versionPrefix(whole, version), bootstrapKey(whole, version)));
    const committed = async (group: string) => (await admin.fetchOffsets({ groupId: group, topics: Object.values(ns.topics.sources) })).map((t) => t.partitions.map((p) => p.offset));
    expect(await committed(`${killed}-g`)).toEqual(await committed(`${whole}-g`));
  });
});
