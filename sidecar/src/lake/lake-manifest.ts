import type { LakeStorage } from './lake-storage.ts';
import { manifestKey } from './lake-layout.ts';

/**
 * The lake writer's state of one topic-partition, stored next to the data
 * (`_state/<topic>/partition=<p>.json`). It is the source of truth for what is landed; the
 * Kafka committed offset only saves re-reading.
 *
 * A flush of offsets [first, last] writes, in this order:
 *   1. the manifest with `pending = {first, last, objects}` (the intent),
 *   2. the objects,
 *   3. the manifest with `landed_through = last`, `pending = null`,
 *   4. the Kafka commit of last + 1.
 * A writer that finds `pending` set re-lands exactly [first, last] (same offsets, same
 * grouping, so the same object names), deletes any listed object it did not rewrite, and
 * only then consumes further: a crash at any step leaves neither a gap nor an overlap.
 */
export interface PartitionManifest {
  topic: string;
  partition: number;
  /** Every offset at or below this is in the lake (as an event or a dead letter); null: none yet. */
  landedThrough: bigint | null;
  /** A flush that was started and may not have finished. */
  pending: { first: bigint; last: bigint; objects: string[] } | null;
  /** Files and records landed by the writers of this partition so far (informational). */
  files: number;
  records: number;
}

interface ManifestJson {
  topic: string;
  partition: number;
  landed_through: string | null;
  pending: { first: string; last: string; objects: string[] } | null;
  files: number;
  records: number;
  updated_at: string;
}

export function emptyManifest(topic: string, partition: number): PartitionManifest {
  return { topic, partition, landedThrough: null, pending: null, files: 0, records: 0 };
}

export async function readManifest(storage: LakeStorage, topic: string, partition: number): Promise<PartitionManifest> {
  const body = await storage.get(manifestKey(topic, partition));
  if (body === null) return emptyManifest(topic, partition);
  const json = JSON.parse(body.toString('utf8')) as ManifestJson;
  return {
    topic,
    partition,
    landedThrough: json.landed_through === null ? null : BigInt(json.landed_through),
    pending: json.pending === null ? null : { first: BigInt(json.pending.first), last: BigInt(json.pending.last), objects: json.pending.objects },
    files: json.files,
    records: json.records,
  };
}

export async function writeManifest(storage: LakeStorage, manifest: PartitionManifest): Promise<void> {
  const json: ManifestJson = {
    topic: manifest.topic,
    partition: manifest.partition,
    landed_through: manifest.landedThrough === null ? null : manifest.landedThrough.toString(),
    pending: manifest.pending === null ? null : { first: manifest.pending.first.toString(), last: manifest.pending.last.toString(), objects: manifest.pending.objects },
    files: manifest.files,
    records: manifest.records,
    updated_at: new Date().toISOString(),
  };
  await storage.put(manifestKey(manifest.topic, manifest.partition), Buffer.from(`${JSON.stringify(json, null, 2)}\n`));
}

/** Every manifest of the lake (for the parity job's completeness check and for tests). */
export async function readAllManifests(storage: LakeStorage): Promise<PartitionManifest[]> {
  const out: PartitionManifest[] = [];
  for (const object of await storage.list('_state/')) {
    const match = /^_state\/(.+)\/partition=(\d+)\.json$/.exec(object.key);
    if (match) out.push(await readManifest(storage, match[1] as string, Number(match[2])));
  }
  return out;
}
