/**
 * The event-time bound of the warehouse reads (warehouse-rows.ts): a load that reads only the
 * rows a read at or after the cut's time or a later dedup decision can still see, with the
 * applied offsets from their own aggregate, answers every read and every later record exactly
 * as a load of every row below the cut, on a DuckDB file built from the sidecar's own operators.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BootstrapWarehouse, buildUserState, featureRowsOf, type CutPartition, type FeatureRow, type UserState } from '../../../sidecar/src/bootstrap/index.ts';
import { parseEvent, type Source } from '../../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { generateWorkload } from '../../../sidecar/src/loadgen/workload.ts';
import { applyCall, FeatureWriter, readState, type StoreRecord } from '../../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../../sidecar/src/windows/index.ts';

const HOUR = 3_600_000;
const registry = loadFeatureRegistry('dbt_project');
const operators = new WindowOperators(registry);
const { allowedLatenessMs, dedupMarginMs } = registry.policies;
const writer = new FeatureWriter(null as never, operators, { prefix: 't', allowedLatenessMs, dedupMarginMs, pruneAboveFields: 1_000_000 });
const policy = { allowedLatenessMs, dedupMarginMs, oldestTile: (id: string, clock: number) => operators.tileBounds(clock).find((b) => b.featureId === id)?.oldestTile ?? 0 };
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
  const offsets = new Map<Source, number>();
  records = [];
  for (const record of workload.sort((a, b) => a.ingestMs - b.ingestMs)) {
    const offset = offsets.get(record.source) ?? 0;
    offsets.set(record.source, offset + 1);
    const parsed = parseEvent(record.source, record.value);
    if (!parsed.ok || !operators.isRelevant(parsed.event) || parsed.event.ingestMs - parsed.event.eventMs > allowedLatenessMs) continue;
    const ops = operators.opsFor(parsed.event);
    if (ops.length > 0) records.push({ event: parsed.event, topic: `t.${record.source}`, partition: 0, offset: String(offset), ops });
  }
  const lines = records.flatMap((record) =>
    featureRowsOf(registry.features, record).map((row) =>
      JSON.stringify({
        user_id: row.userId,
        feature_name: row.featureName,
        source: row.source,
        kafka_topic: row.topic,
        kafka_partition: row.partition,
        kafka_offset: row.offset,
        event_key: row.eventKey,
        event_ms: row.eventMs,
        ingest_ms: row.ingestMs,
        tile_start_ms: row.tileStartMs,
        fixed_value: row.fixedValue,
        num_value: row.numValue,
        str_value: row.strValue,
        event_ts_raw: record.event.eventTs,
        dedup_ms: row.dedupMs,
      }),
    ),
  );
  const ndjson = join(work, 'rows.ndjson');
  writeFileSync(ndjson, `${lines.join('\n')}\n`);
  const instance = await DuckDBInstance.create(duckdbPath);
  const connection = await instance.connect();
  await connection.run(
    `create table int_feature_events as select * from read_json('${ndjson}', format = 'newline_delimited', columns = {user_id: 'varchar', feature_name: 'varchar', source: 'varchar', kafka_topic: 'varchar', kafka_partition: 'integer', kafka_offset: 'bigint', event_key: 'varchar', event_ms: 'bigint', ingest_ms: 'bigint', tile_start_ms: 'bigint', fixed_value: 'bigint', num_value: 'double', str_value: 'varchar', event_ts_raw: 'varchar', dedup_ms: 'bigint'})`,
  );
  connection.closeSync();
  instance.closeSync();
  cut = [...offsets].map(([source, next]) => ({ source, topic: `t.${source}`, partition: 0, offset: next }));
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Every user's state from one load, and the rows it read. */
async function load(bounded: boolean): Promise<{ states: Map<string, UserState>; rows: number; read: FeatureRow[]; asOfMs: number; dedupFromMs: number }> {
  const warehouse = await BootstrapWarehouse.open(duckdbPath, 'int_feature_events', cut, registry.features, allowedLatenessMs, bounded ? dedupMarginMs : undefined);
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
