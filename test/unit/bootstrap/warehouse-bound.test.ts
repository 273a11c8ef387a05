/**
 * The event-time bound of the warehouse reads (warehouse-rows.ts): a load that reads only the
 * rows a read at or after the cut's time or a later dedup decision can still see, with the
 * applied offsets from their own aggregate, answers every read and every later record exactly
 * as a load of every row below the cut, on a DuckDB file built from the sidecar's own operators.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALL_USERS,
  BootstrapWarehouse,
  buildUserState,
  userShardOf,
  WorkloadTopics,
  writeFeatureEventsTable,
  type CutPartition,
  type FeatureRow,
  type UserShard,
  type UserState,
} from '../../../sidecar/src/bootstrap/index.ts';
import { generateWorkload } from '../../../sidecar/src/loadgen/workload.ts';
import { applyCall, readState, type StoreRecord } from '../../../sidecar/src/store/index.ts';
import { bootstrapSetting } from '../../helpers/bootstrap.ts';

const HOUR = 3_600_000;
const { registry, operators, allowedLatenessMs, dedupMarginMs, writer, policy } = bootstrapSetting();
const end = 1_760_000_000_000;

let work: string;
let duckdbPath: string;
let records: StoreRecord[];
let cut: CutPartition[];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'churnfeat-warehouse-bound-'));
  duckdbPath = join(work, 'warehouse.duckdb');
  // ten days, so the short windows' old rows, the old dedup entries and the old copies are outside the bound
  const workload = generateWorkload({
    seed: 31,
    users: 14,
    eventsPerUser: 160,
    startMs: end - 10 * 24 * HOUR,
    endMs: end,
    lateShare: 0.1,
    veryLateShare: 0.03,
    duplicateShare: 0.15,
    skewedShare: 0.125,
  });
  const topics = new WorkloadTopics(operators, { topicOf: (source) => `t.${source}`, allowedLatenessMs });
  records = [...topics.records(workload)];
  await writeFeatureEventsTable(duckdbPath, registry.features, records);
  cut = topics.cut();
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Every user's state from one load, and the rows it read. */
async function load(bounded: boolean, shard: UserShard = ALL_USERS): Promise<{ states: Map<string, UserState>; rows: number; read: FeatureRow[]; asOfMs: number; dedupFromMs: number }> {
  const warehouse = await BootstrapWarehouse.open(duckdbPath, 'int_feature_events', cut, registry.features, allowedLatenessMs, bounded ? dedupMarginMs : undefined, shard);
  const states = new Map<string, UserState>();
  let rows = 0;
  const read: FeatureRow[] = [];
  try {
    for await (const batch of warehouse.userBatches('', 3)) {
      rows += batch.rows.length;
      read.push(...batch.rows);
      for (const user of batch.users) {
        states.set(
          user,
          buildUserState(
            batch.rows.filter((r) => r.userId === user),
            registry.features,
            policy,
            null,
            batch.heads?.get(user) ?? null,
          ),
        );
      }
    }
    return { states, rows, read, asOfMs: warehouse.bound?.asOfMs ?? 0, dedupFromMs: warehouse.bound?.dedupFromMs ?? 0 };
  } finally {
    warehouse.close();
  }
}

describe('the event-time bound of the bootstrap reads', () => {
  it('reads fewer rows, and answers every read and every later copy as the load of every row below the cut', async () => {
    const all = await load(false);
    const bounded = await load(true);
    expect(bounded.asOfMs).toBe(Math.max(...records.map((r) => r.event.ingestMs)));
    expect(bounded.rows).toBeLessThan(all.rows * 0.6);
    expect([...bounded.states.keys()]).toEqual([...all.states.keys()]);
    // copies of the last day's records re-sent after the seam, ingested after the cut's time
    const at = bounded.asOfMs;
    const tail: StoreRecord[] = records
      .filter((r) => r.event.ingestMs > at - 24 * HOUR)
      .filter((_r, i) => i % 5 === 0)
      .map((r, i) => ({ ...r, offset: String(1_000_000 + i), event: { ...r.event, ingestMs: at + 60_000 + i } }))
      // only copies that are still timely reach the apply function
      .filter((r) => r.event.ingestMs - r.event.eventMs <= allowedLatenessMs);
    expect(tail.length).toBeGreaterThan(20);
    for (const [user, want] of all.states) {
      const got = bounded.states.get(user) as UserState;
      for (const [field, value] of want.fields) if (field.startsWith('s:')) expect(got.fields.get(field), `${user} ${field}`).toBe(value);
      const mine = tail.filter((r) => r.event.userId === user);
      const verdicts: Record<string, string[]> = { all: [], bounded: [] };
      for (const [name, state] of [
        ['all', want],
        ['bounded', got],
      ] as const) {
        for (const { source, call } of writer.applyCalls(mine)) {
          const dedup = state.dedup.get(source) ?? new Map<string, Buffer>();
          state.dedup.set(source, dedup);
          verdicts[name]?.push(...applyCall({ fields: state.fields, dedup }, call, registry.features));
        }
      }
      expect(verdicts.bounded, user).toEqual(verdicts.all);
      for (const asOf of [at, at + 5 * 60_000, at + 2 * HOUR, at + 20 * HOUR, at + 6 * 24 * HOUR]) {
        expect(readState(registry.features, got.fields, asOf).features, `${user} at ${asOf}`).toEqual(readState(registry.features, want.fields, asOf).features);
      }
    }
  });

  it('three shards of the user space read disjoint users, each with the bound of the whole load, and together build the states of the unsharded load', async () => {
    const whole = await load(true);
    const shards = await Promise.all([1, 2, 3].map((index) => load(true, { index, count: 3 })));
    const union = new Map<string, UserState>();
    shards.forEach((shard, i) => {
      expect(shard.asOfMs).toBe(whole.asOfMs);
      expect(shard.states.size).toBeGreaterThan(0);
      for (const [user, state] of shard.states) {
        expect(userShardOf(user, 3), user).toBe(i + 1);
        expect(union.has(user)).toBe(false);
        union.set(user, state);
      }
    });
    expect([...union.keys()].sort()).toEqual([...whole.states.keys()].sort());
    for (const [user, state] of whole.states) expect(union.get(user), user).toEqual(state);
  });

  it('reads the clamped rows of devices ahead of the edge only while their dedup time (dedup_ms) is within the bound', async () => {
    const all = await load(false);
    const bounded = await load(true);
    const keyOf = (r: FeatureRow): string => `${r.userId}|${r.source}|${r.eventKey}`;
    const oldestTile = new Map(registry.features.map((f) => [f.name, (Math.floor(bounded.asOfMs / f.granularityMs) - f.windowMs / f.granularityMs) * f.granularityMs]));
    const needed = (r: FeatureRow): boolean => r.tileStartMs >= (oldestTile.get(r.featureName) ?? 0) || r.dedupMs >= bounded.dedupFromMs;
    const neededKeys = new Set(all.read.filter(needed).map(keyOf));
    // the data holds clamped rows whose dedup entry has expired and whose tiles no read counts
    const stale = all.read.filter((r) => r.eventMs >= r.ingestMs && !neededKeys.has(keyOf(r)));
    expect(stale.length).toBeGreaterThan(0);
    // and the bounded load reads none of them: every row it reads belongs to a needed event
    expect(bounded.read.filter((r) => !neededKeys.has(keyOf(r)))).toEqual([]);
    expect(bounded.read.length).toBe(all.read.filter((r) => neededKeys.has(keyOf(r))).length);
  });
});
