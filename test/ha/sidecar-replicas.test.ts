import { describe, expect, it } from 'vitest';
import { SOURCES } from '../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../sidecar/src/features/index.ts';
import { generateWorkload } from '../../sidecar/src/loadgen/workload.ts';
import { PipelineMetrics } from '../../sidecar/src/metrics/index.ts';
import { BatchProcessor, type SourceRecord } from '../../sidecar/src/pipeline/index.ts';
import { FeatureReader, FeatureWriter } from '../../sidecar/src/store/index.ts';
import { loadFunctionLibrary } from '../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../sidecar/src/windows/index.ts';
import { spawnSidecar, type ChildSidecar, type Totals } from '../helpers/cli.ts';
import { createTestTopics, produceWorkload, testAdmin, testProducer, waitForGroupCaughtUp } from '../helpers/kafka.ts';
import { testRedis } from '../helpers/redis.ts';
import { compareWithReference, countDrift, diffReads, HOUR, onlineReads, referencePipeline, referenceReads } from '../helpers/reference.ts';
import { testNamespace } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const registry = loadFeatureRegistry('dbt_project');
const operators = new WindowOperators(registry);

async function consumedBy(sidecars: readonly ChildSidecar[]): Promise<number> {
  let sum = 0;
  for (const s of sidecars) {
    if (s.exited()) throw new Error(`sidecar pid ${s.pid} exited:\n${s.output().slice(-2000)}`);
    sum += (await s.totals()).consumed;
  }
  return sum;
}

describe('three sidecars in one group on the 3-broker cluster', () => {
  it('count nothing twice and lose nothing when one is killed (-9) and one is stopped past the session timeout and wakes up (a zombie)', async () => {
    const ns = testNamespace();
    await createTestTopics(ns);
    const topics = SOURCES.map((s) => ns.topics.sources[s]);
    const end = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    const workload = generateWorkload({ seed: 31, users: 400, eventsPerUser: 30, startMs: end - 2 * 24 * HOUR, endMs: end, duplicateShare: 0.02 });
    const cut1 = Math.floor(workload.length * 0.4);
    const cut2 = Math.floor(workload.length * 0.7);
    const [a, b, c] = [await spawnSidecar(ns), await spawnSidecar(ns), await spawnSidecar(ns)] as [ChildSidecar, ChildSidecar, ChildSidecar];
    await waitFor('the three sidecars to serve metrics', async () => (await consumedBy([a, b, c])) >= 0, { timeoutMs: 60_000 });

    // fault 1: kill -9 of A while the first part is consumed
    await produceWorkload(ns, workload.slice(0, cut1));
    await waitFor('a fifth of the workload consumed', async () => (await consumedBy([a, b, c])) >= workload.length / 5, { timeoutMs: 120_000, intervalMs: 20 });
    const killedAt = Date.now();
    const aTotals: Totals = await a.totals();
    await a.kill();
    await waitForGroupCaughtUp(ns.options.groupId, topics, 120_000);
    const recoveredAfterKillMs = Date.now() - killedAt;

    // fault 2: B stopped (SIGSTOP) under load for longer than the 10 s session timeout, then woken
    const producing = produceWorkload(ns, workload.slice(cut1, cut2));
    const before = await consumedBy([b, c]);
    await waitFor('the second part in flight', async () => (await consumedBy([b, c])) > before, { timeoutMs: 60_000, intervalMs: 5 });
    const stoppedAt = Date.now();
    process.kill(b.pid, 'SIGSTOP');
    try {
      await producing;
      const admin = await testAdmin();
      await waitFor(
        'the group to evict the stopped sidecar (session timeout)',
        async () => {
          const [group] = (await admin.describeGroups([ns.options.groupId])).groups;
          return group?.state === 'Stable' && group.members.length === 1;
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
      await waitForGroupCaughtUp(ns.options.groupId, topics, 120_000); // C alone
    } finally {
      process.kill(b.pid, 'SIGCONT');
    }
    const recoveredAfterStopMs = Date.now() - stoppedAt;
    for (const [name, s] of [
      ['A', a],
      ['B', b],
      ['C', c],
    ] as const)
      if (name !== 'A' && s.exited()) console.info(`${name} exited:\n${s.output().slice(-3000)}`);
    const zombieBefore = await b.totals();
    // the zombie wakes with its old assignment in memory; the rest arrives while it rejoins
    await produceWorkload(ns, workload.slice(cut2));
    await waitForGroupCaughtUp(ns.options.groupId, topics, 120_000);
    const totals = [aTotals, await b.totals(), await c.totals()];

    const { reference, users, diff, drift } = await compareWithReference(operators, workload, new FeatureReader(testRedis(), registry, ns.options.keyPrefix));
    const sum = (k: keyof Totals) => totals.reduce((n, t) => n + t[k], 0);
    console.info(
      `sidecar replicas: ${workload.length} records, ${users.length} users, 3 sidecars; faults: kill -9 of one (lag 0 again after ${recoveredAfterKillMs} ms), SIGSTOP of one until the group evicted it (lag 0 again without it after ${recoveredAfterStopMs} ms), then SIGCONT; ` +
        `applied ${sum('applied')} (reference ${reference.counts.applied}; A's last scrape before its kill), replays skipped ${sum('replayed')} (zombie: ${zombieBefore.replayed} before waking, ${totals[1]?.replayed} after); double counts ${drift.doubleCounts}, missing ${drift.missing}`,
    );
    expect(diff).toEqual([]);
    expect(drift).toEqual({ doubleCounts: 0, missing: 0 });
  });

  it("fences a zombie's stale batch by the per-user offset check: written after the new owner moved past it, nothing of it applies", async () => {
    const ns = testNamespace();
    await createTestTopics(ns);
    const redis = testRedis();
    await loadFunctionLibrary(redis, registry, ns.options.keyPrefix);
    const producer = await testProducer(ns.id);
    const processor = () =>
      new BatchProcessor(
        operators,
        new FeatureWriter(redis, operators, {
          prefix: ns.options.keyPrefix,
          allowedLatenessMs: registry.policies.allowedLatenessMs,
          dedupMarginMs: registry.policies.dedupMarginMs,
          pruneAboveFields: 256,
        }),
        producer,
        ns.topics,
        new PipelineMetrics(),
        { allowedLatenessMs: registry.policies.allowedLatenessMs, maxPayloadBytes: 65_536 },
      );
    const end = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    const workload = generateWorkload({ seed: 41, users: 50, eventsPerUser: 20, startMs: end - 24 * HOUR, endMs: end, duplicateShare: 0 }).filter((r) => r.source === 'client');
    // one partition's log, as both the zombie and the new owner fetched it
    const log: SourceRecord[] = workload.map((r, offset) => ({
      topic: ns.topics.sources.client,
      partition: 0,
      offset: String(offset),
      timestamp: String(r.ingestMs),
      key: Buffer.from(r.key),
      value: r.value,
    }));
    const owner = processor();
    const zombie = processor();
    const staleBatch = log.slice(Math.floor(log.length / 2) - 50, Math.floor(log.length / 2) + 50); // fetched before the rebalance
    for (let start = 0; start < log.length; start += 100) await owner.process('client', log.slice(start, start + 100));
    const stale = await zombie.process('client', staleBatch); // the zombie wakes and writes it

    const reference = referencePipeline(
      operators,
      workload.map((r, offset) => ({ source: r.source, value: r.value, partition: 0, offset })),
    );
    const users = [...new Set(workload.map((r) => r.key))].sort();
    const asOf = Math.max(...workload.map((r) => r.ingestMs)) + 7 * 60_000 + 13_000;
    const online = await onlineReads(new FeatureReader(redis, registry, ns.options.keyPrefix), users, asOf);
    const expected = referenceReads(registry, reference.applied, users, asOf);
    console.info(
      `zombie batch of ${staleBatch.length} records written after the new owner applied all ${log.length}: applied ${stale.applied}, replayed ${stale.replayed}, other ${staleBatch.length - stale.applied - stale.replayed}`,
    );
    expect(stale.applied).toBe(0);
    expect(stale.replayed).toBeGreaterThan(0);
    expect(countDrift(registry, expected, online)).toEqual({ doubleCounts: 0, missing: 0 });
    expect(diffReads(expected, online)).toEqual([]);
  });
});
