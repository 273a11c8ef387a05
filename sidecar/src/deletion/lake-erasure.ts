import {
  compactedObjectKey,
  DEAD_LETTER_COLUMNS,
  LAKE_COLUMNS,
  LAKE_KINDS,
  objectIndexKey,
  ParquetEncoder,
  parseLakeObjectKey,
  readAllManifests,
  readLakeIndex,
  usersOfRows,
  writeObjectIndex,
  type DeadLetterRow,
  type LakeKind,
  type LakeObjectIndex,
  type LakeRow,
  type LakeStorage,
  type ParquetColumn,
} from '../lake/index.ts';
import { isErasedRow, type ErasureTargets } from './erased-rows.ts';
import { cleanupCompaction, readAllCompactionManifests, userBucket, writeCompactionManifest, type CompactionManifest } from './lake-compaction.ts';

function columnsOf(kind: LakeKind): ReadonlyArray<ParquetColumn<LakeRow | DeadLetterRow>> {
  return (kind === 'events' ? LAKE_COLUMNS : DEAD_LETTER_COLUMNS) as ReadonlyArray<ParquetColumn<LakeRow | DeadLetterRow>>;
}

export interface LakeErasureReport {
  /** Lake objects (events and dead letters) in the lake. */
  objects: number;
  /** Objects read: those the index lists for a target user, plus unindexed ones. */
  objectsRead: number;
  objectsRewritten: number;
  rowsErased: number;
  /** Noncurrent S3 versions deleted (of rewritten objects and of their user lists). */
  versionsPurged: number;
  /** Objects of a flush still pending in a manifest: left for the next run. */
  skippedPending: string[];
  /** Objects that had no user list (one was written for each). */
  unindexed: number;
  /** Bucket objects of compacted days read (found by name: one per target user and day). */
  compactedRead: number;
}

/** A candidate object: an hourly one (found through its user list) or a compacted day's bucket (by name). */
interface Candidate {
  key: string;
  kind: LakeKind;
  /** The compacted day's manifest, for a bucket object. */
  compaction?: CompactionManifest;
}

/**
 * The lake objects and the objects that may hold a target user: hourly objects by the index
 * (unindexed ones always), and in every compacted day the bucket of each target user (by name,
 * no index: `userBucket(user, buckets)`), of the committed generation and of one in flight.
 * A committed compaction's leftovers (objects no reader sees) are deleted first.
 */
async function candidates(storage: LakeStorage, targets: ErasureTargets): Promise<{ objects: number; candidates: Candidate[]; index: Map<string, LakeObjectIndex> }> {
  const hourly: string[] = [];
  for (const kind of LAKE_KINDS) for (const { key } of await storage.list(`${kind}/`)) if (parseLakeObjectKey(key)) hourly.push(key);
  const index = await readLakeIndex(storage);
  const out: Candidate[] = hourly
    .filter((key) => {
      const entry = index.get(key);
      return entry === undefined || entry.users.some((user) => targets.has(user));
    })
    .map((key) => ({ key, kind: (parseLakeObjectKey(key) as { kind: LakeKind }).kind }));
  let objects = hourly.length;
  for (const manifest of await readAllCompactionManifests(storage)) {
    if (manifest.pending === null) await cleanupCompaction(storage, manifest);
    objects += manifest.objects.length;
    const listed = new Set(manifest.objects.map((o) => o.object));
    const keys = new Set<string>();
    for (const user of targets.keys()) {
      const bucket = userBucket(user, manifest.buckets);
      const current = compactedObjectKey({ kind: manifest.kind, source: manifest.source, date: manifest.date, bucket, buckets: manifest.buckets, generation: manifest.generation });
      if (listed.has(current)) keys.add(current);
      if (manifest.pending)
        keys.add(compactedObjectKey({ kind: manifest.kind, source: manifest.source, date: manifest.date, bucket, buckets: manifest.buckets, generation: manifest.pending.generation }));
    }
    for (const key of [...keys].sort()) out.push({ key, kind: manifest.kind, compaction: manifest });
  }
  return { objects, candidates: out, index };
}

/**
 * Rewrites every lake object that holds a row of a target user from before its deletion,
 * without those rows: same key (so the names, which give the offset range the file was cut
 * from, and the manifests stay valid; the index entry counts the rows taken out), same columns,
 * the other rows byte for byte. With S3 versioning the old versions of the object and of its
 * user list are deleted too. Found through the per-object user lists (lake-index.ts), not by
 * reading the lake. Objects of a flush still pending are left for the next run (the writer
 * may rewrite them; it drops erased users' records itself).
 */
export async function eraseFromLake(storage: LakeStorage, targets: ErasureTargets): Promise<LakeErasureReport> {
  const report: LakeErasureReport = { objects: 0, objectsRead: 0, objectsRewritten: 0, rowsErased: 0, versionsPurged: 0, skippedPending: [], unindexed: 0, compactedRead: 0 };
  if (targets.size === 0) return report;
  const pending = new Set((await readAllManifests(storage)).flatMap((m) => m.pending?.objects ?? []));
  const { objects, candidates: keys, index } = await candidates(storage, targets);
  report.objects = objects;
  const encoder = await ParquetEncoder.create();
  // compaction manifests whose accounting changed: written once each, after their buckets
  const dirty = new Set<CompactionManifest>();
  try {
    for (const { key, kind, compaction } of keys) {
      if (pending.has(key)) {
        report.skippedPending.push(key);
        continue;
      }
      const body = await storage.get(key);
      if (body === null) continue;
      report.objectsRead += 1;
      const rows = await encoder.decode<LakeRow | DeadLetterRow>(body);
      const kept = rows.filter((row) => !isErasedRow(kind, row, targets));
      if (compaction) {
        report.compactedRead += 1;
        const erased = rows.length - kept.length;
        if (erased > 0) {
          await storage.put(key, await encoder.encode(columnsOf(kind), kept));
          report.objectsRewritten += 1;
          report.rowsErased += erased;
        }
        // The day's accounting: what the manifest says the bucket held and it no longer holds
        // is erased (so a crash before the manifest write below is made good by the next run).
        const listed = compaction.objects.find((o) => o.object === key);
        if (listed && listed.rows !== kept.length) {
          compaction.erased += listed.rows - kept.length;
          listed.rows = kept.length;
          dirty.add(compaction);
        }
        if (storage.purgeNoncurrentVersions) report.versionsPurged += await storage.purgeNoncurrentVersions(key);
        continue;
      }
      const entry = index.get(key);
      if (entry === undefined) report.unindexed += 1;
      const erased = rows.length - kept.length;
      if (erased > 0) {
        await storage.put(key, await encoder.encode(columnsOf(kind), kept));
        report.objectsRewritten += 1;
        report.rowsErased += erased;
      }
      if (erased > 0 || entry === undefined) {
        await writeObjectIndex(storage, { object: key, kind, users: usersOfRows(kind, kept), rows: kept.length, erased: (entry?.erased ?? 0) + erased });
      }
      if (storage.purgeNoncurrentVersions) {
        report.versionsPurged += await storage.purgeNoncurrentVersions(key);
        report.versionsPurged += await storage.purgeNoncurrentVersions(objectIndexKey(key));
      }
    }
    for (const manifest of dirty) await writeCompactionManifest(storage, manifest);
  } finally {
    await encoder.close();
  }
  return report;
}

export interface LakeVerification {
  objects: number;
  objectsChecked: number;
  rowsLeft: number;
  /** Noncurrent versions left of the checked objects (S3 with versioning). */
  versionsLeft: number;
}

/**
 * The verification: reads every object the index lists for a target user (and every
 * unindexed one) and counts the rows an erasure removes, and the old versions kept of them.
 */
export async function verifyLake(storage: LakeStorage, targets: ErasureTargets): Promise<LakeVerification> {
  const { objects, candidates: keys } = await candidates(storage, targets);
  const out: LakeVerification = { objects, objectsChecked: 0, rowsLeft: 0, versionsLeft: 0 };
  if (targets.size === 0) return out;
  const encoder = await ParquetEncoder.create();
  try {
    for (const { key, kind } of keys) {
      const body = await storage.get(key);
      if (body === null) continue;
      out.objectsChecked += 1;
      out.rowsLeft += (await encoder.decode<LakeRow | DeadLetterRow>(body)).filter((row) => isErasedRow(kind, row, targets)).length;
      if (storage.noncurrentVersions) out.versionsLeft += (await storage.noncurrentVersions(key)) + (await storage.noncurrentVersions(objectIndexKey(key)));
    }
  } finally {
    await encoder.close();
  }
  return out;
}
