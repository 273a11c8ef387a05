/**
 * One user's online state, built from the warehouse rows of the records before the cut, in
 * the store protocol's exact format (store-protocol.ts): what the apply function would have left
 * in the state hash and the dedup hashes had it applied those records one by one, and the read
 * head (store protocol 7) built from that hash by the store model's buildHead.
 *
 * Input: the rows of dbt's `int_feature_events` (one per feature and lake record the feature
 * reads, with its tile and aggregation input), already restricted to the records that reach
 * the apply function online (offset < the cut, not too late, tile inside the window at ingest
 * time: batch-processor.ts and windows/event-ops.ts featureOps). The tile rule is the store's:
 * a record is counted once, by its first copy in offset order (a later copy is a `duplicate`);
 * the tiles (t:) are aggregated from the counted rows exactly as `fct_feature_tiles` aggregates
 * `applied_*` (that table has no Kafka offsets, so a cut inside a tile cannot be taken from it).
 * The tiles alone cannot give distinct members (d:), the last candidate (l:), the per-source
 * applied offsets (s:) or the dedup entries: those come from the same rows (event keys, values,
 * offsets).
 */
import type { Source } from '../events/index.ts';
import type { CompiledFeature } from '../features/index.ts';
import {
  buildHead,
  dedupBucketField,
  dedupMember,
  dedupStamp,
  distinctField,
  encodeLast,
  encodeRunning,
  encodeSourceState,
  FIELD_PREFIX,
  lastField,
  latestEventField,
  partitionKey,
  pruneDedupBucket,
  runningField,
  sourceField,
  STATE_LAYOUT,
  tileField,
} from '../store/index.ts';

/** One row of int_feature_events that reaches the apply function (see the module comment). */
export interface FeatureRow {
  userId: string;
  featureName: string;
  source: Source;
  topic: string;
  partition: number;
  offset: number;
  eventKey: string;
  eventMs: number;
  ingestMs: number;
  /**
   * The time the record's dedup entry is filed by (the store's dedupTimeMs): event_ms, or the
   * unclamped event_ts when the device clock ran ahead of ingest (event_ms was clamped to it).
   */
  dedupMs: number;
  tileStartMs: number;
  fixedValue: number | null;
  numValue: number | null;
  strValue: string | null;
}

/** Per user, source and partition: the highest offset below the cut that reached the apply function, and the newest ingest time. */
export interface SourceHead {
  userId: string;
  source: Source;
  topic: string;
  partition: number;
  offset: number;
  ingestMs: number;
}

/** What the state of one user is built with. */
export interface StatePolicy {
  allowedLatenessMs: number;
  dedupMarginMs: number;
  /** Per feature id, the oldest tile a read at the user's clock can count (WindowOperators.tileBounds). */
  oldestTile: (featureId: string, clockMs: number) => number;
}

/** The keys of one user: state hash fields, per source the dedup hash buckets, and the read head (store protocol 7; null: none). */
export interface UserState {
  fields: Map<string, string>;
  dedup: Map<Source, Map<string, Buffer>>;
  head: string | null;
  /** Records counted (applied) and dropped as copies of a record before them. */
  applied: number;
  duplicates: number;
}

/** One source record: the record fields its feature rows share, and the rows. */
interface SourceRecord extends Pick<FeatureRow, 'source' | 'topic' | 'partition' | 'offset' | 'eventKey' | 'eventMs' | 'ingestMs' | 'dedupMs'> {
  rows: FeatureRow[];
}

/** Byte-wise a < b of the UTF-8 encodings, as the Lua compares strings. */
function bytesLess(a: string, b: string): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) < 0;
}

/** The records of one user in apply order (per source: partition, offset), each with its feature rows. */
function records(rows: readonly FeatureRow[]): SourceRecord[] {
  const byPosition = new Map<string, SourceRecord>();
  for (const row of rows) {
    const key = `${row.topic}\u0000${row.partition}\u0000${row.offset}`;
    let record = byPosition.get(key);
    if (record === undefined) {
      record = {
        source: row.source,
        topic: row.topic,
        partition: row.partition,
        offset: row.offset,
        eventKey: row.eventKey,
        eventMs: row.eventMs,
        ingestMs: row.ingestMs,
        dedupMs: row.dedupMs,
        rows: [],
      };
      byPosition.set(key, record);
    }
    record.rows.push(row);
  }
  return [...byPosition.values()].sort((a, b) => a.source.localeCompare(b.source) || a.partition - b.partition || a.offset - b.offset);
}

/**
 * The state of one user from its rows. `features` is the registry's; `deletedAtMs` the
 * user's deletion tombstone (records with an event time before it are dropped, as the writer
 * drops them), or null; `heads` the user's source heads when the rows are bounded in event time.
 */
export function buildUserState(
  rows: readonly FeatureRow[],
  features: readonly CompiledFeature[],
  policy: StatePolicy,
  deletedAtMs: number | null = null,
  heads: readonly SourceHead[] | null = null,
): UserState {
  const byName = new Map(features.map((f) => [f.name, f]));
  const fields = new Map<string, string>();
  const dedup = new Map<Source, Map<string, Buffer>>();
  const seen = new Map<Source, Set<string>>();
  const entries = new Map<Source, Array<{ member: Buffer; dedupS: number; ingestMs: number }>>();
  const clock = new Map<Source, number>();
  const tiles = new Map<string, Map<number, number>>();
  const extremes = new Map<string, string>();
  const distinct = new Map<string, Map<string, number>>();
  const lastOf = new Map<string, { eventMs: number; eventKey: string; value: string }>();
  const latest = new Map<string, number>();
  let applied = 0;
  let duplicates = 0;
  let userClock = -Infinity;
  const kept = records(rows).filter((r) => deletedAtMs === null || !(r.eventMs < deletedAtMs));
  for (const record of kept) {
    const keys = seen.get(record.source) ?? new Set<string>();
    seen.set(record.source, keys);
    const ingest = Math.max(clock.get(record.source) ?? 0, record.ingestMs);
    clock.set(record.source, ingest);
    userClock = Math.max(userClock, record.ingestMs);
    // every record that reaches the apply function moves the source's applied offset
    fields.set(sourceField(record.source), encodeSourceState(partitionKey(record.topic, record.partition), record.offset, ingest));
    if (keys.has(record.eventKey)) {
      duplicates += 1;
      continue;
    }
    keys.add(record.eventKey);
    applied += 1;
    const list = entries.get(record.source) ?? [];
    entries.set(record.source, list);
    // filed as the apply function files it: by the dedup time (event_ts where event_ms was clamped)
    list.push({ member: dedupMember(record.eventKey), dedupS: Math.floor(record.dedupMs / 1000), ingestMs: record.ingestMs });
    for (const row of record.rows) {
      const feature = byName.get(row.featureName);
      if (feature === undefined) continue;
      const id = feature.id;
      const tile = Math.floor(row.tileStartMs / feature.granularityMs);
      latest.set(id, Math.max(latest.get(id) ?? -Infinity, row.eventMs));
      switch (feature.aggregation) {
        case 'count':
        case 'sum': {
          const byTile = tiles.get(id) ?? new Map<number, number>();
          tiles.set(id, byTile);
          byTile.set(tile, (byTile.get(tile) ?? 0) + (feature.aggregation === 'count' ? 1 : (row.fixedValue ?? 0)));
          break;
        }
        case 'min':
        case 'max': {
          const field = tileField(id, tile);
          const current = extremes.get(field);
          const value = row.numValue as number;
          if (current === undefined || (feature.aggregation === 'min' ? value < Number(current) : value > Number(current))) extremes.set(field, String(value));
          break;
        }
        case 'count_distinct': {
          const values = distinct.get(id) ?? new Map<string, number>();
          distinct.set(id, values);
          const value = row.strValue as string;
          values.set(value, Math.max(values.get(value) ?? -Infinity, tile));
          break;
        }
        case 'last': {
          const current = lastOf.get(id);
          const candidate = { eventMs: row.eventMs, eventKey: row.eventKey, value: row.strValue as string };
          if (current === undefined || candidate.eventMs > current.eventMs || (candidate.eventMs === current.eventMs && bytesLess(current.eventKey, candidate.eventKey))) lastOf.set(id, candidate);
          break;
        }
      }
    }
  }
  // the rows may be bounded in event time (warehouse-rows.ts): then the applied offsets and the
  // clocks come from the heads, the aggregate over every record below the cut (a deleted user's
  // from the rows kept, as the writer skips the records before the deletion)
  if (heads !== null && heads.length > 0 && deletedAtMs === null) {
    const last = new Map<Source, SourceHead>();
    for (const head of heads) {
      const current = last.get(head.source);
      clock.set(head.source, Math.max(clock.get(head.source) ?? 0, head.ingestMs));
      userClock = Math.max(userClock, head.ingestMs);
      if (current === undefined || head.partition > current.partition || (head.partition === current.partition && head.offset > current.offset)) last.set(head.source, head);
    }
    for (const [source, head] of last) fields.set(sourceField(source), encodeSourceState(partitionKey(head.topic, head.partition), head.offset, clock.get(source) as number));
  }
  if (fields.size === 0 && kept.length === 0) return { fields, dedup, head: null, applied, duplicates };
  // count_distinct: the t: tiles count the values whose newest tile they are (layout 3)
  for (const [id, values] of distinct) {
    const byTile = tiles.get(id) ?? new Map<number, number>();
    tiles.set(id, byTile);
    const oldest = policy.oldestTile(id, userClock);
    for (const [value, tile] of values) {
      if (tile < oldest) continue;
      fields.set(distinctField(id, value), String(tile));
      byTile.set(tile, (byTile.get(tile) ?? 0) + 1);
    }
  }
  // additive tiles and their running totals, without the tiles no read at the user's clock can count
  for (const [id, byTile] of tiles) {
    const oldest = policy.oldestTile(id, userClock);
    const live = [...byTile].filter(([tile, value]) => tile >= oldest && value !== 0);
    for (const [tile, value] of live) fields.set(tileField(id, tile), String(value));
    if (live.length === 0) continue;
    const indexes = live.map(([tile]) => tile);
    // based at the oldest tile a read at the user's clock can count, as the apply function moves it
    // (no tile lies between it and the lowest live one, so the total is the same), which is what lets
    // the read head answer reads from the user's clock on
    fields.set(runningField(id), encodeRunning({ base: oldest, total: live.reduce((sum, [, value]) => sum + value, 0), top: Math.max(...indexes) }));
  }
  for (const [field, value] of extremes) {
    const [, id, tile] = field.split(':') as [string, string, string];
    if (Number(tile) >= policy.oldestTile(id, userClock)) fields.set(field, value);
  }
  for (const [id, candidate] of lastOf) fields.set(lastField(id), encodeLast(candidate.eventMs, candidate.eventKey, candidate.value));
  for (const [id, ms] of latest) fields.set(latestEventField(id), String(ms));
  fields.set(FIELD_PREFIX.layout, STATE_LAYOUT);
  // dedup entries as the apply function leaves them with one call per counted record: appended
  // with the stamp at the bound of the record's own ingest time, and the bucket written then
  // pruned at that bound (pruneDedupBucket: entries in buckets no later write touches stay, as online)
  for (const [source, list] of entries) {
    const buckets = new Map<string, Buffer>();
    for (const { member, dedupS, ingestMs } of list) {
      const pruneBeforeS = Math.floor((ingestMs - policy.allowedLatenessMs - policy.dedupMarginMs) / 1000);
      const bucket = dedupBucketField(member);
      const kept = pruneDedupBucket(Buffer.concat([buckets.get(bucket) ?? Buffer.alloc(0), member, dedupStamp(dedupS, pruneBeforeS)]), pruneBeforeS);
      if (kept.length > 0) buckets.set(bucket, kept);
      else buckets.delete(bucket);
    }
    if (buckets.size > 0) dedup.set(source, buckets);
  }
  // the read head, built by the store model from the fields above as the apply function builds it
  const head = buildHead(fields, features, new Map(features.map((f) => [f.id, policy.oldestTile(f.id, userClock)])));
  return { fields, dedup, head, applied, duplicates };
}
