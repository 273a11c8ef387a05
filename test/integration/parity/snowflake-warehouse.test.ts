import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEvent } from '../../../sidecar/src/events/index.ts';
import { generateWorkload } from '../../../sidecar/src/loadgen/workload.ts';
import { DuckDbWarehouse, queryActivity, queryLakeRows, queryOfflineFeatures, queryUserPartitions, SnowflakeWarehouse, sqlString, type SpineRow, type Warehouse } from '../../../parity/src/index.ts';
import { ensureStackService, freePort, portOpen } from '../../helpers/stack-services.ts';
import { waitFor } from '../../helpers/wait.ts';

const FAKESNOW_PORT = Number(process.env.CHURNFEAT_FAKESNOW_PORT ?? 18080);
const HOUR = 3_600_000;

function snowflake(accessUrl: string): Promise<SnowflakeWarehouse> {
  return SnowflakeWarehouse.open({ account: 'fakesnow', username: 'fake', password: 'snow', database: 'PARITY', schema: 'MAIN', accessUrl });
}

/** A small lake in stg_lake__events' shape: the columns the parity job reads. */
const COLUMNS = [
  ['source', 'varchar'],
  ['kafka_partition', 'integer'],
  ['kafka_offset', 'bigint'],
  ['event_key', 'varchar'],
  ['event_id', 'varchar'],
  ['user_id', 'varchar'],
  ['device_id', 'varchar'],
  ['event_type', 'varchar'],
  ['attributes', 'varchar'],
  ['event_ts_raw', 'varchar'],
  ['ingest_ts_raw', 'varchar'],
  ['event_ms', 'bigint'],
  ['ingest_ms', 'bigint'],
] as const;

function lakeRows(): string[] {
  const end = Math.floor(Date.now() / HOUR) * HOUR - 27 * HOUR;
  const offsets = new Map<string, number>();
  const out: string[] = [];
  for (const record of generateWorkload({ seed: 5, users: 30, eventsPerUser: 10, startMs: end - 6 * HOUR, endMs: end, invalidShare: 0 })) {
    const parsed = parseEvent(record.source, record.value);
    if (!parsed.ok) continue;
    const e = parsed.event;
    const partition = Number(e.userId.slice(-1)) % 3;
    const offset = offsets.get(`${e.source}:${partition}`) ?? 0;
    offsets.set(`${e.source}:${partition}`, offset + 1);
    const literal = (value: string | null): string => (value === null ? 'null' : sqlString(value));
    out.push(
      `(${[literal(e.source), String(partition), String(offset), literal(e.eventKey), literal(e.eventId), literal(e.userId), literal(e.deviceId), literal(e.eventType), literal(JSON.stringify(e.attributes)), literal(e.eventTs), literal(e.ingestTs), String(e.eventMs), String(e.ingestMs)].join(', ')})`,
    );
  }
  return out;
}

const CREATE = `create or replace table stg_lake__events (${COLUMNS.map(([n, t]) => `${n} ${t}`).join(', ')})`;

let stopFakesnow: () => Promise<void> = async () => undefined;
let shim: ChildProcess | null = null;
let shimUrl = '';
const work = mkdtempSync(join(tmpdir(), 'churnfeat-sf-'));

beforeAll(async () => {
  stopFakesnow = await ensureStackService('fakesnow', FAKESNOW_PORT);
  const port = await freePort();
  shim = spawn('.venv/tools/bin/python', ['test/helpers/fakesnow_json.py', '--port', String(port)], { stdio: 'ignore' });
  shimUrl = `http://127.0.0.1:${port}`;
  await waitFor('the fakesnow JSON shim to listen', () => portOpen(port), { timeoutMs: 30_000 });
}, 120_000);

afterAll(async () => {
  if (shim && shim.exitCode === null) shim.kill('SIGTERM');
  await stopFakesnow();
  rmSync(work, { recursive: true, force: true });
});

describe('Snowflake warehouse through snowflake-sdk', () => {
  it('cannot read fakesnow server answers directly: they are Arrow result sets, the Node driver reads JSON only', async () => {
    // When this starts passing, fakesnow (or the driver) has closed the gap: drop the shim.
    const warehouse = await snowflake(`http://127.0.0.1:${FAKESNOW_PORT}`);
    try {
      const outcome = await Promise.race([
        warehouse.query('select 1 as x').then(
          () => 'answered',
          (error: Error & { code?: number }) => `${error.code}: ${error.message}`,
        ),
        new Promise<string>((resolve) => setTimeout(() => resolve('no answer'), 20_000)),
      ]);
      expect(outcome).toBe('401002: Request to Snowflake failed.');
    } finally {
      await warehouse.close();
    }
  });

  it('gives the parity job the same rows from Snowflake (fakesnow, JSON result sets) as from DuckDB', async () => {
    const rows = lakeRows();
    const duckPath = join(work, 'lake.duckdb');
    const instance = await DuckDBInstance.create(duckPath);
    const connection = await instance.connect();
    await connection.run(CREATE);
    await connection.run(`insert into stg_lake__events values ${rows.join(',\n')}`);
    connection.closeSync();
    instance.closeSync();

    const duck: Warehouse = await DuckDbWarehouse.open({ path: duckPath });
    const sf: Warehouse = await snowflake(shimUrl);
    try {
      await sf.query('create database if not exists parity');
      await sf.query('create schema if not exists parity.main');
      await sf.query(CREATE);
      expect(await sf.query(`insert into stg_lake__events values ${rows.join(',\n')}`)).toEqual([{ 'number of rows inserted': rows.length }]);

      const asOf = Math.max(...(await duck.query('select max(ingest_ms) as m from stg_lake__events')).map((r) => Number(r.m)));
      const byUser = (list: Array<{ userId: string }>): unknown[] => [...list].sort((a, b) => (a.userId < b.userId ? -1 : 1));
      const activity = await queryActivity(duck, 'stg_lake__events', asOf - HOUR);
      expect(activity.length).toBeGreaterThan(20);
      expect(byUser(await queryActivity(sf, 'stg_lake__events', asOf - HOUR))).toEqual(byUser(activity));

      const users = activity
        .map((a) => a.userId)
        .sort()
        .slice(0, 12);
      expect(await queryUserPartitions(sf, 'stg_lake__events', users)).toEqual(await queryUserPartitions(duck, 'stg_lake__events', users));
      const order = (m: Map<string, Array<{ kafkaPartition: number; kafkaOffset: number; source: string }>>): unknown =>
        [...m.entries()].sort().map(([u, r]) => [u, [...r].sort((a, b) => a.source.localeCompare(b.source) || a.kafkaPartition - b.kafkaPartition || a.kafkaOffset - b.kafkaOffset)]);
      expect(order(await queryLakeRows(sf, 'stg_lake__events', users))).toEqual(order(await queryLakeRows(duck, 'stg_lake__events', users)));

      // The spine CTE and a point-in-time-shaped aggregate (what dbt's macro renders) on both engines.
      const spine: SpineRow[] = users.map((userId, i) => ({ userId, asOfMs: asOf, maxOffset: { client: 1_000 + i, billing: -1, support: i } }));
      const pointInTime = `select s.user_id, s.as_of_ms, s.max_offset_client, s.max_offset_billing, s.max_offset_support,
          cast(count(case when e.event_type = 'playback_error' then 1 end) as bigint) as errors,
          cast(count(distinct case when e.event_type = 'playback_start' then e.event_key end) as bigint) as starts,
          max(e.event_ms) as latest_event_ms
        from parity_spine as s left join stg_lake__events as e
          on e.user_id = s.user_id and e.event_ms <= s.as_of_ms and (e.source <> 'client' or e.kafka_offset <= s.max_offset_client)
        group by s.user_id, s.as_of_ms, s.max_offset_client, s.max_offset_billing, s.max_offset_support`;
      const fromDuck = await queryOfflineFeatures(duck, pointInTime, spine);
      const fromSnowflake = await queryOfflineFeatures(sf, pointInTime, spine);
      expect(fromDuck.size).toBe(users.length);
      expect([...fromSnowflake.entries()].sort()).toEqual([...fromDuck.entries()].sort());
    } finally {
      await duck.close();
      await sf.close();
    }
  });
});
