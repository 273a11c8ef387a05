import type { Redis } from 'ioredis';
import { DEDUP_ENTRY_BYTES, DEDUP_MEMBER_BYTES, DEDUP_TILE_S, decodeHead, decodeLast, FIELD_PREFIX, tombstoneKey, userKeys, versionCatalogKey, versionPrefix } from '../store/index.ts';

/**
 * The keyspaces a user's state may live in: the base prefix (the unversioned layout) and
 * `versionPrefix(prefix, v)` of every version listed in the catalog `versionCatalogKey(prefix)`.
 * A key under a version the catalog does not list is outside every erasure (docs/deletion.md).
 */
export async function userKeyspaces(redis: Redis, prefix: string): Promise<string[]> {
  const versions = (await redis.hkeys(versionCatalogKey(prefix))).sort();
  return [prefix, ...versions.map((version) => versionPrefix(prefix, version))];
}

/** Every key the layout gives the user in every keyspace (not the tombstone). */
function allUserKeys(keyspaces: readonly string[], userId: string): string[] {
  return keyspaces.flatMap((keyspace) => userKeys(keyspace, userId));
}

export interface OnlineErasure {
  /** Keys deleted (the layout's keys that existed, in every keyspace). */
  keysDeleted: number;
  /** Keyspaces erased: the base prefix and every version of the catalog. */
  keyspaces: number;
  /** The tombstone's value and when it expires (epoch ms); null when its horizon had passed. */
  tombstone: { value: string; expiresAtMs: number } | null;
}

/**
 * Writes the user's tombstone (under the base prefix: one covers every version), then deletes
 * the user's keys in every keyspace (`userKeyspaces`), in one MULTI, tombstone first: every key
 * carries the user's hash tag, so this is one slot on Redis Cluster too, and no SCAN is needed.
 * The tombstone holds the latest deletion time of the user and expires `horizonMs` after it: by
 * then no record from before the deletion can be applied (too late) or replayed (gone from
 * Kafka). Idempotent.
 */
export async function eraseOnline(redis: Redis, prefix: string, userId: string, deletedBeforeMs: number, horizonMs: number, nowMs: number = Date.now()): Promise<OnlineErasure> {
  const tomb = tombstoneKey(prefix, userId);
  const current = Number((await redis.get(tomb)) ?? '0');
  const deletedBefore = Math.max(current, deletedBeforeMs);
  const expiresAtMs = deletedBefore + horizonMs;
  const keyspaces = await userKeyspaces(redis, prefix);
  const multi = redis.multi();
  const withTombstone = expiresAtMs > nowMs;
  if (withTombstone) multi.set(tomb, String(deletedBefore), 'PXAT', expiresAtMs);
  multi.del(...allUserKeys(keyspaces, userId));
  const results = (await multi.exec()) ?? [];
  for (const [error] of results) if (error) throw error;
  const deleted = Number((results[results.length - 1] as [Error | null, unknown])[1]);
  return { keysDeleted: deleted, keyspaces: keyspaces.length, tombstone: withTombstone ? { value: String(deletedBefore), expiresAtMs } : null };
}

/**
 * Re-asserts the tombstone of an erasure already done (a Redis that restarted empty lost it),
 * keeping the latest deletion time, without touching the user's keys: those of a returning
 * customer (records at or after the deletion) stay.
 */
export async function reassertTombstone(redis: Redis, prefix: string, userId: string, deletedBeforeMs: number, horizonMs: number, nowMs: number = Date.now()): Promise<boolean> {
  const tomb = tombstoneKey(prefix, userId);
  const current = Number((await redis.get(tomb)) ?? '0');
  if (current >= deletedBeforeMs || deletedBeforeMs + horizonMs <= nowMs) return false;
  await redis.set(tomb, String(deletedBeforeMs), 'PXAT', deletedBeforeMs + horizonMs);
  return true;
}

/** True when a packed dedup bucket holds an entry whose event-time tile lies wholly before `deletedBeforeMs`. */
export function dedupBucketHoldsBefore(packed: Buffer, deletedBeforeMs: number): boolean {
  const deletionTile = Math.floor(deletedBeforeMs / 1000 / DEDUP_TILE_S);
  for (let at = 0; at + DEDUP_ENTRY_BYTES <= packed.length; at += DEDUP_ENTRY_BYTES) {
    const behind = (((deletionTile - packed.readUInt16BE(at + DEDUP_MEMBER_BYTES)) % 65_536) + 65_536) % 65_536;
    if (behind >= 1 && behind < 32_768) return true;
  }
  return false;
}

/**
 * True when a key of the user holds something from before the deletion: a state hash (or its
 * read head) with a newest-event time or a `last` candidate before it, a dedup hash (`:dt:`) with an entry whose
 * event-time tile lies wholly before it, a store protocol 2 dedup set with an entry (event time,
 * s) before it, or a key of a type this layout does not write. A returning customer's keys,
 * rebuilt from records at or after the deletion only, are not leftovers (a dedup entry in the
 * deletion's own 15-minute tile cannot be told apart and counts as after: it was written after
 * the erasure deleted the hash, so it passed the tombstone).
 */
async function holdsBefore(redis: Redis, key: string, deletedBeforeMs: number): Promise<boolean> {
  const type = await redis.type(key);
  if (type === 'none') return false;
  if (type === 'zset') return (await redis.zcount(key, '-inf', `(${Math.floor(deletedBeforeMs / 1000)}`)) > 0;
  // the read head (store protocol 7) copies the state hash's e: and l: fields
  if (type === 'string' && key.endsWith('}:h')) return fieldsHoldBefore(decodeHead((await redis.get(key)) ?? '').fields, deletedBeforeMs);
  if (type !== 'hash') return true;
  if (/:dt:[^:]+$/.test(key)) {
    for (const packed of Object.values(await redis.hgetallBuffer(key))) if (dedupBucketHoldsBefore(packed, deletedBeforeMs)) return true;
    return false;
  }
  return fieldsHoldBefore(new Map(Object.entries(await redis.hgetall(key))), deletedBeforeMs);
}

/** True when state fields hold a newest-event time or a `last` candidate from before the deletion. */
function fieldsHoldBefore(fields: ReadonlyMap<string, string>, deletedBeforeMs: number): boolean {
  for (const [field, value] of fields) {
    if (field.startsWith(`${FIELD_PREFIX.latestEvent}:`) && Number(value) < deletedBeforeMs) return true;
    if (field.startsWith(`${FIELD_PREFIX.last}:`) && decodeLast(value).eventMs < deletedBeforeMs) return true;
  }
  return false;
}

/**
 * The verification: the layout's keys of the user in every keyspace (base prefix and every
 * catalog version; no SCAN). Done when none holds anything from before the deletion
 * (`leftovers` empty); `keys` also lists a returning customer's keys.
 */
export async function verifyOnline(
  redis: Redis,
  prefix: string,
  userId: string,
  deletedBeforeMs: number,
): Promise<{ keys: string[]; leftovers: string[]; tombstone: string | null; keyspaces: string[] }> {
  const keyspaces = await userKeyspaces(redis, prefix);
  const keys: string[] = [];
  const leftovers: string[] = [];
  for (const key of allUserKeys(keyspaces, userId)) {
    if ((await redis.exists(key)) === 0) continue;
    keys.push(key);
    if (await holdsBefore(redis, key, deletedBeforeMs)) leftovers.push(key);
  }
  return { keys, leftovers, tombstone: await redis.get(tombstoneKey(prefix, userId)), keyspaces };
}
