/**
 * The bootstrap on the real stack: Kafka, the lake writer, dbt over the lake (DuckDB), Redis.
 * A reference sidecar streams every record from offset 0; the version is bootstrapped from
 * the warehouse up to the cut and its own sidecar streams from the cut. Every user's read
 * answers must be equal at several as-of times, duplicates across the seam included; then the
 * version's keys are lost and rebuilt from lake + warehouse + the Kafka tail.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { runBootstrap, defaultVersionGroup, type BootstrapRun } from '../../../sidecar/src/bootstrap/index.ts';
import { resolveOptions } from '../../../sidecar/src/config/index.ts';
import { SOURCES } from '../../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { LocalLakeStorage } from '../../../sidecar/src/lake/index.ts';
import { generateWorkload } from '../../../sidecar/src/loadgen/workload.ts';
import { Sidecar } from '../../../sidecar/src/pipeline/index.ts';
import { activeVersionKey, bootstrapKey, functionNames, userStateKey, versionPrefix } from '../../../sidecar/src/store/index.ts';
import { dbtBuildFeatureEvents } from '../../../parity/src/index.ts';
import { startLakeWriter, tempDir } from '../../helpers/consumers.ts';
import { createTestTopics, kafkaClient, produceWorkload } from '../../helpers/kafka.ts';
import { highWatermarks, waitUntilLanded } from '../../helpers/lake.ts';
import { parityDbtOptions } from '../../helpers/parity-pipeline.ts';
import { testRedis } from '../../helpers/redis.ts';
import { testNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const HOUR = 3_600_000;
const registry = loadFeatureRegistry('dbt_project');

async function startStore(ns: ReturnType<typeof testNamespace>, keyPrefix: string, groupId: string): Promise<Sidecar> {
  // the version's keyspace prefix has ':' in it, which the sidecar's --key-prefix does not take
  // yet (the versioned sidecar is the version catalog's work): set it after validation
  const options = { ...resolveOptions({ ...ns.options, groupId, clientId: groupId }), keyPrefix };
  const sidecar = new Sidecar(options, registry);
  await sidecar.start();
  onTestFinished(() => sidecar.stop());
  return sidecar;
}

describe('churnfeat bootstrap on the real stack', () => {
  it('bootstrap up to the cut plus streaming from it equals streaming everything, and a lost version is rebuilt to the same answers', { timeout: 240_000 }, async () => {
    const ns = testNamespace();
    await createTestTopics(ns);
    const redis = testRedis();
    const admin = kafkaClient(`${ns.id}-admin`).admin();
    await admin.connect();
    onTestFinished(() => admin.disconnect());
    const work = tempDir('churnfeat-bootstrap-');
    const lakeRoot = `${work}/lake`;
    const duckdbPath = `${work}/warehouse.duckdb`;
    const storage = new LocalLakeStorage(lakeRoot);

    const end = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    const workload = generateWorkload({ seed: 13, users: 60, eventsPerUser: 40, startMs: end - 26 * HOUR, endMs: end, lateShare: 0.08, veryLateShare: 0.03, duplicateShare: 0.06 }).sort((a, b) => a.ingestMs - b.ingestMs);
    const cutAt = Math.floor(workload.length * 0.6);
    const before = workload.slice(0, cutAt);
    // copies of records before the cut, re-sent after it: the version must drop them as duplicates
    const resent = before.filter((r) => r.kind === 'valid').slice(-30);
    const after = [...workload.slice(cutAt), ...resent];

    const reference = await startStore(ns, `${ns.id}r`, `${ns.id}-reference`);
    const lakeWriter = await startLakeWriter(ns, lakeRoot);
    await produceWorkload(ns, before);
    await waitUntilLanded(storage, await highWatermarks(admin, SOURCES.map((s) => ns.topics.sources[s])));
    // the lake stops here: the cut is what landed, and a rebuild later takes the same cut
    await lakeWriter.stop();

    const version = registry.version;
    const groupId = defaultVersionGroup(`${ns.id}${version}`);
    const run: BootstrapRun = {
      redis,
      admin,
      storage,
      registry,
      keyPrefix: ns.id,
      version,
      topicNamespace: ns.options.topicNamespace,
      groupId,
      duckdbPath,
      table: 'int_feature_events',
      batchUsers: 7,
      dryRun: false,
      rebuild: false,
      cutOnly: true,
    };
    // refused while the version is the active one
    await redis.set(activeVersionKey(ns.id), version);
    await expect(runBootstrap(run)).rejects.toMatchObject({ code: 'bootstrap_refused' });
    expect(await redis.exists(bootstrapKey(ns.id, version))).toBe(0);
    await redis.del(activeVersionKey(ns.id));

    const cutRun = await runBootstrap(run);
    expect(cutRun.state).toBe('loading');
    const cutTotal = cutRun.plan.cut.reduce((sum, c) => sum + c.offset, 0);
    expect(cutTotal).toBe(before.length);
    await dbtBuildFeatureEvents(parityDbtOptions(duckdbPath, lakeRoot));
    const dry = await runBootstrap({ ...run, cutOnly: false, dryRun: true });
    expect(dry.state).toBe('planned');
    expect(dry.plan.cutRecorded).toBe(true);
    const loaded = await runBootstrap({ ...run, cutOnly: false });
    expect(loaded.state).toBe('complete');
    expect(loaded.usersLoaded).toBe(dry.plan.users);
    expect(await redis.hget(bootstrapKey(ns.id, version), 'state')).toBe('complete');

    const keyspace = versionPrefix(ns.id, version);
    let versionStore = await startStore(ns, keyspace, groupId);
    await produceWorkload(ns, after);
    const tail = after.length;
    await waitFor('the reference to consume everything', async () => (await reference.metrics.totals()).consumed >= workload.length + resent.length, { timeoutMs: 120_000 });
    await waitFor('the version to consume from the cut', async () => (await versionStore.metrics.totals()).consumed >= tail, { timeoutMs: 120_000 });
    expect((await versionStore.metrics.totals()).consumed).toBe(tail);
    expect((await versionStore.metrics.totals()).duplicate).toBeGreaterThanOrEqual(resent.length);

    const users = [...new Set(workload.map((r) => r.key))];
    const readFn = functionNames(registry.version).read;
    const compare = async (): Promise<number> => {
      let mismatches = 0;
      for (const asOf of [end, end + 5 * 60_000, end + 3 * HOUR, end + 25 * HOUR]) {
        for (const user of users) {
          const want = JSON.parse(String(await redis.call('FCALL', readFn, 1, userStateKey(`${ns.id}r`, user), String(asOf))));
          const got = JSON.parse(String(await redis.call('FCALL', readFn, 1, userStateKey(keyspace, user), String(asOf))));
          if (JSON.stringify(got.features) !== JSON.stringify(want.features)) mismatches += 1;
        }
      }
      return mismatches;
    };
    expect(await compare()).toBe(0);

    // Redis loses the version: stop its sidecar, rebuild from lake + warehouse, resume from the cut
    await versionStore.stop();
    const lost = await redis.keys(`${keyspace}:*`);
    await redis.del(...lost);
    const rebuilt = await runBootstrap({ ...run, cutOnly: false, rebuild: true });
    expect(rebuilt.state).toBe('complete');
    versionStore = await startStore(ns, keyspace, groupId);
    // records between the cut and the old committed offsets are consumed again
    await waitFor('the rebuilt version to consume the tail again', async () => (await versionStore.metrics.totals()).consumed >= tail, { timeoutMs: 120_000 });
    expect(await compare()).toBe(0);
  });
});
