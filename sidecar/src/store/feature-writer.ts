import type { Redis } from 'ioredis';
import { parseRfc3339Ms, type NormalizedEvent, type Source } from '../events/index.ts';
import { ChurnfeatError } from '../errors.ts';
import { ensureRegistered, isFunctionMissing, loadFunctionLibrary, type RegistryState } from './function-library.ts';
import type { WindowOp, WindowOperators } from '../windows/index.ts';
import { dedupMember, partitionKey, tombstoneKey, userDedupKey, userHeadKey, userStateKey, versionPrefix, watermarkField, watermarkKey } from './redis-layout.ts';
import { APPLY_KEYS, decodeVerdicts, encodeApplyArgs, encodeOp, functionNames, tombstoneOfReply, type ApplyCall, type ApplyEvent, type StoreVerdict } from './store-protocol.ts';

/** A validated, timely, relevant event and where it came from in Kafka. */
export interface StoreRecord {
  event: NormalizedEvent;
  topic: string;
  partition: number;
  offset: string;
  /** The window ops of the event (WindowOperators.opsFor); encoded here for the apply function. */
  ops: readonly WindowOp[];
  /**
   * The caller already decided this record is no duplicate (`--dedup local`, sidecar/src/dedup):
   * its apply call skips the dedup hash. A call's records share it (one user and source = one partition).
   */
  dedupDone?: boolean;
}

export interface FeatureWriterOptions {
  /** The base key prefix: state goes to the registry version's keyspace under it (`versionPrefix`), the tombstone stays under it. */
  prefix: string;
  allowedLatenessMs: number;
  /** Extra time dedup entries are kept beyond the allowed lateness (ingest clocks disagree). */
  dedupMarginMs: number;
  /** Prune stale tiles of a user once its state hash has more fields than this. */
  pruneAboveFields: number;
  /**
   * Most apply calls sent in one pipeline; a write of more users sends them in pipelines of
   * this many, one after the other, so Redis serves other clients (reads) between them.
   * Default {@link DEFAULT_MAX_CALLS_PER_PIPELINE}.
   */
  maxCallsPerPipeline?: number;
  /** Backoff of a write while Redis is unavailable; default {@link WRITE_BACKOFF}. */
  backoff?: { baseMs: number; maxMs: number };
}

/**
 * Apply calls per pipeline: ~40 us of Redis each, so a Kafka batch of 1,000 users in one
 * pipeline keeps Redis busy ~40 ms; 64 calls bound one pipeline to ~2.5 ms of Redis time.
 */
export const DEFAULT_MAX_CALLS_PER_PIPELINE = 64;

/** Capped exponential backoff of a write that Redis could not take: 100 ms doubling to 5 s, with jitter. */
export const WRITE_BACKOFF = { baseMs: 100, maxMs: 5_000 } as const;

/** Why a write is tried again. */
export type WriteRetryReason = 'library_missing' | 'redis_unavailable';

/** One retry of a write, as the caller hears of it. */
export interface WriteRetry {
  reason: WriteRetryReason;
  /** 1 for the first retry. */
  attempt: number;
  /** The wait before this retry (0 right after reloading the library). */
  delayMs: number;
  error: Error;
}

/** How the caller takes part in a write's retries. */
export interface WriteControl {
  /** Heard before each retry's wait; the consumer heartbeats here. An error it throws ends the write. */
  onRetry?: (retry: WriteRetry) => Promise<void> | void;
  /** False once the caller gives up (shutdown, partition revoked): the write throws its last error. */
  shouldContinue?: () => boolean;
  /** Heard after the library was loaded again. */
  onReload?: () => void;
}

/** One FCALL of a write: the records it covers and its arguments. */
interface PendingCall {
  userId: string;
  source: NormalizedEvent['source'];
  indexes: number[];
  args: Array<string | number | Buffer>;
}

/**
 * A Redis error that retrying cannot help (the function itself refused its arguments):
 * any other reply error or connection error is taken as Redis being unavailable for now.
 */
function isScriptError(error: Error): boolean {
  if (isFunctionMissing(error)) return false;
  if (error.name !== 'ReplyError') return false;
  return !/^(LOADING|BUSY|READONLY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|OOM|NOREPLICAS)\b/.test(error.message);
}

/**
 * The time a dedup entry is filed and pruned by: the event's own event_ts, which every copy of
 * an event carries unchanged (a re-sent copy differs in ingest_ts only, and event_ms is clamped
 * to ingest_ts when the device's clock runs ahead, so copies can differ in event_ms). It is never
 * below event_ms, so entries are kept at least as long as an entry scored by event_ms was.
 */
export function dedupTimeMs(event: NormalizedEvent): number {
  return event.eventMs < event.ingestMs ? event.eventMs : parseRfc3339Ms(event.eventTs);
}

/** The dedup member a call that skips the dedup hash sends: nothing (the function ignores it). */
const NO_MEMBER = Buffer.alloc(0);

/** The dedup bound (s) of a call at `clockMs`: entries whose dedup tile lies wholly below it expire. */
export function dedupPruneBeforeS(clockMs: number, allowedLatenessMs: number, dedupMarginMs: number): number {
  return Math.floor((clockMs - allowedLatenessMs - dedupMarginMs) / 1000);
}

/** How long the store keeps an untouched dedup hash (ms): the horizon and an hour. */
export function dedupTtlMs(allowedLatenessMs: number, dedupMarginMs: number): number {
  return allowedLatenessMs + dedupMarginMs + 3_600_000;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Writes records to the online store: one FCALL per user and source per batch, pipelined
 * (at most `maxCallsPerPipeline` per pipeline, so reads are not held behind a whole batch). The
 * function checks the user's applied offset, the dedup horizon and applies the ops in one
 * atomic step, so a crash anywhere before the Kafka commit replays into "replayed" verdicts.
 */
export class FeatureWriter {
  private readonly applyFn: string;
  /** State lives past the longest window; dedup entries only past the dedup horizon. */
  private readonly stateTtlMs: number;
  private readonly dedupTtlMs: number;
  /** `versionPrefix(prefix, registry version)`: where this writer's state lives (docs/lifecycle.md). */
  readonly keyspace: string;

  constructor(
    private readonly redis: Redis,
    private readonly operators: WindowOperators,
    private readonly options: FeatureWriterOptions,
  ) {
    this.applyFn = functionNames(operators.registry.version).apply;
    this.keyspace = versionPrefix(options.prefix, operators.registry.version);
    this.stateTtlMs = operators.stateTtlMs(options.allowedLatenessMs);
    this.dedupTtlMs = dedupTtlMs(options.allowedLatenessMs, options.dedupMarginMs);
  }

  /**
   * Applies records (in Kafka order within a partition) and returns a verdict per record.
   *
   * It does not give up while Redis is away: a call that fails because the node lost the
   * library (restarted empty, failed over to a fresh node) loads THIS registry's library
   * again and is retried at once; a call that fails because Redis is unreachable or busy is
   * retried after a capped exponential backoff with jitter, until `control.shouldContinue`
   * says stop. Only the failed calls are retried: the apply function's offset check makes a
   * call that did run before its reply was lost come back as "replayed", never counted twice.
   * A function error (bad arguments) is thrown at once, retrying cannot help.
   */
  async write(records: readonly StoreRecord[], control: WriteControl = {}): Promise<StoreVerdict[]> {
    const verdicts: StoreVerdict[] = new Array(records.length);
    let pending = this.calls(records);
    const backoff = this.options.backoff ?? WRITE_BACKOFF;
    let waits = 0;
    let retries = 0;
    let reloadedLast = false;
    for (;;) {
      const { failed, error, again } = await this.attempt(records, pending, verdicts);
      if (failed.length === 0 && again.length === 0) return verdicts;
      if (failed.length === 0) {
        // only calls refused by a deletion tombstone, narrowed to the records after the deletion
        pending = again;
        continue;
      }
      const failure = error as Error;
      if (isScriptError(failure)) throw new ChurnfeatError('redis_script_failed', `feature store write failed: ${failure.message}`, { cause: failure, retryable: false });
      if (control.shouldContinue?.() === false) throw new ChurnfeatError('redis_unavailable', `feature store write abandoned: ${failure.message}`, { cause: failure, retryable: true });
      pending = [...failed, ...again];
      retries += 1;
      // A missing library is reloaded and retried at once; the second time in a row (the load
      // did not stick, Redis is still starting) it waits like any other failure.
      const reload = isFunctionMissing(failure);
      const delayMs = reload && !reloadedLast ? 0 : this.delay(backoff, waits++);
      await control.onRetry?.({ reason: reload ? 'library_missing' : 'redis_unavailable', attempt: retries, delayMs, error: failure });
      if (delayMs > 0) await sleep(delayMs);
      reloadedLast = false;
      if (reload) {
        try {
          await loadFunctionLibrary(this.redis, this.operators.registry, this.options.prefix);
          reloadedLast = true;
          waits = 0;
          control.onReload?.();
        } catch {
          // Redis went away again between the failure and the load: the next attempt says so.
        }
      }
    }
  }

  /** Equal jitter: half the capped exponential delay, plus up to the other half at random. */
  private delay(backoff: { baseMs: number; maxMs: number }, waits: number): number {
    const capped = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(waits, 30));
    return Math.round(capped / 2 + Math.random() * (capped / 2));
  }

  /**
   * One pipelined round of calls: fills the verdicts of those that ran, returns the failed ones
   * and, in `again`, the calls a deletion tombstone refused, narrowed to the records from at or
   * after the deletion (the others are `deleted`) and naming the tombstone they honour.
   */
  private async attempt(records: readonly StoreRecord[], calls: readonly PendingCall[], verdicts: StoreVerdict[]): Promise<{ failed: PendingCall[]; error: Error | null; again: PendingCall[] }> {
    const results: Array<[Error | null, unknown]> = [];
    const cap = this.options.maxCallsPerPipeline ?? DEFAULT_MAX_CALLS_PER_PIPELINE;
    for (let first = 0; first < calls.length; first += cap) {
      const pipeline = this.redis.pipeline();
      for (let i = first; i < Math.min(calls.length, first + cap); i++) pipeline.call('FCALL', this.applyFn, ...(calls[i] as PendingCall).args);
      try {
        results.push(...((await pipeline.exec()) ?? []));
      } catch (error) {
        // this pipeline and the ones not sent yet failed; the earlier ones' verdicts stand
        if (first === 0) return { failed: [...calls], error: error as Error, again: [] };
        for (let i = first; i < calls.length; i++) results.push([error as Error, null]);
        break;
      }
    }
    const failed: PendingCall[] = [];
    const again: PendingCall[] = [];
    let firstError: Error | null = null;
    calls.forEach((call, position) => {
      const [error, reply] = results[position] ?? [new Error('Redis returned no reply for a pipelined call'), null];
      if (error) {
        failed.push(call);
        // A missing library explains the other failures of the round: report it first.
        if (firstError === null || (isFunctionMissing(error) && !isFunctionMissing(firstError))) firstError = error;
        return;
      }
      const tomb = tombstoneOfReply(String(reply));
      if (tomb !== null) {
        // A deleted user (docs/deletion.md): what happened before the deletion is gone for good;
        // a record from at or after it is a returning customer's, applied to a fresh state.
        const deletedAtMs = Number(tomb);
        const after = call.indexes.filter((index) => !((records[index] as StoreRecord).event.eventMs < deletedAtMs));
        for (const index of call.indexes) if (!after.includes(index)) verdicts[index] = 'deleted';
        if (after.length > 0) again.push(this.pending(call.userId, call.source, after, this.applyCall(records, after, tomb)));
        return;
      }
      const letters = decodeVerdicts(String(reply));
      call.indexes.forEach((index, i) => {
        verdicts[index] = letters[i] as StoreVerdict;
      });
    });
    return { failed, error: firstError, again };
  }

  /** The FCALLs of a write: one per (user, source). */
  private calls(records: readonly StoreRecord[]): PendingCall[] {
    return this.applyCalls(records).map(({ userId, source, indexes, call }) => this.pending(userId, source, indexes, call));
  }

  /** The FCALL of one apply call: its keys (state, dedup, tombstone) and arguments. */
  private pending(userId: string, source: Source, indexes: number[], call: ApplyCall): PendingCall {
    // One tombstone per user for every version: it stays under the base prefix.
    const keys = [userStateKey(this.keyspace, userId), userDedupKey(this.keyspace, userId, source), tombstoneKey(this.options.prefix, userId), userHeadKey(this.keyspace, userId)];
    return { userId, source, indexes, args: [APPLY_KEYS.length, ...keys, ...encodeApplyArgs(call)] };
  }

  /**
   * The apply calls a write makes, one per (user, source), with the records each covers
   * (indexes into `records`): what the store model (store-model.ts applyCall) takes too.
   */
  applyCalls(records: readonly StoreRecord[]): Array<{ userId: string; source: Source; indexes: number[]; call: ApplyCall }> {
    // One call per (user, source). Each call prunes that user's dedup hash and stale tiles by
    // the ingest clock of its own records: never by another topic of the user that may be
    // consumed a day ahead, nor by another user's record stamped by an edge whose clock is off.
    const groups = new Map<string, { userId: string; source: Source; indexes: number[] }>();
    records.forEach((record, index) => {
      const { userId, source } = record.event;
      const key = `${source}\u0000${userId}`;
      const group = groups.get(key);
      if (group) group.indexes.push(index);
      else groups.set(key, { userId, source, indexes: [index] });
    });
    return [...groups.values()].map(({ userId, source, indexes }) => ({ userId, source, indexes, call: this.applyCall(records, indexes, '') }));
  }

  /** The apply call of one (user, source) over some of the records; `tombSeen`: the tombstone they honour. */
  private applyCall(records: readonly StoreRecord[], indexes: number[], tombSeen: string): ApplyCall {
    const clock = indexes.reduce((max, index) => Math.max(max, (records[index] as StoreRecord).event.ingestMs), -Infinity);
    const skipDedup = indexes.every((index) => (records[index] as StoreRecord).dedupDone === true);
    const events: ApplyEvent[] = indexes.map((index) => {
      const { event, topic, partition, offset, ops } = records[index] as StoreRecord;
      return {
        source: event.source,
        partitionKey: partitionKey(topic, partition),
        offset,
        dedupMember: skipDedup ? NO_MEMBER : dedupMember(event.eventKey),
        dedupScoreS: Math.floor(dedupTimeMs(event) / 1000),
        ingestMs: event.ingestMs,
        ops: ops.map(encodeOp),
      };
    });
    return {
      stateTtlMs: this.stateTtlMs,
      dedupTtlMs: this.dedupTtlMs,
      dedupPruneBeforeS: dedupPruneBeforeS(clock, this.options.allowedLatenessMs, this.options.dedupMarginMs),
      pruneBounds: this.operators.tileBounds(clock),
      pruneAboveFields: this.options.pruneAboveFields,
      events,
      tombSeen,
      ...(skipDedup ? { skipDedup } : {}),
    };
  }

  /**
   * Makes sure Redis serves this registry (see {@link ensureRegistered}); the sidecar calls it
   * every second, so an empty Redis is re-registered even while no record arrives.
   */
  ensureRegistered(): Promise<RegistryState> {
    return ensureRegistered(this.redis, this.operators.registry, this.options.prefix);
  }

  /** Publishes partition watermarks (ms) for the serving layer. */
  async writeWatermarks(entries: ReadonlyArray<{ source: NormalizedEvent['source']; partition: number; watermarkMs: number }>): Promise<void> {
    if (entries.length === 0) return;
    const flat: string[] = [];
    for (const entry of entries) flat.push(watermarkField(entry.source, entry.partition), String(entry.watermarkMs));
    await this.redis.hset(watermarkKey(this.keyspace), ...flat);
  }
}
