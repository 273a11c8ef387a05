import type { Redis } from 'ioredis';
import { decodeLast, FIELD_PREFIX, tombstoneKey, userKeys, userStateKey } from '../store/index.ts';

/** Escapes the glob characters of a Redis MATCH pattern. */
function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** Every key of the user's hash tag but the tombstone: what a SCAN finds of the user. */
async function scanUserKeys(redis: Redis, prefix: string, userId: string): Promise<string[]> {
  const tomb = tombstoneKey(prefix, userId);
  const pattern = `${globLiteral(userStateKey(prefix, userId))}*`;
  const found = new Set<string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    for (const key of keys) if (key !== tomb) found.add(key);
    cursor = next;
  } while (cursor !== '0');
  return [...found].sort();
}

export interface OnlineErasure {
  /** Keys deleted (the layout's keys that existed, plus any older-layout key the sweep found). */
  keysDeleted: number;
  /** The tombstone's value and when it expires (epoch ms); null when its horizon had passed. */
  tombstone: { value: string; expiresAtMs: number } | null;
}

/**
 * Writes the user's tombstone, then deletes the user's keys (in one MULTI, tombstone first:
 * the keys share the user's hash tag, so this is one slot on Redis Cluster too), then sweeps
 * `<prefix>:{<user_id>}*` for keys of older layouts. The tombstone holds the latest deletion
 * time of the user and expires `horizonMs` after it: by then no record from before the
 * deletion can be applied (too late) or replayed (gone from Kafka). Idempotent.
 */
export async function eraseOnline(redis: Redis, prefix: string, userId: string, deletedBeforeMs: number, horizonMs: number, nowMs: number = Date.now()): Promise<OnlineErasure> {
  const tomb = tombstoneKey(prefix, userId);
  const current = Number((await redis.get(tomb)) ?? '0');
  const deletedBefore = Math.max(current, deletedBeforeMs);
  const expiresAtMs = deletedBefore + horizonMs;
  const multi = redis.multi();
  const withTombstone = expiresAtMs > nowMs;
  if (withTombstone) multi.set(tomb, String(deletedBefore), 'PXAT', expiresAtMs);
  multi.del(...userKeys(prefix, userId));
  const results = (await multi.exec()) ?? [];
  for (const [error] of results) if (error) throw error;
  const deleted = Number((results[results.length - 1] as [Error | null, unknown])[1]);
  const leftovers = await scanUserKeys(redis, prefix, userId);
  const swept = leftovers.length > 0 ? await redis.del(...leftovers) : 0;
  return { keysDeleted: deleted + swept, tombstone: withTombstone ? { value: String(deletedBefore), expiresAtMs } : null };
}

/**
 * True when a key of the user holds something from before the deletion: a state hash with a
 * newest-event time or a `last` candidate before it, a dedup set with an entry (event time, s)
 * before it, or a key of a type this layout does not write. A returning customer's keys,
 * rebuilt from records at or after the deletion only, are not leftovers.
 */
async function holdsBefore(redis: Redis, key: string, deletedBeforeMs: number): Promise<boolean> {
  const type = await redis.type(key);
  if (type === 'none') return false;
  if (type === 'zset') return (await redis.zcount(key, '-inf', `(${Math.floor(deletedBeforeMs / 1000)}`)) > 0;
  if (type !== 'hash') return true;
  for (const [field, value] of Object.entries(await redis.hgetall(key))) {
    if (field.startsWith(`${FIELD_PREFIX.latestEvent}:`) && Number(value) < deletedBeforeMs) return true;
    if (field.startsWith(`${FIELD_PREFIX.last}:`) && decodeLast(value).eventMs < deletedBeforeMs) return true;
  }
  return false;
}

/**
 * The verification: a SCAN of the user's hash tag. Done when no key holds anything from
 * before the deletion (`leftovers` empty); `keys` also lists a returning customer's keys.
 */
export async function verifyOnline(redis: Redis, prefix: string, userId: string, deletedBeforeMs: number): Promise<{ keys: string[]; leftovers: string[]; tombstone: string | null; pattern: string }> {
  const keys = await scanUserKeys(redis, prefix, userId);
  const leftovers: string[] = [];
  for (const key of keys) if (await holdsBefore(redis, key, deletedBeforeMs)) leftovers.push(key);
  return { keys, leftovers, tombstone: await redis.get(tombstoneKey(prefix, userId)), pattern: `${userStateKey(prefix, userId)}*` };
}
