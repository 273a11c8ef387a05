import { logLevel, type Admin, type Kafka } from 'kafkajs';
import { sendSideRecords, type SideRecord } from '../kafka/index.ts';
import { DeletionConflictError, type DeletionRegistry } from './deletion-registry.ts';
import { parseDeletionRequest } from './deletion-request.ts';

/** The deletion topic of a namespace: JSON requests `{request_id, user_id, received_at?}`, keyed by user_id. */
export function deletionRequestsTopic(namespace: string): string {
  return `${namespace}.deletion-requests`;
}

/** The dead-letter reason of a request that could not be registered. */
export const INVALID_DELETION_REQUEST = 'invalid_deletion_request';

export interface IntakeReport {
  registered: number;
  duplicates: number;
  deadLettered: number;
}

/** Creates the deletion topic when missing (3 partitions locally; compaction is not wanted: every request is kept until retention). */
export async function ensureDeletionTopic(admin: Admin, topic: string): Promise<void> {
  if ((await admin.listTopics()).includes(topic)) return;
  await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true }).catch((error: unknown) => {
    if ((error as { type?: string }).type !== 'TOPIC_ALREADY_EXISTS') throw error;
  });
}

/**
 * Drains the deletion topic into the registry: reads its consumer group from its committed
 * offsets up to the high watermarks seen at the start, registers each request (idempotent by
 * request_id), dead-letters a malformed one (reason and the bad field in the headers, the
 * original bytes as value) to `deadLetterTopic`, and commits. Nothing is committed before it
 * is registered or dead-lettered, so a crash loses no request.
 */
export async function drainDeletionTopic(kafka: Kafka, registry: DeletionRegistry, options: { topic: string; groupId: string; deadLetterTopic: string; timeoutMs: number }): Promise<IntakeReport> {
  const report: IntakeReport = { registered: 0, duplicates: 0, deadLettered: 0 };
  const admin = kafka.admin();
  await admin.connect();
  let targets: Map<number, bigint>;
  try {
    await ensureDeletionTopic(admin, options.topic);
    const highs = await admin.fetchTopicOffsets(options.topic);
    const committed = new Map((await admin.fetchOffsets({ groupId: options.groupId, topics: [options.topic] }))[0]?.partitions.map((p) => [p.partition, BigInt(p.offset)]) ?? []);
    targets = new Map();
    for (const p of highs) {
      const at = committed.get(p.partition);
      // a group without a committed offset (-1) starts at the low watermark
      const from = at === undefined || at < 0n ? BigInt(p.low) : at;
      if (from < BigInt(p.high)) targets.set(p.partition, BigInt(p.high));
    }
  } finally {
    await admin.disconnect();
  }
  if (targets.size === 0) return report;
  const consumer = kafka.consumer({ groupId: options.groupId, sessionTimeout: 10_000, heartbeatInterval: 3_000 });
  const producer = kafka.producer();
  await Promise.all([consumer.connect(), producer.connect()]);
  try {
    await consumer.subscribe({ topics: [options.topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`deletion topic ${options.topic}: not drained within ${options.timeoutMs} ms`)), options.timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const next = BigInt(message.offset) + 1n;
            const high = targets.get(partition);
            if (high === undefined || BigInt(message.offset) >= high) return;
            let body: unknown = undefined;
            try {
              body = JSON.parse(message.value?.toString('utf8') ?? '');
            } catch {
              body = undefined;
            }
            const parsed = body === undefined ? { ok: false as const, field: '(value)', message: 'the record value is not JSON' } : parseDeletionRequest(body);
            let reason: { field: string; message: string } | null = parsed.ok ? null : { field: parsed.field, message: parsed.message };
            if (parsed.ok) {
              try {
                const { created } = await registry.register(parsed.request, 'topic');
                if (created) report.registered += 1;
                else report.duplicates += 1;
              } catch (error) {
                if (!(error instanceof DeletionConflictError)) throw error;
                reason = { field: 'request_id', message: error.message };
              }
            }
            if (reason !== null) {
              const dead: SideRecord = {
                key: message.key,
                value: message.value,
                headers: {
                  'churnfeat.source.topic': options.topic,
                  'churnfeat.source.partition': String(partition),
                  'churnfeat.source.offset': message.offset,
                  'churnfeat.reason': INVALID_DELETION_REQUEST,
                  'churnfeat.detail': `${reason.field}: ${reason.message}`.slice(0, 500),
                },
              };
              await sendSideRecords(producer, options.deadLetterTopic, [dead]);
              report.deadLettered += 1;
            }
            await consumer.commitOffsets([{ topic: options.topic, partition, offset: next.toString() }]);
            if (next >= high) targets.delete(partition);
            if (targets.size === 0) done();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
  }
  return report;
}

/** Quiet kafkajs logs for the one-shot intake. */
export const INTAKE_LOG_LEVEL = logLevel.ERROR;
