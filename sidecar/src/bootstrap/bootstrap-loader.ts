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
import type { Redis } from 'ioredis';
import { sidecarGroupFor } from '../config/index.ts';
import { ChurnfeatError } from '../errors.ts';
import { SOURCES } from '../events/index.ts';
import type { FeatureRegistry } from '../features/index.ts';
import type { LakeStorage } from '../lake/index.ts';
import { activeVersionKey, bootstrapKey, tombstoneKey, userDedupKey, userHeadKey, userKeys, userStateKey, versionPrefix } from '../store/index.ts';
import { WindowOperators } from '../windows/index.ts';
import { decodeCut, encodeCut, takeCut, type CutPartition } from './bootstrap-cut.ts';
import { buildUserState, type FeatureRow, type StatePolicy } from './bootstrap-state.ts';
import { BootstrapWarehouse } from './warehouse-rows.ts';

/** The default consumer group of a version's sidecar: the sidecar's own default for that version (config/option-table.ts). */
export function defaultVersionGroup(version: string): string {
  return sidecarGroupFor('', version);
}

/** Values of the bootstrap key's `state` field. */
export const BOOTSTRAP_STATE = { loading: 'loading', complete: 'complete' } as const;

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
  cut: CutPartition[];
  /** The cut was recorded by an earlier run (resumed), not taken now. */
  cutRecorded: boolean;
  users: number;
  /** Users loaded already (a resumed run). */
  usersLoaded: number;
  /** Keys at most written: per user the state hash and one dedup hash per source. */
  maxKeys: number;
}

export interface BootstrapResult {
  plan: BootstrapPlan;
  state: 'complete' | 'loading' | 'planned';
  usersLoaded: number;
  applied: number;
  duplicates: number;
  elapsedMs: number;
}

/** Deletes every key of a version's keyspace, SCAN batch by SCAN batch (UNLINK: freed off the main thread). */
async function unlinkKeyspace(redis: Redis, keyspace: string): Promise<number> {
  let cursor = '0';
  let removed = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyspace}:*`, 'COUNT', 1_000);
    cursor = next;
    if (keys.length > 0) removed += await redis.unlink(...keys);
  } while (cursor !== '0');
  return removed;
}

export async function runBootstrap(run: BootstrapRun): Promise<BootstrapResult> {
  const started = Date.now();
  const { redis, registry, keyPrefix, version } = run;
  const keyspace = versionPrefix(keyPrefix, version);
  const key = bootstrapKey(keyPrefix, version);
  const active = await redis.get(activeVersionKey(keyPrefix));
  if (active === version && !run.rebuild) {
    throw new ChurnfeatError(
      'bootstrap_refused',
      `version ${version} is the active version (${activeVersionKey(keyPrefix)}): a bootstrap never writes into the keyspace readers follow; bootstrap a new version, or --rebuild after the store lost it (docs/bootstrap.md)`,
    );
  }
  const record = run.rebuild ? {} : await redis.hgetall(key);
  if (!run.cutOnly && !run.dryRun && run.afterCut === undefined && record.cut === undefined) {
    throw new ChurnfeatError(
      'invalid_config',
      `no cut is recorded for version ${version}: the warehouse must be built after the cut is taken. Run with --cut-only, then dbt run --select +int_feature_events, then again without it; or pass --dbt-build to do the three in one run`,
    );
  }
  if (record.state !== BOOTSTRAP_STATE.complete && !run.dryRun) await refuseRunningGroup(run.admin, run.groupId);
  if (run.rebuild && !run.dryRun) await unlinkKeyspace(redis, keyspace);
  const cutRecorded = record.cut !== undefined;
  const cut = cutRecorded ? decodeCut(record.cut as string) : await takeCut(run.admin, run.storage, run.topicNamespace);
  const recordCut = async (): Promise<void> => {
    await redis.hset(key, { state: BOOTSTRAP_STATE.loading, version, group: run.groupId, cut: encodeCut(cut), users_loaded: 0, checkpoint: '', started_at: new Date().toISOString() });
  };
  const { allowedLatenessMs } = registry.policies;
  let usersLoaded = Number(record.users_loaded ?? 0);
  const checkpoint = record.checkpoint ?? '';
  const planOf = (users: number): BootstrapPlan => ({ version, keyspace, groupId: run.groupId, cut, cutRecorded, users, usersLoaded, maxKeys: users * (1 + SOURCES.length) });
  if (record.state === BOOTSTRAP_STATE.complete) {
    return { plan: planOf(usersLoaded), state: 'complete', usersLoaded, applied: 0, duplicates: 0, elapsedMs: Date.now() - started };
  }
  if (run.cutOnly) {
    const plan = planOf(0);
    if (!run.dryRun && !cutRecorded) await recordCut();
    return { plan, state: run.dryRun ? 'planned' : 'loading', usersLoaded: 0, applied: 0, duplicates: 0, elapsedMs: Date.now() - started };
  }
  if (!cutRecorded && !run.dryRun) await recordCut();
  // a run killed during the warehouse build builds it again on resume
  if (run.afterCut !== undefined && record.warehouse_built_at === undefined && !run.dryRun) {
    await run.afterCut();
    await redis.hset(key, { warehouse_built_at: new Date().toISOString() });
  }
  const warehouse = await BootstrapWarehouse.open(run.duckdbPath, run.table, cut, registry.features, allowedLatenessMs, registry.policies.dedupMarginMs);
  try {
    const total = await warehouse.countUsers();
    const plan = planOf(total);
    run.onStart?.(plan);
    if (run.dryRun) return { plan, state: 'planned', usersLoaded, applied: 0, duplicates: 0, elapsedMs: Date.now() - started };
    run.onProgress?.(usersLoaded, total);
    const loaded = await loadUsers({ redis, warehouse, registry, keyPrefix, keyspace, key, batchUsers: run.batchUsers, after: checkpoint, usersLoaded, onBatch: (n) => run.onProgress?.(n, total) });
    usersLoaded = loaded.usersLoaded;
    const { applied, duplicates } = loaded;
    await commitGroupOffsets(run.admin, run.groupId, cut);
    await redis.hset(key, { state: BOOTSTRAP_STATE.complete, users_loaded: usersLoaded, finished_at: new Date().toISOString() });
    return { plan, state: 'complete', usersLoaded, applied, duplicates, elapsedMs: Date.now() - started };
  } finally {
    warehouse.close();
  }
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
  for await (const { users, rows, heads } of warehouse.userBatches(after, load.batchUsers)) {
    const last = users[users.length - 1] as string;
    rowsRead += rows.length;
    const tombs = await redis.mget(...users.map((user) => tombstoneKey(keyPrefix, user)));
    const byUser = new Map<string, FeatureRow[]>();
    for (const row of rows) {
      const list = byUser.get(row.userId);
      if (list) list.push(row);
      else byUser.set(row.userId, [row]);
    }
    const pipeline = redis.pipeline();
    users.forEach((user, index) => {
      const tomb = tombs[index];
      const state = buildUserState(byUser.get(user) ?? [], registry.features, policy, tomb === null || tomb === undefined ? null : Number(tomb), heads?.get(user) ?? null);
      applied += state.applied;
      duplicates += state.duplicates;
      pipeline.unlink(...userKeys(keyspace, user));
      if (state.fields.size > 0) {
        pipeline.hset(userStateKey(keyspace, user), state.fields);
        pipeline.pexpire(userStateKey(keyspace, user), stateTtlMs);
      }
      if (state.head !== null) pipeline.set(userHeadKey(keyspace, user), state.head, 'PX', stateTtlMs);
      for (const [source, buckets] of state.dedup) {
        const dedupKey = userDedupKey(keyspace, user, source);
        pipeline.hset(dedupKey, buckets);
        pipeline.pexpire(dedupKey, dedupTtlMs);
      }
    });
    const from = after;
    after = last;
    usersLoaded += users.length;
    pipeline.hset(key, { checkpoint: after, users_loaded: usersLoaded, updated_at: new Date().toISOString() });
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([error]) => error !== null);
    if (failed)
      throw new ChurnfeatError('redis_unavailable', `bootstrap batch after user ${JSON.stringify(from)} failed: ${(failed[0] as Error).message}`, { cause: failed[0] as Error, retryable: true });
    load.onBatch?.(usersLoaded);
  }
  return { usersLoaded, applied, duplicates, rowsRead };
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
