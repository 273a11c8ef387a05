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
 *   <prefix>:{<user_id>}:dt:<source>  HASH  dedup horizon of one source: 16 bucket fields picked by
 *                                      the member (64 bits of SHA-256 of the event key), value =
 *                                      10-byte entries (member + 2-byte tile stamp of event time)
 *                                      packed end to end (store-protocol.ts).
 *                                      One hash per source: each is pruned by the ingest clock of
 *                                      the user's records in that source, and the source topics
 *                                      are consumed with different lags. (Store protocol 2 kept a
 *                                      ZSET under ":dd:<source>"; see userKeys.)
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
 *   <prefix>:quality:history     STRING the volume detector's seasonal history, gzip JSON (sidecar/src/quality,
 *                                      RedisHistoryStore): not per registry version, shared by the group
 *
 * Versioned keyspaces (docs/lifecycle.md): the state of one registry version lives under
 * {@link versionPrefix}, so every key above exists once per version, `<prefix>:v:<version>:{<user_id>}`
 * and so on (still one hash tag per user, so one Cluster slot holds all versions of a user). The
 * deletion tombstone stays under the base prefix: one tombstone covers every version. Shared,
 * under the base prefix, the three lifecycle keys in one hash tag, so a cutover's MULTI (alias
 * and catalog together) runs in one Cluster slot (version-catalog.ts):
 *
 *   <prefix>:{lifecycle}:active     STRING the version readers follow (the alias)
 *   <prefix>:{lifecycle}:versions   HASH  version -> JSON record of its lifecycle state and registry
 *   <prefix>:{lifecycle}:audit      STREAM one entry per lifecycle operation (who, what, when, versions)
 *   <prefix>:v:<version>:bootstrap  HASH progress and cut offsets of the version's bootstrap
 */
import { createHash, hash } from 'node:crypto';
import { SOURCES, type Source } from '../events/index.ts';
import { DEDUP_MEMBER_BYTES } from './store-protocol.ts';

// The state fields are part of the store protocol; re-exported for callers that read the layout.
export { distinctField, encodeLast, functionNames, lastField, latestEventField, sourceField, tileField } from './store-protocol.ts';

export function userStateKey(prefix: string, userId: string): string {
  return `${prefix}:{${userId}}`;
}

export function userDedupKey(prefix: string, userId: string, source: Source): string {
  return `${prefix}:{${userId}}:dt:${source}`;
}

/** The dedup set of store protocol 2 (a ZSET), which expires by itself within the dedup horizon after an upgrade. */
function legacyDedupKey(prefix: string, userId: string, source: Source): string {
  return `${prefix}:{${userId}}:dd:${source}`;
}

/** The read head of a user's state (store protocol 7, store-protocol.ts): a string beside the state hash, in its hash slot. */
export function userHeadKey(prefix: string, userId: string): string {
  return `${prefix}:{${userId}}:h`;
}

export function tombstoneKey(prefix: string, userId: string): string {
  return `${prefix}:{${userId}}:tomb`;
}

/**
 * Every Redis key a user owns under `prefix` (all in the user's hash slot): the state hash,
 * its read head, the dedup hash of each source, and the dedup sets of store protocol 2 that may still be
 * around for a day after an upgrade; not the deletion tombstone. Deleting these deletes everything the store holds of
 * the user; a key that does not exist is simply not there.
 */
export function userKeys(prefix: string, userId: string): string[] {
  return [
    userStateKey(prefix, userId),
    userHeadKey(prefix, userId),
    ...SOURCES.map((source) => userDedupKey(prefix, userId, source)),
    ...SOURCES.map((source) => legacyDedupKey(prefix, userId, source)),
  ];
}

/** The keyspace prefix of one registry version: pass it wherever a `prefix` names the state of that version. */
export function versionPrefix(prefix: string, version: string): string {
  return `${prefix}:v:${version}`;
}

export function activeVersionKey(prefix: string): string {
  return `${prefix}:{lifecycle}:active`;
}

export function versionCatalogKey(prefix: string): string {
  return `${prefix}:{lifecycle}:versions`;
}

export function lifecycleAuditKey(prefix: string): string {
  return `${prefix}:{lifecycle}:audit`;
}

export function bootstrapKey(prefix: string, version: string): string {
  return `${versionPrefix(prefix, version)}:bootstrap`;
}

export function watermarkKey(prefix: string): string {
  return `${prefix}:wm`;
}

export function registryKey(prefix: string): string {
  return `${prefix}:registry`;
}

/** The anomaly detector's seasonal history snapshot (quality-monitor.ts RedisHistoryStore); under the base prefix. */
export function qualityHistoryKey(prefix: string): string {
  return `${prefix}:quality:history`;
}

export function watermarkField(source: Source, partition: number): string {
  return `${source}:${partition}`;
}

const topicHashes = new Map<string, string>();

/** "<topic hash>:<partition>": changes when a user's records move to another topic or partition. */
export function partitionKey(topic: string, partition: number): string {
  let topicHash = topicHashes.get(topic);
  if (topicHash === undefined) {
    topicHash = createHash('sha1').update(topic).digest('hex').slice(0, 8);
    // a consumer reads a handful of topics: the memo stays small
    if (topicHashes.size < 1_024) topicHashes.set(topic, topicHash);
  }
  return `${topicHash}:${partition}`;
}

/** Dedup member: the first 64 bits of SHA-256 of the event key (the dedup hash is per source already). */
export function dedupMember(eventKey: string): Buffer {
  return hash('sha256', eventKey, 'buffer').subarray(0, DEDUP_MEMBER_BYTES);
}
