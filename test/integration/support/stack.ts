import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import { Redis } from 'ioredis';
import { onTestFinished } from 'vitest';
import { resolveOptions, type SidecarOptions } from '../../../sidecar/src/config/index.ts';
import { ensureTopics, topicNames, type TopicNames } from '../../../sidecar/src/kafka/index.ts';
import type { WorkloadRecord } from '../../../sidecar/src/loadgen/workload.ts';

export const BROKERS = (process.env.CHURNFEAT_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
export const REDIS_URL = process.env.CHURNFEAT_REDIS_URL ?? 'redis://127.0.0.1:16379';

/** A namespace of its own for one test: topics, consumer group and Redis key prefix. */
export interface TestNamespace {
  id: string;
  topics: TopicNames;
  options: SidecarOptions;
}

export function testNamespace(overrides: Partial<SidecarOptions> = {}): TestNamespace {
  const id = `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const options = resolveOptions({
    brokers: BROKERS,
    redisUrl: REDIS_URL,
    keyPrefix: id,
    topicNamespace: `test.${id}`,
    groupId: `${id}-sidecar`,
    clientId: `${id}-sidecar`,
    ...overrides,
  });
  return { id, topics: topicNames(options.topicNamespace), options };
}

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

/** Creates the namespace's topics; deletes them and the Redis keys when the test ends. */
export async function createTestTopics(ns: TestNamespace, partitions?: Parameters<typeof ensureTopics>[2]): Promise<void> {
  const admin = await testAdmin();
  await ensureTopics(admin, ns.topics, partitions);
  onTestFinished(async () => {
    const cleanup = kafkaClient('test-cleanup').admin();
    await cleanup.connect();
    await cleanup
      .deleteTopics({ topics: [...Object.values(ns.topics.sources), ns.topics.deadLetter, ns.topics.late] })
      .catch(() => undefined);
    await cleanup.disconnect();
    const redis = new Redis(REDIS_URL);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${ns.id}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  });
}

/** A Redis client closed when the test ends. */
export function testRedis(): Redis {
  const redis = new Redis(REDIS_URL);
  onTestFinished(() => redis.disconnect());
  return redis;
}

/** Produces workload records keyed by user_id, in order, to the namespace's source topics. */
export async function produceWorkload(ns: TestNamespace, records: readonly WorkloadRecord[], producer?: Producer): Promise<void> {
  const own = producer ?? kafkaClient(`${ns.id}-producer`).producer();
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
