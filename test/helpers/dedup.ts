/**
 * The dedup entries two stores must agree on. A packed bucket's bytes depend on how the records
 * were batched into calls: a call prunes only the buckets it writes, by its own clock, so an
 * expired entry stays in a bucket no later call wrote (docs/deletion.md "Comparing two stores").
 * The entries still live at the prune bound of the user's clock do not depend on it.
 */
import type { RegistryPolicies } from '../../sidecar/src/features/index.ts';
import { DEDUP_ENTRY_BYTES, decodeSourceState, pruneDedupBucket } from '../../sidecar/src/store/index.ts';

/** The entries of a packed dedup bucket that are live at `pruneBeforeS` (seconds), in their order. */
export function liveDedupEntries(packed: Buffer, pruneBeforeS: number): Buffer {
  const live: Buffer[] = [];
  for (let at = 0; at + DEDUP_ENTRY_BYTES <= packed.length; at += DEDUP_ENTRY_BYTES) {
    const entry = packed.subarray(at, at + DEDUP_ENTRY_BYTES);
    // an entry alone in a bucket is pruned exactly when it is expired at the bound
    if (pruneDedupBucket(entry, pruneBeforeS).length > 0) live.push(entry);
  }
  return Buffer.concat(live);
}

/**
 * A user's dedup hash of one source reduced to its live entries, as [bucket, hex] sorted by
 * bucket, empty buckets left out; `sourceState`: the state hash's s:<source> field (its applied
 * ingest time is the clock of the user's last call on that source).
 */
export function liveDedupHash(hash: ReadonlyMap<string, Buffer>, sourceState: string, policies: Pick<RegistryPolicies, 'allowedLatenessMs' | 'dedupMarginMs'>): Array<[string, string]> {
  const clock = decodeSourceState(sourceState).appliedIngestMs;
  const pruneBeforeS = Math.floor((clock - policies.allowedLatenessMs - policies.dedupMarginMs) / 1000);
  return [...hash]
    .map(([bucket, packed]): [string, string] => [bucket, liveDedupEntries(packed, pruneBeforeS).toString('hex')])
    .filter(([, hex]) => hex !== '')
    .sort(([a], [b]) => Number(a) - Number(b));
}
