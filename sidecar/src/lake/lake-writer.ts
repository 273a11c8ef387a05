import { logLevel, type Admin, type Consumer, type EachBatchPayload, type Kafka } from 'kafkajs';
import { parseEvent, SOURCES, type Source } from '../events/index.ts';
import { createKafkaClient } from '../config/index.ts';
import { topicNames } from '../kafka/index.ts';
import { LakeWriterMetrics } from '../metrics/index.ts';
import { DEAD_LETTER_COLUMNS, toDeadLetterRow, type DeadLetterRow } from './dead-letter-row.ts';
import { deadLetterUsers, usersOfRows, writeObjectIndex } from './lake-index.ts';
import { hourPartition, lakeObjectKey, type LakeKind } from './lake-layout.ts';
import { claimFlush, readPartitionManifest, writeManifest, type PartitionManifest } from './lake-manifest.ts';
import { LAKE_COLUMNS, toLakeRow, type LakeRow } from './lake-row.ts';
import { lakeStorageFromUri, type LakeStorage } from './lake-storage.ts';
import type { LakeWriterOptions } from './lake-writer-options.ts';
import { ParquetEncoder, type ParquetColumn } from './parquet-file.ts';

/** One consumed record waiting in a partition buffer. */
interface BufferedRecord {
  offset: bigint;
  timestampMs: number;
  key: Buffer | null;
  value: Buffer | null;
}

interface PartitionState {
  topic: string;
  partition: number;
  source: Source;
  manifest: PartitionManifest;
  buffer: BufferedRecord[];
  /** Wall-clock time the oldest buffered record was consumed. */
  bufferedSince: number;
  /** Set while re-landing an unfinished flush: the next flush must cover exactly this range. */
  recovery: { first: bigint; last: bigint; objects: string[] } | null;
  /** Offset this writer last sought to after finding a hole; a second hole there is real. */
  soughtTo: bigint | null;
}

/** One file of a flush: its key and its rows. */
interface PlannedFile {
  key: string;
  kind: LakeKind;
  rows: Array<LakeRow | DeadLetterRow>;
}

/**
 * Erased users (docs/deletion.md): true when a record of `userId` at `timeMs` (event time;
 * a dead letter's Kafka timestamp) comes from before the user's erasure and must not land.
 */
export type ErasedRecord = (userId: string, timeMs: number) => boolean;

/** A structured log line: the event name and its fields. */
export type LakeLog = (event: string, fields: Record<string, unknown>) => void;

/** Counters of one writer process. */
export interface LakeWriterStats {
  records: number;
  events: number;
  deadLetters: number;
  files: number;
  flushes: number;
  recoveries: number;
  /** Offsets absent from the log (retention, transaction markers) that were skipped. */
  holes: number;
  /** Records of erased users from before their erasure, not landed (docs/deletion.md). */
  erased: number;
  /** Flushes refused because another writer had claimed the same offsets (lake-manifest.ts). */
  fenced: number;
}

/** Serializes async work (the DuckDB encoder and per-partition state are single-threaded). */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work, work);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

function bigintMax(a: bigint | null, b: bigint): bigint {
  return a === null || b > a ? b : a;
}

/**
 * The lake writer: its own consumer group over the three source topics; lands every record
 * (valid events under events/, invalid ones under dead_letter/ with reason and original
 * bytes) as Parquet, partitioned by source/date/hour, named by the offsets they hold.
 * Commit protocol and crash recovery: see lake-manifest.ts.
 */
export class LakeWriter {
  readonly storage: LakeStorage;
  readonly stats: LakeWriterStats = { records: 0, events: 0, deadLetters: 0, files: 0, flushes: 0, recoveries: 0, holes: 0, erased: 0, fenced: 0 };
  /** Lag and last progress per partition, records landed (served by `--metrics-port`). */
  readonly metrics = new LakeWriterMetrics();
  private readonly kafka: Kafka;
  private readonly sourceOfTopic = new Map<string, Source>();
  private readonly states = new Map<string, PartitionState>();
  private readonly mutex = new Mutex();
  private consumer: Consumer | null = null;
  private encoder: ParquetEncoder | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private admin: Admin | null = null;
  private sampler: NodeJS.Timeout | null = null;
  private readonly log: LakeLog;
  private readonly erasedRecord: ErasedRecord;
  private reportFatal: (error: Error) => void = () => undefined;
  /** Settles when the consumer stopped for good (kafkajs crashed without restarting it); the CLI exits 1 on it. */
  readonly fatal: Promise<Error> = new Promise((resolve) => {
    this.reportFatal = resolve;
  });

  constructor(
    readonly options: LakeWriterOptions,
    dependencies: { storage?: LakeStorage; log?: LakeLog; erased?: ErasedRecord } = {},
  ) {
    this.storage = dependencies.storage ?? lakeStorageFromUri(options.lakeUri, { endpoint: options.s3Endpoint || undefined });
    this.log = dependencies.log ?? (() => undefined);
    this.erasedRecord = dependencies.erased ?? (() => false);
    const topics = topicNames(options.topicNamespace);
    for (const source of SOURCES) this.sourceOfTopic.set(topics.sources[source], source);
    this.kafka = createKafkaClient(options, {
      clientId: options.clientId,
      logLevel: logLevel.ERROR,
      retry: { initialRetryTime: 200, retries: 8, maxRetryTime: 5_000 },
      connectionTimeout: 5_000,
    });
  }

  /** The source topics this writer lands. */
  get topics(): string[] {
    return [...this.sourceOfTopic.keys()];
  }

  async start(): Promise<void> {
    this.encoder = await ParquetEncoder.create();
    const consumer = this.kafka.consumer({
      groupId: this.options.groupId,
      sessionTimeout: this.options.sessionTimeoutMs,
      metadataMaxAge: this.options.metadataMaxAgeMs,
      heartbeatInterval: Math.min(3_000, Math.floor(this.options.sessionTimeoutMs / 3)),
      rebalanceTimeout: 60_000,
    });
    this.consumer = consumer;
    // A rebalance drops the buffers: nothing in them is landed or committed, and the next
    // owner of each partition resumes from the manifest.
    consumer.on(consumer.events.REBALANCING, () => {
      void this.mutex.run(async () => this.states.clear());
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.log('consumer_crashed', { restart: payload.restart, error: payload.error.message });
      if (!payload.restart) this.reportFatal(payload.error);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: this.topics, fromBeginning: this.options.fromBeginning });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: (payload) => this.mutex.run(() => this.onBatch(payload)),
    });
    this.ticker = setInterval(
      () => {
        void this.mutex.run(() => this.flushAged()).catch((error: unknown) => this.log('flush_failed', { error: String(error) }));
      },
      Math.min(1_000, this.options.flushIntervalMs),
    );
    this.admin = this.kafka.admin();
    await this.admin.connect();
    await this.sampleProgress().catch(() => undefined);
    this.sampler = setInterval(() => {
      void this.sampleProgress().catch((error: unknown) => this.log('progress_sample_failed', { error: String(error) }));
    }, this.options.progressIntervalMs);
    this.log('started', { group: this.options.groupId, topics: this.topics, lake: this.storage.uri });
  }

  /**
   * Samples the group's committed offsets against the high watermarks into the lag and
   * last-progress gauges (ChurnfeatConsumerStalled reads them). The group's offsets, not this
   * process's buffers: every writer of the group reports every partition alike.
   */
  async sampleProgress(): Promise<void> {
    if (!this.admin) return;
    const now = Date.now();
    const committed = await this.admin.fetchOffsets({ groupId: this.options.groupId, topics: this.topics });
    for (const { topic, partitions } of committed) {
      const highs = new Map((await this.admin.fetchTopicOffsets(topic)).map((p) => [p.partition, BigInt(p.high)]));
      for (const { partition, offset } of partitions) this.metrics.progress.observe(topic, partition, BigInt(offset), highs.get(partition) ?? 0n, now);
    }
  }

  private async stateFor(topic: string, partition: number): Promise<PartitionState> {
    const id = `${topic}:${partition}`;
    let state = this.states.get(id);
    if (!state) {
      const { manifest, followed } = await readPartitionManifest(this.storage, topic, partition, this.options.clientId);
      if (followed > 0) this.log('claims_followed', { topic, partition, claims: followed, landed_through: String(manifest.landedThrough) });
      state = { topic, partition, source: this.sourceOfTopic.get(topic) as Source, manifest, buffer: [], bufferedSince: 0, recovery: manifest.pending, soughtTo: null };
      if (manifest.pending) {
        this.stats.recoveries += 1;
        this.log('recovering', { topic, partition, first: manifest.pending.first.toString(), last: manifest.pending.last.toString(), objects: manifest.pending.objects.length });
      }
      this.states.set(id, state);
      // A flush whose Kafka commit was lost (the writer stopped or lost the partition right
      // after its manifest) leaves the group's offset behind what is landed: the skipped
      // records would never move it, and the group would show lag, and a stall, forever.
      if (manifest.landedThrough !== null) await this.commit(state, manifest.landedThrough + 1n);
    }
    return state;
  }

  /** The next offset the state expects: after its buffer, else after what is landed. */
  private expectedNext(state: PartitionState): bigint | null {
    const tail = state.buffer[state.buffer.length - 1];
    if (tail) return tail.offset + 1n;
    if (state.recovery) return state.recovery.first;
    return state.manifest.landedThrough === null ? null : state.manifest.landedThrough + 1n;
  }

  /**
   * Buffers a fetched batch. Every message taken (buffered or skipped as already landed) is
   * resolved: kafkajs fetches again from the last resolved offset, so a batch left unresolved
   * is delivered again and again and the partition never moves past one fetch. Resolving is
   * not committing: the Kafka commit still follows the manifest (see flush()).
   */
  private async onBatch({ batch, isRunning, isStale, heartbeat, resolveOffset }: EachBatchPayload): Promise<void> {
    if (!isRunning() || isStale() || batch.messages.length === 0) return;
    const state = await this.stateFor(batch.topic, batch.partition);
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) return;
      const offset = BigInt(message.offset);
      if (state.manifest.landedThrough !== null && offset <= state.manifest.landedThrough) {
        resolveOffset(message.offset);
        continue;
      }
      if (state.recovery && offset > state.recovery.last && !(await this.flush(state))) return;
      const expected = this.expectedNext(state);
      if (expected !== null && offset < expected) {
        resolveOffset(message.offset);
        continue;
      }
      if (expected !== null && offset > expected) {
        if (state.soughtTo !== expected) {
          // The fetch position ran past records this writer never landed (a dropped buffer):
          // go back for them rather than leave a hole.
          state.soughtTo = expected;
          this.log('seek', { topic: batch.topic, partition: batch.partition, from: offset.toString(), to: expected.toString() });
          this.consumer?.seek({ topic: batch.topic, partition: batch.partition, offset: expected.toString() });
          return;
        }
        this.stats.holes += Number(offset - expected);
        this.log('hole', { topic: batch.topic, partition: batch.partition, first_missing: expected.toString(), next: offset.toString() });
      }
      state.soughtTo = null;
      if (state.buffer.length === 0) state.bufferedSince = Date.now();
      state.buffer.push({ offset, timestampMs: Number(message.timestamp), key: message.key ?? null, value: message.value ?? null });
      resolveOffset(message.offset);
      if (state.recovery ? offset >= state.recovery.last : state.buffer.length >= this.options.flushRecords) {
        // Fenced: the buffer is gone; the next batch re-reads the partition's claims and seeks.
        if (!(await this.flush(state))) return;
        await heartbeat();
      }
    }
    await heartbeat();
  }

  private async flushAged(): Promise<void> {
    const now = Date.now();
    for (const state of this.states.values()) {
      if (state.recovery === null && state.buffer.length > 0 && now - state.bufferedSince >= this.options.flushIntervalMs) await this.flush(state);
    }
  }

  /** Groups buffered records into files of one (kind, source, date, hour), named by their offsets. */
  private plan(state: PartitionState, records: readonly BufferedRecord[]): { files: PlannedFile[]; erased: number } {
    const groups = new Map<string, { kind: LakeKind; date: string; hour: string; rows: Array<LakeRow | DeadLetterRow> }>();
    let erased = 0;
    for (const record of records) {
      const kafka = { topic: state.topic, partition: state.partition, offset: record.offset.toString(), timestampMs: record.timestampMs };
      const parsed = parseEvent(state.source, record.value, { maxBytes: this.options.maxPayloadBytes });
      const kind: LakeKind = parsed.ok ? 'events' : 'dead_letter';
      const row = parsed.ok ? toLakeRow(parsed.event, kafka) : toDeadLetterRow(state.source, parsed, { ...kafka, key: record.key, value: record.value });
      // An erased user's record from before the erasure (a late or replayed one) never lands.
      const erasedRow = parsed.ok ? this.erasedRecord(parsed.event.userId, parsed.event.eventMs) : deadLetterUsers(row as DeadLetterRow).some((user) => this.erasedRecord(user, record.timestampMs));
      if (erasedRow) {
        erased += 1;
        continue;
      }
      const { date, hour } = hourPartition(record.timestampMs);
      const id = `${kind}/${date}/${hour}`;
      const group = groups.get(id) ?? { kind, date, hour, rows: [] };
      group.rows.push(row);
      groups.set(id, group);
    }
    const files = [...groups.values()].map((group) => {
      const first = (group.rows[0] as LakeRow | DeadLetterRow).kafka_offset;
      const last = (group.rows[group.rows.length - 1] as LakeRow | DeadLetterRow).kafka_offset;
      return {
        key: lakeObjectKey({ kind: group.kind, source: state.source, date: group.date, hour: group.hour, topic: state.topic, partition: state.partition, first, last }),
        kind: group.kind,
        rows: group.rows,
      };
    });
    return { files, erased };
  }

  /**
   * Lands the partition's buffer: the claim, intent in the manifest, the files, the
   * manifest, then the Kafka commit (lake-manifest.ts explains why this order survives a
   * crash anywhere, and a second writer). False when fenced: another writer had claimed
   * these offsets; the state is dropped, buffer and all.
   */
  private async flush(state: PartitionState): Promise<boolean> {
    const records = state.buffer;
    if (records.length === 0 && state.recovery === null) return true;
    const encoder = this.encoder as ParquetEncoder;
    const { files, erased } = this.plan(state, records);
    const keys = files.map((file) => file.key);
    const first = state.recovery?.first ?? (records[0] as BufferedRecord).offset;
    const last = state.recovery?.last ?? (records[records.length - 1] as BufferedRecord).offset;
    // Objects of the unfinished attempt that this one did not rewrite (a verdict changed
    // between code versions). When the range can no longer be read back whole (retention
    // trimmed it), the first attempt's objects may hold records nobody can re-read: keep them.
    const complete = state.recovery === null || (records[0]?.offset === state.recovery.first && records[records.length - 1]?.offset === state.recovery.last);
    const stale = complete ? (state.recovery?.objects ?? []).filter((key) => !keys.includes(key)) : [];
    // A recovery re-lands a range already claimed; anything else claims the offsets after
    // what this writer believes is landed, or learns that another writer got there first.
    if (state.recovery === null && !(await claimFlush(this.storage, state.topic, state.partition, state.manifest.landedThrough, { first, last, objects: keys }, this.options.clientId))) {
      this.states.delete(`${state.topic}:${state.partition}`);
      this.stats.fenced += 1;
      this.metrics.fenced.inc();
      this.log('fenced', { topic: state.topic, partition: state.partition, after: String(state.manifest.landedThrough), first: first.toString(), last: last.toString(), dropped: records.length });
      return false;
    }
    if (!complete) this.log('recovery_incomplete', { topic: state.topic, partition: state.partition, first: first.toString(), last: last.toString(), reread: records.length });
    // Record the intent unless the pending range already names every object about to be written.
    const recovery = state.recovery;
    if (recovery === null || keys.some((key) => !recovery.objects.includes(key))) {
      state.manifest = { ...state.manifest, pending: { first, last, objects: [...new Set([...keys, ...(state.recovery?.objects ?? [])])].sort() } };
      await writeManifest(this.storage, state.manifest);
    }
    for (const file of files) {
      const columns = (file.kind === 'events' ? LAKE_COLUMNS : DEAD_LETTER_COLUMNS) as ReadonlyArray<ParquetColumn<LakeRow | DeadLetterRow>>;
      await this.storage.put(file.key, await encoder.encode(columns, file.rows));
      await writeObjectIndex(this.storage, { object: file.key, kind: file.kind, users: usersOfRows(file.kind, file.rows), rows: file.rows.length, erased: 0 });
    }
    for (const key of stale) await this.storage.delete(key);
    const events = files.filter((f) => f.kind === 'events').reduce((n, f) => n + f.rows.length, 0);
    const deadLetters = files.filter((f) => f.kind === 'dead_letter').reduce((n, f) => n + f.rows.length, 0);
    state.manifest = {
      ...state.manifest,
      landedThrough: bigintMax(state.manifest.landedThrough, last),
      pending: null,
      files: state.manifest.files + files.length,
      records: state.manifest.records + records.length,
    };
    await writeManifest(this.storage, state.manifest);
    state.buffer = [];
    state.recovery = null;
    this.stats.records += records.length;
    this.stats.events += events;
    this.stats.deadLetters += deadLetters;
    this.stats.erased += erased;
    this.stats.files += files.length;
    this.stats.flushes += 1;
    this.metrics.flushes.inc();
    if (events > 0) this.metrics.landed.inc({ kind: 'events' }, events);
    if (deadLetters > 0) this.metrics.landed.inc({ kind: 'dead_letter' }, deadLetters);
    this.log('landed', { topic: state.topic, partition: state.partition, first: first.toString(), last: last.toString(), records: records.length, files: files.length, erased });
    await this.commit(state, last + 1n);
    return true;
  }

  private async commit(state: PartitionState, next: bigint): Promise<void> {
    try {
      await this.consumer?.commitOffsets([{ topic: state.topic, partition: state.partition, offset: next.toString() }]);
    } catch (error) {
      // The manifest is the truth; a lost commit only means re-reading records that are
      // skipped, and the next owner of the partition commits what the manifest holds.
      this.log('commit_failed', { topic: state.topic, partition: state.partition, error: String(error) });
    }
  }

  /** Lands what is buffered (unless a recovery is half done), then leaves the group. */
  async stop(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    if (this.sampler) clearInterval(this.sampler);
    await this.consumer?.stop().catch(() => undefined);
    await this.mutex.run(async () => {
      for (const state of this.states.values()) {
        if (state.recovery === null && state.buffer.length > 0) await this.flush(state);
      }
    });
    await this.consumer?.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
    await this.encoder?.close();
    this.encoder = null;
    this.log('stopped', { ...this.stats });
  }
}
