/**
 * The offline half of "explain this value" (docs/data-quality.md, "Explain"): the lake objects
 * and rows behind one user's feature values at an instant, the value the executable spec
 * (windows/semantics-spec.ts) computes from them, and the dbt tile rows of the same window.
 *
 * Which rows count, as both runtimes decide (docs/feature-semantics.md §1): lake rows of the
 * user ingested at or before as_of (and, when the online explanation is given, at or below the
 * offset applied online in that partition, so both sides see the same input), not too late,
 * the first timely copy of each (source, event key) in Kafka order, read by the feature, with
 * an event time in the window.
 */
import { DuckDBInstance } from '@duckdb/node-api';
import type { NormalizedEvent, Source } from '../events/index.ts';
import type { CompiledFeature, FeatureRegistry } from '../features/index.ts';
import { readAllCompactionManifests, retiredObjects, userBucket } from '../deletion/index.ts';
import { compactedObjectKey, ParquetEncoder, parseLakeObjectKey, readLakeIndex, type LakeRow, type LakeStorage } from '../lake/index.ts';
import type { StateExplanation } from '../store/index.ts';
import { evaluateFeature, featureInput, inWindow, tileIndex } from '../windows/index.ts';

/** One lake row behind a value: where it is, what it is, and what the feature took from it. */
export interface ExplainedLakeRow {
  object: string;
  topic: string;
  partition: number;
  offset: string;
  event_id: string | null;
  event_key: string;
  event_type: string;
  event_time: string;
  event_ms: number;
  ingest_ms: number;
  tile: number;
}

export interface OfflineFeatureExplanation {
  feature: string;
  window: { from: string; from_ms: number; to: string; to_ms: number };
  /** The rows the value counts (first timely copies, read by the feature, in the window). */
  rows: ExplainedLakeRow[];
  /** The value of the executable spec over those rows. */
  value: number | string | null;
  latest_event_ms: number | null;
  /** The online value served at the same instant, when the online explanation was given. */
  online_value?: number | string | null;
  /** value equals online_value. */
  equal_to_online?: boolean;
  /** dbt's tile rows of fct_feature_tiles in the window (null: no warehouse was given or it has no such table; `dbt_error` says why). */
  dbt_tiles: Array<Record<string, unknown>> | null;
  dbt_error?: string;
}

export interface OfflineExplanation {
  user_id: string;
  registry_version: string;
  as_of: string;
  as_of_ms: number;
  lake: string;
  /** The lake objects holding rows of the user (found through the lake's user index), with how many rows each holds. */
  objects: Array<{ key: string; rows: number; indexed: boolean }>;
  /** Rows of the user left out, by why: ingested after as_of, past the online offset, too late, later copies. */
  excluded: { ingested_after_as_of: number; after_online_offset: number; too_late: number; duplicate_copies: number };
  features: OfflineFeatureExplanation[];
  /** Every feature's offline value equals the online one (only with the online explanation). */
  equal_to_online?: boolean;
}

export interface OfflineExplainOptions {
  storage: LakeStorage;
  registry: FeatureRegistry;
  userId: string;
  asOfMs: number;
  /** Only these features (names); default: all. */
  features?: readonly string[];
  /** The online explanation at the same instant: its applied offsets bound the rows, its values are compared. */
  online?: StateExplanation;
  /** The DuckDB warehouse dbt builds (fct_feature_tiles); '' or absent: no dbt tile rows. */
  warehousePath?: string;
}

function toEvent(row: LakeRow): NormalizedEvent {
  return {
    source: row.source as Source,
    eventId: row.event_id,
    eventKey: row.event_key,
    userId: row.user_id,
    deviceId: row.device_id,
    eventType: row.event_type,
    eventTs: row.event_ts,
    ingestTs: row.ingest_ts,
    eventMs: Number(row.event_ms),
    ingestMs: Number(row.ingest_ms),
    attributes: JSON.parse(row.attributes) as Record<string, unknown>,
  };
}

/**
 * The lake objects that may hold rows of the user: the hourly objects whose user list names
 * them and every one without a list, except those a committed compaction replaced (readers must
 * not see them: their rows are in the day's buckets); and in every compacted day the user's
 * bucket object of the committed generation (found by name, `userBucket`: buckets have no index).
 */
async function userObjects(storage: LakeStorage, userId: string): Promise<Array<{ key: string; indexed: boolean }>> {
  const index = await readLakeIndex(storage);
  const compacted = (await readAllCompactionManifests(storage)).filter((m) => m.kind === 'events');
  const hourly = (await storage.list('events/')).map(({ key }) => key).filter((key) => parseLakeObjectKey(key)?.kind === 'events');
  const replaced = new Set(compacted.flatMap((m) => retiredObjects(m, hourly)));
  const out: Array<{ key: string; indexed: boolean }> = [];
  for (const key of hourly) {
    if (replaced.has(key)) continue;
    const entry = index.get(key);
    if (entry === undefined) out.push({ key, indexed: false });
    else if (entry.users.includes(userId)) out.push({ key, indexed: true });
  }
  for (const m of compacted) {
    const key = compactedObjectKey({ kind: m.kind, source: m.source, date: m.date, bucket: userBucket(userId, m.buckets), buckets: m.buckets, generation: m.generation });
    if (m.objects.some((o) => o.object === key)) out.push({ key, indexed: true });
  }
  return out;
}

const sqlString = (text: string): string => `'${text.replace(/'/g, "''")}'`;

async function dbtTiles(
  path: string,
  userId: string,
  features: readonly { name: string; fromMs: number; toMs: number }[],
): Promise<{ rows: Map<string, Array<Record<string, unknown>>> } | { error: string }> {
  let instance: DuckDBInstance | undefined;
  try {
    instance = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
    const connection = await instance.connect();
    const rows = new Map<string, Array<Record<string, unknown>>>();
    for (const f of features) {
      const result = await connection.runAndReadAll(
        `select * from fct_feature_tiles where user_id = ${sqlString(userId)} and feature_name = ${sqlString(f.name)} and tile_start_ms >= ${f.fromMs} and tile_start_ms <= ${f.toMs} order by tile_start_ms`,
      );
      rows.set(
        f.name,
        (result.getRowObjectsJson() as Array<Record<string, unknown>>).map((row) => Object.fromEntries(Object.entries(row))),
      );
    }
    connection.closeSync();
    return { rows };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  } finally {
    instance?.closeSync();
  }
}

/** The offline explanation of one user's features at `asOfMs`. */
export async function explainOffline(options: OfflineExplainOptions): Promise<OfflineExplanation> {
  const { storage, registry, userId, asOfMs } = options;
  const wanted = options.features === undefined ? registry.features : registry.features.filter((f) => options.features?.includes(f.name));
  const objects = await userObjects(storage, userId);
  const encoder = await ParquetEncoder.create();
  const rows: Array<{ object: string; row: LakeRow }> = [];
  const listed: OfflineExplanation['objects'] = [];
  try {
    for (const object of objects) {
      const body = await storage.get(object.key);
      if (body === null) continue;
      const mine = (await encoder.decode<LakeRow>(body)).filter((row) => row.user_id === userId);
      if (mine.length === 0) continue;
      listed.push({ key: object.key, rows: mine.length, indexed: object.indexed });
      for (const row of mine) rows.push({ object: object.key, row });
    }
  } finally {
    await encoder.close();
  }
  // Kafka order within each partition: the first timely copy of an event key is the one counted
  rows.sort((a, b) => (a.row.source < b.row.source ? -1 : a.row.source > b.row.source ? 1 : a.row.kafka_partition - b.row.kafka_partition || Number(a.row.kafka_offset - b.row.kafka_offset)));
  const applied = new Map((options.online?.sources ?? []).map((s) => [`${s.source}:${s.partition}`, s.offset]));
  const excluded = { ingested_after_as_of: 0, after_online_offset: 0, too_late: 0, duplicate_copies: 0 };
  const seen = new Set<string>();
  const counted: Array<{ object: string; row: LakeRow; event: NormalizedEvent }> = [];
  for (const { object, row } of rows) {
    if (Number(row.ingest_ms) > asOfMs) {
      excluded.ingested_after_as_of += 1;
      continue;
    }
    const bound = applied.get(`${row.source}:${row.kafka_partition}`);
    if (options.online !== undefined && (bound === undefined || Number(row.kafka_offset) > bound)) {
      excluded.after_online_offset += 1;
      continue;
    }
    if (Number(row.ingest_ms) - Number(row.event_ms) > registry.policies.allowedLatenessMs) {
      excluded.too_late += 1;
      continue;
    }
    const key = `${row.source}\u0000${row.event_key}`;
    if (seen.has(key)) {
      excluded.duplicate_copies += 1;
      continue;
    }
    seen.add(key);
    counted.push({ object, row, event: toEvent(row) });
  }
  const windowOf = (f: CompiledFeature) => {
    const fromMs = (tileIndex(asOfMs, f.granularityMs) - f.windowMs / f.granularityMs) * f.granularityMs;
    return { from: new Date(fromMs).toISOString(), from_ms: fromMs, to: new Date(asOfMs).toISOString(), to_ms: asOfMs };
  };
  const warehouse = options.warehousePath
    ? await dbtTiles(
        options.warehousePath,
        userId,
        wanted.map((f) => ({ name: f.name, fromMs: windowOf(f).from_ms, toMs: asOfMs })),
      )
    : null;
  const features = wanted.map((feature): OfflineFeatureExplanation => {
    const behind = counted.filter((c) => featureInput(feature, c.event) !== null && inWindow(c.event.eventMs, asOfMs, feature.windowMs, feature.granularityMs));
    const { value, latestEventMs } = evaluateFeature(
      feature,
      behind.map((c) => c.event),
      asOfMs,
    );
    const out: OfflineFeatureExplanation = {
      feature: feature.name,
      window: windowOf(feature),
      rows: behind.map(({ object, row, event }) => ({
        object,
        topic: row.kafka_topic,
        partition: row.kafka_partition,
        offset: String(row.kafka_offset),
        event_id: row.event_id,
        event_key: row.event_key,
        event_type: row.event_type,
        event_time: new Date(event.eventMs).toISOString(),
        event_ms: event.eventMs,
        ingest_ms: event.ingestMs,
        tile: tileIndex(event.eventMs, feature.granularityMs),
      })),
      value,
      latest_event_ms: latestEventMs,
      dbt_tiles: warehouse !== null && 'rows' in warehouse ? (warehouse.rows.get(feature.name) ?? []) : null,
    };
    if (warehouse !== null && 'error' in warehouse) out.dbt_error = warehouse.error;
    const online = options.online?.features.find((f) => f.feature === feature.name);
    if (online !== undefined) {
      out.online_value = online.served;
      out.equal_to_online = typeof value === 'number' && typeof online.served === 'number' ? Math.abs(value - online.served) <= 1e-9 * Math.max(1, Math.abs(value)) : value === online.served;
    }
    return out;
  });
  const result: OfflineExplanation = {
    user_id: userId,
    registry_version: registry.version,
    as_of: new Date(asOfMs).toISOString(),
    as_of_ms: asOfMs,
    lake: storage.uri,
    objects: listed,
    excluded,
    features,
  };
  if (options.online !== undefined) result.equal_to_online = features.every((f) => f.equal_to_online === true);
  return result;
}
