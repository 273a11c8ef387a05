/**
 * Consumer conformance of the lake writer (issue "Nothing stops, nothing is lost"). Run this
 * group alone with
 *   npx vitest run --project integration -t "consumer conformance: lake writer"
 * Cases elsewhere: a partition many fetches deep and the oversized record in
 * consumer-conformance.test.ts; a restart mid-flush (SIGKILL inside flushes, every offset
 * exactly once afterwards) in ../lake/lake-writer-crash.test.ts.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { SOURCES } from '../../../sidecar/src/events/index.ts';
import { LakeWriter, LocalLakeStorage, resolveLakeWriterOptions } from '../../../sidecar/src/lake/index.ts';
import { generateWorkload } from '../../../sidecar/src/loadgen/workload.ts';
import { startLakeWriter, tempDir } from '../../helpers/consumers.ts';
import { createTestTopics, produceWorkload, testAdmin, testProducer } from '../../helpers/kafka.ts';
import { highWatermarks, lakeViolations, landedOffsets, waitUntilLanded } from '../../helpers/lake.ts';
import { HOUR, rawEvent } from '../../helpers/reference.ts';
import { BROKERS, testNamespace, type TestNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

/** The writer's gauges by "<topic>:<partition>", after one fresh sample of its group's offsets. */
async function sampled(writer: LakeWriter): Promise<{ lag: Map<string, number>; progress: Map<string, number> }> {
  await writer.sampleProgress();
  const byPartition = (values: Array<{ labels: Record<string, unknown>; value: number }>) => new Map(values.map((v) => [`${String(v.labels.topic)}:${String(v.labels.partition)}`, v.value]));
  return { lag: byPartition((await writer.metrics.lag.get()).values), progress: byPartition((await writer.metrics.lastProgress.get()).values) };
}

/** A local lake with an object store's latency: every put takes `delayMs` more (S3 answers in tens of ms). */
class SlowLakeStorage extends LocalLakeStorage {
  constructor(
    root: string,
    private readonly delayMs: number,
  ) {
    super(root);
  }

  override async put(key: string, body: Uint8Array): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    await super.put(key, body);
  }
}

async function startSlowWriter(ns: TestNamespace, root: string, label: string): Promise<LakeWriter> {
  const options = resolveLakeWriterOptions({
    brokers: BROKERS,
    topicNamespace: ns.options.topicNamespace,
    groupId: `${ns.id}-lake`,
    clientId: `${ns.id}-${label}`,
    flushRecords: 500,
    flushIntervalMs: 500,
    sessionTimeoutMs: 6_000,
  });
  const writer = new LakeWriter(options, { storage: new SlowLakeStorage(root, 25) });
  await writer.start();
  onTestFinished(() => writer.stop());
  return writer;
}

describe('consumer conformance: lake writer', () => {
  it('lands a topic where some partitions never get a record: nothing stalls, lag is the unlanded count and then zero on every partition, empty ones included', async () => {
    const ns = testNamespace();
    await createTestTopics(ns, { client: 4, billing: 1, support: 1 });
    const producer = await testProducer(ns.id);
    const now = Date.now() - HOUR;
    const event = (i: number) => rawEvent({ eventId: `e-${i}`, userId: `cf-e-${i % 30}`, eventType: 'playback_error', eventTs: now + i, ingestMs: now + i });
    // Partitions 0 and 2 get records, 1 and 3 never do (nor billing and support).
    await producer.send({ topic: ns.topics.sources.client, acks: -1, messages: Array.from({ length: 3_000 }, (_, i) => ({ partition: 0, key: null, value: event(i) })) });
    await producer.send({ topic: ns.topics.sources.client, acks: -1, messages: Array.from({ length: 500 }, (_, i) => ({ partition: 2, key: null, value: event(10_000 + i) })) });
    const topics = SOURCES.map((s) => ns.topics.sources[s]);
    const highs = await highWatermarks(await testAdmin(), topics);
    expect(highs.size).toBe(6);

    // A writer that buffers and never flushes on its own: its group's lag is everything.
    const root = tempDir('churnfeat-conformance-empty-');
    const buffering = await startLakeWriter(ns, root, { flushRecords: 1_000_000, flushIntervalMs: 600_000 }, 'lake-a');
    const before = await sampled(buffering);
    expect(before.lag.get(`${ns.topics.sources.client}:0`)).toBe(3_000);
    expect(before.lag.get(`${ns.topics.sources.client}:2`)).toBe(500);
    expect([...before.lag.values()].reduce((n, v) => n + v, 0)).toBe(3_500);
    expect(before.progress.size).toBe(6);
    await buffering.stop();

    // A second writer of the group finishes the job; afterwards every partition has lag 0.
    const writer = await startLakeWriter(ns, root, {}, 'lake-b');
    await waitUntilLanded(new LocalLakeStorage(root), highs, 60_000);
    const after = await waitFor(
      'the lag of every partition to be zero',
      async () => {
        const gauges = await sampled(writer);
        return gauges.lag.size === 6 && [...gauges.lag.values()].every((v) => v === 0) ? gauges : null;
      },
      { timeoutMs: 20_000 },
    );
    expect(after.progress.size).toBe(6);
    await writer.stop();
    const landed = await landedOffsets(root);
    expect(lakeViolations(landed, highs)).toEqual([]);
    expect(landed.length).toBe(3_500);
  });

  it('lands partitions added to a source topic while it runs, from their first offset (defect: kafkajs kept its 5 min metadata age before consuming them)', async () => {
    const ns = testNamespace();
    await createTestTopics(ns, { client: 1, billing: 1, support: 1 });
    const root = tempDir('churnfeat-conformance-grown-');
    // The default refresh is 30 s (metadataMaxAgeMs); 3 s keeps the case short.
    await startLakeWriter(ns, root, { metadataMaxAgeMs: 3_000 });
    const now = Date.now() - HOUR;
    const event = (i: number) => rawEvent({ eventId: `g-${i}`, userId: `cf-g-${i % 20}`, eventType: 'playback_error', eventTs: now + i, ingestMs: now + i });
    const first = await testProducer(`${ns.id}-a`);
    await first.send({ topic: ns.topics.sources.client, acks: -1, messages: Array.from({ length: 200 }, (_, i) => ({ partition: 0, key: null, value: event(i) })) });
    const admin = await testAdmin();
    await admin.createPartitions({ topicPartitions: [{ topic: ns.topics.sources.client, count: 3 }] });
    // A producer made after the change knows the new partitions (kafkajs drops sends to partitions its metadata lacks).
    const second = await testProducer(`${ns.id}-b`);
    for (const partition of [1, 2]) {
      await second.send({ topic: ns.topics.sources.client, acks: -1, messages: Array.from({ length: 100 }, (_, i) => ({ partition, key: null, value: event(1_000 * partition + i) })) });
    }
    const highs = await highWatermarks(
      admin,
      SOURCES.map((s) => ns.topics.sources[s]),
    );
    expect(highs.get(`${ns.topics.sources.client}:2`)).toBe(100n);
    await waitUntilLanded(new LocalLakeStorage(root), highs, 60_000);
    const landed = await landedOffsets(root);
    expect(lakeViolations(landed, highs)).toEqual([]);
    expect(landed.length).toBe(400);
  });

  it('lands records with null keys, and null values as dead letters, without stopping', async () => {
    const ns = testNamespace();
    await createTestTopics(ns, { client: 2, billing: 1, support: 1 });
    const producer = await testProducer(ns.id);
    const now = Date.now() - HOUR;
    const valid = Array.from({ length: 40 }, (_, i) => ({
      key: null,
      value: rawEvent({ eventId: `nk-${i}`, userId: `cf-nk-${i % 4}`, eventType: 'playback_error', eventTs: now + i, ingestMs: now + i }),
    }));
    await producer.send({ topic: ns.topics.sources.client, acks: -1, messages: [...valid, { key: null, value: null }, { key: null, value: null }] });
    const highs = await highWatermarks(
      await testAdmin(),
      SOURCES.map((s) => ns.topics.sources[s]),
    );

    const root = tempDir('churnfeat-conformance-nullkey-');
    const writer = await startLakeWriter(ns, root, { flushRecords: 10 });
    await waitUntilLanded(new LocalLakeStorage(root), highs, 60_000);
    await writer.stop();
    const landed = await landedOffsets(root);
    expect(lakeViolations(landed, highs)).toEqual([]);
    expect(landed.filter((r) => r.kind === 'events').length).toBe(40);
    expect(landed.filter((r) => r.kind === 'dead_letter').length).toBe(2);
  });

  it('lands every offset exactly once when a second writer joins the group while a large backlog is being landed (a rebalance mid-batch)', async () => {
    const ns = testNamespace();
    await createTestTopics(ns, { client: 4, billing: 2, support: 1 });
    const end = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    const workload = generateWorkload({ seed: 77, users: 800, eventsPerUser: 40, startMs: end - 4 * HOUR, endMs: end, invalidShare: 0.01 });
    const backlog = workload.slice(0, Math.floor(workload.length * 0.7));
    await produceWorkload(ns, backlog);
    const topics = SOURCES.map((s) => ns.topics.sources[s]);
    const admin = await testAdmin();

    const root = tempDir('churnfeat-conformance-rebalance-');
    const first = await startSlowWriter(ns, root, 'lake-a');
    await waitFor('the first writer to land part of the backlog', async () => first.stats.flushes > 0, { timeoutMs: 60_000, intervalMs: 10 });
    // The second writer joins while the first is inside the backlog: the group rebalances
    // with batches in flight and buffers half full.
    const second = await startSlowWriter(ns, root, 'lake-b');
    const landedAtJoin = first.stats.records;
    expect(landedAtJoin).toBeLessThan(backlog.length);
    await waitFor('both writers to be members of the group', async () => (await admin.describeGroups([`${ns.id}-lake`])).groups[0]?.members.length === 2, { timeoutMs: 60_000 });
    // Records after the rebalance reach both writers' partitions.
    await produceWorkload(ns, workload.slice(backlog.length));
    const highs = await highWatermarks(admin, topics);
    await waitUntilLanded(new LocalLakeStorage(root), highs, 120_000);
    await second.stop();
    await first.stop();

    const landed = await landedOffsets(root);
    console.info(
      `lake rebalance: ${workload.length} records (backlog ${backlog.length}); first writer had landed ${landedAtJoin} when the second joined; landed ${first.stats.records} + ${second.stats.records}; recoveries ${first.stats.recoveries + second.stats.recoveries}; fenced flushes ${first.stats.fenced + second.stats.fenced}`,
    );
    expect(lakeViolations(landed, highs)).toEqual([]);
    expect(landed.length).toBe(workload.length);
    expect(second.stats.records).toBeGreaterThan(0);
  });
});
