import type { Redis } from 'ioredis';
import type { LakeStorage } from '../lake/index.ts';
import type { DeletionRegistry } from './deletion-registry.ts';
import type { DeletionRecord, DeletionStore } from './deletion-request.ts';
import type { ErasureTargets } from './erased-rows.ts';
import { eraseFromLake, verifyLake } from './lake-erasure.ts';
import { eraseOnline, reassertTombstone, verifyOnline } from './online-erasure.ts';
import { eraseFromWarehouse, verifyWarehouse, type WarehouseRunner } from './warehouse-erasure.ts';

/** What a run or a verification touches; a store left out is not run. */
export interface DeletionContext {
  registry: DeletionRegistry;
  redis?: Redis;
  prefix: string;
  /** Tombstone horizon, ms (deletion-options.ts tombstoneHorizonMs). */
  horizonMs: number;
  lake?: LakeStorage;
  warehouse?: WarehouseRunner;
  log?: (event: string, fields: Record<string, unknown>) => void;
  clock?: () => number;
}

/** Per store: requests done in this run, still open (with the last error), and the measured time. */
export interface StoreRunReport {
  done: string[];
  failed: Array<{ request_id: string; error: string }>;
  seconds: number;
  detail: Record<string, unknown>;
}

export type RunReport = Partial<Record<DeletionStore, StoreRunReport>>;

function targetsOf(records: readonly DeletionRecord[]): ErasureTargets {
  const out = new Map<string, number>();
  for (const r of records) out.set(r.user_id, Math.max(out.get(r.user_id) ?? 0, r.deleted_before_ms));
  return out;
}

const usersOf = (targets: ErasureTargets) => [...targets].map(([user_id, deleted_before_ms]) => ({ user_id, deleted_before_ms }));

/**
 * Erases the open requests store by store, in the order online -> lake -> warehouse (the
 * tombstone first stops every resurrection; the warehouse reads the lake, so it goes after
 * it). A store of a request is marked done only when its verification scan finds nothing.
 * Online also re-asserts the tombstones of every request still within its horizon (Redis may
 * have restarted empty since). Idempotent: a run after a crash does the rest.
 */
export async function runDeletions(context: DeletionContext, stores: readonly DeletionStore[]): Promise<RunReport> {
  const { registry, prefix, horizonMs } = context;
  const log = context.log ?? (() => undefined);
  const clock = context.clock ?? Date.now;
  const report: RunReport = {};
  const timed = async (store: DeletionStore, work: (r: StoreRunReport) => Promise<void>): Promise<void> => {
    const out: StoreRunReport = { done: [], failed: [], seconds: 0, detail: {} };
    const started = performance.now();
    await work(out);
    out.seconds = (performance.now() - started) / 1000;
    report[store] = out;
    log('deletion_store_run', { store, done: out.done.length, failed: out.failed.length, seconds: out.seconds });
  };
  const fail = async (out: StoreRunReport, record: DeletionRecord, store: DeletionStore, error: unknown): Promise<void> => {
    const message = error instanceof Error ? error.message : String(error);
    out.failed.push({ request_id: record.request_id, error: message });
    await registry.markFailed(record, store, message);
  };

  if (stores.includes('online') && context.redis) {
    const redis = context.redis;
    await timed('online', async (out) => {
      const now = clock();
      // every request whose tombstone horizon has not passed: the open ones are erased, the
      // done ones get their tombstone back if Redis lost it
      const live = (await registry.all()).filter((r) => r.deleted_before_ms + horizonMs > now || r.stores.online.state === 'open');
      let reasserted = 0;
      let reerased = 0;
      for (const record of live) {
        try {
          if (record.stores.online.state === 'done') {
            // Done before: the tombstone back if Redis lost it; the keys erased again only when
            // they hold data from before the deletion (a replay after a restart), never a
            // returning customer's.
            if (await reassertTombstone(redis, prefix, record.user_id, record.deleted_before_ms, horizonMs, clock())) reasserted += 1;
            if ((await verifyOnline(redis, prefix, record.user_id, record.deleted_before_ms)).leftovers.length > 0) {
              await eraseOnline(redis, prefix, record.user_id, record.deleted_before_ms, horizonMs, clock());
              reerased += 1;
            }
            continue;
          }
          const erased = await eraseOnline(redis, prefix, record.user_id, record.deleted_before_ms, horizonMs, clock());
          const check = await verifyOnline(redis, prefix, record.user_id, record.deleted_before_ms);
          const where = `the layout's keys of ${record.user_id} in ${check.keyspaces.length} keyspaces (${check.keyspaces.join(', ')})`;
          if (check.leftovers.length > 0) throw new Error(`${where}: ${check.leftovers.length} keys still hold data from before the deletion`);
          await registry.markDone(
            record,
            'online',
            `${where}: 0 keys holding data from before the deletion (${check.keys.length} keys, deleted ${erased.keysDeleted}); tombstone ${erased.tombstone ? `set, expires ${new Date(erased.tombstone.expiresAtMs).toISOString()}` : 'not needed (horizon passed)'}`,
          );
          out.done.push(record.request_id);
        } catch (error) {
          await fail(out, record, 'online', error);
        }
      }
      out.detail = { reasserted, reerased };
    });
  }

  if (stores.includes('lake') && context.lake) {
    const lake = context.lake;
    await timed('lake', async (out) => {
      const due = (await registry.open()).filter((r) => r.stores.lake.state === 'open' && r.stores.online.state === 'done');
      if (due.length === 0) return;
      const targets = targetsOf(due);
      try {
        const erased = await eraseFromLake(lake, targets);
        const check = await verifyLake(lake, targets);
        out.detail = { ...erased, skippedPending: erased.skippedPending.length, verification: check };
        if (check.rowsLeft > 0 || check.versionsLeft > 0 || erased.skippedPending.length > 0) {
          throw new Error(`lake still holds ${check.rowsLeft} rows and ${check.versionsLeft} old versions of the users (${erased.skippedPending.length} objects pending)`);
        }
        const text = `read ${check.objectsChecked} of ${check.objects} objects (those the user index lists for the users, and unindexed ones): 0 rows, 0 noncurrent versions; this run rewrote ${erased.objectsRewritten} objects (${erased.rowsErased} rows, ${erased.versionsPurged} old versions purged)`;
        for (const record of due) {
          await registry.markDone(record, 'lake', text);
          out.done.push(record.request_id);
        }
      } catch (error) {
        for (const record of due) await fail(out, record, 'lake', error);
      }
    });
  }

  if (stores.includes('warehouse') && context.warehouse) {
    const warehouse = context.warehouse;
    await timed('warehouse', async (out) => {
      const due = (await registry.open()).filter((r) => r.stores.warehouse.state === 'open' && r.stores.lake.state === 'done');
      if (due.length === 0) return;
      try {
        const result = await eraseFromWarehouse(warehouse, usersOf(targetsOf(due)));
        out.detail = { ...result };
        const text = `counted the users' rows in ${Object.keys(result.tables).length} tables and the lake source: 0 left (${result.deleted ?? 0} deleted)`;
        for (const record of due) {
          await registry.markDone(record, 'warehouse', text);
          out.done.push(record.request_id);
        }
      } catch (error) {
        for (const record of due) await fail(out, record, 'warehouse', error);
      }
    });
  }
  return report;
}

/** Leftovers per store of the requests whose store is done (0 everywhere is a pass). */
export interface VerifyReport {
  online?: { users: number; keysLeft: number };
  lake?: { users: number; rowsLeft: number; versionsLeft: number; objectsChecked: number };
  warehouse?: { users: number; rowsLeft: number };
}

/** Scans every store again for every request it is done for: the daily DAG fails on any leftover. */
export async function verifyDeletions(context: DeletionContext, stores: readonly DeletionStore[]): Promise<VerifyReport> {
  const all = await context.registry.all();
  const out: VerifyReport = {};
  const doneIn = (store: DeletionStore) => all.filter((r) => r.stores[store].state === 'done');
  if (stores.includes('online') && context.redis) {
    const records = doneIn('online');
    let keysLeft = 0;
    for (const r of records) keysLeft += (await verifyOnline(context.redis, context.prefix, r.user_id, r.deleted_before_ms)).leftovers.length;
    out.online = { users: records.length, keysLeft };
  }
  if (stores.includes('lake') && context.lake) {
    const targets = targetsOf(doneIn('lake'));
    const check = await verifyLake(context.lake, targets);
    out.lake = { users: targets.size, rowsLeft: check.rowsLeft, versionsLeft: check.versionsLeft, objectsChecked: check.objectsChecked };
  }
  if (stores.includes('warehouse') && context.warehouse) {
    const targets = targetsOf(doneIn('warehouse'));
    if (targets.size > 0) {
      try {
        out.warehouse = { users: targets.size, rowsLeft: (await verifyWarehouse(context.warehouse, usersOf(targets))).left };
      } catch (error) {
        const left = /(\d+) rows of the deleted users are left/.exec(error instanceof Error ? error.message : '')?.[1];
        if (left === undefined) throw error;
        out.warehouse = { users: targets.size, rowsLeft: Number(left) };
      }
    } else {
      out.warehouse = { users: 0, rowsLeft: 0 };
    }
  }
  return out;
}

/** True when a verification found anything left. */
export function hasLeftovers(report: VerifyReport): boolean {
  return (report.online?.keysLeft ?? 0) + (report.lake?.rowsLeft ?? 0) + (report.lake?.versionsLeft ?? 0) + (report.warehouse?.rowsLeft ?? 0) > 0;
}
