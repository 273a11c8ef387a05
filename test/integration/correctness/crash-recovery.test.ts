import { describe, expect, it, onTestFinished } from 'vitest';
import type { Redis } from 'ioredis';
import { SOURCES, type Source } from '../../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { generateWorkload, prng } from '../../../sidecar/src/loadgen/workload.ts';
import { Sidecar } from '../../../sidecar/src/pipeline/index.ts';
import { FeatureReader, partitionKey, sourceField, userStateKey, versionPrefix } from '../../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../../sidecar/src/windows/index.ts';
import { type ChildSidecar, spawnSidecar, type Totals } from '../../helpers/cli.ts';
import { createTestTopics, kafkaClient, produceWorkload, readTopic, testAdmin, waitForGroupCaughtUp } from '../../helpers/kafka.ts';
import { testRedis } from '../../helpers/redis.ts';
import { countDrift, diffReads, HOUR, onlineReads, referencePipeline, referenceReads } from '../../helpers/reference.ts';
import { testNamespace, type TestNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const registry = loadFeatureRegistry('dbt_project');
const operators = new WindowOperators(registry);
const MIN_KILLS = 6;
const MAX_KILLS = 14;
const CHUNKS = 12;

/** What the store held for one (user, source) when a process died: partition key and applied offset. */
type Applied = Map<string, { partitionKey: string; offset: bigint }>;

interface KillSnapshot {
  committed: Map<string, bigint>;
  applied: Applied;
}

async function snapshot(ns: TestNamespace, redis: Redis, users: readonly string[]): Promise<KillSnapshot> {
  const admin = await testAdmin();
  const committed = new Map<string, bigint>();
  for (const { topic, partitions } of await admin.fetchOffsets({ groupId: ns.options.groupId, topics: SOURCES.map((s) => ns.topics.sources[s]) })) {
    for (const { partition, offset } of partitions) committed.set(`${topic}:${partition}`, BigInt(offset));
  }
  const applied: Applied = new Map();
  const pipeline = redis.pipeline();
  // call(): the only form a Cluster's pipeline offers (config/redis-client.ts)
  for (const user of users) pipeline.call('HMGET', userStateKey(versionPrefix(ns.options.keyPrefix, registry.version), user), ...SOURCES.map((s) => sourceField(s)));
  const replies = (await pipeline.exec()) ?? [];
  users.forEach((user, i) => {
    const values = (replies[i]?.[1] ?? []) as Array<string | null>;
    SOURCES.forEach((source, k) => {
      const match = /^(.*)\|(\d+)\|(\d+)$/.exec(values[k] ?? '');
      if (match) applied.set(`${user}/${source}`, { partitionKey: match[1] as string, offset: BigInt(match[2] as string) });
    });
  });
  return { committed, applied };
}

describe('crash recovery', () => {
  it('ends, after repeated kill -9 of the sidecar process mid-consumption, with exactly the state of a run without crashes', { timeout: 600_000 }, async () => {
    const crashNs = testNamespace();
    const cleanNs = testNamespace();
    await createTestTopics(crashNs);
    await createTestTopics(cleanNs);
    const redis = testRedis();
    const end = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    const workload = generateWorkload({ seed: 2718, users: 200, eventsPerUser: 30, startMs: end - 2 * 24 * HOUR, endMs: end, duplicateShare: 0.03 });
    const users = [...new Set(workload.map((r) => r.key))].sort();
    const reference = referencePipeline(
      operators,
      workload.map((r, offset) => ({ source: r.source, value: r.value, partition: 0, offset })),
    );

    // The clean run: one in-process sidecar, the whole workload, no crash.
    const clean = new Sidecar(cleanNs.options, registry);
    await clean.start();
    onTestFinished(() => clean.stop());
    await produceWorkload(cleanNs, workload);

    // The crash run: child processes, killed with SIGKILL while they consume.
    const rand = prng(99);
    const chunkSize = Math.ceil(workload.length / CHUNKS);
    const chunks = Array.from({ length: CHUNKS }, (_, i) => workload.slice(i * chunkSize, (i + 1) * chunkSize)).filter((c) => c.length > 0);
    const producer = kafkaClient(`${crashNs.id}-producer`).producer();
    await producer.connect();
    onTestFinished(() => producer.disconnect());
    const admin = await testAdmin();
    const sourceTopics = SOURCES.map((s) => crashNs.topics.sources[s]);
    const committedSum = async () => {
      let sum = 0n;
      for (const { partitions } of await admin.fetchOffsets({ groupId: crashNs.options.groupId, topics: sourceTopics })) {
        for (const { offset } of partitions) sum += BigInt(offset) < 0n ? 0n : BigInt(offset);
      }
      return sum;
    };

    const snapshots: KillSnapshot[] = [];
    const childTotals: Totals[] = [];
    const record = (t: Totals) => {
      expect(t.consumed, 'conservation in every process').toBe(t.applied + t.duplicate + t.replayed + t.too_late + t.invalid + t.irrelevant);
      childTotals.push(t);
    };
    let kills = 0;
    let next = 0;
    let child: ChildSidecar = await spawnSidecar(crashNs);
    const partitionOf = new Map<string, string>();
    for (const topic of sourceTopics) for (let p = 0; p < 8; p++) partitionOf.set(partitionKey(topic, p), `${topic}:${p}`);
    // A kill left a replay behind when some user's applied offset is at or after its partition's committed offset.
    const leftReplays = (s: KillSnapshot) => [...s.applied.values()].some((a) => a.offset >= (s.committed.get(partitionOf.get(a.partitionKey) ?? '') ?? 0n));
    while (next < chunks.length && (kills < MIN_KILLS || (!snapshots.some(leftReplays) && kills < MAX_KILLS))) {
      await waitFor('the child to subscribe', async () => child.output().includes('consuming'), { timeoutMs: 60_000, intervalMs: 20 });
      const before = await committedSum();
      const producing = produceWorkload(crashNs, chunks[next++] as typeof workload, producer);
      await waitFor('the child to commit a batch', async () => (await committedSum()) > before || child.exited(), { timeoutMs: 90_000, intervalMs: 5 });
      // a random moment in the middle of consumption
      const pause = Math.floor(rand() * 25);
      if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
      const totals = await child.totals().catch(() => null);
      await child.kill();
      kills += 1;
      if (totals) record(totals);
      await producing;
      snapshots.push(await snapshot(crashNs, redis, users));
      child = await spawnSidecar(crashNs);
    }
    while (next < chunks.length) await produceWorkload(crashNs, chunks[next++] as typeof workload, producer);
    await waitFor('the last child to subscribe', async () => child.output().includes('consuming'), { timeoutMs: 60_000 });
    await waitForGroupCaughtUp(crashNs.options.groupId, sourceTopics, 180_000);
    record(await child.totals());
    await child.stop();
    await waitForGroupCaughtUp(
      cleanNs.options.groupId,
      SOURCES.map((s) => cleanNs.topics.sources[s]),
      180_000,
    );

    // Replays: records re-delivered after a kill (at or after the committed offset) whose
    // offset the store had already applied for that user and source.
    const storeBound = new Map<string, number>();
    workload.forEach((r, i) => {
      const verdict = reference.verdicts[i];
      if (verdict === 'applied' || verdict === 'duplicate') storeBound.set(r.value.toString('base64'), i);
    });
    const replayed = new Set<string>();
    for (const source of SOURCES) {
      const topic = crashNs.topics.sources[source as Source];
      const expectedCount = workload.filter((r) => r.source === source).length;
      const records = await readTopic(topic, (rs) => rs.length >= expectedCount, { timeoutMs: 60_000 });
      for (const r of records) {
        if (!r.value || !storeBound.has(r.value.toString('base64'))) continue;
        const user = r.key?.toString() as string;
        for (const s of snapshots) {
          const committed = s.committed.get(`${topic}:${r.partition}`) ?? 0n;
          const applied = s.applied.get(`${user}/${source}`);
          if (BigInt(r.offset) >= committed && applied && applied.partitionKey === partitionKey(topic, r.partition) && BigInt(r.offset) <= applied.offset) {
            replayed.add(`${topic}:${r.partition}:${r.offset}`);
          }
        }
      }
    }

    const asOfs = [Math.max(...workload.map((r) => r.ingestMs)) + 7 * 60_000 + 13_000, end + 3 * HOUR];
    const crashReader = new FeatureReader(redis, registry, crashNs.options.keyPrefix);
    const cleanReader = new FeatureReader(redis, registry, cleanNs.options.keyPrefix);
    let drift = { doubleCounts: 0, missing: 0 };
    const mismatches: string[] = [];
    for (const asOf of asOfs) {
      const crashed = await onlineReads(crashReader, users, asOf);
      const cleanReads = await onlineReads(cleanReader, users, asOf);
      const expected = referenceReads(registry, reference.applied, users, asOf);
      mismatches.push(...diffReads(cleanReads, crashed, ['clean', 'crashed']), ...diffReads(expected, crashed, ['reference', 'crashed']));
      const d = countDrift(registry, cleanReads, crashed);
      drift = { doubleCounts: drift.doubleCounts + d.doubleCounts, missing: drift.missing + d.missing };
    }
    const cleanTotals = await clean.metrics.totals();
    const observed = childTotals.reduce((sum, t) => sum + t.replayed, 0);
    const observedApplied = childTotals.reduce((sum, t) => sum + t.applied, 0);
    console.info(
      [
        `crash test: ${workload.length} records (${reference.counts.applied} applied, ${reference.counts.duplicate} source duplicates, ${reference.counts.too_late} too late, ${reference.counts.invalid} invalid, ${reference.counts.irrelevant} irrelevant) for ${users.length} users`,
        `  kills (SIGKILL) ${kills}, processes ${kills + 1}`,
        `  replays: ${replayed.size} records re-delivered after a kill were already applied; the processes counted ${observed} 'replayed' verdicts (scraped just before each kill)`,
        `  applied verdicts counted by the processes ${observedApplied} (reference ${reference.counts.applied}); clean run ${JSON.stringify(cleanTotals)}`,
        `  double counts ${drift.doubleCounts}, missing ${drift.missing}, mismatching reads ${mismatches.length} (${users.length} users x ${registry.features.length} features x ${asOfs.length} as_of)`,
      ].join('\n'),
    );
    expect(kills).toBeGreaterThanOrEqual(5);
    expect(mismatches).toEqual([]);
    expect(drift).toEqual({ doubleCounts: 0, missing: 0 });
    expect(cleanTotals.replayed).toBe(0);
    expect(cleanTotals.applied).toBe(reference.counts.applied);
    expect(replayed.size).toBeGreaterThan(0);
    expect(observed).toBeGreaterThan(0);
    expect(observedApplied).toBeLessThanOrEqual(reference.counts.applied);
  });
});
