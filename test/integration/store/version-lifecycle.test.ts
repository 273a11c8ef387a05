import { describe, expect, it, onTestFinished } from 'vitest';
import { command as versionCommand } from '../../../cli/commands/version.ts';
import { SOURCES } from '../../../sidecar/src/events/index.ts';
import { loadFeatureRegistry, type FeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { generateWorkload, type WorkloadRecord } from '../../../sidecar/src/loadgen/workload.ts';
import { Sidecar } from '../../../sidecar/src/pipeline/index.ts';
import { startServingService } from '../../../sidecar/src/serving/index.ts';
import {
  activeVersionKey,
  countVersionKeys,
  LifecycleRefusal,
  FeatureReader,
  readActiveVersion,
  readAudit,
  readCatalog,
  recordParity,
  readyMasters,
  tombstoneKey,
  transact,
  versionCatalogKey,
  versionPrefix,
  watermarkKey,
} from '../../../sidecar/src/store/index.ts';
import { redisCliArgs } from '../../helpers/cli.ts';
import { tempDir } from '../../helpers/consumers.ts';
import { createTestTopics, produceWorkload, waitForGroupCaughtUp } from '../../helpers/kafka.ts';
import { testRedis } from '../../helpers/redis.ts';
import { diffReads, onlineReads, referenceOf } from '../../helpers/reference.ts';
import { compileFixtureV2, FIXTURE_REGISTRY_DIR } from '../../helpers/registry.ts';
import { pollFeatures, readsOf } from '../../helpers/serving.ts';
import { REDIS_CLUSTER, REDIS_URL, testNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const MINUTE = 60_000;

/** Runs `churnfeat version ...` in this process against the test's prefix; resolves to the exit code. */
function version(prefix: string, ...argv: string[]): Promise<number> {
  return versionCommand.run([...argv, ...redisCliArgs(), '--key-prefix', prefix, '--actor', 'lifecycle-test', '--gc-batch', '50', '--gc-pause-ms', '0', '--gc-idle-ms', '1000']);
}

describe('the version lifecycle under live load', () => {
  it('shadows v2 beside v1, refuses a cutover without parity, cuts over, rolls back, retires and collects v2, while a polling reader only ever sees whole versions', { timeout: 240_000 }, async () => {
    const work = tempDir('churnfeat-versions-');
    const v1 = loadFeatureRegistry(FIXTURE_REGISTRY_DIR);
    const v2 = compileFixtureV2(work);
    expect(v2.version).not.toBe(v1.version);
    const ns = testNamespace({ dbtProjectDir: FIXTURE_REGISTRY_DIR });
    const prefix = ns.options.keyPrefix;
    const redis = testRedis();
    await createTestTopics(ns);

    // Recent events, so the 10 and 15 minute windows differ; polled users get all their events
    // before the reader starts, the live load after is other users' (their values keep changing).
    const now = Date.now();
    const workload = generateWorkload({ seed: 13, users: 80, eventsPerUser: 40, startMs: now - 60 * MINUTE, endMs: now - MINUTE, lateShare: 0, veryLateShare: 0, skewedShare: 0, invalidShare: 0 });
    const users = [...new Set(workload.map((r) => r.key))].sort();
    const polled = new Set(users.filter((_u, i) => i % 2 === 0));
    const isLive = (r: WorkloadRecord, i: number) => !polled.has(r.key) && i % 2 === 1;
    const phase1 = workload.filter((r, i) => !isLive(r, i));
    const live = workload.filter((r, i) => isLive(r, i));
    const referenceV1 = referenceOf(v1, workload);
    const referenceV2 = referenceOf(v2, workload);
    const polledUsers = [...polled];
    const probeAt = Date.now();
    const differing = polledUsers.filter((u) => referenceV1([u], probeAt).get(u)?.errors_last_10m?.value !== referenceV2([u], probeAt).get(u)?.errors_last_10m?.value);
    expect(differing.length, 'polled users whose errors_last_10m differs between the versions').toBeGreaterThan(0);

    const sidecars: Sidecar[] = [];
    onTestFinished(async () => {
      for (const s of sidecars) await s.stop();
    });
    const startSidecar = async (registry: FeatureRegistry, label: string) => {
      const sidecar = new Sidecar({ ...ns.options, groupId: `${ns.id}-${label}`, clientId: `${ns.id}-${label}` }, registry);
      sidecars.push(sidecar);
      await sidecar.start();
      return sidecar;
    };
    const topics = SOURCES.map((s) => ns.topics.sources[s]);

    // v1 is the first version: active. v2 starts beside it from the same topics: shadow.
    const s1 = await startSidecar(v1, 'v1');
    expect(s1.versionState).toBe('active');
    await produceWorkload(ns, phase1);
    await waitForGroupCaughtUp(`${ns.id}-v1`, topics);
    const s2 = await startSidecar(v2, 'v2');
    expect(s2.versionState).toBe('shadow');
    await waitForGroupCaughtUp(`${ns.id}-v2`, topics);
    expect(await readActiveVersion(redis, prefix)).toBe(v1.version);

    // The reader: single GETs and batches of polled users, all the time.
    const service = await startServingService(
      { redisUrl: REDIS_URL, redisCluster: REDIS_CLUSTER, keyPrefix: prefix, port: 0, logLevel: 'silent', aliasCacheMs: 200, readyMaxWatermarkAgeMs: 0, opsReportsDir: '' },
      v1,
    );
    onTestFinished(() => service.close());
    const reader = pollFeatures(service.url, polledUsers);
    const { answers, errors, batchVersions } = reader;
    const served = (v: string) => waitFor(`the reader to answer from ${v}`, async () => answers.at(-1)?.version === v, { timeoutMs: 10_000, intervalMs: 20 });
    await served(v1.version);

    // Live load on the other users while the lifecycle runs.
    const liveLoad = (async () => {
      for (let start = 0; start < live.length; start += 200) await produceWorkload(ns, live.slice(start, start + 200));
    })();

    // Cutover refused without parity; the reader stays on v1.
    expect(await version(prefix, 'cutover', v2.version)).toBe(1);
    expect(await readActiveVersion(redis, prefix)).toBe(v1.version);

    // Parity of v2: its online state of the (settled) polled users against the reference of every event.
    const asOf = Date.now();
    const v2Online = await onlineReads(new FeatureReader(redis, v2, prefix), polledUsers, asOf);
    const mismatches = diffReads(referenceV2(polledUsers, asOf), v2Online, ['reference', 'v2']);
    expect(mismatches).toEqual([]);
    await recordParity(
      redis,
      prefix,
      v2.version,
      { passed: mismatches.length === 0, mismatches: mismatches.length, sampleSize: polledUsers.length, asOf: new Date(asOf).toISOString(), at: new Date().toISOString() },
      'lifecycle-test',
    );

    // A dry run changes nothing; the cutover moves every reader to v2 within the alias cache time.
    expect(await version(prefix, 'cutover', v2.version, '--dry-run')).toBe(0);
    expect(await readActiveVersion(redis, prefix)).toBe(v1.version);
    expect(await version(prefix, 'cutover', v2.version)).toBe(0);
    expect(await redis.get(activeVersionKey(prefix))).toBe(v2.version);
    await served(v2.version);

    // Rollback in one command: v1 kept being written, the reader is back on it.
    expect(await version(prefix, 'rollback')).toBe(0);
    await served(v1.version);
    await liveLoad;
    await waitForGroupCaughtUp(`${ns.id}-v1`, topics);
    await waitForGroupCaughtUp(`${ns.id}-v2`, topics);

    // After the live load both versions equal their own reference of every event, every user.
    const end = Date.now();
    expect(diffReads(referenceV1(users, end), await onlineReads(new FeatureReader(redis, v1, prefix), users, end), ['reference', 'v1'])).toEqual([]);
    expect(diffReads(referenceV2(users, end), await onlineReads(new FeatureReader(redis, v2, prefix), users, end), ['reference', 'v2'])).toEqual([]);

    // GC of a version that is not retired is refused; retire stops v2's sidecar; GC removes v2's keys only.
    expect(await version(prefix, 'gc', v2.version)).toBe(1);
    expect(await version(prefix, 'retire', v2.version)).toBe(0);
    const fatal = await Promise.race([s2.fatal, new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000))]);
    expect(fatal?.message).toContain('retired');
    await s2.stop();
    sidecars.splice(sidecars.indexOf(s2), 1);
    // A retired version's sidecar refuses to start again (the CLI exits 1 with one line).
    await expect(new Sidecar({ ...ns.options, groupId: `${ns.id}-v2b`, clientId: `${ns.id}-v2b` }, v2).start()).rejects.toMatchObject({ code: 'version_refused' });
    await waitFor(
      'v2 watermarks to be older than the GC idle limit',
      async () => {
        const marks = Object.values(await redis.hgetall(watermarkKey(versionPrefix(prefix, v2.version)))).map(Number);
        const [seconds] = await redis.time();
        return Number(seconds) * 1000 - Math.max(...marks) > 1_500;
      },
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    await redis.set(tombstoneKey(prefix, 'someone'), '1');
    const v1Before = await countVersionKeys(redis, prefix, v1.version);
    const v2Before = await countVersionKeys(redis, prefix, v2.version);
    expect(v2Before.users).toBe(users.length);
    expect(await version(prefix, 'gc', v2.version, '--dry-run')).toBe(0);
    expect((await countVersionKeys(redis, prefix, v2.version)).keys).toBe(v2Before.keys);
    expect(await version(prefix, 'gc', v2.version)).toBe(0);
    expect(await countVersionKeys(redis, prefix, v2.version)).toMatchObject({ keys: 0, users: 0 });
    expect((await countVersionKeys(redis, prefix, v1.version)).users).toBe(v1Before.users);
    expect(await redis.get(tombstoneKey(prefix, 'someone'))).toBe('1');
    expect(await readActiveVersion(redis, prefix)).toBe(v1.version);
    const catalog = await readCatalog(redis, prefix);
    expect(catalog.get(v2.version)?.state).toBe('collected');
    expect(catalog.get(v1.version)?.state).toBe('active');

    await reader.stop();

    // The reader: no error, every batch from one version, every answer equal to its version's reference.
    expect(errors).toEqual([]);
    for (const versions of batchVersions) expect(new Set(versions).size).toBe(1);
    const versionsSeen = new Set(answers.map((a) => a.version));
    expect([...versionsSeen].sort()).toEqual([v1.version, v2.version].sort());
    const wrong: string[] = [];
    for (const answer of answers) {
      const reference = answer.version === v1.version ? referenceV1 : referenceV2;
      const diff = diffReads(reference([answer.user_id], answer.as_of_ms), new Map([[answer.user_id, readsOf(answer)]]), ['reference', answer.version]);
      if (diff.length > 0) wrong.push(`${answer.user_id} at ${answer.as_of_ms} from ${answer.version}: ${diff.join('; ')}`);
    }
    expect(wrong.slice(0, 5)).toEqual([]);
    const fromV2 = answers.filter((a) => a.version === v2.version && differing.includes(a.user_id)).length;
    expect(fromV2, 'answers from v2 for users where the versions differ').toBeGreaterThan(0);

    // The audit lists every step, refusals and dry runs included.
    const audit = await readAudit(redis, prefix);
    expect(audit.find((e) => e.action === 'rollback')).toMatchObject({ actor: 'lifecycle-test', versions: { from: v2.version, to: v1.version } });
    expect(audit.find((e) => e.action === 'cutover' && e.outcome === 'done')?.versions).toEqual({ from: v1.version, to: v2.version });
    const steps = audit.map((e) => `${e.action}:${e.outcome}`);
    expect(steps).toEqual([
      'register:done',
      'register:done',
      'cutover:refused',
      'parity:done',
      'cutover:dry-run',
      'cutover:done',
      'rollback:done',
      'gc:refused',
      'retire:done',
      'gc:dry-run',
      'gc:done',
    ]);
    console.info(
      `version lifecycle: ${answers.length} answers (${answers.filter((a) => a.version === v2.version).length} from v2), ${live.length} live records during the steps, v2 GC removed ${v2Before.keys} keys of ${v2Before.users} users`,
    );
  });

  it('leaves no WATCH behind after a refused or dry-run transition (on a Cluster a keyless UNWATCH went to a random master): the next EXEC on every master runs', async () => {
    const prefix = testNamespace().options.keyPrefix;
    const redis = testRedis();
    const other = testRedis();
    onTestFinished(async () => {
      await redis.del(activeVersionKey(prefix), versionCatalogKey(prefix));
    });
    const refuse = () => {
      throw new LifecycleRefusal('refused by the test');
    };
    const stale: string[] = [];
    for (let round = 1; round <= 6; round += 1) {
      if (round % 2 === 1) await expect(transact(redis, prefix, refuse)).rejects.toThrow('refused by the test');
      else expect((await transact(redis, prefix, () => ({ records: [], detail: 'dry' }), { dryRun: true })).detail).toBe('dry');
      // another operator changes the watched keys: a watch still on a connection makes its next EXEC return null
      await other.set(activeVersionKey(prefix), `v${round}`);
      for (const node of await readyMasters(redis)) if ((await node.multi().ping().exec()) === null) stale.push(`round ${round}: ${node.options.host}:${node.options.port}`);
    }
    expect(stale).toEqual([]);
  });
});
