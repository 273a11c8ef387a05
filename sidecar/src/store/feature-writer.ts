import type { Redis } from 'ioredis';
import type { NormalizedEvent } from '../events/index.ts';
import { ChurnfeatError } from '../errors.ts';
import type { WindowOp, WindowOperators } from '../windows/index.ts';
import { dedupMember, partitionKey, userDedupKey, userStateKey, watermarkField, watermarkKey } from './redis-layout.ts';
import { APPLY_KEYS, decodeVerdicts, encodeApplyArgs, encodeOp, functionNames, type ApplyEvent, type StoreVerdict } from './store-protocol.ts';

/** A validated, timely, relevant event and where it came from in Kafka. */
export interface StoreRecord {
  event: NormalizedEvent;
  topic: string;
  partition: number;
  offset: string;
  /** The window ops of the event (WindowOperators.opsFor); encoded here for the apply function. */
  ops: readonly WindowOp[];
}

export interface FeatureWriterOptions {
  prefix: string;
  allowedLatenessMs: number;
  /** Extra time dedup entries are kept beyond the allowed lateness (ingest clocks disagree). */
  dedupMarginMs: number;
  /** Prune stale tiles of a user once its state hash has more fields than this. */
  pruneAboveFields: number;
}

/**
 * Writes records to the online store: one FCALL per user and source per batch, all pipelined. The
 * function checks the user's applied offset, the dedup horizon and applies the ops in one
 * atomic step, so a crash anywhere before the Kafka commit replays into "replayed" verdicts.
 */
export class FeatureWriter {
  private readonly applyFn: string;
  /** State lives past the longest window; dedup entries only past the dedup horizon. */
  private readonly stateTtlMs: number;
  private readonly dedupTtlMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly operators: WindowOperators,
    private readonly options: FeatureWriterOptions,
  ) {
    this.applyFn = functionNames(operators.registry.version).apply;
    this.stateTtlMs = operators.stateTtlMs(options.allowedLatenessMs);
    this.dedupTtlMs = options.allowedLatenessMs + options.dedupMarginMs + 3_600_000;
  }

  /** Applies records (in Kafka order within a partition) and returns a verdict per record. */
  async write(records: readonly StoreRecord[]): Promise<StoreVerdict[]> {
    // One call per (user, source). Each call prunes that user's dedup set and stale tiles by
    // the ingest clock of its own records: never by another topic of the user that may be
    // consumed a day ahead, nor by another user's record stamped by an edge whose clock is off.
    const groups = new Map<string, { userId: string; source: NormalizedEvent['source']; indexes: number[]; clock: number }>();
    records.forEach((record, index) => {
      const { userId, source, ingestMs } = record.event;
      const key = `${source}\u0000${userId}`;
      const group = groups.get(key);
      if (group) {
        group.indexes.push(index);
        group.clock = Math.max(group.clock, ingestMs);
      } else {
        groups.set(key, { userId, source, indexes: [index], clock: ingestMs });
      }
    });
    const pipeline = this.redis.pipeline();
    const order: number[][] = [];
    for (const { userId, source, indexes, clock } of groups.values()) {
      const events: ApplyEvent[] = indexes.map((index) => {
        const { event, topic, partition, offset, ops } = records[index] as StoreRecord;
        return {
          source: event.source,
          partitionKey: partitionKey(topic, partition),
          offset,
          dedupMember: dedupMember(event.source, event.eventKey),
          dedupScoreS: Math.floor(event.eventMs / 1000),
          ingestMs: event.ingestMs,
          ops: ops.map(encodeOp),
        };
      });
      const args = encodeApplyArgs({
        stateTtlMs: this.stateTtlMs,
        dedupTtlMs: this.dedupTtlMs,
        dedupPruneBeforeS: Math.floor((clock - this.options.allowedLatenessMs - this.options.dedupMarginMs) / 1000),
        pruneBounds: this.operators.tileBounds(clock),
        pruneAboveFields: this.options.pruneAboveFields,
        events,
      });
      pipeline.call('FCALL', this.applyFn, APPLY_KEYS.length, userStateKey(this.options.prefix, userId), userDedupKey(this.options.prefix, userId, source), ...args);
      order.push(indexes);
    }
    const results = (await pipeline.exec()) ?? [];
    const verdicts: StoreVerdict[] = new Array(records.length);
    results.forEach(([error, reply], call) => {
      if (error) throw new ChurnfeatError('redis_script_failed', `feature store write failed: ${error.message}`, { cause: error, retryable: true });
      const letters = decodeVerdicts(String(reply));
      (order[call] as number[]).forEach((index, position) => {
        verdicts[index] = letters[position] as StoreVerdict;
      });
    });
    return verdicts;
  }

  /** Publishes partition watermarks (ms) for the serving layer. */
  async writeWatermarks(entries: ReadonlyArray<{ source: NormalizedEvent['source']; partition: number; watermarkMs: number }>): Promise<void> {
    if (entries.length === 0) return;
    const flat: string[] = [];
    for (const entry of entries) flat.push(watermarkField(entry.source, entry.partition), String(entry.watermarkMs));
    await this.redis.hset(watermarkKey(this.options.prefix), ...flat);
  }
}
