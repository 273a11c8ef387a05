/**
 * `churnfeat bootstrap`: loads one registry version's online state from the warehouse into its
 * own keyspace (`versionPrefix(prefix, version)`), cut at exact per-partition offsets, then
 * commits the version's consumer group to the cut so its sidecar starts exactly there
 * (docs/bootstrap.md). Users go in batches of pipelined writes; after each batch the
 * checkpoint (the last user loaded) goes into the bootstrap key, so a loader killed at any point
 * resumes after the last whole batch: each user's keys are deleted and written again in one
 * pipeline, so a batch done twice leaves the same state. It never writes outside the target
 * version's keyspace, and refuses the active version.
 */
import type { Admin } from 'kafkajs';
import { Cluster, type Redis } from 'ioredis';
import { sidecarGroupFor } from '../config/index.ts';
import { ChurnfeatError } from '../errors.ts';
import { SOURCES } from '../events/index.ts';
import type { FeatureRegistry } from '../features/index.ts';
import type { LakeStorage } from '../lake/index.ts';
import { activeVersionKey, bootstrapKey, collectVersionKeys, tombstoneKey, userDedupKey, userHeadKey, userKeys, userStateKey, versionPrefix } from '../store/index.ts';
import { WindowOperators } from '../windows/index.ts';
import { decodeCut, encodeCut, takeCut, type CutPartition } from './bootstrap-cut.ts';
import { buildUserState, type FeatureRow, type StatePolicy } from './bootstrap-state.ts';
import { ALL_USERS, formatUserShard, type UserShard } from './user-shard.ts';
import { BootstrapWarehouse } from './warehouse-rows.ts';

/** The default consumer group of a version's sidecar: the sidecar's own default for that version (config/option-table.ts). */
export function defaultVersionGroup(version: string): string {
  return sidecarGroupFor('', version);
}

/** Values of the bootstrap key's `state` field. */
export const BOOTSTRAP_STATE = { loading: 'loading', complete: 'complete' } as const;

/** The bootstrap key's fields holding one loader's progress: an unsharded load keeps the record's own `checkpoint`, `users_loaded`, `state`; shard k of n has `shard:<k>:…`. */
export interface ShardProgressFields {
  checkpoint: string;
  usersLoaded: string;
  state: string;
}

export function shardProgressFields(shard: UserShard): ShardProgressFields {
  if (shard.count === 1) return { checkpoint: 'checkpoint', usersLoaded: 'users_loaded', state: 'state' };
  return { checkpoint: `shard:${shard.index}:checkpoint`, usersLoaded: `shard:${shard.index}:users_loaded`, state: `shard:${shard.index}:state` };
}

export interface BootstrapRun {
  redis: Redis;
  admin: Admin;
  storage: LakeStorage;
  registry: FeatureRegistry;
  keyPrefix: string;
  /** The version loaded (default: the registry's version id). */
  version: string;
  topicNamespace: string;
  groupId: string;
  duckdbPath: string;
  /** The warehouse relation of dbt's int_feature_events. */
  table: string;
  batchUsers: number;
  /**
   * The shard of the user space this loader loads (default every user). The n loaders of one
   * version share the cut recorded before them, each checkpoints its own progress, and the
   * version's bootstrap is complete (the group committed to the cut) when the last one finishes.
   */
  shard?: UserShard;
  dryRun: boolean;
  /** Start again from a new cut: the version's keys and bootstrap record are deleted first (after Redis lost them, or to reload). */
  rebuild: boolean;
  /** Only take and record the cut (before the dbt run that must include it). */
  cutOnly: boolean;
  /**
   * Builds the warehouse after a cut was taken in this run (dbt run --select +int_feature_events),
   * so it holds every record below the cut. Without it a load needs a cut recorded by an earlier
   * run (`cutOnly`), with the warehouse built in between.
   */
  afterCut?: () => Promise<void>;
  onStart?: (plan: BootstrapPlan) => void;
  onProgress?: (loaded: number, total: number) => void;
}

/** What a bootstrap does, printed by --dry-run and before loading. */
export interface BootstrapPlan {
  version: string;
  keyspace: string;
  groupId: string;
  /** The shard loaded (`1/1`: every user). */
  shard: UserShard;
  cut: CutPartition[];
  /** The cut was recorded by an earlier run (resumed), not taken now. */
  cutRecorded: boolean;
  /** Users to load (of the shard). */
  users: number;
  /** Users loaded already (a resumed run). */
  usersLoaded: number;
  /** Keys at most written: per user the state hash and one dedup hash per source. */
  maxKeys: number;
}

export interface BootstrapResult {
  plan: BootstrapPlan;
  /** The version's bootstrap: `loading` when this shard is done and others are not (`pendingShards`). */
  state: 'complete' | 'loading' | 'planned';
  /** Users loaded by this loader's shard. */
  usersLoaded: number;
  /** The shards not complete yet (empty when the version's bootstrap is complete, or unsharded). */
  pendingShards: number[];
  applied: number;
  duplicates: number;
  elapsedMs: number;
}

export async function runBootstrap(run: BootstrapRun): Promise<BootstrapResult> {
  const started = Date.now();
  const { redis, registry, keyPrefix, version } = run;
  const shard = run.shard ?? ALL_USERS;
  const fields = shardProgressFields(shard);
  const keyspace = versionPrefix(keyPrefix, version);
  const key = bootstrapKey(keyPrefix, version);
  const active = await redis.get(activeVersionKey(keyPrefix));
  const record = run.rebuild ? {} : await redis.hgetall(key);
  // a rebuild's cut taken with --rebuild --cut-only lets the n shard loaders of the active version run
  if (active === version && !run.rebuild && record.rebuild === undefined) {
    throw new ChurnfeatError(
      'bootstrap_refused',
      `version ${version} is the active version (${activeVersionKey(keyPrefix)}): a bootstrap never writes into the keyspace readers follow; bootstrap a new version, or --rebuild after the store lost it (docs/bootstrap.md)`,
    );
  }
  if (shard.count > 1 && !run.cutOnly && (run.rebuild || run.afterCut !== undefined)) {
    throw new ChurnfeatError(
      'invalid_config',
      `--users ${formatUserShard(shard)}: the cut is taken and the warehouse built once for all shards, so a shard loader takes neither --rebuild nor --dbt-build: run bootstrap --cut-only (with --rebuild after a Redis loss), then dbt run --select +int_feature_events, then the ${shard.count} loaders`,
    );
  }
  if (!run.cutOnly && !run.dryRun && run.afterCut === undefined && record.cut === undefined) {
    throw new ChurnfeatError(
      'invalid_config',
      `no cut is recorded for version ${version}: the warehouse must be built after the cut is taken. Run with --cut-only, then dbt run --select +int_feature_events, then again without it; or pass --dbt-build to do the three in one run`,
    );
  }
  // a load begun unsharded (no `shards` field, a checkpoint) counts as one shard
  const recordedShards = record.shards ?? (record.checkpoint ? '1' : undefined);
  if (!run.cutOnly && recordedShards !== undefined && Number(recordedShards) !== shard.count) refuseShardCount(version, Number(recordedShards), shard);
  if (record.state !== BOOTSTRAP_STATE.complete && !run.dryRun) await refuseRunningGroup(run.admin, run.groupId);
  // SCAN MATCH on every master, UNLINK key by key (the bootstrap record goes too)
  if (run.rebuild && !run.dryRun) await collectVersionKeys(redis, keyPrefix, version, { batch: 1_000, pauseMs: 0 });
  const cutRecorded = record.cut !== undefined;
  let cut = cutRecorded ? decodeCut(record.cut as string) : await takeCut(run.admin, run.storage, run.topicNamespace);
  // loaders started together record one cut: the first one's (every field set only if unset, in one MULTI)
  const recordCut = async (): Promise<void> => {
    const initial: Record<string, string> = {
      cut: encodeCut(cut),
      state: BOOTSTRAP_STATE.loading,
      version,
      group: run.groupId,
      users_loaded: '0',
      checkpoint: '',
      started_at: new Date().toISOString(),
    };
    if (run.rebuild) initial.rebuild = '1';
    const multi = redis.multi();
    for (const [field, value] of Object.entries(initial)) multi.hsetnx(key, field, value);
    await multi.exec();
    cut = decodeCut((await redis.hget(key, 'cut')) as string);
  };
  const { allowedLatenessMs } = registry.policies;
  let usersLoaded = Number(record[fields.usersLoaded] ?? 0);
  const checkpoint = record[fields.checkpoint] ?? '';
  const planOf = (users: number): BootstrapPlan => ({ version, keyspace, groupId: run.groupId, shard, cut, cutRecorded, users, usersLoaded, maxKeys: users * (1 + SOURCES.length) });
  const result = (plan: BootstrapPlan, state: BootstrapResult['state'], counted = { applied: 0, duplicates: 0 }, pendingShards: number[] = []): BootstrapResult => ({
    plan,
    state,
    usersLoaded,
    ...counted,
    pendingShards,
    elapsedMs: Date.now() - started,
  });
  if (record.state === BOOTSTRAP_STATE.complete) return result(planOf(usersLoaded), 'complete');
  if (run.cutOnly) {
    const plan = planOf(0);
    if (!run.dryRun && !cutRecorded) await recordCut();
    return result(plan, run.dryRun ? 'planned' : 'loading');
  }
  if (!cutRecorded && !run.dryRun) await recordCut();
  if (!run.dryRun && (await redis.hsetnx(key, 'shards', shard.count)) === 0) {
    const shards = Number(await redis.hget(key, 'shards'));
    if (shards !== shard.count) refuseShardCount(version, shards, shard);
  }
  // this shard finished before (its loader stopped before the others did, or before the group was committed)
  if (shard.count > 1 && record[fields.state] === BOOTSTRAP_STATE.complete && !run.dryRun) {
    const pending = await completeWhenAllShards(run, key, shard.count, cut);
    return result(planOf(usersLoaded), pending.length === 0 ? 'complete' : 'loading', undefined, pending);
  }
  // a run killed during the warehouse build builds it again on resume
  if (run.afterCut !== undefined && record.warehouse_built_at === undefined && !run.dryRun) {
    await run.afterCut();
    await redis.hset(key, { warehouse_built_at: new Date().toISOString() });
  }
  const warehouse = await BootstrapWarehouse.open(run.duckdbPath, run.table, cut, registry.features, allowedLatenessMs, registry.policies.dedupMarginMs, shard);
  try {
    const total = await warehouse.countUsers();
    const plan = planOf(total);
    run.onStart?.(plan);
    if (run.dryRun) return result(plan, 'planned');
    run.onProgress?.(usersLoaded, total);
    const loaded = await loadUsers({
      redis,
      warehouse,
      registry,
      keyPrefix,
      keyspace,
      key,
      fields,
      batchUsers: run.batchUsers,
      after: checkpoint,
      usersLoaded,
      onBatch: (n) => run.onProgress?.(n, total),
    });
    usersLoaded = loaded.usersLoaded;
    const counted = { applied: loaded.applied, duplicates: loaded.duplicates };
    if (shard.count > 1) await redis.hset(key, { [fields.state]: BOOTSTRAP_STATE.complete, [`shard:${shard.index}:finished_at`]: new Date().toISOString() });
    const pending = await completeWhenAllShards(run, key, shard.count, cut);
    return result(plan, pending.length === 0 ? 'complete' : 'loading', counted, pending);
  } finally {
    warehouse.close();
  }
}

function refuseShardCount(version: string, recorded: number, shard: UserShard): never {
  throw new ChurnfeatError(
    'bootstrap_refused',
    `the bootstrap of version ${version} is loaded in ${recorded} shard(s) (its bootstrap key says so), not ${shard.count}: run the loaders with --users k/${recorded}, or start over with --rebuild --cut-only`,
  );
}

/**
 * Completes the version's bootstrap once every shard is complete: commits the group to the cut,
 * then `state` = complete with the users of all shards. Each shard's loader calls it after
 * marking itself complete, so the last one to finish sees every shard complete (a loader that
 * finds them complete twice commits the same offsets twice). Returns the shards not complete.
 */
async function completeWhenAllShards(run: BootstrapRun, key: string, count: number, cut: readonly CutPartition[]): Promise<number[]> {
  const record = await run.redis.hgetall(key);
  const shards = Array.from({ length: count }, (_, i) => ({ index: i + 1, count }));
  const pending = count === 1 ? [] : shards.filter((s) => record[shardProgressFields(s).state] !== BOOTSTRAP_STATE.complete).map((s) => s.index);
  if (pending.length > 0) return pending;
  await commitGroupOffsets(run.admin, run.groupId, cut);
  const usersLoaded = shards.reduce((sum, s) => sum + Number(record[shardProgressFields(s).usersLoaded] ?? 0), 0);
  await run.redis.hset(key, { state: BOOTSTRAP_STATE.complete, users_loaded: usersLoaded, finished_at: new Date().toISOString() });
  return [];
}

/** The batches of a load: from the user after `after`, checkpointing in `key` after each. */
export interface LoadUsers {
  redis: Redis;
  warehouse: BootstrapWarehouse;
  registry: FeatureRegistry;
  /** The base prefix (deletion tombstones live there). */
  keyPrefix: string;
  /** The version's keyspace, versionPrefix(keyPrefix, version). */
  keyspace: string;
  /** The bootstrap key the checkpoint goes to. */
  key: string;
  /** The fields of the checkpoint in `key` (default the unsharded load's). */
  fields?: Pick<ShardProgressFields, 'checkpoint' | 'usersLoaded'>;
  batchUsers: number;
  /** The last user loaded already ('' from the first). */
  after: string;
  usersLoaded: number;
  onBatch?: (usersLoaded: number) => void;
}

/**
 * Loads users in batches: per batch one warehouse query, one MGET of the tombstones and one
 * pipeline that deletes and writes each user's keys, then the checkpoint, in that order.
 */
export async function loadUsers(load: LoadUsers): Promise<{ usersLoaded: number; applied: number; duplicates: number; rowsRead: number }> {
  const { redis, warehouse, registry, keyPrefix, keyspace, key } = load;
  const fields = load.fields ?? shardProgressFields(ALL_USERS);
  const operators = new WindowOperators(registry);
  const { allowedLatenessMs, dedupMarginMs } = registry.policies;
  const policy: StatePolicy = {
    allowedLatenessMs,
    dedupMarginMs,
    oldestTile: (featureId, clockMs) => operators.tileBounds(clockMs).find((b) => b.featureId === featureId)?.oldestTile ?? 0,
  };
  const stateTtlMs = operators.stateTtlMs(allowedLatenessMs);
  const dedupTtlMs = allowedLatenessMs + dedupMarginMs + 3_600_000;
  let { after, usersLoaded } = load;
  let applied = 0;
  let duplicates = 0;
  let rowsRead = 0;
  const cluster = (redis as unknown) instanceof Cluster;
  for await (const { users, rows, heads } of warehouse.userBatches(after, load.batchUsers)) {
    const last = users[users.length - 1] as string;
    rowsRead += rows.length;
    const tombs = cluster
      ? await getEach(
          redis,
          users.map((user) => tombstoneKey(keyPrefix, user)),
        )
      : await redis.mget(...users.map((user) => tombstoneKey(keyPrefix, user)));
    const byUser = new Map<string, FeatureRow[]>();
    for (const row of rows) {
      const list = byUser.get(row.userId);
      if (list) list.push(row);
      else byUser.set(row.userId, [row]);
    }
    // `call`-style commands: what the Cluster client's pipeline takes (config/redis-client.ts ClusterPipeline)
    const pipeline = redis.pipeline();
    users.forEach((user, index) => {
      const tomb = tombs[index];
      const state = buildUserState(byUser.get(user) ?? [], registry.features, policy, tomb === null || tomb === undefined ? null : Number(tomb), heads?.get(user) ?? null);
      applied += state.applied;
      duplicates += state.duplicates;
      pipeline.call('UNLINK', ...userKeys(keyspace, user));
      if (state.fields.size > 0) {
        pipeline.call('HSET', userStateKey(keyspace, user), ...[...state.fields].flat());
        pipeline.call('PEXPIRE', userStateKey(keyspace, user), stateTtlMs);
      }
      if (state.head !== null) pipeline.call('SET', userHeadKey(keyspace, user), state.head, 'PX', stateTtlMs);
      for (const [source, buckets] of state.dedup) {
        const dedupKey = userDedupKey(keyspace, user, source);
        pipeline.call('HSET', dedupKey, ...[...buckets].flat());
        pipeline.call('PEXPIRE', dedupKey, dedupTtlMs);
      }
    });
    const from = after;
    after = last;
    usersLoaded += users.length;
    const checkpoint = { [fields.checkpoint]: after, [fields.usersLoaded]: usersLoaded, updated_at: new Date().toISOString() };
    // the checkpoint only after every write of the batch: last in the pipeline of one node; on a
    // Cluster after the batch's replies (its commands go to several nodes in no set order)
    if (!cluster) pipeline.call('HSET', key, ...Object.entries(checkpoint).flat());
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([error]) => error !== null);
    if (failed)
      throw new ChurnfeatError('redis_unavailable', `bootstrap batch after user ${JSON.stringify(from)} failed: ${(failed[0] as Error).message}`, { cause: failed[0] as Error, retryable: true });
    if (cluster) await redis.hset(key, checkpoint);
    load.onBatch?.(usersLoaded);
  }
  return { usersLoaded, applied, duplicates, rowsRead };
}

/** GET of each key, pipelined by the client (a Cluster refuses an MGET across slots). */
async function getEach(redis: Redis, keys: readonly string[]): Promise<Array<string | null>> {
  return Promise.all(keys.map((k) => redis.get(k)));
}

/** A bootstrap commits the group's offsets at its end, which Kafka refuses while the group has members: refuse at the start instead. */
async function refuseRunningGroup(admin: Admin, groupId: string): Promise<void> {
  const { groups } = await admin.describeGroups([groupId]);
  const group = groups[0];
  if (group !== undefined && group.members.length > 0) {
    throw new ChurnfeatError(
      'bootstrap_refused',
      `consumer group ${groupId} has ${group.members.length} running member(s) (state ${group.state}): stop the version's sidecar before a bootstrap or rebuild (docs/bootstrap.md)`,
    );
  }
}

/** Commits the version's consumer group to the cut (the group must have no running member). */
export async function commitGroupOffsets(admin: Admin, groupId: string, cut: readonly CutPartition[]): Promise<void> {
  const byTopic = new Map<string, Array<{ partition: number; offset: string }>>();
  for (const c of cut) byTopic.set(c.topic, [...(byTopic.get(c.topic) ?? []), { partition: c.partition, offset: String(c.offset) }]);
  for (const [topic, partitions] of byTopic) await admin.setOffsets({ groupId, topic, partitions });
}
