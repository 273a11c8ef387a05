import type { Redis } from 'ioredis';
import type { NormalizedEvent } from '../events/index.ts';
import { ChurnfeatError } from '../errors.ts';
import type { StoreOp, WindowOperators } from '../windows/index.ts';
import {
  dedupMember,
  functionNames,
  partitionKey,
  sourceField,
  userDedupKey,
  userStateKey,
  watermarkField,
  watermarkKey,
} from './redis-layout.ts';

/** A validated, timely, relevant event and where it came from in Kafka. */
export interface StoreRecord {
  event: NormalizedEvent;
  topic: string;
  partition: number;
  offset: string;
  ops: readonly StoreOp[];
}

/** What the store did with a record: applied, source duplicate, or replay of an applied offset. */
export type StoreVerdict = 'applied' | 'duplicate' | 'replayed';

const VERDICTS: Record<string, StoreVerdict> = { a: 'applied', d: 'duplicate', r: 'replayed' };

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
  /** "<state ttl>/<dedup ttl>": state lives past the longest window; dedup entries only past the dedup horizon. */
  private readonly ttlArg: string;

  constructor(
    private readonly redis: Redis,
    private readonly operators: WindowOperators,
    private readonly options: FeatureWriterOptions,
  ) {
    this.applyFn = functionNames(operators.registry.version).apply;
    this.ttlArg = `${operators.stateTtlMs(options.allowedLatenessMs)}/${options.allowedLatenessMs + options.dedupMarginMs + 3_600_000}`;
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
      const dedupBefore = Math.floor((clock - this.options.allowedLatenessMs - this.options.dedupMarginMs) / 1000);
      const args: Array<string | number> = [this.ttlArg, dedupBefore, this.operators.pruneSpec(clock), this.options.pruneAboveFields, indexes.length];
      for (const index of indexes) {
        const { event, topic, partition, offset, ops } = records[index] as StoreRecord;
        args.push(
          sourceField(event.source),
          partitionKey(topic, partition),
          offset,
          dedupMember(event.source, event.eventKey),
          Math.floor(event.eventMs / 1000),
          event.ingestMs,
          ops.length,
        );
        for (const op of ops) args.push(op[0], op[1], op[2]);
      }
      pipeline.call('FCALL', this.applyFn, 2, userStateKey(this.options.prefix, userId), userDedupKey(this.options.prefix, userId, source), ...args);
      order.push(indexes);
    }
    const results = (await pipeline.exec()) ?? [];
    const verdicts: StoreVerdict[] = new Array(records.length);
    results.forEach(([error, reply], call) => {
      if (error) throw new ChurnfeatError('redis_script_failed', `feature store write failed: ${error.message}`, { cause: error, retryable: true });
      const letters = String(reply);
      (order[call] as number[]).forEach((index, position) => {
        verdicts[index] = VERDICTS[letters[position] as string] as StoreVerdict;
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
