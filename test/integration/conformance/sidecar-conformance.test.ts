/**
 * Consumer conformance of the sidecar (issue "Nothing stops, nothing is lost"): the cases of
 * the suite that need the sidecar's own store. Run this group alone with
 *   npx vitest run --project integration -t "consumer conformance: sidecar"
 * Cases elsewhere: the oversized record and the bad-record backlog in
 * consumer-conformance.test.ts; a rebalance mid-run in ../correctness/rebalance.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { SOURCES } from '../../../sidecar/src/events/index.ts';
import { generateWorkload, type WorkloadRecord } from '../../../sidecar/src/loadgen/workload.ts';
import type { RecordVerdict } from '../../../sidecar/src/metrics/index.ts';
import { ReadinessProbe } from '../../../sidecar/src/serving/index.ts';
import { FeatureReader } from '../../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../../sidecar/src/windows/index.ts';
import { createTestTopics, produceWorkload, testProducer, waitForGroupCaughtUp } from '../../helpers/kafka.ts';
import { privateRedis, testRedis } from '../../helpers/redis.ts';
import { diffReads, HOUR, onlineReads, rawEvent, referencePipeline, referenceReads, type ReferenceOutcome } from '../../helpers/reference.ts';
import { watermarks } from '../../helpers/serving.ts';
import { testNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';
import { conformanceRegistry as registry, startSidecar } from '../../helpers/consumers.ts';

const operators = new WindowOperators(registry);

function reference(records: readonly WorkloadRecord[]): ReferenceOutcome {
  return referencePipeline(
    operators,
    records.map((r, offset) => ({ source: r.source, value: r.value, partition: 0, offset })),
  );
}

function sumCounts(...outcomes: ReferenceOutcome[]): Record<RecordVerdict, number> {
  const out: Record<RecordVerdict, number> = { applied: 0, duplicate: 0, replayed: 0, deleted: 0, too_late: 0, invalid: 0, irrelevant: 0 };
  for (const outcome of outcomes) for (const [verdict, n] of Object.entries(outcome.counts)) out[verdict as RecordVerdict] += n;
  return out;
}

describe('consumer conformance: sidecar', () => {
  it('resumes by itself when Redis restarts empty mid-run: the library is loaded again, every later record is applied exactly once, serving is ready again (defect: every batch failed with "ERR Function not found" until a restart)', async () => {
    const redis = await privateRedis();
    const ns = testNamespace({ redisUrl: redis.url });
    await createTestTopics(ns, { client: 3, billing: 1, support: 1 });
    const sidecar = await startSidecar(ns);
    const end = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    const workload = (seed: number) => generateWorkload({ seed, users: 80, eventsPerUser: 12, startMs: end - 6 * HOUR, endMs: end, invalidShare: 0.01, duplicateShare: 0.03 });
    const before = workload(41);
    const duringOutage = workload(42);
    const after = workload(43);
    const consumed = async () => (await sidecar.metrics.totals()).consumed;

    await produceWorkload(ns, before);
    await waitFor('the records before the loss to be consumed', async () => (await consumed()) >= before.length, { timeoutMs: 60_000 });

    // Redis dies; records keep coming while it is down; it comes back empty on the same address.
    await redis.kill();
    await produceWorkload(ns, duringOutage);
    await waitFor('the sidecar to see Redis down', async () => sidecar.health().lastError?.code === 'redis_unavailable', { timeoutMs: 30_000 });
    await redis.startEmpty();

    // Serving's readiness reads the registry key: it must come back without any restart.
    const probe = new ReadinessProbe({ redis: testRedis(redis.url), registry, prefix: ns.options.keyPrefix, watermarks: { snapshot: () => watermarks() }, maxWatermarkAgeMs: 0 });
    const ready = await waitFor(
      'serving readiness to recover',
      async () => {
        const report = await probe.check();
        return report.ready ? report : null;
      },
      { timeoutMs: 30_000 },
    );
    expect(ready.checks.registry.detail).toBe(`registry ${registry.version} loaded (the version served)`);
    await waitFor('the records of the outage to be consumed', async () => (await consumed()) >= before.length + duringOutage.length, { timeoutMs: 60_000 });

    await produceWorkload(ns, after);
    await waitForGroupCaughtUp(
      ns.options.groupId,
      SOURCES.map((s) => ns.topics.sources[s]),
      60_000,
    );

    const totals = await sidecar.metrics.totals();
    expect(sidecar.health().running).toBe(true);
    expect(totals.consumed).toBe(before.length + duringOutage.length + after.length);
    expect(totals.consumed).toBe(totals.applied + totals.duplicate + totals.replayed + totals.too_late + totals.invalid + totals.irrelevant);
    // The two sides of the loss are judged apart: the dedup entries and applied offsets of
    // the records before it went with the old node (the RPO of a Redis without persistence).
    const rebuilt = reference([...duringOutage, ...after]);
    expect(totals).toMatchObject({ ...sumCounts(reference(before), rebuilt), consumed: totals.consumed });
    expect((await sidecar.metrics.libraryReloads.get()).values[0]?.value).toBeGreaterThanOrEqual(1);

    // State after the loss: exactly the records consumed after it, each once.
    const users = [...new Set([...duringOutage, ...after].map((r) => r.key))].sort();
    const asOf = Math.max(...after.map((r) => r.ingestMs)) + 60_000;
    const online = await onlineReads(new FeatureReader(testRedis(redis.url), registry, ns.options.keyPrefix), users, asOf);
    expect(diffReads(referenceReads(registry, rebuilt.applied, users, asOf), online, ['reference', 'online'])).toEqual([]);
  });

  it('reads a partition that holds several fetches worth of records, and empty partitions beside it: nothing stalls, lag is zero everywhere, watermarks are published for every partition', async () => {
    const ns = testNamespace();
    await createTestTopics(ns, { client: 4, billing: 1, support: 1 });
    const producer = await testProducer(ns.id);
    const now = Date.now();
    const total = 16_000;
    // Many users, all sent to partition 0: one partition many fetches deep, three never written.
    const messages = Array.from({ length: total }, (_, i) => ({
      partition: 0,
      key: `cf-deep-${i % 200}`,
      value: rawEvent({ eventId: `deep-${i}`, userId: `cf-deep-${i % 200}`, eventType: 'playback_error', eventTs: now - 30 * 60_000 + i, ingestMs: now - 30 * 60_000 + i }),
    }));
    const bytes = messages.reduce((n, m) => n + m.value.length, 0);
    expect(bytes).toBeGreaterThan(3 * 1024 * 1024);
    for (let i = 0; i < total; i += 2_000) await producer.send({ topic: ns.topics.sources.client, acks: -1, messages: messages.slice(i, i + 2_000) });

    const sidecar = await startSidecar(ns);
    await waitForGroupCaughtUp(ns.options.groupId, [ns.topics.sources.client], 90_000);
    expect(await sidecar.metrics.totals()).toMatchObject({ consumed: total, applied: total });

    await waitFor(
      'lag and watermark gauges for all four partitions',
      async () => {
        const lag = (await sidecar.metrics.lag.get()).values.filter((v) => v.labels.topic === ns.topics.sources.client);
        const marks = (await sidecar.metrics.watermark.get()).values.filter((v) => v.labels.topic === ns.topics.sources.client);
        return lag.length === 4 && marks.length === 4 && lag.every((v) => v.value === 0);
      },
      { timeoutMs: 10_000 },
    );
    const read = await new FeatureReader(testRedis(), registry, ns.options.keyPrefix).read('cf-deep-7', now);
    expect(read.features.errors_last_1h?.value).toBe(total / 200);
  });

  it('takes records with null keys (and null values) without stopping: null-valued records are dead-lettered, keyless valid ones applied', async () => {
    const ns = testNamespace();
    await createTestTopics(ns, { client: 2, deadLetter: 1 });
    const producer = await testProducer(ns.id);
    const now = Date.now();
    const valid = Array.from({ length: 50 }, (_, i) => ({
      key: null,
      value: rawEvent({ eventId: `nk-${i}`, userId: `cf-nk-${i % 5}`, eventType: 'playback_error', eventTs: now - 60_000 + i, ingestMs: now - 60_000 + i }),
    }));
    await producer.send({ topic: ns.topics.sources.client, acks: -1, messages: [...valid, { key: null, value: null }, { key: null, value: null }] });

    const sidecar = await startSidecar(ns);
    await waitFor('the sidecar to consume every keyless record', async () => (await sidecar.metrics.totals()).consumed >= 52, { timeoutMs: 60_000 });
    expect(await sidecar.metrics.totals()).toMatchObject({ consumed: 52, applied: 50, invalid: 2 });
    expect(sidecar.health().running).toBe(true);
    const read = await new FeatureReader(testRedis(), registry, ns.options.keyPrefix).read('cf-nk-0', now);
    expect(read.features.errors_last_1h?.value).toBe(10);
  });
});
