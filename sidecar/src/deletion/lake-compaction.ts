import { createHash } from 'node:crypto';
import {
  COMPACTION_PREFIX,
  compactedObjectKey,
  compactionManifestKey,
  LAKE_COLUMNS,
  objectIndexKey,
  ParquetEncoder,
  parseCompactedObjectKey,
  parseLakeObjectKey,
  readAllManifests,
  readObjectIndex,
  type LakeRow,
  type LakeStorage,
  type ParquetColumn,
} from '../lake/index.ts';
import { isErasedRow, type ErasureTargets } from './erased-rows.ts';

/** Buckets per compacted day in production (docs/deletion.md, "Scaling to 20M users"). */
export const DEFAULT_COMPACTION_BUCKETS = 16_384;

/** The bucket of a user: the first 4 bytes of sha256(user_id), big-endian, modulo `buckets`. */
export function userBucket(userId: string, buckets: number): number {
  return createHash('sha256').update(userId).digest().readUInt32BE(0) % buckets;
}

/** One object of a compacted day, with its rows. */
export interface CompactedObject {
  object: string;
  bucket: number;
  rows: number;
}

/** One hourly object the compaction replaced: its name gives the offset range it was cut from. */
export interface LandedObject {
  object: string;
  topic: string;
  partition: number;
  first: string;
  last: string;
  /** Rows the lake writer landed in it (rows it held + rows erased before the compaction). */
  records: number;
}

/**
 * The manifest of one compacted (kind, source, date), `_compaction/<kind>/source=<s>/date=<D>.json`,
 * and the commit point of a compaction. Readers see a `hour=all` bucket object only when
 * `objects` lists it, and an hourly object only when `landed` does not list it: one PUT of this
 * manifest swaps the old copies for the new ones. Accounting: the records of every offset range
 * ever landed for the day (`landed`) = rows in `objects` + `erased`.
 */
export interface CompactionManifest {
  kind: 'events';
  source: string;
  date: string;
  buckets: number;
  /** The generation `objects` belong to (bucket object names carry it). */
  generation: number;
  objects: CompactedObject[];
  landed: LandedObject[];
  /** Rows erased from the day's objects, before (their user lists) and since the compaction. */
  erased: number;
  /** A compaction started and not committed: the next run redoes it from these sources. */
  pending: { generation: number; sources: string[] } | null;
  updated_at: string;
}

export async function readCompactionManifest(storage: LakeStorage, source: string, date: string): Promise<CompactionManifest | null> {
  const body = await storage.get(compactionManifestKey('events', source, date));
  return body === null ? null : (JSON.parse(body.toString('utf8')) as CompactionManifest);
}

export async function writeCompactionManifest(storage: LakeStorage, manifest: CompactionManifest): Promise<void> {
  manifest.updated_at = new Date().toISOString();
  await storage.put(compactionManifestKey(manifest.kind, manifest.source, manifest.date), Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
}

/** Every compaction manifest of the lake. */
export async function readAllCompactionManifests(storage: LakeStorage): Promise<CompactionManifest[]> {
  const out: CompactionManifest[] = [];
  for (const { key } of await storage.list(COMPACTION_PREFIX)) {
    if (!key.endsWith('.json')) continue;
    const body = await storage.get(key);
    if (body !== null) out.push(JSON.parse(body.toString('utf8')) as CompactionManifest);
  }
  return out;
}

/** The objects of a compacted day readers must not see (and cleanup deletes). */
export function retiredObjects(manifest: CompactionManifest, keys: readonly string[]): string[] {
  const current = new Set(manifest.objects.map((o) => o.object));
  const landed = new Set(manifest.landed.map((o) => o.object));
  const pendingGeneration = manifest.pending?.generation;
  return keys.filter((key) => {
    const compacted = parseCompactedObjectKey(key);
    if (compacted) return !current.has(key) && compacted.generation !== pendingGeneration;
    return landed.has(key);
  });
}

async function deleteObject(storage: LakeStorage, key: string): Promise<number> {
  await storage.delete(key);
  await storage.delete(objectIndexKey(key));
  if (!storage.purgeNoncurrentVersions) return 0;
  return (await storage.purgeNoncurrentVersions(key)) + (await storage.purgeNoncurrentVersions(objectIndexKey(key)));
}

/**
 * Deletes what a committed compaction replaced (idempotent: a crash after the commit leaves
 * only objects no reader sees, deleted by the next run), and their old S3 versions.
 */
export async function cleanupCompaction(storage: LakeStorage, manifest: CompactionManifest): Promise<{ deleted: number; versionsPurged: number }> {
  const keys = (await storage.list(`events/source=${manifest.source}/date=${manifest.date}/`)).map((o) => o.key);
  const retired = retiredObjects(manifest, keys);
  let versionsPurged = 0;
  for (const key of retired) versionsPurged += await deleteObject(storage, key);
  return { deleted: retired.length, versionsPurged };
}

export interface CompactionReport {
  source: string;
  date: string;
  buckets: number;
  generation: number;
  /** Objects read: hourly objects and the previous generation's buckets. */
  objectsRead: number;
  objectsWritten: number;
  objectsDeleted: number;
  rows: number;
  /** Rows of erased users dropped by this compaction (the registry's targets). */
  rowsErased: number;
  /** Hourly objects of a flush still pending in a lake writer's manifest: left for the next run. */
  skippedPending: string[];
  /** True when a crashed compaction was redone. */
  resumed: boolean;
}

export interface CompactionOptions {
  source: string;
  /** The UTC date, YYYY-MM-DD. */
  date: string;
  /** Buckets of a day compacted for the first time (a compacted day keeps its count). */
  buckets: number;
  /** Erased users: their rows from before the deletion are dropped, and counted as erased. */
  targets?: ErasureTargets;
  /** Test hook: called after each bucket object is written (a crash there must lose nothing). */
  afterObjectWritten?: (key: string) => Promise<void> | void;
}

function compareRows(a: LakeRow, b: LakeRow): number {
  if (a.user_id !== b.user_id) return a.user_id < b.user_id ? -1 : 1;
  if (a.kafka_topic !== b.kafka_topic) return a.kafka_topic < b.kafka_topic ? -1 : 1;
  if (a.kafka_partition !== b.kafka_partition) return a.kafka_partition - b.kafka_partition;
  return a.kafka_offset < b.kafka_offset ? -1 : a.kafka_offset > b.kafka_offset ? 1 : 0;
}

/**
 * Compacts one closed (source, date) of the events lake into user-hash buckets:
 *   1. the manifest gets `pending = {generation, sources}` (the day's hourly objects not pending
 *      in a writer's manifest, plus the current generation's buckets);
 *   2. the bucket objects of the new generation are written (names no reader sees yet);
 *   3. the manifest is written with `objects` = the new buckets, `landed` += the hourly sources,
 *      `pending = null`: the commit, one PUT;
 *   4. the sources are deleted (with their user lists and old S3 versions).
 * A run that finds `pending` redoes it from the same sources (still there: nothing is deleted
 * before the commit); a run after a crash in step 4 finishes the deletes. A day compacted before
 * and landed to again later (a late record) gets a new generation merging both.
 */
export async function compactLakeDay(storage: LakeStorage, options: CompactionOptions): Promise<CompactionReport> {
  const { source, date } = options;
  const previous = await readCompactionManifest(storage, source, date);
  const report: CompactionReport = {
    source,
    date,
    buckets: previous?.buckets ?? options.buckets,
    generation: previous?.generation ?? 0,
    objectsRead: 0,
    objectsWritten: 0,
    objectsDeleted: 0,
    rows: 0,
    rowsErased: 0,
    skippedPending: [],
    resumed: previous?.pending != null,
  };
  if (previous && previous.pending === null) report.objectsDeleted += (await cleanupCompaction(storage, previous)).deleted;
  const manifest: CompactionManifest = previous ?? { kind: 'events', source, date, buckets: options.buckets, generation: 0, objects: [], landed: [], erased: 0, pending: null, updated_at: '' };
  let sources: string[];
  if (manifest.pending) {
    sources = manifest.pending.sources;
  } else {
    const writerPending = new Set((await readAllManifests(storage)).flatMap((m) => m.pending?.objects ?? []));
    const hourly: string[] = [];
    for (const { key } of await storage.list(`events/source=${source}/date=${date}/`)) {
      if (!parseLakeObjectKey(key)) continue;
      if (writerPending.has(key)) report.skippedPending.push(key);
      else hourly.push(key);
    }
    if (hourly.length === 0) return report;
    sources = [...manifest.objects.map((o) => o.object), ...hourly];
    manifest.pending = { generation: manifest.generation + 1, sources };
    await writeCompactionManifest(storage, manifest);
  }
  const generation = manifest.pending.generation;
  const buckets = manifest.buckets;
  const byBucket = new Map<number, LakeRow[]>();
  const landed: LandedObject[] = [];
  let erased = manifest.erased;
  const encoder = await ParquetEncoder.create();
  try {
    for (const key of sources) {
      const body = await storage.get(key);
      const hourly = parseLakeObjectKey(key);
      // Nothing deletes a source before the commit: a missing one was removed by hand.
      if (body === null) throw new Error(`lake compaction of ${source} ${date}: source ${key} vanished before the commit`);
      report.objectsRead += 1;
      const rows = await encoder.decode<LakeRow>(body);
      if (hourly) {
        const index = await readObjectIndex(storage, key);
        erased += index?.erased ?? 0;
        landed.push({ object: key, topic: hourly.topic, partition: hourly.partition, first: hourly.first.toString(), last: hourly.last.toString(), records: rows.length + (index?.erased ?? 0) });
      }
      for (const row of rows) {
        if (options.targets && isErasedRow('events', row, options.targets)) {
          report.rowsErased += 1;
          erased += 1;
          continue;
        }
        const bucket = userBucket(row.user_id, buckets);
        const list = byBucket.get(bucket) ?? [];
        list.push(row);
        byBucket.set(bucket, list);
      }
    }
    const objects: CompactedObject[] = [];
    for (const bucket of [...byBucket.keys()].sort((a, b) => a - b)) {
      const rows = (byBucket.get(bucket) as LakeRow[]).sort(compareRows);
      const object = compactedObjectKey({ kind: 'events', source, date, bucket, buckets, generation });
      await storage.put(object, await encoder.encode(LAKE_COLUMNS as ReadonlyArray<ParquetColumn<LakeRow>>, rows));
      report.objectsWritten += 1;
      report.rows += rows.length;
      objects.push({ object, bucket, rows: rows.length });
      await options.afterObjectWritten?.(object);
    }
    manifest.generation = generation;
    manifest.objects = objects;
    manifest.landed = [...manifest.landed, ...landed];
    manifest.erased = erased;
    manifest.pending = null;
    await writeCompactionManifest(storage, manifest);
  } finally {
    await encoder.close();
  }
  report.generation = generation;
  report.objectsDeleted += (await cleanupCompaction(storage, manifest)).deleted;
  return report;
}

/** Checks a compacted day's accounting: landed records = rows in the buckets + erased. */
export function compactionAccounting(manifest: CompactionManifest): { landed: number; rows: number; erased: number; balanced: boolean } {
  const landed = manifest.landed.reduce((n, o) => n + o.records, 0);
  const rows = manifest.objects.reduce((n, o) => n + o.rows, 0);
  return { landed, rows, erased: manifest.erased, balanced: landed === rows + manifest.erased };
}
