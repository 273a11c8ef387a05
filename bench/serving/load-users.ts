/**
 * Bulk-loads bench users into Redis without Kafka. Mode `apply` goes through the real
 * write path (FeatureWriter -> one pipelined FCALL cf_apply per user and source); mode
 * `direct` writes the same state with plain pipelined commands (direct-state.ts), after
 * checking on a sample that both modes leave identical keys.
 */
import type { Redis } from 'ioredis';
import { SOURCES, type Source } from '../../sidecar/src/events/index.ts';
import type { FeatureRegistry } from '../../sidecar/src/features/index.ts';
import { FeatureWriter, userDedupKey, userHeadKey, userStateKey, versionPrefix, type StoreRecord } from '../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../sidecar/src/windows/index.ts';
import { directState, queueDirectState } from './direct-state.ts';
import { benchUserId, isRecentlyActive, userEvents } from './user-profile.ts';

/** Partitions of the bench's pretend topics (the local topic layout). */
export const BENCH_PARTITIONS: Record<Source, number> = { client: 6, billing: 3, support: 3 };

const DEDUP_MARGIN_MS = 3_600_000;

export function benchTopic(source: Source): string {
  return `bench.${source}.events`;
}

export interface LoadOptions {
  redis: Redis;
  registry: FeatureRegistry;
  prefix: string;
  allowedLatenessMs: number;
  users: number;
  /** First user index. Default: 0. */
  from?: number;
  mode: 'apply' | 'direct';
  /** Users per pipeline. */
  chunk?: number;
  /** Pipelines in flight. */
  inFlight?: number;
  nowMs: number;
  /** Share of the users whose last events lie within the read head's reach (user-profile.ts isRecentlyActive). Default: 0. */
  activeShare?: number;
  onProgress?: (done: number) => void;
}

/** Kafka-like offsets per (source, partition), increasing across the whole run. */
export class OffsetCounter {
  private readonly next = new Map<string, bigint>();

  take(source: Source, partition: number): string {
    const key = `${source}:${partition}`;
    const value = this.next.get(key) ?? 1n;
    this.next.set(key, value + 1n);
    return value.toString();
  }
}

/** The user's partition in a source: stable per user, like Kafka's key partitioner. */
export function benchPartition(userIndex: number, source: Source): number {
  return userIndex % BENCH_PARTITIONS[source];
}

export function recordsFor(operators: WindowOperators, offsets: OffsetCounter, userIndex: number, nowMs: number, activeShare = 0): StoreRecord[] {
  const out: StoreRecord[] = [];
  for (const event of userEvents(userIndex, nowMs, isRecentlyActive(userIndex, activeShare))) {
    const ops = operators.opsFor(event);
    if (ops.length === 0) continue;
    const partition = benchPartition(userIndex, event.source);
    out.push({ event, topic: benchTopic(event.source), partition, offset: offsets.take(event.source, partition), ops });
  }
  return out;
}

/** Loads users [from, from + users) and returns the number of events in their state. */
export async function loadUsers(options: LoadOptions): Promise<{ events: number }> {
  const operators = new WindowOperators(options.registry);
  const writer = new FeatureWriter(options.redis, operators, { prefix: options.prefix, allowedLatenessMs: options.allowedLatenessMs, dedupMarginMs: DEDUP_MARGIN_MS, pruneAboveFields: 256 });
  // FeatureWriter's TTLs: the state outlives the longest window, a dedup set only the dedup horizon.
  const ttl = { stateMs: operators.stateTtlMs(options.allowedLatenessMs), dedupMs: options.allowedLatenessMs + DEDUP_MARGIN_MS + 3_600_000 };
  const offsets = new OffsetCounter();
  const chunk = options.chunk ?? (options.mode === 'direct' ? 2_000 : 500);
  const inFlight = options.inFlight ?? 4;
  const first = options.from ?? 0;
  const end = first + options.users;
  let nextUser = first;
  let events = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (nextUser < end) {
      const from = nextUser;
      const to = Math.min(end, from + chunk);
      nextUser = to;
      const perUser: StoreRecord[][] = [];
      for (let user = from; user < to; user++) perUser.push(recordsFor(operators, offsets, user, options.nowMs, options.activeShare));
      events += perUser.reduce((n, records) => n + records.length, 0);
      if (options.mode === 'apply') {
        await writer.write(perUser.flat());
      } else {
        // The prune bound FeatureWriter derives for one call: the newest ingest time among the user's records of that source.
        const pipeline = options.redis.pipeline();
        perUser.forEach((records, index) => {
          queueDirectState(pipeline, versionPrefix(options.prefix, options.registry.version), benchUserId(from + index), directState(writer, options.registry.features, records), ttl);
        });
        const results = (await pipeline.exec()) ?? [];
        const failed = results.find(([error]) => error);
        if (failed) throw failed[0];
      }
      done += to - from;
      options.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { events };
}

async function dump(redis: Redis, prefix: string, userId: string): Promise<string> {
  // TTLs in minutes: the two loads run a few seconds apart.
  const minutes = async (key: string): Promise<string> => String(Math.round((await redis.pttl(key)) / 60_000));
  const state = userStateKey(prefix, userId);
  const head = userHeadKey(prefix, userId);
  const parts: string[] = [
    JSON.stringify(Object.entries(await redis.hgetall(state)).sort()),
    `ttl ${await minutes(state)}`,
    `head ${JSON.stringify(await redis.get(head))} ttl ${await minutes(head)}`,
  ];
  for (const source of SOURCES) {
    const key = userDedupKey(prefix, userId, source);
    const tiles = Object.entries(await redis.hgetallBuffer(key)).map(([tile, packed]) => [tile, packed.toString('hex')]);
    parts.push(`${source} ${JSON.stringify(tiles.sort())} ttl ${await minutes(key)}`);
  }
  return parts.join('\n');
}

/**
 * Loads `users` users through cf_apply under one prefix and directly under another, and
 * throws at the first user whose keys differ. Deletes both prefixes' keys afterwards.
 */
export async function verifyDirectLoad(options: Omit<LoadOptions, 'mode' | 'prefix' | 'onProgress'> & { prefix: string }): Promise<void> {
  const viaApply = `${options.prefix}-verify-apply`;
  const viaDirect = `${options.prefix}-verify-direct`;
  try {
    await loadUsers({ ...options, prefix: viaApply, mode: 'apply', chunk: 100 });
    await loadUsers({ ...options, prefix: viaDirect, mode: 'direct', chunk: 100 });
    for (let user = options.from ?? 0; user < (options.from ?? 0) + options.users; user++) {
      const [a, d] = [
        await dump(options.redis, versionPrefix(viaApply, options.registry.version), benchUserId(user)),
        await dump(options.redis, versionPrefix(viaDirect, options.registry.version), benchUserId(user)),
      ];
      if (a !== d) throw new Error(`direct load differs from cf_apply for ${benchUserId(user)}:\n--- cf_apply\n${a}\n--- direct\n${d}`);
    }
  } finally {
    for (const prefix of [viaApply, viaDirect]) {
      let cursor = '0';
      do {
        const [next, keys] = await options.redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await options.redis.unlink(...keys);
      } while (cursor !== '0');
    }
  }
}
