/**
 * Consumer conformance: the freshness canary. It consumes no topic itself (it produces one
 * probe per partition and reads them back through the read path), so its cases are the ones
 * that break a probe loop: Redis restarted empty under it, and a source topic that grows
 * partitions while it runs. Run alone:
 *   npx vitest run --project integration -t "consumer conformance: canary"
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { Canary, CanaryMetrics, ClientProbeReader, partitionCountsFromAdmin } from '../../../sidecar/src/canary/index.ts';
import { LOCAL_PARTITIONS } from '../../../sidecar/src/kafka/index.ts';
import { connectFeatureClient } from '../../../sidecar/src/serving/index.ts';
import { conformanceRegistry as registry, startSidecar } from '../../helpers/consumers.ts';
import { createTestTopics, kafkaClient, testAdmin } from '../../helpers/kafka.ts';
import { privateRedis } from '../../helpers/redis.ts';
import { testNamespace, type TestNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const SOURCES = ['client', 'billing', 'support'] as const;

async function startCanary(ns: TestNamespace, timeoutMs: number, metadataMaxAge?: number): Promise<{ canary: Canary; metrics: CanaryMetrics; log: string[] }> {
  const producer = kafkaClient(`${ns.id}-canary`).producer({ allowAutoTopicCreation: false, metadataMaxAge });
  await producer.connect();
  onTestFinished(() => producer.disconnect());
  const connected = await connectFeatureClient({ redisUrl: ns.options.redisUrl, prefix: ns.options.keyPrefix, registry, watermarkRefreshMs: 200 });
  onTestFinished(() => connected.close());
  const metrics = new CanaryMetrics();
  const log: string[] = [];
  const canary = new Canary({
    producer,
    topics: ns.topics,
    registry,
    reader: new ClientProbeReader(connected.client),
    metrics,
    partitionCounts: partitionCountsFromAdmin(await testAdmin(), ns.topics, SOURCES),
    timeoutMs,
    pollIntervalMs: 100,
    log: (line) => log.push(line),
  });
  return { canary, metrics, log };
}

const notReadable = (results: Awaited<ReturnType<Canary['runOnce']>>): string[] => results.filter((r) => r.outcome !== 'readable').map((r) => `${r.source}:${r.partition} ${r.outcome}`);

describe('consumer conformance: canary', () => {
  it('keeps probing through a Redis restarted empty mid-run: the next round is readable again once the sidecar reloads its library', async () => {
    const redis = await privateRedis();
    const ns = testNamespace({ redisUrl: redis.url });
    await createTestTopics(ns);
    await startSidecar(ns);
    const { canary, metrics } = await startCanary(ns, 90_000);
    expect(notReadable(await canary.runOnce())).toEqual([]);

    await redis.kill();
    await redis.startEmpty();
    const after = await canary.runOnce();
    expect(notReadable(after)).toEqual([]);
    expect(after).toHaveLength(LOCAL_PARTITIONS.client + LOCAL_PARTITIONS.billing + LOCAL_PARTITIONS.support);
    const probes = await metrics.registry.getSingleMetricAsString('churnfeat_canary_probes_total');
    expect(probes).not.toMatch(/outcome="(timeout|produce_error)"/);
  });

  it('probes a partition added to a source topic mid-run: never a silent timeout, and readable once the producer and the sidecar refresh their metadata', async () => {
    // Defects: kafkajs dropped the probes of a partition unknown to the producer's metadata without
    // an error (each became a timeout minutes later), and the sidecar took kafkajs' default 5 min
    // metadata age to consume the new partition. The default refresh is now 30 s
    // (metadataMaxAgeMs, for the canary's producer too); 3 s keeps the case short.
    const ns = testNamespace({ metadataMaxAgeMs: 3_000 });
    await createTestTopics(ns);
    await startSidecar(ns);
    const { canary, log } = await startCanary(ns, 20_000, 3_000);
    expect(notReadable(await canary.runOnce())).toEqual([]);

    const admin = await testAdmin();
    const added = [LOCAL_PARTITIONS.billing, LOCAL_PARTITIONS.billing + 1];
    await admin.createPartitions({ topicPartitions: [{ topic: ns.topics.sources.billing, count: LOCAL_PARTITIONS.billing + 2 }] });
    const next = await canary.runOnce();
    expect(next.filter((r) => r.source === 'billing').map((r) => r.partition)).toEqual(expect.arrayContaining(added));
    for (const result of next.filter((r) => added.includes(r.partition) && r.source === 'billing')) expect(['readable', 'produce_error']).toContain(result.outcome);
    if (next.some((r) => r.outcome === 'produce_error')) expect(log.join('\n')).toMatch(/not acknowledged/);

    const settled = await waitFor(
      'a round with every probe readable, the added partitions included',
      async () => {
        const round = await canary.runOnce();
        return notReadable(round).length === 0 ? round : null;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    expect(settled.filter((r) => r.source === 'billing')).toHaveLength(LOCAL_PARTITIONS.billing + 2);
  });
});
