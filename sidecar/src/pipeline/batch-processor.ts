import type { Producer } from 'kafkajs';
import { parseEvent, type EventContracts, type Source } from '../events/index.ts';
import type { PipelineMetrics, RecordVerdict } from '../metrics/index.ts';
import type { FeatureWriter, StoreRecord, StoreVerdict, WriteControl } from '../store/index.ts';
import type { WindowOperators } from '../windows/index.ts';
import { sendSideRecords, type SideRecord, type TopicNames } from '../kafka/index.ts';
import type { DedupDecider } from '../dedup/index.ts';
import { deadLetterObservation, eventObservation, type BatchObserver, type Observation } from '../quality/index.ts';

/** One record as fetched from Kafka. */
export interface SourceRecord {
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
}

export interface BatchProcessorOptions {
  allowedLatenessMs: number;
  maxPayloadBytes: number;
  /** The listed schema versions events are validated with (events/contract-set.ts); default: the repository's contracts. */
  contracts?: EventContracts;
  /** `--dedup local`: the partition index decides duplicates; only the others reach the store, which skips its dedup step. */
  localDedup?: DedupDecider | null;
}

/** Where each record of a batch went; sums to the batch size. */
export type BatchCounts = Record<RecordVerdict, number>;

function header(record: SourceRecord, extra: Record<string, string>): Record<string, string> {
  return {
    'churnfeat.source.topic': record.topic,
    'churnfeat.source.partition': String(record.partition),
    'churnfeat.source.offset': record.offset,
    'churnfeat.source.timestamp': record.timestamp,
    ...extra,
  };
}

/**
 * The sidecar's per-batch logic, in the order of docs/feature-semantics.md §1:
 * validate (invalid -> dead-letter topic), relevance, lateness (too late -> late-events
 * topic), then the store's offset and dedup checks. Side topics are written before the
 * store, and both before the caller commits the offsets, so nothing is lost on a crash.
 */
export class BatchProcessor {
  constructor(
    private readonly operators: WindowOperators,
    private readonly writer: FeatureWriter,
    private readonly producer: Producer,
    private readonly topics: TopicNames,
    private readonly metrics: PipelineMetrics,
    private readonly options: BatchProcessorOptions,
    /** The data-quality detector (sidecar/src/quality), told what each batch saw; it never blocks the batch. */
    private readonly observer: BatchObserver | null = null,
  ) {}

  /** `control` takes part in the store write's retries while Redis is away (see FeatureWriter.write). */
  async process(source: Source, records: readonly SourceRecord[], control: WriteControl = {}): Promise<BatchCounts> {
    const counts: BatchCounts = { applied: 0, duplicate: 0, replayed: 0, deleted: 0, too_late: 0, invalid: 0, irrelevant: 0 };
    const deadLetters: SideRecord[] = [];
    const late: SideRecord[] = [];
    const toStore: StoreRecord[] = [];
    const seen: Observation[] | null = this.observer ? [] : null;
    for (const record of records) {
      const parsed = parseEvent(source, record.value, { maxBytes: this.options.maxPayloadBytes, ...(this.options.contracts ? { contracts: this.options.contracts } : {}) });
      if (!parsed.ok) {
        counts.invalid += 1;
        this.metrics.invalid.inc({ source, reason: parsed.reason });
        seen?.push(deadLetterObservation(source, record.timestamp, `${record.topic}:${record.partition}`));
        deadLetters.push({ key: record.key, value: record.value, headers: header(record, { 'churnfeat.reason': parsed.reason, 'churnfeat.detail': parsed.detail.slice(0, 500) }) });
        continue;
      }
      if (parsed.olderSchemaVersion !== undefined) this.metrics.olderSchemaVersion.inc({ source, version: String(parsed.olderSchemaVersion) });
      const event = parsed.event;
      if (!this.operators.isRelevant(event)) {
        counts.irrelevant += 1;
        seen?.push(eventObservation(event, `${record.topic}:${record.partition}`, 'event'));
        continue;
      }
      const lateness = event.ingestMs - event.eventMs;
      if (lateness > this.options.allowedLatenessMs) {
        counts.too_late += 1;
        seen?.push(eventObservation(event, `${record.topic}:${record.partition}`, 'event'));
        late.push({ key: record.key, value: record.value, headers: header(record, { 'churnfeat.reason': 'too_late', 'churnfeat.lateness_ms': String(lateness) }) });
        continue;
      }
      const ops = this.operators.opsFor(event);
      if (ops.length === 0) {
        counts.irrelevant += 1;
        seen?.push(eventObservation(event, `${record.topic}:${record.partition}`, 'event'));
        continue;
      }
      toStore.push({ event, topic: record.topic, partition: record.partition, offset: record.offset, ops });
    }
    // Bounded sends: a batch of bad records (or one huge one) must never become a request
    // the broker refuses, which would stop the consumer on the same batch for good.
    await Promise.all([
      deadLetters.length > 0 ? sendSideRecords(this.producer, this.topics.deadLetter, deadLetters) : null,
      late.length > 0 ? sendSideRecords(this.producer, this.topics.late, late) : null,
    ]);
    if (toStore.length > 0) {
      const verdicts = await this.write(toStore, control);
      const readableAt = Date.now();
      verdicts.forEach((verdict, index) => {
        counts[verdict] += 1;
        const stored = toStore[index] as StoreRecord;
        if (seen && verdict !== 'replayed') seen.push(eventObservation(stored.event, `${stored.topic}:${stored.partition}`, verdict === 'duplicate' ? 'duplicate' : 'event'));
        if (verdict === 'applied') {
          const { event } = toStore[index] as StoreRecord;
          this.metrics.eventToReadable.observe({ source }, Math.max(0, readableAt - event.eventMs) / 1000);
          this.metrics.ingestToReadable.observe({ source }, Math.max(0, readableAt - event.ingestMs) / 1000);
        }
      });
    }
    if (seen) this.observer?.observe(seen);
    this.metrics.consumed.inc({ source }, records.length);
    for (const [verdict, count] of Object.entries(counts)) {
      if (count > 0) this.metrics.verdicts.inc({ source, verdict }, count);
    }
    return counts;
  }

  /** The store's verdicts; with local dedup the index's duplicates never reach the store. */
  private async write(toStore: StoreRecord[], control: WriteControl): Promise<StoreVerdict[]> {
    const local = this.options.localDedup;
    if (!local) return this.writer.write(toStore, control);
    const duplicate = local.decide(toStore);
    const fresh = toStore.filter((_, i) => !duplicate[i]);
    const stored = fresh.length > 0 ? await this.writer.write(fresh, control) : [];
    let next = 0;
    return duplicate.map((d) => (d ? 'duplicate' : (stored[next++] as StoreVerdict)));
  }
}
