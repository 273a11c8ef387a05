import { describe, expect, it, onTestFinished } from 'vitest';
import { Canary, CanaryMetrics, ClientProbeReader, HttpProbeReader, canaryUserId, partitionCountsFromAdmin } from '../../../sidecar/src/canary/index.ts';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { LOCAL_PARTITIONS } from '../../../sidecar/src/kafka/index.ts';
import { connectFeatureClient, startServingService } from '../../../sidecar/src/serving/index.ts';
import { startSidecar } from '../../helpers/consumers.ts';
import { createTestTopics, kafkaClient, testAdmin } from '../../helpers/kafka.ts';
import { testNamespace } from '../../helpers/stack.ts';

const registry = loadFeatureRegistry('dbt_project');

describe('the freshness canary', () => {
  it('measures, through Kafka and the sidecar, when a probe on every partition becomes readable', async () => {
    const ns = testNamespace();
    await createTestTopics(ns);
    const sidecar = await startSidecar(ns);
    const producer = kafkaClient(`${ns.id}-canary`).producer({ allowAutoTopicCreation: false });
    await producer.connect();
    onTestFinished(() => producer.disconnect());
    const admin = await testAdmin();
    const connected = await connectFeatureClient({ redisUrl: ns.options.redisUrl, prefix: ns.options.keyPrefix, registry });
    onTestFinished(() => connected.close());

    const metrics = new CanaryMetrics();
    const canary = new Canary({
      producer,
      topics: ns.topics,
      registry,
      reader: new ClientProbeReader(connected.client),
      metrics,
      partitionCounts: partitionCountsFromAdmin(admin, ns.topics, ['client', 'billing', 'support']),
      timeoutMs: 90_000,
      pollIntervalMs: 100,
    });

    // The first round also waits for the consumer group to join.
    const first = await canary.runOnce();
    const partitions = LOCAL_PARTITIONS.client + LOCAL_PARTITIONS.billing + LOCAL_PARTITIONS.support;
    expect(first).toHaveLength(partitions);
    expect(first.filter((r) => r.outcome !== 'readable')).toEqual([]);

    // A second round on a warm pipeline: every probe readable within seconds.
    const second = await canary.runOnce();
    expect(second.filter((r) => r.outcome !== 'readable')).toEqual([]);
    for (const result of second) expect(result.seconds).toBeLessThan(30);
    const histogram = await metrics.registry.getSingleMetricAsString('churnfeat_canary_readable_seconds');
    expect(histogram).toContain(`churnfeat_canary_readable_seconds_count{source="client"} ${2 * LOCAL_PARTITIONS.client}`);
    expect(histogram).toContain(`churnfeat_canary_readable_seconds_count{source="billing"} ${2 * LOCAL_PARTITIONS.billing}`);
    expect(histogram).toContain(`churnfeat_canary_readable_seconds_count{source="support"} ${2 * LOCAL_PARTITIONS.support}`);

    // Each probe landed on its own partition, applied to its canary user only.
    const probe = await connected.client.get(canaryUserId('client', 4));
    expect(probe.features.errors_last_1h?.value).toBe(2);
    expect(probe.features.payment_failures_last_7d?.value).toBe(0);
    const totals = await sidecar.metrics.totals();
    expect(totals.applied).toBe(2 * partitions);
    expect(totals.invalid + totals.irrelevant + totals.too_late).toBe(0);

    // The same probes, read through the HTTP service, so the SLI covers it too.
    const service = await startServingService({ redisUrl: ns.options.redisUrl, keyPrefix: ns.options.keyPrefix, port: 0, logLevel: 'silent' }, registry);
    onTestFinished(() => service.close());
    const viaHttp = await new Canary({
      producer,
      topics: ns.topics,
      registry,
      reader: new HttpProbeReader(service.url),
      metrics: new CanaryMetrics(),
      partitionCounts: partitionCountsFromAdmin(admin, ns.topics, ['client', 'billing', 'support']),
      timeoutMs: 60_000,
      pollIntervalMs: 100,
    }).runOnce();
    expect(viaHttp.filter((r) => r.outcome !== 'readable')).toEqual([]);
  });
});
