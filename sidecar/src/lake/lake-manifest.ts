import type { LakeStorage } from './lake-storage.ts';
import { claimKey, manifestKey } from './lake-layout.ts';

/**
 * The lake writer's state of one topic-partition, stored next to the data
 * (`_state/<topic>/partition=<p>.json`). It is the source of truth for what is landed; the
 * Kafka committed offset only saves re-reading.
 *
 * A flush of offsets [first, last] planned on top of `landed_through = L` writes, in order:
 *   0. the claim `_claims/<topic>/partition=<p>/after-<L>.json` = {first, last, objects},
 *      create-only (S3 If-None-Match, link(2) locally): the fence,
 *   1. the manifest with `pending = {first, last, objects}` (the intent),
 *   2. the objects,
 *   3. the manifest with `landed_through = last`, `pending = null`,
 *   4. the Kafka commit of last + 1.
 * A writer that finds `pending` set re-lands exactly [first, last] (same offsets, same
 * grouping, so the same object names), deletes any listed object it did not rewrite, and
 * only then consumes further: a crash at any step leaves neither a gap nor an overlap.
 *
 * The claim fences two writers that both believe they own the partition (a flush begun
 * before a rebalance and finished after it, a writer frozen past its session timeout):
 * only one flush can ever follow L, so their ranges cannot overlap. The loser drops its
 * buffer and re-reads the partition; whoever owns the partition next follows the claims
 * from the manifest's `landed_through` (readPartitionManifest), so a claim whose flush
 * never finished, or a manifest a late writer overwrote with an older one, is re-landed
 * with the claim's own boundaries. Claims are never deleted (one small object per flush):
 * a deleted claim would let a zombie write after that boundary again.
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

/** One flush's claim on the offsets after a boundary (step 0 above). */
export interface FlushClaim {
  first: bigint;
  last: bigint;
  objects: string[];
}

interface ClaimJson {
  first: string;
  last: string;
  objects: string[];
  writer: string;
  claimed_at: string;
}

/** Claims the flush after `after`; false when another flush holds that boundary already. */
export async function claimFlush(storage: LakeStorage, topic: string, partition: number, after: bigint | null, claim: FlushClaim, writer: string): Promise<boolean> {
  const json: ClaimJson = { first: claim.first.toString(), last: claim.last.toString(), objects: claim.objects, writer, claimed_at: new Date().toISOString() };
  return storage.putIfAbsent(claimKey(topic, partition, after), Buffer.from(`${JSON.stringify(json)}\n`));
}

export async function readClaim(storage: LakeStorage, topic: string, partition: number, after: bigint | null): Promise<FlushClaim | null> {
  const body = await storage.get(claimKey(topic, partition, after));
  if (body === null) return null;
  const json = JSON.parse(body.toString('utf8')) as ClaimJson;
  return { first: BigInt(json.first), last: BigInt(json.last), objects: json.objects };
}

/**
 * The partition's manifest brought up to date with the claims after its `landed_through`:
 * a claim followed by another is landed (its successor was planned on top of it); the
 * last one may not be, and becomes `pending` (re-landing it rewrites the same objects). A
 * `pending` without a claim (written before claims existed) is claimed here, so that it
 * too is fenced. Returns the manifest and how many claims it followed.
 */
export async function readPartitionManifest(storage: LakeStorage, topic: string, partition: number, writer: string): Promise<{ manifest: PartitionManifest; followed: number }> {
  const manifest = await readManifest(storage, topic, partition);
  let landedThrough = manifest.landedThrough;
  let claim = await readClaim(storage, topic, partition, landedThrough);
  if (claim === null) {
    if (manifest.pending === null || (await claimFlush(storage, topic, partition, landedThrough, manifest.pending, writer))) return { manifest, followed: 0 };
    claim = await readClaim(storage, topic, partition, landedThrough);
    if (claim === null) throw new Error(`lake claim after ${String(landedThrough)} of ${topic}:${partition} exists and cannot be read`);
  }
  for (let followed = 1; ; followed += 1) {
    const next = await readClaim(storage, topic, partition, claim.last);
    if (next === null) return { manifest: { ...manifest, landedThrough, pending: claim }, followed };
    landedThrough = claim.last;
    claim = next;
  }
}
