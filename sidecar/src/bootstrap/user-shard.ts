/**
 * The shards of a bootstrap's user space: `churnfeat bootstrap --users k/n` loads only the users
 * of shard k of n, so n loaders run side by side (docs/bootstrap.md, "Sharded loaders"). A user's
 * shard is the first 32 bits of the MD5 of its id, big-endian, modulo n, plus one: computed by
 * the warehouse query (DuckDB's md5) so a loader reads only its own rows, and here for tests and
 * tools. MD5 is no secret here, only a hash both sides compute the same way.
 */
import { createHash } from 'node:crypto';
import { UsageError } from '../config/index.ts';

/** One shard of the user space: `index` of `count`, 1-based (`1/1` is every user). */
export interface UserShard {
  index: number;
  count: number;
}

/** Every user: the unsharded load. */
export const ALL_USERS: UserShard = { index: 1, count: 1 };

/** The most shards a load is cut into (one per Redis Cluster slot). */
export const MAX_USER_SHARDS = 16_384;

/** `k/n` (1 <= k <= n <= 16384) as a shard; anything else is a bad command line. */
export function parseUserShard(text: string): UserShard {
  const match = /^([0-9]{1,5})\/([0-9]{1,5})$/.exec(text.trim());
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (match === null || index < 1 || count < 1 || index > count || count > MAX_USER_SHARDS) {
    throw new UsageError(`--users ${JSON.stringify(text)}: expected k/n with 1 <= k <= n <= ${MAX_USER_SHARDS} (shard k of n of the user space, e.g. 2/4)`);
  }
  return { index, count };
}

export function formatUserShard(shard: UserShard): string {
  return `${shard.index}/${shard.count}`;
}

/** The shard (1..count) of a user id. */
export function userShardOf(userId: string, count: number): number {
  return (createHash('md5').update(userId, 'utf8').digest().readUInt32BE(0) % count) + 1;
}

/** The same as {@link userShardOf}, as a DuckDB expression over the text column `column`. */
export function userShardSql(column: string, count: number): string {
  return `(cast(('0x' || substr(md5(${column}), 1, 8)) as ubigint) % ${count} + 1)`;
}
