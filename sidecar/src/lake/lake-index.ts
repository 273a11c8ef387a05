import type { DeadLetterRow } from './dead-letter-row.ts';
import { INDEX_PREFIX, objectIndexKey, objectOfIndexKey, type LakeKind } from './lake-layout.ts';
import type { LakeRow } from './lake-row.ts';
import type { LakeStorage } from './lake-storage.ts';

/**
 * The lake's user index: next to every object, the sorted list of the users whose rows it
 * holds (`_index/<object key minus .parquet>.users.json`), written by the lake writer right
 * after the object, and rewritten with it by an erasure (docs/deletion.md). An erasure reads
 * these small lists, never the Parquet objects, to find the objects that hold a user.
 * An object without a list (written before the index existed, or a crash between the two
 * PUTs) is read whole by the erasure, which then writes its list.
 */
export interface LakeObjectIndex {
  /** The object's key. */
  object: string;
  kind: LakeKind;
  /** Users with a row in the object, sorted. */
  users: string[];
  /** Rows in the object. */
  rows: number;
  /** Rows taken out of the object by erasures so far (its offsets are accounted for by these). */
  erased: number;
}

const USER_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Whose data a dead letter holds: the record key (source topics are keyed by user_id) and,
 * when the payload is a JSON object, its user_id. Either may be absent or not a user id.
 */
export function deadLetterUsers(row: Pick<DeadLetterRow, 'kafka_key_b64' | 'payload_b64'>): string[] {
  const users = new Set<string>();
  if (row.kafka_key_b64 !== null) {
    const key = Buffer.from(row.kafka_key_b64, 'base64').toString('utf8');
    if (USER_ID.test(key)) users.add(key);
  }
  if (row.payload_b64 !== null) {
    try {
      const payload = JSON.parse(Buffer.from(row.payload_b64, 'base64').toString('utf8')) as unknown;
      const userId = typeof payload === 'object' && payload !== null ? (payload as { user_id?: unknown }).user_id : undefined;
      if (typeof userId === 'string' && USER_ID.test(userId)) users.add(userId);
    } catch {
      // not JSON: the key is all there is
    }
  }
  return [...users];
}

/** The sorted users of an object's rows. */
export function usersOfRows(kind: LakeKind, rows: ReadonlyArray<LakeRow | DeadLetterRow>): string[] {
  const users = new Set<string>();
  for (const row of rows) {
    if (kind === 'events') users.add((row as LakeRow).user_id);
    else for (const user of deadLetterUsers(row as DeadLetterRow)) users.add(user);
  }
  return [...users].sort();
}

export async function writeObjectIndex(storage: LakeStorage, entry: LakeObjectIndex): Promise<void> {
  await storage.put(objectIndexKey(entry.object), Buffer.from(`${JSON.stringify(entry)}\n`));
}

export async function readObjectIndex(storage: LakeStorage, objectKey: string): Promise<LakeObjectIndex | null> {
  const body = await storage.get(objectIndexKey(objectKey));
  return body === null ? null : (JSON.parse(body.toString('utf8')) as LakeObjectIndex);
}

/** Every user list of the lake, by object key. */
export async function readLakeIndex(storage: LakeStorage): Promise<Map<string, LakeObjectIndex>> {
  const out = new Map<string, LakeObjectIndex>();
  for (const { key } of await storage.list(INDEX_PREFIX)) {
    const object = objectOfIndexKey(key);
    const body = object === null ? null : await storage.get(key);
    if (object !== null && body !== null) out.set(object, JSON.parse(body.toString('utf8')) as LakeObjectIndex);
  }
  return out;
}
