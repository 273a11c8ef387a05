/**
 * Kafka for tests: clients that close when the test ends, the namespace's topics (deleted
 * with its Redis keys when the test ends), producing workloads, reading topics back.
 */
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import { onTestFinished } from 'vitest';
import { decodeHeaders, ensureTopics } from '../../sidecar/src/kafka/index.ts';
import type { WorkloadRecord } from '../../sidecar/src/loadgen/workload.ts';
import { deleteRedisKeys } from './redis.ts';
import { BROKERS, REDIS_URL, type TestNamespace } from './stack.ts';
import { waitFor } from './wait.ts';

/** A kafkajs client on the stack's brokers (quiet, few retries). */
export function kafkaClient(clientId: string): Kafka {
  return new Kafka({ clientId, brokers: BROKERS, logLevel: logLevel.NOTHING, retry: { retries: 3 } });
}

/** An admin client that disconnects when the test ends. */
export async function testAdmin(): Promise<Admin> {
  const admin = kafkaClient('test-admin').admin();
  await admin.connect();
  onTestFinished(() => admin.disconnect());
  return admin;
}

/** Every topic of a namespace: sources, dead letter, late events. */
export function namespaceTopics(ns: TestNamespace): string[] {
  return [...Object.values(ns.topics.sources), ns.topics.deadLetter, ns.topics.late];
}

/** Creates the namespace's topics; deletes them and the Redis keys when the test ends. */
export async function createTestTopics(ns: TestNamespace, partitions?: Parameters<typeof ensureTopics>[2]): Promise<void> {
  const admin = await testAdmin();
  await ensureTopics(admin, ns.topics, partitions);
  onTestFinished(async () => {
    const cleanup = kafkaClient('test-cleanup').admin();
    await cleanup.connect();
    await cleanup.deleteTopics({ topics: namespaceTopics(ns) }).catch(() => undefined);
    await cleanup.disconnect();
    await deleteRedisKeys(REDIS_URL, ns.id);
  });
}

/** Produces workload records keyed by user_id, in order, to the namespace's source topics. */
export async function produceWorkload(ns: TestNamespace, records: readonly WorkloadRecord[], producer?: Producer): Promise<void> {
  // Idempotent: a retried send (a reply lost under CPU load) must not write a record twice,
  // or the topic holds more offsets than the workload and every count after it is off.
  const own = producer ?? kafkaClient(`${ns.id}-producer`).producer({ idempotent: true, maxInFlightRequests: 1 });
  if (!producer) await own.connect();
  try {
    for (let start = 0; start < records.length; start += 2_000) {
      const chunk = records.slice(start, start + 2_000);
      const byTopic = new Map<string, Array<{ key: string; value: Buffer; timestamp: string }>>();
      for (const record of chunk) {
        const topic = ns.topics.sources[record.source];
        const list = byTopic.get(topic) ?? [];
        list.push({ key: record.key, value: record.value, timestamp: String(record.ingestMs) });
        byTopic.set(topic, list);
      }
      await own.sendBatch({ acks: -1, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
    }
  } finally {
    if (!producer) await own.disconnect();
  }
}

/** One record read back from a topic, headers decoded as UTF-8. */
export interface ReadRecord {
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/** Reads `topic` from the beginning with a group of its own until `done(records)` holds (or the deadline passes). */
export async function readTopic(topic: string, done: (records: ReadRecord[]) => boolean, options: { timeoutMs?: number } = {}): Promise<ReadRecord[]> {
  const consumer = kafkaClient(`read-${topic}`).consumer({ groupId: `read-${topic}-${Date.now().toString(36)}` });
  const records: ReadRecord[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        records.push({ partition, offset: message.offset, key: message.key, value: message.value, headers: decodeHeaders(message.headers) });
      },
    });
    await waitFor(`records on ${topic}`, async () => done(records), { timeoutMs: options.timeoutMs ?? 60_000 });
  } finally {
    await consumer.disconnect();
  }
  return records;
}

/** How many records a topic holds (sum of its partitions' end offsets; the test topics are never compacted or truncated). */
export async function topicSize(topic: string): Promise<number> {
  const admin = kafkaClient(`${topic}-size`).admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/** A connected producer, disconnected when the test ends. */
export async function testProducer(label: string): Promise<Producer> {
  const producer = kafkaClient(`${label}-producer`).producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  onTestFinished(() => producer.disconnect());
  return producer;
}

/** Sends one record and returns where it landed. */
export async function sendOne(producer: Producer, topic: string, key: string | null, value: Buffer | null): Promise<{ partition: number; offset: string }> {
  const [meta] = await producer.send({ topic, acks: -1, messages: [{ key, value }] });
  if (!meta || meta.baseOffset === undefined) throw new Error(`no offset for a record sent to ${topic}`);
  return { partition: meta.partition, offset: meta.baseOffset };
}

/** Waits until the group's committed offsets reach the end of every listed topic. */
export async function waitForGroupCaughtUp(groupId: string, topics: readonly string[], timeoutMs = 120_000): Promise<void> {
  const admin = kafkaClient(`${groupId}-lag`).admin();
  await admin.connect();
  try {
    await waitFor(
      `group ${groupId} to commit the end of ${topics.join(', ')}`,
      async () => {
        const committed = await admin.fetchOffsets({ groupId, topics: [...topics] });
        for (const { topic, partitions } of committed) {
          const ends = new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
          for (const { partition, offset } of partitions) {
            const end = ends.get(partition) ?? 0n;
            if (end > 0n && BigInt(offset) < end) return false;
          }
        }
        return true;
      },
      { timeoutMs, intervalMs: 250 },
    );
  } finally {
    await admin.disconnect();
  }
}
