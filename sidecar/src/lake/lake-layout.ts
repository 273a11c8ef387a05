/**
 * The lake's object names: every key is built and parsed here and nowhere else.
 *
 *   events/source=<s>/date=<YYYY-MM-DD>/hour=<HH>/<topic>-<partition>-<first>-<last>.parquet
 *   dead_letter/source=<s>/date=<YYYY-MM-DD>/hour=<HH>/<topic>-<partition>-<first>-<last>.parquet
 *   _state/<topic>/partition=<p>.json          the lake writer's per-partition manifest
 *   _claims/<topic>/partition=<p>/after-<offset|start>.json  one flush's claim (lake-manifest.ts)
 *   _index/<object key minus .parquet>.users.json  the users one object holds (lake-index.ts)
 *   events/source=<s>/date=<YYYY-MM-DD>/hour=all/bucket-<b>-of-<n>-g<gen>.parquet
 *                                              a closed day compacted into user-hash buckets
 *   _compaction/events/source=<s>/date=<YYYY-MM-DD>.json  that day's compaction manifest
 *
 * `first` and `last` are the smallest and largest Kafka offset in the file, zero-padded to
 * 20 digits so names sort by offset. date and hour are the UTC hour of the record's Kafka
 * timestamp (the one time every record has, valid or not, and that a replay reads back
 * unchanged), so one file holds one (source, date, hour) and a replay of the same offsets
 * rewrites the same objects.
 */

/** The two kinds of lake file: valid events and dead-lettered (invalid) records. */
export const LAKE_KINDS = ['events', 'dead_letter'] as const;
export type LakeKind = (typeof LAKE_KINDS)[number];

const OFFSET_DIGITS = 20;

/** The hive partition (date=, hour=) of a Kafka timestamp, UTC. */
export function hourPartition(timestampMs: number): { date: string; hour: string } {
  const iso = new Date(Number.isFinite(timestampMs) && timestampMs >= 0 ? timestampMs : 0).toISOString();
  return { date: iso.slice(0, 10), hour: iso.slice(11, 13) };
}

export function padOffset(offset: bigint): string {
  return offset.toString().padStart(OFFSET_DIGITS, '0');
}

/** The folder of one (kind, source, date, hour), ending with '/'. */
export function partitionPrefix(kind: LakeKind, source: string, date: string, hour: string): string {
  return `${kind}/source=${source}/date=${date}/hour=${hour}/`;
}

/** The object key of one lake file. */
export function lakeObjectKey(file: { kind: LakeKind; source: string; date: string; hour: string; topic: string; partition: number; first: bigint; last: bigint }): string {
  return `${partitionPrefix(file.kind, file.source, file.date, file.hour)}${file.topic}-${file.partition}-${padOffset(file.first)}-${padOffset(file.last)}.parquet`;
}

/** A lake file's key taken apart; null for keys that are not lake files (manifests, temporaries). */
export interface LakeObjectName {
  kind: LakeKind;
  source: string;
  date: string;
  hour: string;
  topic: string;
  partition: number;
  first: bigint;
  last: bigint;
}

const OBJECT_KEY = /^(events|dead_letter)\/source=([^/]+)\/date=(\d{4}-\d{2}-\d{2})\/hour=(\d{2})\/(.+)-(\d+)-(\d{20})-(\d{20})\.parquet$/;

export function parseLakeObjectKey(key: string): LakeObjectName | null {
  const match = OBJECT_KEY.exec(key);
  if (!match) return null;
  const [, kind, source, date, hour, topic, partition, first, last] = match as unknown as string[];
  return {
    kind: kind as LakeKind,
    source: source as string,
    date: date as string,
    hour: hour as string,
    topic: topic as string,
    partition: Number(partition),
    first: BigInt(first as string),
    last: BigInt(last as string),
  };
}

/** The manifest of one topic-partition (see lake-manifest.ts). */
export function manifestKey(topic: string, partition: number): string {
  return `_state/${topic}/partition=${partition}.json`;
}

export const MANIFEST_PREFIX = '_state/';

/** Where the lake writer's flush claims live (lake-manifest.ts). */
export const CLAIM_PREFIX = '_claims/';

/**
 * The claim of the flush that lands the offsets right after `after` (the partition's
 * landed_through when the flush was planned; null: nothing landed yet).
 */
export function claimKey(topic: string, partition: number, after: bigint | null): string {
  return `${CLAIM_PREFIX}${topic}/partition=${partition}/after-${after === null ? 'start' : padOffset(after)}.json`;
}

/** Where the per-object user lists live (lake-index.ts). */
export const INDEX_PREFIX = '_index/';

/** The user list of one lake object: `_index/<object key minus .parquet>.users.json`. */
export function objectIndexKey(objectKey: string): string {
  return `${INDEX_PREFIX}${objectKey.replace(/\.parquet$/, '')}.users.json`;
}

/** The lake object a user list describes; null for keys that are not user lists. */
export function objectOfIndexKey(indexKey: string): string | null {
  if (!indexKey.startsWith(INDEX_PREFIX) || !indexKey.endsWith('.users.json')) return null;
  return `${indexKey.slice(INDEX_PREFIX.length, -'.users.json'.length)}.parquet`;
}

/** The `hour=` value of a compacted day's bucket objects (the hive keys stay the same for every reader). */
export const COMPACTED_HOUR = 'all';

/** Where the compaction manifests live (sidecar/src/deletion/lake-compaction.ts). */
export const COMPACTION_PREFIX = '_compaction/';

/** One bucket object of a compacted (kind, source, date). */
export interface CompactedObjectName {
  kind: LakeKind;
  source: string;
  date: string;
  bucket: number;
  buckets: number;
  generation: number;
}

export function compactedObjectKey(name: CompactedObjectName): string {
  const digits = String(name.buckets - 1).length;
  const pad = (n: number): string => String(n).padStart(digits, '0');
  return `${partitionPrefix(name.kind, name.source, name.date, COMPACTED_HOUR)}bucket-${pad(name.bucket)}-of-${name.buckets}-g${String(name.generation).padStart(6, '0')}.parquet`;
}

const COMPACTED_KEY = /^(events|dead_letter)\/source=([^/]+)\/date=(\d{4}-\d{2}-\d{2})\/hour=all\/bucket-(\d+)-of-(\d+)-g(\d{6})\.parquet$/;

export function parseCompactedObjectKey(key: string): CompactedObjectName | null {
  const match = COMPACTED_KEY.exec(key);
  if (!match) return null;
  const [, kind, source, date, bucket, buckets, generation] = match as unknown as string[];
  return { kind: kind as LakeKind, source: source as string, date: date as string, bucket: Number(bucket), buckets: Number(buckets), generation: Number(generation) };
}

/** The compaction manifest of one (kind, source, date). */
export function compactionManifestKey(kind: LakeKind, source: string, date: string): string {
  return `${COMPACTION_PREFIX}${kind}/source=${source}/date=${date}.json`;
}
