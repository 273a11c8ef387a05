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
import { applyCall, userDedupKey, userHeadKey, userStateKey, type FeatureWriter, type ModelState, type ReadFeature, type StoreRecord } from '../../sidecar/src/store/index.ts';

/** The state hash, dedup hashes and read head (store protocol 7) one user ends with. */
export interface DirectState {
  fields: Map<string, string>;
  dedup: Map<Source, Map<string, Buffer>>;
  head: string | null;
}

/**
 * Folds one user's records (one FeatureWriter batch) into the state cf_apply would produce:
 * the writer's own apply calls, run by the store model (store-model.ts, held to the Lua by
 * its property tests).
 */
export function directState(writer: FeatureWriter, features: readonly ReadFeature[], records: readonly StoreRecord[]): DirectState {
  const fields = new Map<string, string>();
  const dedup = new Map<Source, Map<string, Buffer>>();
  let head: string | null = null;
  for (const { source, call } of writer.applyCalls(records)) {
    const tiles = dedup.get(source) ?? new Map<string, Buffer>();
    dedup.set(source, tiles);
    const state: ModelState = { fields, dedup: tiles, head };
    const verdicts = applyCall(state, call, features);
    head = state.head ?? null;
    if (verdicts.some((v) => v !== 'applied')) throw new Error('bench profile produced a duplicate event key');
    if (tiles.size === 0) dedup.delete(source);
  }
  return { fields, dedup, head };
}

/** Queues the writes of one user's state on a pipeline; the TTLs are FeatureWriter's (state, dedup sets). `prefix`: the version's keyspace (versionPrefix), as FeatureWriter writes it. */
export function queueDirectState(pipeline: ReturnType<Redis['pipeline']>, prefix: string, userId: string, state: DirectState, ttl: { stateMs: number; dedupMs: number }): void {
  const stateKey = userStateKey(prefix, userId);
  const flat: string[] = [];
  for (const [field, value] of state.fields) flat.push(field, value);
  if (flat.length > 0) {
    pipeline.hset(stateKey, ...flat);
    pipeline.pexpire(stateKey, ttl.stateMs);
  }
  if (state.head !== null) pipeline.set(userHeadKey(prefix, userId), state.head, 'PX', ttl.stateMs);
  for (const [source, tiles] of state.dedup) {
    const key = userDedupKey(prefix, userId, source);
    const args: Array<string | Buffer> = [];
    for (const [tile, packed] of tiles) args.push(tile, packed);
    pipeline.hset(key, ...args);
    pipeline.pexpire(key, ttl.dedupMs);
  }
}
