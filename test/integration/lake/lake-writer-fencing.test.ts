/**
 * Two lake writers that both believe they own a partition (the exactly-once violation of the
 * "rebalance mid-batch" conformance case: 89 records landed twice). A flush that started
 * before a rebalance (the age ticker's, or a frozen writer's) finishes after the partition's
 * new owner landed the same offsets from the manifest it read. The claims of
 * lake-manifest.ts fence the late flush.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { SOURCES } from '../../../sidecar/src/events/index.ts';
import { LakeWriter, LocalLakeStorage, resolveLakeWriterOptions } from '../../../sidecar/src/lake/index.ts';
import { startLakeWriter, tempDir } from '../../helpers/consumers.ts';
import { createTestTopics, testAdmin, testProducer } from '../../helpers/kafka.ts';
import { highWatermarks, lakeViolations, landedOffsets, waitUntilLanded } from '../../helpers/lake.ts';
import { HOUR, rawEvent } from '../../helpers/reference.ts';
import { BROKERS, testNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

/** A local lake whose puts wait while the gate is closed (an object store that stopped answering). */
class GatedLakeStorage extends LocalLakeStorage {
  private gate: Promise<void> | null = null;
  private open: () => void = () => undefined;
  /** Puts that are waiting at the gate. */
  waiting = 0;

  close(): void {
    this.gate = new Promise((resolve) => {
      this.open = resolve;
    });
  }

  release(): void {
    this.gate = null;
    this.open();
  }

  private async pass(): Promise<void> {
    if (!this.gate) return;
    this.waiting += 1;
    await this.gate;
    this.waiting -= 1;
  }

  override async put(key: string, body: Uint8Array): Promise<void> {
    await this.pass();
    await super.put(key, body);
  }

  override async putIfAbsent(key: string, body: Uint8Array): Promise<boolean> {
    await this.pass();
    return super.putIfAbsent(key, body);
  }
}

describe('lake writer fencing', () => {
  it('lands every offset once when the former owner of a partition finishes a flush after the new owner landed the same offsets', async () => {
    const ns = testNamespace();
    await createTestTopics(ns, { client: 2, billing: 1, support: 1 });
    const topics = SOURCES.map((s) => ns.topics.sources[s]);
    const producer = await testProducer(ns.id);
    const now = Date.now() - HOUR;
    let n = 0;
    const event = () => {
      n += 1;
      return rawEvent({ eventId: `f-${n}`, userId: `cf-f-${n % 25}`, eventType: 'playback_error', eventTs: now + n, ingestMs: now + n });
    };
    // Records in every partition: whichever partitions move, the first writer holds a buffer of them.
    for (const topic of topics) {
      const partitions = topic === ns.topics.sources.client ? [0, 1] : [0];
      for (const partition of partitions) {
        await producer.send({ topic, acks: -1, messages: Array.from({ length: 120 }, () => ({ partition, key: null, value: event() })) });
      }
    }
    const highs = await highWatermarks(await testAdmin(), topics);
    const root = tempDir('churnfeat-lake-fencing-');

    // Writer A buffers everything; its aged flush then hangs at the closed gate.
    const gated = new GatedLakeStorage(root);
    const options = resolveLakeWriterOptions({
      brokers: BROKERS,
      topicNamespace: ns.options.topicNamespace,
      groupId: `${ns.id}-lake`,
      clientId: `${ns.id}-lake-a`,
      flushRecords: 1_000_000,
      flushIntervalMs: 3_000,
      sessionTimeoutMs: 6_000,
    });
    const first = new LakeWriter(options, { storage: gated });
    gated.close();
    await first.start();
    onTestFinished(() => first.stop());
    await waitFor('the first writer to start its aged flush', async () => gated.waiting > 0, { timeoutMs: 30_000, intervalMs: 20 });

    // Writer B joins; the group moves some partitions to it and B lands them.
    const second = await startLakeWriter(ns, root, { flushRecords: 50 }, 'lake-b');
    await waitFor('the second writer to land its partitions', async () => second.stats.records > 0 && second.stats.flushes > 0, { timeoutMs: 60_000, intervalMs: 20 });
    const landedByB = await waitFor(
      'the second writer to be idle',
      async () => {
        const before = second.stats.records;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        return second.stats.records === before ? before : null;
      },
      { timeoutMs: 30_000 },
    );

    // A's flush goes through now, after B landed those partitions.
    gated.release();
    await waitUntilLanded(new LocalLakeStorage(root), highs, 60_000);
    await waitFor('the first writer to finish its flush', async () => gated.waiting === 0 && first.stats.flushes + first.stats.fenced > 0, { timeoutMs: 30_000, intervalMs: 20 });
    await first.stop();
    await second.stop();

    const landed = await landedOffsets(root);
    console.info(
      `lake fencing: ${landed.length} landed for 480 records; B landed ${landedByB}; A landed ${first.stats.records}, fenced ${first.stats.fenced}; recoveries ${first.stats.recoveries + second.stats.recoveries}`,
    );
    expect(lakeViolations(landed, highs)).toEqual([]);
    expect(landed.length).toBe(480);
    expect(first.stats.fenced).toBeGreaterThan(0);
  });
});
