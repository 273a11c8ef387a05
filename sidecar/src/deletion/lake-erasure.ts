import {
  DEAD_LETTER_COLUMNS,
  deadLetterUsers,
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

/** Users to erase: user id -> deleted_before_ms. */
export type ErasureTargets = ReadonlyMap<string, number>;

/** True when the row is one an erasure removes: a target user's, from before the deletion. */
export function isErasedRow(kind: LakeKind, row: LakeRow | DeadLetterRow, targets: ErasureTargets): boolean {
  if (kind === 'events') {
    const before = targets.get((row as LakeRow).user_id);
    return before !== undefined && Number((row as LakeRow).event_ms) < before;
  }
  // A dead letter has no valid event time: its Kafka timestamp decides.
  const dead = row as DeadLetterRow;
  return deadLetterUsers(dead).some((user) => {
    const before = targets.get(user);
    return before !== undefined && Number(dead.kafka_ts_ms) < before;
  });
}

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
}

/** The lake objects and the objects that may hold a target user (by the index; unindexed ones always). */
async function candidates(storage: LakeStorage, targets: ErasureTargets): Promise<{ objects: string[]; candidates: string[]; index: Map<string, LakeObjectIndex> }> {
  const objects: string[] = [];
  for (const kind of LAKE_KINDS) for (const { key } of await storage.list(`${kind}/`)) if (parseLakeObjectKey(key)) objects.push(key);
  const index = await readLakeIndex(storage);
  const out = objects.filter((key) => {
    const entry = index.get(key);
    return entry === undefined || entry.users.some((user) => targets.has(user));
  });
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
  const report: LakeErasureReport = { objects: 0, objectsRead: 0, objectsRewritten: 0, rowsErased: 0, versionsPurged: 0, skippedPending: [], unindexed: 0 };
  if (targets.size === 0) return report;
  const pending = new Set((await readAllManifests(storage)).flatMap((m) => m.pending?.objects ?? []));
  const { objects, candidates: keys, index } = await candidates(storage, targets);
  report.objects = objects.length;
  const encoder = await ParquetEncoder.create();
  try {
    for (const key of keys) {
      if (pending.has(key)) {
        report.skippedPending.push(key);
        continue;
      }
      const kind = (parseLakeObjectKey(key) as { kind: LakeKind }).kind;
      const body = await storage.get(key);
      if (body === null) continue;
      report.objectsRead += 1;
      const rows = await encoder.decode<LakeRow | DeadLetterRow>(body);
      const kept = rows.filter((row) => !isErasedRow(kind, row, targets));
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
  const out: LakeVerification = { objects: objects.length, objectsChecked: 0, rowsLeft: 0, versionsLeft: 0 };
  if (targets.size === 0) return out;
  const encoder = await ParquetEncoder.create();
  try {
    for (const key of keys) {
      const kind = (parseLakeObjectKey(key) as { kind: LakeKind }).kind;
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
