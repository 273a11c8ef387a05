/**
 * A version's bootstrap progress, read from its bootstrap key (the fields the loaders write,
 * bootstrap-loader.ts shardProgressFields): per shard complete or not and the users it loaded,
 * the shards still pending. `churnfeat version status` prints it and cutover refuses with it
 * (store/version-catalog.ts planCutover). Read-only: one HGETALL.
 */
import type { Redis } from 'ioredis';
import { bootstrapKey, type BootstrapProgress, type BootstrapShardProgress } from '../store/index.ts';
import { ALL_USERS } from './user-shard.ts';
import { BOOTSTRAP_STATE, shardProgressFields } from './bootstrap-loader.ts';

/** The progress a bootstrap key's fields say, or null when the key is empty (no bootstrap ran for the version). */
export function bootstrapProgressOf(record: Readonly<Record<string, string>>): BootstrapProgress | null {
  if (Object.keys(record).length === 0) return null;
  const complete = record.state === BOOTSTRAP_STATE.complete;
  // a load begun unsharded before the `shards` field existed counts as one shard (as the loader does)
  const recorded = record.shards ?? (record.checkpoint ? '1' : undefined);
  const shards = recorded === undefined ? null : Number(recorded);
  const perShard: BootstrapShardProgress[] = [];
  for (let index = 1; index <= (shards ?? 0); index += 1) {
    const shard = shards === 1 ? ALL_USERS : { index, count: shards as number };
    const fields = shardProgressFields(shard);
    const usersLoaded = Number(record[fields.usersLoaded] ?? 0);
    const started = usersLoaded > 0 || (record[fields.checkpoint] ?? '') !== '';
    const done = complete || record[fields.state] === BOOTSTRAP_STATE.complete;
    const finishedAt = (shards === 1 ? record.finished_at : record[`shard:${index}:finished_at`]) ?? null;
    perShard.push({ shard: index, state: done ? 'complete' : started ? 'loading' : 'not started', usersLoaded, finishedAt });
  }
  const shardsUsers = perShard.reduce((sum, s) => sum + s.usersLoaded, 0);
  return {
    state: complete ? 'complete' : 'loading',
    shards,
    shardsComplete: perShard.filter((s) => s.state === 'complete').length,
    usersLoaded: complete ? Number(record.users_loaded ?? shardsUsers) : shardsUsers,
    startedAt: record.started_at ?? null,
    finishedAt: complete ? (record.finished_at ?? null) : null,
    perShard,
    pendingShards: perShard.filter((s) => s.state !== 'complete').map((s) => s.shard),
  };
}

/** The bootstrap progress of `version` under the base prefix, or null when no bootstrap ran for it. */
export async function readBootstrapProgress(redis: Redis, prefix: string, version: string): Promise<BootstrapProgress | null> {
  return bootstrapProgressOf(await redis.hgetall(bootstrapKey(prefix, version)));
}

/** One line per shard for the text of `version status`: `shard 2/3  loading  12 users loaded`. */
export function describeBootstrapProgress(progress: BootstrapProgress): string[] {
  const head =
    progress.shards === null
      ? `${progress.state}: cut taken, no loader started`
      : `${progress.state}: ${progress.shardsComplete}/${progress.shards} shard(s) complete, ${progress.usersLoaded} users loaded${progress.pendingShards.length > 0 ? `; pending: ${progress.pendingShards.join(', ')}` : ''}`;
  const rows = progress.perShard.map(
    (s) => `  shard ${s.shard}/${progress.shards}  ${s.state.padEnd(11)} ${s.usersLoaded} users loaded${s.finishedAt === null ? '' : `, finished at ${s.finishedAt}`}`,
  );
  return [head, ...(progress.shards === 1 ? [] : rows)];
}
