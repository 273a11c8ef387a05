import { describe, expect, it, onTestFinished } from 'vitest';
import { SOURCES } from '../../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { generateWorkload } from '../../../sidecar/src/loadgen/workload.ts';
import { Sidecar } from '../../../sidecar/src/pipeline/index.ts';
import { FeatureReader } from '../../../sidecar/src/store/index.ts';
import { createTestTopics, kafkaClient, produceWorkload, testProducer, waitForGroupCaughtUp } from '../../helpers/kafka.ts';
import { testRedis } from '../../helpers/redis.ts';
import { HOUR } from '../../helpers/reference.ts';
import { testNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const registry = loadFeatureRegistry('dbt_project');

describe('watermarks across a rebalance', () => {
  it('stops publishing the watermark of a partition the sidecar no longer owns', async () => {
    const ns = testNamespace();
    await createTestTopics(ns, { client: 2, billing: 1, support: 1 });
    const sourceTopics = SOURCES.map((s) => ns.topics.sources[s]);
    // two-day-old records: a stale watermark published for a partition is far in the past
    const end = Math.floor(Date.now() / HOUR) * HOUR - 48 * HOUR;
    const workload = generateWorkload({ seed: 5, users: 60, eventsPerUser: 6, startMs: end - 6 * HOUR, endMs: end, duplicateShare: 0 });
    const clientRecords = workload.filter((r) => r.source === 'client');

    const a = new Sidecar({ ...ns.options, clientId: `${ns.id}-a` }, registry);
    onTestFinished(() => a.stop());
    await a.start();
    await produceWorkload(ns, workload);
    await waitForGroupCaughtUp(ns.options.groupId, sourceTopics);
    const reader = new FeatureReader(testRedis(), registry, ns.options.keyPrefix);
    const caughtUpAt = Date.now();
    // caught up: A publishes "now" for both client partitions
    await waitFor('A to publish both client watermarks as caught up', async () => {
      const wm = await reader.watermarks();
      return (wm.get('client:0') ?? 0) >= caughtUpAt && (wm.get('client:1') ?? 0) >= caughtUpAt;
    });

    // B joins the group and takes a client partition, then holds it without committing
    // (it pauses every partition it fetches): that partition has lag, and A no longer owns it.
    const b = kafkaClient(`${ns.id}-b`).consumer({ groupId: ns.options.groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000 });
    onTestFinished(() => b.disconnect());
    let bClientPartitions: number[] | null = null;
    b.on(b.events.GROUP_JOIN, ({ payload }) => {
      bClientPartitions = payload.memberAssignment[ns.topics.sources.client] ?? [];
    });
    await b.connect();
    await b.subscribe({ topics: sourceTopics });
    await b.run({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: async ({ pause }) => void pause() });
    const taken = await waitFor('B to join and be given a client partition', async () => (bClientPartitions && bClientPartitions.length > 0 ? bClientPartitions : null));
    const movedPartition = taken[0] as number;
    const ownPartition = 1 - movedPartition;
    const before = (await reader.watermarks()).get(`client:${movedPartition}`) as number;

    // records on the moved partition that nobody commits: its lag is above 0 from now on
    const producer = await testProducer(`${ns.id}-moved`);
    await producer.send({
      topic: ns.topics.sources.client,
      acks: -1,
      messages: clientRecords.slice(0, 20).map((r) => ({ key: r.key, value: r.value, partition: movedPartition, timestamp: String(r.ingestMs) })),
    });
    const producedAt = Date.now();
    // A publishes once a second; wait for two publications made after the lag appeared
    await waitFor('A to publish twice after the moved partition got lag', async () => ((await reader.watermarks()).get(`client:${ownPartition}`) ?? 0) > producedAt + 1_000, { timeoutMs: 30_000 });

    const after = (await reader.watermarks()).get(`client:${movedPartition}`) as number;
    console.info(`watermark of moved partition client:${movedPartition}: before the rebalance ${new Date(before).toISOString()}, after ${new Date(after).toISOString()}`);
    // A former owner must not publish its last applied timestamp (two days old) for a partition it lost
    expect(after).toBeGreaterThanOrEqual(before);
  });
});
