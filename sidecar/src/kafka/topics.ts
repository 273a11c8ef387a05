import type { Admin, ITopicConfig } from 'kafkajs';
import type { Source } from '../events/index.ts';

/** The project's topics. Records of the source topics are keyed by user_id. */
export interface TopicNames {
  sources: Record<Source, string>;
  deadLetter: string;
  late: string;
}

export function topicNames(namespace: string): TopicNames {
  return {
    sources: { client: `${namespace}.client.events`, billing: `${namespace}.billing.events`, support: `${namespace}.support.events` },
    deadLetter: `${namespace}.dead-letter`,
    late: `${namespace}.late-events`,
  };
}

/**
 * Local partition counts. Production sizing (docs/operations.md): client 256, billing 32,
 * support 32, dead-letter 16, late 16 — client traffic is 95% of the 350K events/s peak.
 */
export const LOCAL_PARTITIONS = { client: 6, billing: 3, support: 3, deadLetter: 3, late: 3 } as const;

/**
 * Retention of the raw topics (sources, dead letters, late events) in production, so the last
 * Kafka copy of an erased user's record is gone within the 72 h deletion SLA
 * (docs/deletion.md): a segment is deleted once its newest record is older than retention.ms,
 * and the active segment rolls after segment.ms, so a record lives at most
 * retention.ms + segment.ms (+ the 5-minute retention check) = 54 h. The lake is the
 * long-term copy; replays older than two days read the lake (the backfill DAG), not Kafka.
 */
export const RAW_TOPIC_CONFIG = { 'retention.ms': String(48 * 3_600_000), 'segment.ms': String(6 * 3_600_000), 'cleanup.policy': 'delete' } as const;

/** The longest a raw topic keeps a record under {@link RAW_TOPIC_CONFIG}, ms (the deletion tombstone outlives it). */
export const RAW_TOPIC_MAX_RECORD_LIFETIME_MS = Number(RAW_TOPIC_CONFIG['retention.ms']) + Number(RAW_TOPIC_CONFIG['segment.ms']) + 5 * 60_000;

/**
 * Creates the topics that do not exist yet (idempotent). `retention: 'sla'` gives them
 * {@link RAW_TOPIC_CONFIG} (production, `--create-topics`); the default leaves the broker's
 * (tests replay records stamped days or years ago, which a 48 h retention would delete at once).
 */
export async function ensureTopics(admin: Admin, names: TopicNames, partitions: Partial<Record<keyof typeof LOCAL_PARTITIONS, number>> = {}, retention: 'sla' | 'broker' = 'broker'): Promise<void> {
  const counts = { ...LOCAL_PARTITIONS, ...partitions };
  const existing = new Set(await admin.listTopics());
  const wanted = [
    { topic: names.sources.client, numPartitions: counts.client },
    { topic: names.sources.billing, numPartitions: counts.billing },
    { topic: names.sources.support, numPartitions: counts.support },
    { topic: names.deadLetter, numPartitions: counts.deadLetter },
    { topic: names.late, numPartitions: counts.late },
  ].filter((t) => !existing.has(t.topic));
  const configEntries = retention === 'sla' ? Object.entries(RAW_TOPIC_CONFIG).map(([name, value]) => ({ name, value })) : undefined;
  await createTopicsOnce(
    admin,
    wanted.map((t) => ({ ...t, ...(configEntries ? { configEntries } : {}) })),
  );
}

/**
 * Creates one topic unless it exists (a side topic: data quality, deletion requests, replay
 * audit, a dedup changelog with its `configEntries`), with the same replication and leader wait as {@link ensureTopics}.
 */
export async function ensureTopic(admin: Admin, topic: string, numPartitions: number, configEntries?: ITopicConfig['configEntries']): Promise<void> {
  if ((await admin.listTopics()).includes(topic)) return;
  await createTopicsOnce(admin, [{ topic, numPartitions, ...(configEntries ? { configEntries } : {}) }]);
}

/** Creates the topics (another creator may win the race), then waits until each partition has a leader. */
async function createTopicsOnce(admin: Admin, topics: ITopicConfig[]): Promise<void> {
  if (topics.length === 0) return;
  try {
    // No replication factor: the broker's default.replication.factor applies (1 on the local
    // single broker, 3 on a multi-AZ cluster), never a hard-coded 1 that a broker loss would lose.
    await admin.createTopics({ topics, waitForLeaders: true });
  } catch (error) {
    // A broker that just started can answer the leader check with UNKNOWN_TOPIC_OR_PARTITION
    // for a topic it created a moment ago (kafkajs retries only LEADER_NOT_AVAILABLE).
    const type = (error as { type?: string }).type;
    if (type !== 'UNKNOWN_TOPIC_OR_PARTITION' && type !== 'TOPIC_ALREADY_EXISTS') throw error;
  }
  await waitForMetadata(
    admin,
    topics.map((t) => t.topic),
  );
}

/** Waits (up to `timeoutMs`) until the broker serves metadata with a leader for every partition. */
async function waitForMetadata(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 100; ; delay = Math.min(delay * 2, 1_000)) {
    try {
      const { topics: found } = await admin.fetchTopicMetadata({ topics });
      if (found.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
    }
    if (Date.now() > deadline) throw new Error(`topics ${topics.join(', ')} have no leader after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
