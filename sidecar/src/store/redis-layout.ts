/**
 * The online store's Redis layout: every key and field name is built here and nowhere else.
 *
 * Per user (one hash tag, so one Redis Cluster slot). The state hash expires after the longest
 * window + tile + allowed lateness + 1 h without writes; the dedup sets after the dedup horizon
 * (allowed lateness + margin + 1 h):
 *
 *   <prefix>:{<user_id>}         HASH  feature state
 *     t:<feature id>:<tile index>   count / fixed-point sum / min / max of one tile
 *     d:<feature id>:<value>        count_distinct: newest tile index the value was seen in
 *     l:<feature id>                last: "<event_ms>|<key length>|<event key><value>"
 *     e:<feature id>                event time (ms) of the newest event the feature counted
 *     s:<source>                    "<topic hash>:<partition>|<applied offset>|<max applied ingest_ms>"
 *   <prefix>:{<user_id>}:dd:<source>  ZSET  dedup horizon of one source: member
 *                                      "<source letter><64-bit key hash>", score = event time in
 *                                      seconds. One set per source: each is pruned by the ingest
 *                                      clock of the user's records in that source, and the source
 *                                      topics are consumed with different lags.
 *
 * Shared (read by the serving layer, written by the sidecar):
 *
 *   <prefix>:wm                  HASH  "<source>:<partition>" -> partition watermark (ms): every
 *                                      record ingested into the partition before it is applied
 *   <prefix>:registry            STRING the version id of the loaded feature registry
 */
import { createHash } from 'node:crypto';
import type { Source } from '../events/index.ts';

export const DEFAULT_KEY_PREFIX = 'cf';

export function userStateKey(prefix: string, userId: string): string {
  return `${prefix}:{${userId}}`;
}

export function userDedupKey(prefix: string, userId: string, source: Source): string {
  return `${prefix}:{${userId}}:dd:${source}`;
}

export function watermarkKey(prefix: string): string {
  return `${prefix}:wm`;
}

export function registryKey(prefix: string): string {
  return `${prefix}:registry`;
}

export function tileField(featureId: string, tile: number): string {
  return `t:${featureId}:${tile}`;
}

export function distinctField(featureId: string, value: string): string {
  return `d:${featureId}:${value}`;
}

export function lastField(featureId: string): string {
  return `l:${featureId}`;
}

export function latestEventField(featureId: string): string {
  return `e:${featureId}`;
}

export function sourceField(source: Source): string {
  return `s:${source}`;
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

/** Encodes a `last` candidate so the store can order candidates by (event_ms, event key). */
export function encodeLast(eventMs: number, eventKey: string, value: string): string {
  // the length is in bytes: the Lua side cuts the key out of the UTF-8 string by bytes
  return `${eventMs}|${Buffer.byteLength(eventKey)}|${eventKey}${value}`;
}

/** Redis function names for a registry version id (FeatureRegistry.version). */
export function functionNames(version: string): { library: string; apply: string; read: string } {
  return { library: `churnfeat_${version}`, apply: `cf_apply_${version}`, read: `cf_read_${version}` };
}
