import { logLevel } from 'kafkajs';
import { createKafkaClient, sidecarGroupFor, type KafkaConnection } from '../../sidecar/src/config/index.ts';
import type { Redis } from 'ioredis';
import { SOURCES, type Source } from '../../sidecar/src/events/index.ts';
import type { FeatureRegistry } from '../../sidecar/src/features/index.ts';
import { topicNames } from '../../sidecar/src/kafka/index.ts';
import { FeatureReader, readActiveVersion, readRecord, registryKey, versionPrefix, type UserStateRead } from '../../sidecar/src/store/index.ts';

/** Where the sidecar's consumer group stood: "<source>:<partition>" -> next offset to process. */
export type CommittedOffsets = Map<string, number>;

/** The online side of one parity run, read at one as_of. */
export interface OnlineSnapshot {
  asOfMs: number;
  /** Wall-clock time the reads started and ended. */
  readStartedMs: number;
  readEndedMs: number;
  /** Version id of the registry whose online state was read (the one asked for, else the active one). */
  onlineVersion: string;
  /** The registry the reads were computed with: the version's catalog record's, else the checkout's under that version id (a store older than the catalog). */
  onlineRegistry: FeatureRegistry;
  /** The sidecar group's committed offsets, fetched before the reads; null when not fetched. */
  committed: CommittedOffsets | null;
  reads: Map<string, UserStateRead>;
}

export interface SnapshotOptions {
  redis: Redis;
  keyPrefix: string;
  /** The version to read; '' = the active one (the alias). */
  version?: string;
  registry: FeatureRegistry;
  users: readonly string[];
  asOfMs: number;
  /** The sidecar's consumer group ('' = the version's own, churnfeat-sidecar-<version>); when given, its committed offsets bound what was processed. */
  kafka: (KafkaConnection & { topicNamespace: string; groupId: string }) | null;
  chunkSize?: number;
}

async function committedOffsets(kafka: NonNullable<SnapshotOptions['kafka']>): Promise<CommittedOffsets> {
  const topics = topicNames(kafka.topicNamespace);
  const sourceOf = new Map<string, Source>(SOURCES.map((source) => [topics.sources[source], source]));
  const admin = createKafkaClient(kafka, { clientId: 'churnfeat-parity', logLevel: logLevel.NOTHING, retry: { retries: 3 } }).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = [...sourceOf.keys()].filter((topic) => existing.has(topic));
    const out: CommittedOffsets = new Map();
    for (const { topic, partitions } of await admin.fetchOffsets({ groupId: kafka.groupId, topics: wanted })) {
      for (const { partition, offset } of partitions) out.set(`${sourceOf.get(topic)}:${partition}`, Number(offset));
    }
    return out;
  } finally {
    await admin.disconnect();
  }
}

/**
 * Snapshots the online reads of `users` at `asOfMs` through the serving read function of
 * the version compared (asked for, else the active one), from that version's keyspace. The sidecar's committed offsets are fetched first:
 * every record below them was processed before any read started.
 */
export async function takeOnlineSnapshot(options: SnapshotOptions): Promise<OnlineSnapshot> {
  const onlineVersion = options.version || (await readActiveVersion(options.redis, options.keyPrefix));
  if (!onlineVersion) throw new Error(`no online feature store under key prefix "${options.keyPrefix}" (no active version: no sidecar has started with this prefix)`);
  const marker = registryKey(versionPrefix(options.keyPrefix, onlineVersion));
  if ((await options.redis.get(marker)) !== onlineVersion) throw new Error(`no online state of version ${onlineVersion} under key prefix "${options.keyPrefix}" (${marker} is missing)`);
  const committed = options.kafka ? await committedOffsets({ ...options.kafka, groupId: sidecarGroupFor(options.kafka.groupId, onlineVersion) }) : null;
  // Read the state as its own version serves it: with the registry of its catalog record (the
  // serving path does the same, serving/version-resolver.ts). The read computes the windows in
  // this process, so reading a store that runs other definitions with the checkout's registry
  // would answer the checkout's windows and hide exactly the difference parity exists to find.
  const record = await readRecord(options.redis, options.keyPrefix, onlineVersion);
  const onlineRegistry = record?.registry ?? { ...options.registry, version: onlineVersion };
  const reader = new FeatureReader(options.redis, onlineRegistry, options.keyPrefix);
  const reads = new Map<string, UserStateRead>();
  const readStartedMs = Date.now();
  const chunk = options.chunkSize ?? 500;
  for (let start = 0; start < options.users.length; start += chunk) {
    const users = options.users.slice(start, start + chunk);
    const results = await reader.readMany(users, options.asOfMs);
    users.forEach((user, index) => reads.set(user, results[index] as UserStateRead));
  }
  return { asOfMs: options.asOfMs, readStartedMs, readEndedMs: Date.now(), onlineVersion, onlineRegistry, committed, reads };
}
