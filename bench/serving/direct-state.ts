/**
 * Fast bulk load for the benchmark: computes in TypeScript the exact state the write
 * function (cf_apply in sidecar/src/store/lua/churnfeat.lua) would leave for a user's
 * records, and writes it with plain pipelined HSET / ZADD / PEXPIRE. Loading a million
 * users through cf_apply costs about 2 ms of Redis time per user (25 events, one Lua call
 * each); this costs a few microseconds. It is a benchmark shortcut, not a second write
 * path: `verifyDirectLoad` loads a sample both ways and refuses to go on unless the keys
 * are identical, so a change in the store layout or apply semantics cannot go unnoticed.
 */
import type { Redis } from 'ioredis';
import type { Source } from '../../sidecar/src/events/index.ts';
import { applyOp, DEDUP_TILE_S, dedupMember, dedupTimeMs, dedupTileField, dedupTileHas, encodeOp, partitionKey, sourceField, userDedupKey, userStateKey, type StoreRecord } from '../../sidecar/src/store/index.ts';

/** The state hash and dedup sets one user ends with. */
export interface DirectState {
  fields: Map<string, string>;
  dedup: Map<Source, Map<string, Buffer>>;
}

/**
 * Folds one user's records (one FeatureWriter batch: fresh offsets, no duplicates) into the
 * state cf_apply would produce. `dedupBefore` is the prune bound (seconds) per source.
 */
export function directState(records: readonly StoreRecord[], dedupBefore: ReadonlyMap<Source, number>): DirectState {
  const fields = new Map<string, string>();
  const dedup = new Map<Source, Map<string, Buffer>>();
  for (const { event, topic, partition, offset, ops } of records) {
    const tiles = dedup.get(event.source) ?? new Map<string, Buffer>();
    dedup.set(event.source, tiles);
    const member = dedupMember(event.eventKey);
    const tile = dedupTileField(Math.floor(dedupTimeMs(event) / 1000));
    const packed = tiles.get(tile);
    if (packed !== undefined && dedupTileHas(packed, member)) throw new Error(`bench profile produced a duplicate event key ${event.eventKey}`);
    tiles.set(tile, packed === undefined ? member : Buffer.concat([packed, member]));
    for (const op of ops) applyOp(fields, encodeOp(op));
    const source = sourceField(event.source);
    const previous = fields.get(source);
    const appliedIngest = previous === undefined ? 0 : Number(previous.slice(previous.lastIndexOf('|') + 1));
    fields.set(source, `${partitionKey(topic, partition)}|${offset}|${Math.max(appliedIngest, event.ingestMs)}`);
  }
  for (const [source, tiles] of dedup) {
    const bound = dedupBefore.get(source) ?? -Infinity;
    for (const tile of [...tiles.keys()]) if ((Number(tile) + 1) * DEDUP_TILE_S <= bound) tiles.delete(tile);
    if (tiles.size === 0) dedup.delete(source);
  }
  return { fields, dedup };
}

/** The dedup prune bound (seconds) per source, from the newest ingest time among `records` (pass one user's records: FeatureWriter prunes per user and source). */
export function dedupBounds(records: readonly StoreRecord[], allowedLatenessMs: number, dedupMarginMs: number): Map<Source, number> {
  const clocks = new Map<Source, number>();
  for (const { event } of records) clocks.set(event.source, Math.max(clocks.get(event.source) ?? 0, event.ingestMs));
  return new Map([...clocks].map(([source, clock]) => [source, Math.floor((clock - allowedLatenessMs - dedupMarginMs) / 1000)]));
}

/** Queues the writes of one user's state on a pipeline; the TTLs are FeatureWriter's (state, dedup sets). */
export function queueDirectState(pipeline: ReturnType<Redis['pipeline']>, prefix: string, userId: string, state: DirectState, ttl: { stateMs: number; dedupMs: number }): void {
  const stateKey = userStateKey(prefix, userId);
  const flat: string[] = [];
  for (const [field, value] of state.fields) flat.push(field, value);
  if (flat.length > 0) {
    pipeline.hset(stateKey, ...flat);
    pipeline.pexpire(stateKey, ttl.stateMs);
  }
  for (const [source, tiles] of state.dedup) {
    const key = userDedupKey(prefix, userId, source);
    const args: Array<string | Buffer> = [];
    for (const [tile, packed] of tiles) args.push(tile, packed);
    pipeline.hset(key, ...args);
    pipeline.pexpire(key, ttl.dedupMs);
  }
}
