/**
 * The online store's Redis layout: every key name is built here and nowhere else (the state
 * hash's field names are the store protocol's, store-protocol.ts).
 *
 * Per user (one hash tag, so one Redis Cluster slot). The state hash expires after the longest
 * window + tile + allowed lateness + 1 h without writes; the dedup sets after the dedup horizon
 * (allowed lateness + margin + 1 h):
 *
 *   <prefix>:{<user_id>}         HASH  feature state: tiles (t:), distinct values (d:), last
 *                                      candidates (l:), newest event times (e:), applied source
 *                                      positions (s:) and the prune mark (p); the field grammar
 *                                      is defined in store-protocol.ts
 *   <prefix>:{<user_id>}:dd:<source>  ZSET  dedup horizon of one source: member
 *                                      "<source letter><64-bit key hash>", score = event time in
 *                                      seconds. One set per source: each is pruned by the ingest
 *                                      clock of the user's records in that source, and the source
 *                                      topics are consumed with different lags.
 *
 *   <prefix>:{<user_id>}:tomb    STRING deletion tombstone: the deletion time (epoch ms) of the
 *                                      user's erasure request (docs/deletion.md). Written before
 *                                      the user's keys are deleted, expires after the tombstone
 *                                      horizon (allowed lateness + Kafka retention + margin); the
 *                                      apply function refuses writes of the user while it is set,
 *                                      so no late, replayed or re-delivered record recreates them.
 *
 * {@link userKeys} lists every key of one user that holds data (not the tombstone): the
 * deletion removes exactly those. Whoever adds or renames a per-user key adds it there.
 *
 * Shared (read by the serving layer, written by the sidecar):
 *
 *   <prefix>:wm                  HASH  "<source>:<partition>" -> partition watermark (ms): every
 *                                      record ingested into the partition before it is applied
 *   <prefix>:registry            STRING the version id of the loaded feature registry (FeatureRegistry.version)
 */
import { createHash } from 'node:crypto';
import { SOURCES, type Source } from '../events/index.ts';

// The state fields are part of the store protocol; re-exported for callers that read the layout.
export { distinctField, encodeLast, functionNames, lastField, latestEventField, sourceField, tileField } from './store-protocol.ts';

export function userStateKey(prefix: string, userId: string): string {
  return `${prefix}:{${userId}}`;
}

export function userDedupKey(prefix: string, userId: string, source: Source): string {
  return `${prefix}:{${userId}}:dd:${source}`;
}

export function tombstoneKey(prefix: string, userId: string): string {
  return `${prefix}:{${userId}}:tomb`;
}

/**
 * Every key of one user that holds the user's data, in every layout this code still writes
 * or may find (the deletion deletes these, then sweeps `<prefix>:{<user_id>}*` for keys of
 * older layouts). The tombstone is not one of them.
 */
export function userKeys(prefix: string, userId: string): string[] {
  return [userStateKey(prefix, userId), ...SOURCES.map((source) => userDedupKey(prefix, userId, source))];
}

export function watermarkKey(prefix: string): string {
  return `${prefix}:wm`;
}

export function registryKey(prefix: string): string {
  return `${prefix}:registry`;
}

export function watermarkField(source: Source, partition: number): string {
  return `${source}:${partition}`;
}

/** "<topic hash>:<partition>": changes when a user's records move to another topic or partition. */
export function partitionKey(topic: string, partition: number): string {
  return `${createHash('sha1').update(topic).digest('hex').slice(0, 8)}:${partition}`;
}

/** Dedup member: one letter for the source plus 64 bits of SHA-256 of the event key. */
export function dedupMember(source: Source, eventKey: string): string {
  return source[0] + createHash('sha256').update(eventKey).digest('base64url').slice(0, 11);
}
