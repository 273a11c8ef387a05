/**
 * The sharded bootstrap on the real stack (Kafka, the lake writer, dbt over the lake, Redis):
 * three `churnfeat bootstrap --users k/3` processes side by side, one killed with SIGKILL and
 * resumed, share one cut and end with the keys of one unsharded load, byte for byte; the
 * version's bootstrap stays `loading` (cutover refused, naming the pending shard; `version status`
 * shows per shard what is loaded) until the last shard is complete.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userShardOf } from '../../../sidecar/src/bootstrap/index.ts';
import { SOURCES } from '../../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { ensureTopics } from '../../../sidecar/src/kafka/index.ts';
import { LocalLakeStorage } from '../../../sidecar/src/lake/index.ts';
import { generateWorkload } from '../../../sidecar/src/loadgen/workload.ts';
import { bootstrapKey, readBootstrapState, recordParity, registerVersion, versionPrefix } from '../../../sidecar/src/store/index.ts';
import { dbtBuildFeatureEvents } from '../../../parity/src/index.ts';
import { bootstrapCliArgs, churnfeatArgs, redisCliArgs, runChurnfeat } from '../../helpers/cli.ts';
import { kafkaClient, namespaceTopics, produceWorkload } from '../../helpers/kafka.ts';
import { highWatermarks, startNamespaceLakeWriter, waitUntilLanded } from '../../helpers/lake.ts';
import { parityDbtOptions } from '../../helpers/parity-pipeline.ts';
import { deleteRedisKeys, dumpKeyspace, testRedis } from '../../helpers/redis.ts';
import { REDIS_URL, testNamespace, type TestNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const HOUR = 3_600_000;
const registry = loadFeatureRegistry('dbt_project');
const version = registry.version;

let ns: TestNamespace;
let admin: Admin;
let lakeRoot: string;
let duckdbPath: string;
let users: string[];
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  ns = testNamespace();
  admin = kafkaClient(`${ns.id}-admin`).admin();
  await admin.connect();
  const work = mkdtempSync(join(tmpdir(), 'churnfeat-bootstrap-shards-'));
  cleanups.push(async () => rmSync(work, { recursive: true, force: true }));
  lakeRoot = `${work}/lake`;
  duckdbPath = `${work}/warehouse.duckdb`;
  const storage = new LocalLakeStorage(lakeRoot);
  await ensureTopics(admin, ns.topics);
  cleanups.push(() => admin.deleteTopics({ topics: namespaceTopics(ns) }).catch(() => undefined));
  cleanups.push(() => deleteRedisKeys(REDIS_URL, ns.id));
  const end = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
  const workload = generateWorkload({ seed: 17, users: 90, eventsPerUser: 12, startMs: end - 26 * HOUR, endMs: end, lateShare: 0.05, veryLateShare: 0.02, duplicateShare: 0.05 });
  users = [...new Set(workload.map((r) => r.key))];
  const writer = await startNamespaceLakeWriter(ns, storage);
  await produceWorkload(
    ns,
    workload.sort((a, b) => a.ingestMs - b.ingestMs),
  );
  await waitUntilLanded(
    storage,
    await highWatermarks(
      admin,
      SOURCES.map((s) => ns.topics.sources[s]),
    ),
  );
  await writer.stop();
  await dbtBuildFeatureEvents(parityDbtOptions(duckdbPath, lakeRoot));
}, 240_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await admin?.disconnect();
});

/** `churnfeat bootstrap` of the version under base prefix `prefix` (its own group), compiled. */
const bootstrap = (prefix: string, ...args: string[]): string[] => bootstrapCliArgs(ns, { version, lakeRoot, duckdbPath }, prefix, ...args);

const committed = async (group: string): Promise<string[][]> =>
  (await admin.fetchOffsets({ groupId: group, topics: Object.values(ns.topics.sources) })).map((t) => t.partitions.map((p) => `${t.topic}:${p.partition}:${p.offset}`));

describe('churnfeat bootstrap --users k/n', () => {
  it('three shard loaders, one killed and resumed, give the keys of one unsharded load; the version completes only with the last shard', { timeout: 180_000 }, async () => {
    const redis: Redis = testRedis();
    const whole = `${ns.id}w`;
    const sharded = `${ns.id}s`;
    expect((await runChurnfeat('bootstrap', bootstrap(whole, '--cut-only'))).code).toBe(0);
    const straight = await runChurnfeat('bootstrap', bootstrap(whole, '--batch-users', '4'));
    expect(straight.code, straight.output).toBe(0);

    const key = bootstrapKey(sharded, version);
    expect((await runChurnfeat('bootstrap', bootstrap(sharded, '--cut-only'))).code).toBe(0);
    const cut = await redis.hget(key, 'cut');
    // shard 2 loads one user per batch and is killed after a few checkpoints
    const killed = spawn(process.execPath, churnfeatArgs('bootstrap', ...bootstrap(sharded, '--users', '2/3', '--batch-users', '1')), { stdio: 'ignore' });
    const killedExit = new Promise((resolve) => killed.on('exit', resolve));
    const others = Promise.all(['1/3', '3/3'].map((shard) => runChurnfeat('bootstrap', bootstrap(sharded, '--users', shard, '--batch-users', '2'))));
    const loadedAtKill = await waitFor(
      'shard 2 to checkpoint a few batches',
      async () => {
        const n = Number((await redis.hget(key, 'shard:2:users_loaded')) ?? 0);
        return n >= 3 ? n : null;
      },
      { timeoutMs: 60_000, intervalMs: 2 },
    );
    killed.kill('SIGKILL');
    await killedExit;
    for (const run of await others) {
      expect(run.code, run.output).toBe(0);
      expect(run.output).toMatch(/completes when shard\(s\) [0-9, ]*2[0-9, ]* of 3 are/);
    }
    const shard2Users = users.filter((u) => userShardOf(u, 3) === 2).length;
    expect(loadedAtKill).toBeLessThan(shard2Users);
    expect(await redis.hget(key, 'cut')).toBe(cut);
    expect(await redis.hget(key, 'shard:1:state')).toBe('complete');
    expect(await redis.hget(key, 'shard:3:state')).toBe('complete');
    // what cutover reads: not complete while shard 2 is not
    expect(await readBootstrapState(redis, sharded, version)).toBe('loading');
    expect((await committed(`${sharded}-g`)).flat().every((p) => p.endsWith(':-1'))).toBe(true);
    // the lifecycle sees it per shard: status lists shard 2 as pending, cutover refuses naming it
    await registerVersion(redis, sharded, { ...registry, version: `${version}-old` }, 'test');
    await registerVersion(redis, sharded, registry, 'test');
    await recordParity(redis, sharded, version, { passed: true, mismatches: 0, sampleSize: 1, asOf: new Date().toISOString(), at: new Date().toISOString() }, 'test');
    const lifecycle = (...args: string[]) => runChurnfeat('version', [...args, ...redisCliArgs(), '--key-prefix', sharded]);
    const statusJson = await lifecycle('status', version, '--json');
    expect(statusJson.code, statusJson.output).toBe(0);
    const progress = JSON.parse(statusJson.stdout).bootstrap;
    expect(progress).toMatchObject({ state: 'loading', shards: 3, shardsComplete: 2, pendingShards: [2] });
    expect(progress.perShard.map((s: { state: string }) => s.state)).toEqual(['complete', 'loading', 'complete']);
    // the killed loader may have checkpointed once more after the wait saw `loadedAtKill`
    const shard2Loaded = Number(await redis.hget(key, 'shard:2:users_loaded'));
    expect(progress.perShard[1].usersLoaded).toBe(shard2Loaded);
    expect(progress.usersLoaded).toBe(users.length - shard2Users + shard2Loaded);
    const statusText = await lifecycle('status', version);
    expect(statusText.output).toContain(`loading: 2/3 shard(s) complete, ${progress.usersLoaded} users loaded; pending: 2`);
    expect(statusText.output).toMatch(new RegExp(`shard 2/3 +loading +${shard2Loaded} users loaded`));
    const refused = await lifecycle('cutover', version);
    expect(refused.code, refused.output).toBe(1);
    expect(refused.output).toContain('2 of 3 shards complete; pending shard(s) 2/3');

    const wrongCount = await runChurnfeat('bootstrap', bootstrap(sharded, '--users', '1/2'));
    expect(wrongCount.code).toBe(1);
    expect(wrongCount.output).toContain('loaded in 3 shard(s)');
    const dbtBuild = await runChurnfeat('bootstrap', bootstrap(sharded, '--users', '2/3', '--dbt-build'));
    expect(dbtBuild.code).toBe(2);

    const resumed = await runChurnfeat('bootstrap', bootstrap(sharded, '--users', '2/3', '--batch-users', '5'));
    expect(resumed.code, resumed.output).toBe(0);
    expect(resumed.output).toContain('complete (the last shard to finish: 2/3)');
    expect(await readBootstrapState(redis, sharded, version)).toBe('complete');
    const statusDone = JSON.parse((await lifecycle('status', version, '--json')).output).bootstrap;
    expect(statusDone).toMatchObject({ state: 'complete', shardsComplete: 3, usersLoaded: users.length, pendingShards: [] });
    expect((await lifecycle('cutover', version, '--dry-run')).code).toBe(0);
    expect(Number(await redis.hget(key, 'users_loaded'))).toBe(users.length);
    const keys = await dumpKeyspace(redis, versionPrefix(whole, version), bootstrapKey(whole, version));
    expect(Object.keys(keys).length).toBeGreaterThan(users.length);
    expect(await dumpKeyspace(redis, versionPrefix(sharded, version), key)).toEqual(keys);
    const wholeOffsets = (await committed(`${whole}-g`)).flat().map((p) => p.split(':').slice(1).join(':'));
    expect((await committed(`${sharded}-g`)).flat().map((p) => p.split(':').slice(1).join(':'))).toEqual(wholeOffsets);
  });
});
