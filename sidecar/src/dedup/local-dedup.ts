import type { Admin, Kafka, Producer } from 'kafkajs';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { logger } from '../logging.ts';
import { dedupMember, dedupPruneBeforeS, dedupTimeMs, dedupTtlMs, type StoreRecord } from '../store/index.ts';
import { changelogTopic, COVERED_HEADER, ensureChangelog, FROM_HEADER, readChangelog, sendChanges } from './dedup-changelog.ts';
import { PartitionDedupIndex, type DedupChange } from './dedup-index.ts';

export interface LocalDedupOptions {
  allowedLatenessMs: number;
  dedupMarginMs: number;
  /**
   * How far a rebuild reads behind the newest call clock beyond the dedup horizon (ms): the
   * dedup tile and the disorder of ingest clocks within a partition. Default one hour.
   */
  slackMs?: number;
  /** Retention of the changelog topics it creates (ms): the raw topics' record lifetime + horizon + slack. */
  changelogRetentionMs: number;
  /** The sidecar's consumer group: a partition it never committed has no dedup state anywhere (no warm-up). */
  groupId: string;
}

/** What the batch processor asks of local dedup: the duplicates of one batch's store records (one partition). */
export interface DedupDecider {
  decide(records: readonly StoreRecord[]): boolean[];
}

/** One owned partition: its index, the changelog records a rebuild would need, and whether Redis still deduplicates. */
interface PartitionState {
  index: PartitionDedupIndex;
  /** Changelog records in offset order with their call clock, from the oldest a rebuild needs. */
  positions: Array<{ offset: bigint; clockMs: number }>;
  /**
   * Calls with a clock from here on are decided by the index alone; earlier ones are sent with the
   * store's dedup too (a changelog that starts inside the horizon: switched from --dedup redis, or
   * bootstrapped, whose dedup seeds are in Redis). Null: decided at the first batch.
   */
  coveredFromMs: number | null;
  staged: DedupChange[];
  persists: number;
}

const partitionKey = (topic: string, partition: number): string => `${topic}:${partition}`;

/**
 * `--dedup local`: the sidecar decides duplicates itself, per owned (source topic, partition),
 * with the store's member and expiry rule (dedup-index.ts), so Redis keeps no dedup hash and the
 * apply call skips its dedup step (store protocol 8 `skip_dedup`). What a batch added is sent to
 * the partition's changelog before its offsets are committed; a partition is rebuilt from its
 * changelog before its first record is processed (docs/streaming-correctness.md).
 */
export class LocalDedup implements DedupDecider {
  private readonly partitions = new Map<string, PartitionState>();
  private readonly rebuilds = new Map<string, Promise<void>>();
  /** Per partition, the newest rebuild started: an older one that ends later (lost and given back meanwhile) is discarded. */
  private readonly generations = new Map<string, number>();
  private generation = 0;
  private readonly horizonMs: number;
  private readonly slackMs: number;
  private readonly ttlMs: number;
  private readonly rebuildSeconds: Histogram;
  private readonly rebuildRecords: Counter;
  private readonly rebuildEntries: Gauge;

  constructor(
    private readonly kafka: Kafka,
    private readonly admin: Admin,
    private readonly producer: Producer,
    registry: Registry,
    private readonly options: LocalDedupOptions,
  ) {
    this.horizonMs = options.allowedLatenessMs + options.dedupMarginMs;
    this.slackMs = options.slackMs ?? 3_600_000;
    this.ttlMs = dedupTtlMs(options.allowedLatenessMs, options.dedupMarginMs);
    const partitions = (): Array<[string, PartitionState]> => [...this.partitions];
    const labels = (key: string): { topic: string; partition: string } => {
      const at = key.lastIndexOf(':');
      return { topic: key.slice(0, at), partition: key.slice(at + 1) };
    };
    new Gauge({
      name: 'churnfeat_dedup_index_members',
      help: 'Members held by the local dedup index of each owned partition (--dedup local).',
      labelNames: ['topic', 'partition'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [key, state] of partitions()) this.set(labels(key), state.index.members);
      },
    });
    new Gauge({
      name: 'churnfeat_dedup_index_bytes',
      help: 'Bytes of entries (10 per member) in the local dedup index of each owned partition; the heap adds a per-user overhead (docs/capacity.md#dedup-redis-or-the-sidecar).',
      labelNames: ['topic', 'partition'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [key, state] of partitions()) this.set(labels(key), state.index.entryBytes);
      },
    });
    new Gauge({
      name: 'churnfeat_dedup_index_users',
      help: 'Users held by the local dedup index of each owned partition.',
      labelNames: ['topic', 'partition'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [key, state] of partitions()) this.set(labels(key), state.index.size);
      },
    });
    new Gauge({
      name: 'churnfeat_dedup_warmup',
      help: '1 while a partition is warming up: its changelog starts inside the dedup horizon, so Redis deduplicates too.',
      labelNames: ['topic', 'partition'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [key, state] of partitions()) this.set(labels(key), state.coveredFromMs === null || state.coveredFromMs > 0 ? 1 : 0);
      },
    });
    this.rebuildSeconds = new Histogram({
      name: 'churnfeat_dedup_rebuild_seconds',
      help: 'Duration of a rebuild of local dedup indexes from a changelog (one rebuild covers the partitions of one topic a join assigned).',
      labelNames: ['topic'],
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
      registers: [registry],
    });
    this.rebuildRecords = new Counter({ name: 'churnfeat_dedup_rebuild_records_total', help: 'Changelog records read by rebuilds.', labelNames: ['topic', 'partition'], registers: [registry] });
    this.rebuildEntries = new Gauge({ name: 'churnfeat_dedup_rebuild_last_members', help: 'Members the last rebuild of a partition read.', labelNames: ['topic', 'partition'], registers: [registry] });
  }

  /** Creates the changelog of each source topic (same partition count) unless it exists. */
  async ensureChangelogs(sourceTopics: readonly string[]): Promise<void> {
    for (const topic of sourceTopics) await ensureChangelog(this.admin, topic, this.options.changelogRetentionMs);
  }

  /**
   * A (re)join: the indexes of partitions this member lost are dropped (another member adds to
   * their changelogs now; a partition that comes back is rebuilt), the new ones are rebuilt.
   */
  onAssigned(assignment: Record<string, number[]>): void {
    const owned = new Set(Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((p) => partitionKey(topic, p))));
    for (const key of [...this.partitions.keys()]) if (!owned.has(key)) this.partitions.delete(key);
    for (const key of [...this.rebuilds.keys()]) if (!owned.has(key)) this.rebuilds.delete(key);
    for (const [topic, partitions] of Object.entries(assignment)) {
      const missing = partitions.filter((p) => !this.partitions.has(partitionKey(topic, p)) && !this.rebuilds.has(partitionKey(topic, p)));
      if (missing.length > 0) void this.startRebuild(topic, missing);
    }
  }

  /** Waits until the partition's index is rebuilt (starting the rebuild if no join did), heartbeating meanwhile. */
  async ready(topic: string, partition: number, heartbeat: () => Promise<void>): Promise<void> {
    const key = partitionKey(topic, partition);
    if (this.partitions.has(key)) return;
    const rebuild = this.rebuilds.get(key) ?? this.startRebuild(topic, [partition]);
    const beat = setInterval(() => void heartbeat().catch(() => undefined), 1_000);
    try {
      await rebuild;
    } finally {
      clearInterval(beat);
    }
  }

  private startRebuild(topic: string, partitions: number[]): Promise<void> {
    const rebuild = this.rebuild(topic, partitions).finally(() => {
      for (const p of partitions) if (this.rebuilds.get(partitionKey(topic, p)) === rebuild) this.rebuilds.delete(partitionKey(topic, p));
    });
    // a failed rebuild is retried by the next batch of the partition (ready starts one)
    rebuild.catch(() => undefined);
    for (const p of partitions) this.rebuilds.set(partitionKey(topic, p), rebuild);
    return rebuild;
  }

  private async rebuild(topic: string, partitions: number[]): Promise<void> {
    const generation = ++this.generation;
    for (const p of partitions) this.generations.set(partitionKey(topic, p), generation);
    const started = performance.now();
    const indexes = new Map(partitions.map((p) => [p, new PartitionDedupIndex(this.ttlMs)]));
    const reads = await readChangelog(this.kafka, this.admin, changelogTopic(topic), partitions, (partition, entry) =>
      indexes.get(partition)?.replay(entry.userId, entry.appended, entry.boundS, entry.clockMs),
    );
    const committed = new Map((await this.admin.fetchOffsets({ groupId: this.options.groupId, topics: [topic] }))[0]?.partitions.map((p) => [p.partition, p.offset]) ?? []);
    const seconds = (performance.now() - started) / 1000;
    this.rebuildSeconds.observe({ topic }, seconds);
    for (const partition of partitions) {
      if (this.generations.get(partitionKey(topic, partition)) !== generation || !this.rebuilds.has(partitionKey(topic, partition))) continue;
      const read = reads.get(partition);
      const index = indexes.get(partition) as PartitionDedupIndex;
      index.sweep();
      // no changelog: nothing was deduplicated locally yet. A partition the group committed before
      // has its dedup state in Redis (--dedup redis, or a bootstrap's seeds): warm up.
      const neverConsumed = (committed.get(partition) ?? '-1') === '-1';
      const coveredFromMs = read?.coveredFromMs ?? (neverConsumed ? 0 : null);
      this.partitions.set(partitionKey(topic, partition), {
        index,
        positions: (read?.positions ?? []).map((p) => ({ offset: BigInt(p.offset), clockMs: p.clockMs })),
        coveredFromMs,
        staged: [],
        persists: 0,
      });
      this.rebuildRecords.inc({ topic, partition: String(partition) }, read?.records ?? 0);
      this.rebuildEntries.set({ topic, partition: String(partition) }, read?.entries ?? 0);
      logger.info(
        { code: 'dedup_index_rebuilt', topic, partition, records: read?.records ?? 0, members: index.members, users: index.size, seconds, warmup: coveredFromMs !== 0 },
        `dedup index of ${topic}:${partition} rebuilt from its changelog: ${read?.records ?? 0} records, ${index.members} live members of ${index.size} users in ${seconds.toFixed(2)} s`,
      );
    }
  }

  /**
   * The duplicates of one batch's store records (one partition), decided by its index as the
   * store's apply calls would (one call per user, the call's bound and clock). The others get
   * `dedupDone` (once the partition is covered); the batch's additions are staged until
   * {@link persist}. Throws when the partition was not made {@link ready}.
   */
  decide(records: readonly StoreRecord[]): boolean[] {
    const first = records[0];
    if (!first) return [];
    const state = this.partitions.get(partitionKey(first.topic, first.partition));
    if (!state) throw new Error(`dedup index of ${first.topic}:${first.partition} is not rebuilt`);
    const calls = new Map<string, number[]>();
    records.forEach((record, index) => {
      const indexes = calls.get(record.event.userId);
      if (indexes) indexes.push(index);
      else calls.set(record.event.userId, [index]);
    });
    const duplicate: boolean[] = new Array(records.length).fill(false);
    const staged: DedupChange[] = [];
    for (const [userId, indexes] of calls) {
      const clockMs = indexes.reduce((max, i) => Math.max(max, (records[i] as StoreRecord).event.ingestMs), -Infinity);
      if (state.coveredFromMs === null) state.coveredFromMs = clockMs + this.horizonMs + this.slackMs;
      const decision = state.index.decide({
        userId,
        boundS: dedupPruneBeforeS(clockMs, this.options.allowedLatenessMs, this.options.dedupMarginMs),
        clockMs,
        events: indexes.map((i) => {
          const { event } = records[i] as StoreRecord;
          return { member: dedupMember(event.eventKey), scoreS: Math.floor(dedupTimeMs(event) / 1000) };
        }),
      });
      const covered = clockMs >= state.coveredFromMs;
      indexes.forEach((i, k) => {
        duplicate[i] = decision.duplicate[k] as boolean;
        (records[i] as StoreRecord).dedupDone = covered;
      });
      if (decision.change) staged.push(decision.change);
    }
    state.staged = staged;
    return duplicate;
  }

  /**
   * Sends what the last {@link decide} of the partition staged to its changelog (acks=all) and
   * only then makes it the index's state: call it after the store write, before the Kafka commit.
   */
  async persist(topic: string, partition: number): Promise<void> {
    const state = this.partitions.get(partitionKey(topic, partition));
    if (!state || state.staged.length === 0) return;
    const staged = state.staged;
    const clockMs = staged.reduce((max, c) => Math.max(max, c.clockMs), -Infinity);
    // the oldest record a rebuild after this one needs: drop those whose calls left the horizon
    const oldest = clockMs - this.horizonMs - this.slackMs;
    while (state.positions.length > 0 && (state.positions[0] as { clockMs: number }).clockMs < oldest) state.positions.shift();
    const headers: Record<string, string> = { [COVERED_HEADER]: String(state.coveredFromMs ?? 0) };
    const from = state.positions[0]?.offset;
    if (from !== undefined) headers[FROM_HEADER] = String(from);
    const base = await sendChanges(this.producer, changelogTopic(topic), partition, staged, headers);
    if (base !== null) state.positions.push({ offset: BigInt(base), clockMs });
    state.index.commit(staged);
    state.staged = [];
    if (state.coveredFromMs !== null && state.coveredFromMs > 0 && clockMs >= state.coveredFromMs) state.coveredFromMs = 0;
    if (++state.persists % 64 === 0) state.index.sweep();
  }

  /**
   * Owns a partition with an empty, covered index and no rebuild (benchmarks and tests that run
   * the batch processor without Kafka; the sidecar always rebuilds).
   */
  adopt(topic: string, partition: number): void {
    this.partitions.set(partitionKey(topic, partition), { index: new PartitionDedupIndex(this.ttlMs), positions: [], coveredFromMs: 0, staged: [], persists: 0 });
  }

  /** "<topic>:<partition>" of the partitions whose index is rebuilt. */
  owned(): string[] {
    return [...this.partitions.keys()];
  }

  /** The index of an owned partition (tests, benchmarks); undefined before its rebuild. */
  indexOf(topic: string, partition: number): PartitionDedupIndex | undefined {
    return this.partitions.get(partitionKey(topic, partition))?.index;
  }
}
