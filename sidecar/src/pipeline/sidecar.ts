import { hostname } from 'node:os';
import { logLevel, type Admin, type Consumer, type EachBatchPayload, type Kafka, type Producer } from 'kafkajs';
import type { Redis } from 'ioredis';
import { SOURCES, type EventContracts, type Source } from '../events/index.ts';
import { loadFeatureRegistry, type FeatureRegistry } from '../features/index.ts';
import { createKafkaClient, createRedisClient, kafkaSecrets, redactSecrets, redactUrl, sidecarGroupFor, type SidecarOptions } from '../config/index.ts';
import { ensureTopics, RAW_TOPIC_MAX_RECORD_LIFETIME_MS, topicNames, type TopicNames } from '../kafka/index.ts';
import { LocalDedup } from '../dedup/index.ts';
import { PipelineMetrics } from '../metrics/index.ts';
import { FeatureWriter, LifecycleRefusal, loadFunctionLibrary, qualityHistoryKey, readRecord, registerVersion, type VersionState } from '../store/index.ts';
import { dataQualityTopic, QualityMonitor, RedisHistoryStore } from '../quality/index.ts';
import { WindowOperators } from '../windows/index.ts';
import { ChurnfeatError, type ErrorCode } from '../errors.ts';
import { kafkaLogCreator, logger } from '../logging.ts';
import { BatchProcessor, type SourceRecord } from './batch-processor.ts';
import { ReplicaWait } from './replica-wait.ts';

/** What the sidecar knows of its own health; `lastError` says what is wrong, in words. */
export interface SidecarHealth {
  running: boolean;
  lastError: { code: ErrorCode; message: string; atMs: number } | null;
}

/** The consumer's session timeout: a member silent for longer is evicted from the group. */
const SESSION_TIMEOUT_MS = 10_000;

interface PartitionProgress {
  source: Source;
  /** Next offset to read (committed position). */
  next: bigint;
  /** Kafka timestamp (ms) of the last applied record. */
  lastTimestampMs: number;
}

/**
 * The streaming sidecar: consumes the source topics in one consumer group, runs each
 * fetched batch through the BatchProcessor, then commits the batch's offsets. Publishes
 * partition watermarks and lag once a second.
 */
export class Sidecar {
  readonly metrics = new PipelineMetrics();
  readonly topics: TopicNames;
  readonly registry: FeatureRegistry;
  /** The consumer group: `--group`, else one per registry version (`churnfeat-sidecar-<version>`). */
  readonly groupId: string;
  /** The catalog state of this sidecar's version, as the last check found it (docs/lifecycle.md). */
  versionState: VersionState | null = null;
  private readonly kafka: Kafka;
  private readonly redis: Redis;
  private consumer: Consumer | null = null;
  private producer: Producer | null = null;
  private admin: Admin | null = null;
  private writer: FeatureWriter | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private readonly replicaWait: ReplicaWait;
  /** `--dedup local`: the partition indexes and their changelogs (after start). */
  localDedup: LocalDedup | null = null;
  /** The volume anomaly detector, when `qualityDetector` is on (after start). */
  quality: QualityMonitor | null = null;
  private readonly progress = new Map<string, PartitionProgress>();
  /** "<topic>:<partition>" this member was given at its last join; watermarks are published for these only. */
  private assigned = new Set<string>();
  /** When the group coordinator last confirmed this member (join or heartbeat); older than the session timeout = maybe evicted. */
  private confirmedAtMs = 0;
  private readonly sourceOfTopic = new Map<string, Source>();
  private running = false;
  private lastError: SidecarHealth['lastError'] = null;
  private reportFatal: (error: Error) => void = () => undefined;
  /**
   * Settles when the consumer stopped for good (kafkajs crashed without restarting it). A
   * live process that consumes nothing helps nobody: the CLI exits non-zero on it so the
   * orchestrator restarts the pod.
   */
  readonly fatal: Promise<Error> = new Promise((resolve) => {
    this.reportFatal = resolve;
  });

  constructor(
    readonly options: SidecarOptions,
    registry?: FeatureRegistry,
    /** `contracts`: the listed schema versions to validate with (default: the repository's contracts/events). */
    private readonly extra: { contracts?: EventContracts } = {},
  ) {
    this.registry = registry ?? loadFeatureRegistry(options.dbtProjectDir);
    this.topics = topicNames(options.topicNamespace);
    this.groupId = sidecarGroupFor(options.groupId, this.registry.version);
    for (const source of SOURCES) this.sourceOfTopic.set(this.topics.sources[source], source);
    this.kafka = createKafkaClient(options, {
      clientId: options.clientId,
      logLevel: logLevel.WARN,
      logCreator: kafkaLogCreator,
      retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5_000 },
      connectionTimeout: 5_000,
    });
    this.redis = createRedisClient(options, {
      lazyConnect: true,
      maxRetriesPerRequest: 3,
      connectTimeout: 5_000,
      // A blackholed link (no reset) would hang a write for the kernel's retransmission time.
      commandTimeout: Math.max(options.redisWriteTimeoutMs, options.redisWaitTimeoutMs + 1_000),
      retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2_000) + Math.floor(Math.random() * 100),
    });
    this.replicaWait = new ReplicaWait(this.redis, options.redisWaitReplicas, options.redisWaitTimeoutMs);
    this.redis.on('error', (error: Error) => this.recordError('redis_unavailable', `Redis ${redactUrl(options.redisUrl)}: ${error.message}`));
  }

  private recordError(code: ErrorCode, text: string): void {
    const message = redactSecrets(text, kafkaSecrets(this.options));
    if (this.lastError?.message !== message) logger.error({ code }, message);
    this.lastError = { code, message, atMs: Date.now() };
  }

  /** Whether the consumer runs, and the last error seen (Redis or Kafka unreachable, a crash). */
  health(): SidecarHealth {
    return { running: this.running, lastError: this.lastError };
  }

  /** Sources that at least one feature reads; the sidecar subscribes to these only. */
  private subscribedSources(): Source[] {
    return SOURCES.filter((source) => this.registry.features.some((f) => f.source === source));
  }

  async start(): Promise<void> {
    try {
      await this.redis.connect();
      await this.redis.ping();
    } catch (error) {
      this.redis.disconnect();
      throw new ChurnfeatError('redis_unavailable', `cannot reach Redis at ${redactUrl(this.options.redisUrl)}: ${redactSecrets((error as Error).message)}`, { cause: error, retryable: true });
    }
    await loadFunctionLibrary(this.redis, this.registry, this.options.keyPrefix);
    // Registered before anything is consumed: a retired version refuses here (exit 1), a new one is shadow unless it is the first.
    const { record } = await registerVersion(this.redis, this.options.keyPrefix, this.registry, this.actor()).catch((error: unknown) => {
      this.redis.disconnect();
      throw error;
    });
    this.versionState = record.state;
    const operators = new WindowOperators(this.registry);
    this.writer = new FeatureWriter(this.redis, operators, {
      prefix: this.options.keyPrefix,
      allowedLatenessMs: this.registry.policies.allowedLatenessMs,
      dedupMarginMs: this.registry.policies.dedupMarginMs,
      pruneAboveFields: this.options.pruneAboveFields,
      maxCallsPerPipeline: this.options.redisMaxCallsPerPipeline,
    });
    this.admin = this.kafka.admin();
    try {
      await this.admin.connect();
    } catch (error) {
      this.redis.disconnect();
      throw new ChurnfeatError('kafka_unavailable', `cannot reach Kafka at ${this.options.brokers.join(',')}: ${redactSecrets((error as Error).message, kafkaSecrets(this.options))}`, {
        cause: error,
        retryable: true,
      });
    }
    await ensureTopics(this.admin, this.topics);
    this.producer = this.kafka.producer({ allowAutoTopicCreation: false });
    await this.producer.connect();
    if (this.options.qualityDetector) {
      const topic = dataQualityTopic(this.options.topicNamespace);
      await QualityMonitor.ensureTopic(this.admin, topic);
      this.quality = new QualityMonitor(this.producer, this.metrics.registry, { topic, history: new RedisHistoryStore(this.redis, qualityHistoryKey(this.options.keyPrefix)) });
    }
    if (this.options.dedup === 'local') {
      const { allowedLatenessMs, dedupMarginMs } = this.registry.policies;
      this.localDedup = new LocalDedup(this.kafka, this.admin, this.producer, this.metrics.registry, {
        allowedLatenessMs,
        dedupMarginMs,
        // a record still in a source topic finds its dedup entries in the changelog
        changelogRetentionMs: RAW_TOPIC_MAX_RECORD_LIFETIME_MS + allowedLatenessMs + dedupMarginMs + 3_600_000,
        groupId: this.groupId,
      });
      await this.localDedup.ensureChangelogs(this.subscribedSources().map((s) => this.topics.sources[s]));
    }
    const processor = new BatchProcessor(
      operators,
      this.writer,
      this.producer,
      this.topics,
      this.metrics,
      {
        allowedLatenessMs: this.registry.policies.allowedLatenessMs,
        maxPayloadBytes: this.options.maxPayloadBytes,
        ...(this.extra.contracts ? { contracts: this.extra.contracts } : {}),
        localDedup: this.localDedup,
      },
      this.quality,
    );
    this.consumer = this.kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: SESSION_TIMEOUT_MS,
      heartbeatInterval: 1_000,
      rebalanceTimeout: 20_000,
      metadataMaxAge: this.options.metadataMaxAgeMs,
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) => {
      this.onAssigned(payload.memberAssignment);
      this.localDedup?.onAssigned(payload.memberAssignment);
    });
    this.consumer.on(this.consumer.events.HEARTBEAT, () => {
      this.confirmedAtMs = Date.now();
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.subscribedSources().map((s) => this.topics.sources[s]), fromBeginning: this.options.fromBeginning });
    const consumer = this.consumer;
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      const code = payload.error instanceof ChurnfeatError ? payload.error.code : 'kafka_unavailable';
      this.recordError(code, `consumer crashed (${payload.restart ? 'restarting' : 'stopped'}): ${payload.error.message}`);
      if (!payload.restart) {
        this.running = false;
        this.reportFatal(payload.error);
      }
    });
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => this.quality?.onAssignment(payload.memberAssignment, (topic) => this.sourceOfTopic.get(topic)));
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently,
      eachBatch: (payload) => this.onBatch(payload, processor, consumer),
    });
    this.running = true;
    this.ticker = setInterval(() => void this.tick(), 1_000);
  }

  /** Once a second: keep the registry registered (an empty Redis gets it back without traffic), then the watermarks. */
  private async tick(): Promise<void> {
    try {
      const state = await (this.writer as FeatureWriter).ensureRegistered();
      if (state === 'reloaded') this.onReloaded('the registry check');
      if (state === 'foreign')
        this.recordError('registry_foreign', `${this.options.keyPrefix}:registry names another registry version whose library is loaded; this sidecar writes registry ${this.registry.version}`);
      await this.checkVersion();
    } catch {
      // Redis unreachable: the ioredis error handler has recorded it; the next tick tries again.
    }
    if (!this.running) return;
    await this.publishWatermarks().catch(() => undefined);
  }

  /** Who this sidecar is in the lifecycle audit. */
  private actor(): string {
    return `sidecar ${this.options.clientId}@${hostname()}`;
  }

  /**
   * The version's catalog record, once a second: a record lost with Redis is registered again;
   * a version retired by `churnfeat version retire` stops this sidecar for good (exit 1), so
   * nothing writes the keys GC is about to remove.
   */
  private async checkVersion(): Promise<void> {
    const record = await readRecord(this.redis, this.options.keyPrefix, this.registry.version);
    if (record === null) {
      this.versionState = (await registerVersion(this.redis, this.options.keyPrefix, this.registry, this.actor())).record.state;
      return;
    }
    this.versionState = record.state;
    if ((record.state === 'retired' || record.state === 'collected') && this.running) {
      const error = new LifecycleRefusal(`registry version ${this.registry.version} was retired at ${record.retiredAt}: this sidecar stops writing it`);
      this.recordError('version_refused', error.message);
      this.running = false;
      this.reportFatal(error);
    }
  }

  /**
   * A (re)join: progress of the partitions this member lost is dropped, so it can never
   * publish the watermark of a partition another member now owns (it would be stale).
   */
  private onAssigned(assignment: Record<string, number[]>): void {
    this.assigned = new Set(Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((p) => `${topic}:${p}`)));
    for (const key of this.progress.keys()) if (!this.assigned.has(key)) this.progress.delete(key);
    this.confirmedAtMs = Date.now();
  }

  private onReloaded(by: string): void {
    this.metrics.libraryReloads.inc();
    logger.warn(
      { code: 'redis_library_reloaded', registry: this.registry.version },
      `registry ${this.registry.version} loaded into Redis again by ${by} (Redis lost it: restarted empty or failed over); state written before the loss is gone`,
    );
  }

  private async onBatch({ batch, heartbeat, isRunning, isStale, resolveOffset }: EachBatchPayload, processor: BatchProcessor, consumer: Consumer): Promise<void> {
    // A retired version writes nothing more, even before its process has stopped.
    if (batch.messages.length === 0 || !isRunning() || isStale() || this.versionState === 'retired' || this.versionState === 'collected') return;
    const source = this.sourceOfTopic.get(batch.topic) as Source;
    const started = performance.now();
    const records: SourceRecord[] = batch.messages.map((m) => ({ topic: batch.topic, partition: batch.partition, offset: m.offset, timestamp: m.timestamp, key: m.key, value: m.value }));
    // --dedup local: a partition new to this member is rebuilt from its changelog before any of its records
    await this.localDedup?.ready(batch.topic, batch.partition, heartbeat);
    if (!isRunning() || isStale()) return;
    // The batch is committed only once its writes are on enough replicas (when redisWaitReplicas > 0):
    // otherwise it is written again (what survived comes back "replayed") and waited for again.
    for (;;) {
      const mark = this.replicaWait.mark();
      await processor.process(source, records, {
        // Redis away: the batch waits here (heartbeating, so the group keeps the partition)
        // instead of failing into kafkajs, which would re-fetch it into the same failure.
        shouldContinue: () => isRunning() && !isStale(),
        onRetry: async ({ reason, error, delayMs }) => {
          this.metrics.storeRetries.inc({ reason });
          if (reason === 'library_missing')
            this.recordError('redis_library_missing', `Redis lost the function library (restarted empty?): ${error.message}; loading registry ${this.registry.version} again`);
          else this.recordError('redis_unavailable', `feature store write failed, retrying in ${delayMs} ms: ${error.message}`);
          await heartbeat();
        },
        onReload: () => this.onReloaded('a write'),
      });
      const replicated = await this.replicaWait.confirm(mark);
      if (replicated.ok) break;
      this.metrics.storeRetries.inc({ reason: replicated.kind });
      this.recordError('redis_replicas_behind', `batch of ${batch.topic}:${batch.partition} not committed: ${replicated.reason}; writing it again`);
      await heartbeat();
      if (!isRunning() || isStale()) return;
    }
    const last = batch.messages[batch.messages.length - 1];
    if (!last) return;
    // what the batch added to the dedup index is in its changelog before the offsets move
    await this.localDedup?.persist(batch.topic, batch.partition);
    const next = BigInt(last.offset) + 1n;
    await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: next.toString() }]);
    // kafkajs re-fetches from the last resolved offset: without this the batch is delivered again
    resolveOffset(last.offset);
    // a batch that ends after its partition was revoked records no progress for it
    if (this.assigned.has(`${batch.topic}:${batch.partition}`)) this.progress.set(`${batch.topic}:${batch.partition}`, { source, next, lastTimestampMs: Number(last.timestamp) });
    this.metrics.batchSeconds.observe((performance.now() - started) / 1000);
    await heartbeat();
  }

  /**
   * Watermark of a partition: when the group's committed offset has reached the high
   * watermark, every record ingested before now is applied, so the watermark is now;
   * otherwise it is the Kafka timestamp of the last record this sidecar applied. Only the
   * partitions this member owns are published, and nothing while the coordinator has not
   * confirmed it for a session timeout (a process that was stopped may have been evicted:
   * it learns so only at its next heartbeat).
   */
  async publishWatermarks(): Promise<void> {
    if (!this.admin || !this.writer) return;
    const now = Date.now();
    const confirmed = now - this.confirmedAtMs <= SESSION_TIMEOUT_MS;
    const entries: Array<{ source: Source; partition: number; watermarkMs: number }> = [];
    const subscribed = this.subscribedSources().map((s) => this.topics.sources[s]);
    const committed = await this.admin.fetchOffsets({ groupId: this.groupId, topics: subscribed });
    for (const { topic, partitions } of committed) {
      const source = this.sourceOfTopic.get(topic) as Source;
      const highs = new Map((await this.admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
      for (const { partition, offset } of partitions) {
        const lag = this.metrics.progress.observe(topic, partition, BigInt(offset), highs.get(partition) ?? 0n, now);
        if (!confirmed || !this.assigned.has(`${topic}:${partition}`)) continue;
        const known = this.progress.get(`${topic}:${partition}`);
        const watermarkMs = lag === 0n ? now : known?.lastTimestampMs;
        if (watermarkMs === undefined) continue;
        this.metrics.watermark.set({ topic, partition: String(partition) }, watermarkMs / 1000);
        entries.push({ source, partition, watermarkMs });
      }
    }
    await this.writer.writeWatermarks(entries);
  }

  /** Stops consuming; offsets of batches already written are committed. */
  async stop(): Promise<void> {
    this.running = false;
    if (this.ticker) clearInterval(this.ticker);
    await this.consumer?.disconnect().catch(() => undefined);
    await this.quality?.flush();
    await this.quality?.persist();
    await this.producer?.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
    this.redis.disconnect();
  }
}
