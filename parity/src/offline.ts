import { isCanaryUser } from '../../sidecar/src/canary/index.ts';
import { isSource, SOURCES, type Source } from '../../sidecar/src/events/index.ts';
import type { LakeEventRow } from './classify.ts';
import { SPINE_NAME } from './dbt.ts';
import type { UserActivity } from './sample.ts';
import { sqlString, type SqlRow, type Warehouse } from './warehouse/warehouse.ts';

/** One spine row: a sampled user, the as_of, and the highest offset counted per source. */
export interface SpineRow {
  userId: string;
  asOfMs: number;
  maxOffset: Record<Source, number>;
}

const CHUNK = 500;

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let start = 0; start < items.length; start += size) out.push(items.slice(start, start + size));
  return out;
}

function int(value: number): string {
  if (!Number.isSafeInteger(value)) throw new Error(`not an integer: ${value}`);
  return `cast(${value} as bigint)`;
}

function inList(users: readonly string[]): string {
  return users.map(sqlString).join(', ');
}

/**
 * Users with lake records ingested at or before as_of, and how many (the sampling frame).
 * Synthetic users (the canary's) are not customers and never sampled: dbt staging drops
 * them too (macro churnfeat_is_synthetic_user), so they would only ever mismatch.
 */
export async function queryActivity(warehouse: Warehouse, lakeEvents: string, asOfMs: number): Promise<UserActivity[]> {
  const rows = await warehouse.query(`select user_id, count(*) as events from ${lakeEvents} where ingest_ms <= ${int(asOfMs)} group by user_id`);
  return rows.filter((row) => !isCanaryUser(String(row.user_id))).map((row) => ({ userId: String(row.user_id), events: Number(row.events) }));
}

/** The partitions each user's records of each source sit in: user -> source -> partitions. */
export async function queryUserPartitions(warehouse: Warehouse, lakeEvents: string, users: readonly string[]): Promise<Map<string, Map<Source, number[]>>> {
  const out = new Map<string, Map<Source, number[]>>();
  for (const part of chunks(users)) {
    const rows = await warehouse.query(`select distinct user_id, source, kafka_partition from ${lakeEvents} where user_id in (${inList(part)})`);
    for (const row of rows) {
      const source = String(row.source);
      if (!isSource(source)) continue;
      const user = out.get(String(row.user_id)) ?? new Map<Source, number[]>();
      user.set(
        source,
        [...(user.get(source) ?? []), Number(row.kafka_partition)].sort((a, b) => a - b),
      );
      out.set(String(row.user_id), user);
    }
  }
  return out;
}

/** Every lake record of the given users (all copies, any lateness), for classification. */
export async function queryLakeRows(warehouse: Warehouse, lakeEvents: string, users: readonly string[]): Promise<Map<string, LakeEventRow[]>> {
  const out = new Map<string, LakeEventRow[]>();
  for (const part of chunks(users)) {
    const rows = await warehouse.query(
      `select source, kafka_partition, kafka_offset, event_key, event_id, user_id, device_id, event_type, attributes, event_ts_raw, ingest_ts_raw, event_ms, ingest_ms
       from ${lakeEvents} where user_id in (${inList(part)})`,
    );
    for (const row of rows) {
      const source = String(row.source);
      if (!isSource(source)) continue;
      const event: LakeEventRow = {
        source,
        kafkaPartition: Number(row.kafka_partition),
        kafkaOffset: Number(row.kafka_offset),
        eventKey: String(row.event_key),
        eventId: row.event_id === null ? null : String(row.event_id),
        userId: String(row.user_id),
        deviceId: String(row.device_id),
        eventType: String(row.event_type),
        attributes: String(row.attributes),
        eventTs: String(row.event_ts_raw),
        ingestTs: String(row.ingest_ts_raw),
        eventMs: Number(row.event_ms),
        ingestMs: Number(row.ingest_ms),
      };
      out.set(event.userId, [...(out.get(event.userId) ?? []), event]);
    }
  }
  return out;
}

/** The spine as a CTE body (a union of literal rows: portable to DuckDB and Snowflake). */
export function spineSql(rows: readonly SpineRow[]): string {
  if (rows.length === 0) throw new Error('empty spine');
  return rows
    .map((row) => `select cast(${sqlString(row.userId)} as varchar) as user_id, ${int(row.asOfMs)} as as_of_ms, ${SOURCES.map((s) => `${int(row.maxOffset[s])} as max_offset_${s}`).join(', ')}`)
    .join('\nunion all\n');
}

/** Runs dbt's point-in-time SQL over the spine; returns one row per user. */
export async function queryOfflineFeatures(warehouse: Warehouse, pointInTimeSql: string, spine: readonly SpineRow[]): Promise<Map<string, SqlRow>> {
  const out = new Map<string, SqlRow>();
  for (const part of chunks(spine)) {
    const rows = await warehouse.query(`with ${SPINE_NAME} as (\n${spineSql(part)}\n),\nparity_offline as (\n${pointInTimeSql}\n)\nselect * from parity_offline`);
    for (const row of rows) out.set(String(row.user_id), row);
  }
  return out;
}
