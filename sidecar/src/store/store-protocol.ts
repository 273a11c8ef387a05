/**
 * The store protocol: the one definition of what the sidecar sends to the Redis Functions and
 * of what they keep in a user's state hash. Both sides are built from this module:
 * - the writer and the reader encode their calls with it ({@link encodeApplyArgs},
 *   {@link encodeOp}, {@link functionNames});
 * - the Lua (lua/churnfeat.lua) refers only to constants that {@link renderLuaProtocol}
 *   renders from here (op codes, field prefixes, value patterns, argument positions), so the
 *   two languages cannot disagree on a letter or a position;
 * - the TypeScript model of both functions (store-model.ts) decodes with it.
 *
 * Changing anything here or in the Lua changes the rendered library: bump
 * {@link STORE_PROTOCOL_VERSION} (test/unit/store/store-protocol.test.ts pins the rendered Lua
 * to it), which renames the functions, so pods of two protocol versions never replace each
 * other's functions during a rolling deploy.
 *
 * State hash of one user (`<prefix>:{<user_id>}`, see redis-layout.ts), field grammar:
 *
 *   t:<feature id>:<tile index>   tile aggregate: count or fixed-point sum (integer, HINCRBY),
 *                                 or min / max (the number's text, as JSON writes it)
 *   d:<feature id>:<value>        count_distinct: the newest tile index the value was seen in
 *   l:<feature id>                last: "<event_ms>|<key bytes>|<event key><value>", the newest
 *                                 candidate by (event_ms, event key compared byte-wise)
 *   e:<feature id>                event time (ms) of the newest event the feature counted
 *   s:<source>                    "<partition key>|<applied offset>|<max applied ingest_ms>",
 *                                 partition key = "<topic hash>:<partition>"
 *   p                             prune mark: the hash's field count right after the last
 *                                 prune of stale tiles (the next prune waits until the hash
 *                                 has grown by 64 fields); read ignores it
 *   r:<feature id>                additive features (count, sum, count_distinct): running total
 *                                 "<base>|<total>|<top>": total = sum of the feature's stored
 *                                 tiles with index >= base, top = the highest tile index written.
 *                                 The read takes the window's sum from it and the few tiles at
 *                                 its edges (base..lo-1, hi+1..top), or sums the window's tiles
 *                                 directly when that is fewer: its cost does not grow with the
 *                                 window's tile count. The apply moves base up to the oldest
 *                                 tile any read at its clock can count.
 *   v                             layout mark ({@link STATE_LAYOUT}); for count_distinct the
 *                                 t: tiles then count the values whose newest tile they are
 *
 * Feature ids contain no ':'; tile indexes are tile_start / granularity (non-negative).
 *
 * Dedup hash of one user and source (`<prefix>:{<user_id>}:dt:<source>`, see redis-layout.ts):
 * {@link DEDUP_BUCKETS} fields (buckets), named by the decimal bucket number, which is the
 * first byte of the event key's {@link DEDUP_MEMBER_BYTES}-byte member modulo the bucket count;
 * a bucket's value is its entries packed end to end, each the member followed by a 2-byte
 * big-endian stamp: the {@link DEDUP_TILE_S}-second tile of the event's time, modulo 65536
 * (dedupStamp). A member is found only at a multiple of the entry width, so membership is
 * exact for the members stored, and independent of event_ts (two records with one event_id
 * and event times in different tiles are one event, as offline). When a bucket is written its
 * expired prefix goes: the entries from the front whose tile lies wholly below the prune bound
 * (the bound the entries' scores had in protocol 2), up to the first that does not (protocol 6;
 * protocol 5 removed every expired entry once the first was); a bucket left empty is deleted.
 *
 * Store protocol 6 adds the fields function (`cf_fields_<version>`): the raw fields of one
 * snapshot of the state hash a read needs ({@link READ_REPLY}), from which the reader builds
 * the answer with the model (store-model.ts `readReply`); the serving path uses it. The read
 * function (`cf_read_<version>`) still answers JSON, for tools outside the project. The
 * state and dedup hashes are the same as in protocol 5.
 *
 * Store protocol 7 adds the read head (`<prefix>:{<user_id>}:h`, see redis-layout.ts userHeadKey),
 * a string the apply function rewrites at the end of every call that changed the state:
 *
 *   <from_ms>|<until_ms>|<entry><entry>...    entry = "<name bytes>:<name><value bytes>:<value>"
 *
 * The entries are copies of state-hash fields, under their state-hash names: every e:, l:, r:
 * and s: field, and the tiles a read anywhere in [from_ms, until_ms] needs ({@link headPlan}):
 * per additive feature its stored tiles base..base+K-1 (K = {@link HEAD_HORIZON_MS} in tiles,
 * at most the window), per min / max feature the window's tiles from the prune bound on. The
 * fields function answers a read inside [from_ms, until_ms] with the head alone (one GET,
 * whatever the tile count); outside it, or without a head, with the state hash as in protocol 6.
 * The state hash and the dedup hash keep the grammar of protocol 6.
 *
 * Store protocol 8 adds the apply argument `skip_dedup` (`--dedup local`, sidecar/src/dedup):
 * the sidecar decided duplicates in its own partition index and sends only the others; such a
 * call leaves the dedup hash alone. The grammar of every key is that of protocol 7.
 *
 * Store protocol 9 keeps every key, argument, reply and the head's bytes of protocol 8; only the
 * Lua's work changed (the head's name and length prefixes printed at load, a source position
 * parsed and printed once per call): the rendered library differs, so the version does.
 */
import { SOURCES, type Source } from '../events/index.ts';
import { STORE_PROTOCOL_VERSION } from '../features/index.ts';
import type { TileBound, WindowOp } from '../windows/index.ts';

/** Version of this protocol and of the Lua rendered from it; part of every function name. */
export { STORE_PROTOCOL_VERSION };

/** Op codes of the apply function: what one (op, field, value) triple does to `field`. */
export const OP = {
  /** add the integer `value` to the field (HINCRBY): count (1) and fixed-point sum tiles */
  add: 'c',
  /** keep the smaller number: min tiles */
  min: 'n',
  /** keep the larger number: max tiles */
  max: 'x',
  /** keep the larger tile index: a distinct value's newest tile */
  distinct: 'd',
  /** keep the newer encoded `last` candidate (see {@link encodeLast}) */
  last: 'l',
  /** keep the larger event time: the newest counted event */
  latest: 'e',
} as const;

/** One op code of {@link OP}. */
export type OpCode = (typeof OP)[keyof typeof OP];

/** One op as the apply function receives it: three consecutive arguments. */
export type OpTriple = readonly [op: OpCode, field: string, value: string];

/** First character of each kind of state field; the read dispatches on it. */
export const FIELD_PREFIX = {
  tile: 't',
  distinct: 'd',
  last: 'l',
  latestEvent: 'e',
  source: 's',
  /** the whole field name of the prune mark, not a prefix */
  pruneMark: 'p',
  /** running total of an additive feature (count, sum, count_distinct) */
  running: 'r',
  /** the whole field name of the layout mark, not a prefix */
  layout: 'v',
} as const;

/**
 * Value of the layout mark `v`: the state hash keeps running totals (r:) and, for
 * count_distinct, per-tile counts of the values whose newest tile it is. A hash without the
 * mark was written by store protocol 2: the first apply of protocol 3 migrates it, and until
 * then the read scans it as protocol 2 did.
 */
export const STATE_LAYOUT = '3';

/** Separates the parts of a field name. */
export const FIELD_SEPARATOR = ':';
/** Separates the parts of a `last` value and of a source value. */
export const VALUE_SEPARATOR = '|';

/** The apply function's verdict letter per event. */
export const VERDICT = { applied: 'a', duplicate: 'd', replayed: 'r' } as const;

/**
 * What the store did with a record: applied, source duplicate, replay of an applied offset, or
 * `deleted`: a record of a user with a deletion tombstone whose event time is before the
 * deletion (the writer's verdict, from the apply function's {@link TOMBSTONE_REPLY}).
 */
export type StoreVerdict = keyof typeof VERDICT | 'deleted';

/** Seconds of event time one unit of a dedup entry's stamp (a dedup tile) covers. */
export const DEDUP_TILE_S = 900;
/** Width of a dedup member: the first 8 bytes of the SHA-256 of the event key. */
export const DEDUP_MEMBER_BYTES = 8;
/** Width of a dedup entry: the member and its 2-byte stamp. */
export const DEDUP_ENTRY_BYTES = DEDUP_MEMBER_BYTES + 2;
/** Buckets (fields) of a dedup hash; a member's first byte picks its bucket. */
export const DEDUP_BUCKETS = 16;
/** Stamps modulo this (2 bytes); a stamp is compared to the bound's tile modulo it too. */
const DEDUP_STAMP_MODULUS = 65_536;
/** Tiles above the bound's tile a stamp is capped at (an event_ts far in the future), well inside half the modulus. */
export const DEDUP_STAMP_AHEAD = 16_384;

/** The dedup hash field (bucket) of a member. */
export function dedupBucketField(member: Buffer): string {
  return String((member[0] as number) % DEDUP_BUCKETS);
}

/** The tile of the prune bound (seconds): entries stamped with an earlier tile are expired. */
function boundTile(pruneBeforeS: number): number {
  return Math.floor(pruneBeforeS / DEDUP_TILE_S);
}

const mod = (n: number, m: number): number => ((n % m) + m) % m;

/** The 2-byte stamp of an entry: its event time's tile, kept within [bound tile - 1, bound tile + DEDUP_STAMP_AHEAD], modulo 65536. */
export function dedupStamp(eventSeconds: number, pruneBeforeS: number): Buffer {
  const bound = boundTile(pruneBeforeS);
  const tile = Math.min(Math.max(Math.floor(eventSeconds / DEDUP_TILE_S), bound - 1), bound + DEDUP_STAMP_AHEAD);
  const stamp = Buffer.alloc(2);
  stamp.writeUInt16BE(mod(tile, DEDUP_STAMP_MODULUS));
  return stamp;
}

/** Whether a packed dedup bucket holds `member` (only at a multiple of the entry width: exact). */
export function dedupBucketHas(packed: Buffer, member: Buffer): boolean {
  for (let at = packed.indexOf(member); at >= 0; at = packed.indexOf(member, at + 1)) if (at % DEDUP_ENTRY_BYTES === 0) return true;
  return false;
}

/**
 * A packed (non-empty) bucket without its expired prefix: the entries from the first whose tile
 * lies wholly below the prune bound (seconds) up to the first that does not. Entries are
 * appended, so the oldest come first; an expired entry behind a live one (a late event's) stays
 * until it reaches the front, which only keeps dedup stricter. A write scans only the prefix.
 */
export function pruneDedupBucket(packed: Buffer, pruneBeforeS: number): Buffer {
  const bound = boundTile(pruneBeforeS);
  const expired = (at: number): boolean => {
    const behind = mod(bound - packed.readUInt16BE(at + DEDUP_MEMBER_BYTES), DEDUP_STAMP_MODULUS);
    return behind >= 1 && behind < DEDUP_STAMP_MODULUS / 2;
  };
  let cut = 0;
  while (cut + DEDUP_ENTRY_BYTES <= packed.length && expired(cut)) cut += DEDUP_ENTRY_BYTES;
  return cut === 0 ? packed : packed.subarray(cut);
}

/** The members of a packed dedup bucket, as hex. */
export function decodeDedupBucket(packed: Buffer): string[] {
  const members: string[] = [];
  for (let at = 0; at + DEDUP_ENTRY_BYTES <= packed.length; at += DEDUP_ENTRY_BYTES) members.push(packed.subarray(at, at + DEDUP_MEMBER_BYTES).toString('hex'));
  return members;
}

/** The `skip_dedup` argument of a call whose caller deduplicated its events ('' : the store does). */
export const SKIP_DEDUP = '1';

/** The apply function's error for a dedup member of the wrong width. */
export const BAD_DEDUP_MEMBER_ERROR = `ERR churnfeat: a dedup member must be ${DEDUP_MEMBER_BYTES} bytes`;

/**
 * First letter of the apply function's reply when the user has a deletion tombstone the call
 * did not name in `tomb_seen`: the call wrote nothing, the rest of the reply is the tombstone
 * (the deletion time, epoch ms). See docs/deletion.md.
 */
export const TOMBSTONE_REPLY = 'T';

/** KEYS of the apply function, in order (`tomb`: the user's deletion tombstone, redis-layout.ts). */
export const APPLY_KEYS = ['state', 'dedup', 'tomb', 'head'] as const;
/**
 * ARGV of the apply function before the events, in order. `tomb_seen`: the tombstone the
 * caller already honoured ('' for none): the call is refused while the user's tombstone holds
 * anything else. `skip_dedup`: {@link SKIP_DEDUP} when the caller decided duplicates itself
 * (`--dedup local`, sidecar/src/dedup): the call neither reads nor writes the dedup hash and
 * takes any dedup_member (the writer sends ''); the tombstone and offset checks stay.
 */
export const APPLY_ARGS = ['ttl', 'dedup_prune_before_s', 'prune_spec', 'prune_above_fields', 'n_events', 'tomb_seen', 'skip_dedup'] as const;
/** Arguments of each event, in order, after the header; then `n_ops` op triples. */
export const APPLY_EVENT_ARGS = ['source_field', 'partition_key', 'offset', 'dedup_member', 'dedup_score_s', 'ingest_ms', 'n_ops'] as const;
/** Arguments of each op, in order. */
export const APPLY_OP_ARGS = ['op', 'field', 'value'] as const;
/** KEYS of the read function (`cf_read`, JSON). */
export const READ_KEYS = ['state'] as const;
/** KEYS of the fields function (`cf_fields`): the state hash and the read head (optional: without it the function reads the hash). */
export const FIELDS_KEYS = ['state', 'head'] as const;
/** ARGV of the read function: `as_of_ms` is optional (default: the Redis server's clock). */
export const READ_ARGS = ['as_of_ms'] as const;

/**
 * Largest `as_of_ms` the read function takes: the last instant a JavaScript Date can hold
 * (8.64e15 ms, year 275760), below 2^53, so Lua's doubles hold every accepted value exactly.
 */
export const MAX_AS_OF_MS = 8_640_000_000_000_000;
/** Digits of {@link MAX_AS_OF_MS}: a longer `as_of_ms` is refused before it is converted. */
const MAX_AS_OF_DIGITS = String(MAX_AS_OF_MS).length;
/** What an `as_of_ms` argument must look like: decimal digits only (no sign, point, exponent, hex, inf or nan). */
const AS_OF_MS_TEXT = /^[0-9]+$/;

/** The read function's error for a malformed `as_of_ms` (the same text in the Lua and the model). */
export const INVALID_AS_OF_MS_ERROR = `ERR churnfeat: as_of_ms must be decimal digits, epoch milliseconds from 0 to ${MAX_AS_OF_MS}`;

/**
 * The instant an `as_of_ms` argument names, as the read function reads it; null when the
 * argument is malformed (the function then answers {@link INVALID_AS_OF_MS_ERROR}).
 */
export function parseAsOfMs(text: string): number | null {
  if (!AS_OF_MS_TEXT.test(text) || text.length > MAX_AS_OF_DIGITS) return null;
  const ms = Number(text);
  return ms <= MAX_AS_OF_MS ? ms : null;
}

/** The `as_of_ms` argument for an instant; throws on one the read function would refuse. */
export function encodeAsOfMs(ms: number): string {
  const text = Number.isSafeInteger(ms) ? String(ms) : '';
  if (parseAsOfMs(text) === null) throw new RangeError(`as_of_ms must be an integer from 0 to ${MAX_AS_OF_MS}, got ${ms}`);
  return text;
}

/**
 * Tags of the fields function's reply, its first element. The reply carries raw fields; the
 * answer is built by the reader with the TypeScript model (store-model.ts `readReply`):
 *   { 'r', as_of_ms, head, names, values }   a state of the current layout: `head` is the
 *       HMGET of {@link readHeadFields} (nil for a missing field), `names` the tiles the
 *       windows' edges need and `values` their HMGET
 *   { 's', as_of_ms, all }                    no layout mark (a protocol 2 hash, or no state):
 *       `all` is HGETALL, field, value, field, value, ...
 */
export const READ_REPLY = { running: 'r', scan: 's', head: 'h' } as const;

/**
 * How far past the tiles of the last apply the read head reaches (ms): a feature's head holds
 * this much of its tiles beyond the running total's base (at most the window), so a read up to
 * ~15 minutes after a user's last event is answered from the head.
 */
export const HEAD_HORIZON_MS = 900_000;

/** What the head needs to know of a feature. */
export type HeadFeature = ReadHeadFeature & { readonly granularityMs: number; readonly windowMs: number };

/** Tiles of a feature beyond its base the head holds: {@link HEAD_HORIZON_MS} in tiles, at most the window's tile count. */
export function headTailTiles(f: HeadFeature): number {
  return Math.min(Math.ceil(HEAD_HORIZON_MS / f.granularityMs), f.windowMs / f.granularityMs + 1);
}

/**
 * The tiles the head copies and the reads it can answer, as the apply function computes them
 * (`head_plan` in the Lua): `running` gives an additive feature's stored running total,
 * `oldest` a feature's prune bound (the call's prune_spec). Null when no head can be built (a
 * min / max feature without a bound, or an empty range).
 */
export function headPlan(
  features: readonly HeadFeature[],
  running: (id: string) => RunningTotal | null,
  oldest: ReadonlyMap<string, number>,
): { fromMs: number; untilMs: number; tiles: string[] } | null {
  let fromMs = 0;
  let untilMs = MAX_AS_OF_MS;
  const tiles: string[] = [];
  for (const f of features) {
    const g = f.granularityMs;
    const w = f.windowMs / g;
    const k = headTailTiles(f);
    if (isAdditive(f.aggregation)) {
      const r = running(f.id);
      if (r === null) continue;
      fromMs = Math.max(fromMs, r.top * g, (r.base + w) * g);
      let last = r.base + k - 1;
      if (last < r.top) untilMs = Math.min(untilMs, (last + 2 + w) * g - 1);
      else last = r.top;
      for (let j = r.base; j <= last; j++) tiles.push(tileField(f.id, j));
    } else if (f.aggregation === 'min' || f.aggregation === 'max') {
      const o = oldest.get(f.id);
      if (o === undefined) return null;
      fromMs = Math.max(fromMs, (o + w) * g);
      untilMs = Math.min(untilMs, (o + w + k) * g - 1);
      for (let j = o; j <= o + w + k - 1; j++) tiles.push(tileField(f.id, j));
    }
  }
  return fromMs > untilMs ? null : { fromMs, untilMs, tiles };
}

/** The head's text: the range, then each (name, value) pair length-prefixed in bytes. */
export function encodeHead(fromMs: number, untilMs: number, entries: Iterable<readonly [string, string]>): string {
  let text = `${fromMs}${VALUE_SEPARATOR}${untilMs}${VALUE_SEPARATOR}`;
  for (const [name, value] of entries) text += `${Buffer.byteLength(name)}:${name}${Buffer.byteLength(value)}:${value}`;
  return text;
}

/** The parts of a head's text (see {@link encodeHead}). */
export function decodeHead(text: string): { fromMs: number; untilMs: number; fields: Map<string, string> } {
  const bytes = Buffer.from(text);
  const first = bytes.indexOf(VALUE_SEPARATOR);
  const second = bytes.indexOf(VALUE_SEPARATOR, first + 1);
  if (first < 0 || second < 0) throw new Error(`malformed read head ${JSON.stringify(text.slice(0, 80))}`);
  const fields = new Map<string, string>();
  let at = second + 1;
  const chunk = (): string => {
    const colon = bytes.indexOf(':', at);
    const length = Number(bytes.toString('latin1', at, colon));
    if (colon < 0 || !Number.isInteger(length)) throw new Error(`malformed read head ${JSON.stringify(text.slice(0, 80))}`);
    at = colon + 1 + length;
    return bytes.toString('utf8', colon + 1, at);
  };
  while (at < bytes.length) {
    const name = chunk();
    fields.set(name, chunk());
  }
  return { fromMs: Number(bytes.toString('latin1', 0, first)), untilMs: Number(bytes.toString('latin1', first + 1, second)), fields };
}

/** What the read needs to know of a feature to name its head fields. */
export type ReadHeadFeature = { readonly id: string; readonly aggregation: string };

/** Whether a feature keeps a running total (r:): its tiles add up. */
export function isAdditive(aggregation: string): boolean {
  return aggregation === 'count' || aggregation === 'sum' || aggregation === 'count_distinct';
}

/**
 * The fields of the read's first HMGET, in reply order: the layout mark, then per feature
 * e:, l: (last) and r: (additive), then each source's position s:. Rendered into the
 * function library as READ_HEAD, so the Lua and the reader agree on the order.
 */
export function readHeadFields(features: readonly ReadHeadFeature[]): string[] {
  const names: string[] = [FIELD_PREFIX.layout];
  for (const f of features) {
    names.push(latestEventField(f.id));
    if (f.aggregation === 'last') names.push(lastField(f.id));
    if (isAdditive(f.aggregation)) names.push(runningField(f.id));
  }
  for (const source of SOURCES) names.push(sourceField(source));
  return names;
}

/** Field of one tile of a feature. */
export function tileField(featureId: string, tile: number): string {
  return `${FIELD_PREFIX.tile}:${featureId}:${tile}`;
}

/** Field of one distinct value of a count_distinct feature. */
export function distinctField(featureId: string, value: string): string {
  return `${FIELD_PREFIX.distinct}:${featureId}:${value}`;
}

/** Field of the `last` candidate of a feature. */
export function lastField(featureId: string): string {
  return `${FIELD_PREFIX.last}:${featureId}`;
}

/** Field of the newest counted event time of a feature. */
export function latestEventField(featureId: string): string {
  return `${FIELD_PREFIX.latestEvent}:${featureId}`;
}

/** Field of the running total of an additive feature. */
export function runningField(featureId: string): string {
  return `${FIELD_PREFIX.running}:${featureId}`;
}

/** A running total's parts (see the field grammar above). */
export interface RunningTotal {
  base: number;
  total: number;
  top: number;
}

export function encodeRunning(r: RunningTotal): string {
  return `${r.base}|${r.total}|${r.top}`;
}

export function decodeRunning(text: string): RunningTotal | null {
  const match = /^(-?\d+)\|(-?\d+)\|(-?\d+)$/.exec(text);
  return match ? { base: Number(match[1]), total: Number(match[2]), top: Number(match[3]) } : null;
}

/** Field of a source's applied position. */
export function sourceField(source: Source): string {
  return `${FIELD_PREFIX.source}:${source}`;
}

const TILE_FIELD = new RegExp(`^${FIELD_PREFIX.tile}${FIELD_SEPARATOR}([^${FIELD_SEPARATOR}]+)${FIELD_SEPARATOR}(\\d+)$`);
const DISTINCT_FIELD = new RegExp(`^${FIELD_PREFIX.distinct}${FIELD_SEPARATOR}([^${FIELD_SEPARATOR}]+)${FIELD_SEPARATOR}`);
/** Where the name after "<kind>:" starts in a field (0-based). */
const NAME_START = FIELD_PREFIX.tile.length + FIELD_SEPARATOR.length;

/** The feature id and tile index of a tile field; null when `field` is not one. */
export function parseTileField(field: string): { featureId: string; tile: number } | null {
  const match = TILE_FIELD.exec(field);
  return match ? { featureId: match[1] as string, tile: Number(match[2]) } : null;
}

/** The feature id of a distinct-value field; null when `field` is not one. */
export function parseDistinctFeatureId(field: string): string | null {
  return DISTINCT_FIELD.exec(field)?.[1] ?? null;
}

/** The name after "<kind>:": the feature id of an l: or e: field, the source of an s: field. */
export function fieldName(field: string): string {
  return field.slice(NAME_START);
}

/**
 * The apply function prunes stale tiles only once the hash has grown by this many fields
 * since the last prune (recorded in the prune mark), not on every call: a user with many
 * live distinct values would otherwise rescan the whole hash each time.
 */
export const PRUNE_REGROWTH_FIELDS = 64;

/** Encodes a `last` candidate so the store can order candidates by (event_ms, event key). */
export function encodeLast(eventMs: number, eventKey: string, value: string): string {
  // the length is in bytes: the Lua side cuts the key out of the UTF-8 string by bytes
  return `${eventMs}|${Buffer.byteLength(eventKey)}|${eventKey}${value}`;
}

/** The parts of an encoded `last` candidate. */
export function decodeLast(text: string): { eventMs: number; eventKey: string; value: string } {
  const first = text.indexOf(VALUE_SEPARATOR);
  const second = text.indexOf(VALUE_SEPARATOR, first + 1);
  const keyBytes = Number(text.slice(first + 1, second));
  const rest = Buffer.from(text.slice(second + 1));
  return { eventMs: Number(text.slice(0, first)), eventKey: rest.subarray(0, keyBytes).toString(), value: rest.subarray(keyBytes).toString() };
}

/** The value of a source field: where the user's records of that source were applied up to. */
export function encodeSourceState(partitionKey: string, offset: number | string, appliedIngestMs: number): string {
  return `${partitionKey}|${offset}|${appliedIngestMs}`;
}

/** The parts of a source field's value; `partition` is -1 when the partition key has none. */
export function decodeSourceState(text: string): { partitionKey: string; partition: number; offset: number; appliedIngestMs: number } {
  const match = /^(.*)\|(\d+)\|(\d+)$/s.exec(text);
  if (!match) throw new Error(`malformed source state ${JSON.stringify(text)}`);
  const partitionKey = match[1] as string;
  const partition = /:(\d+)$/.exec(partitionKey)?.[1];
  return { partitionKey, partition: partition === undefined ? -1 : Number(partition), offset: Number(match[2]), appliedIngestMs: Number(match[3]) };
}

/** "id=oldestTile,...": the apply function's `prune_spec` argument ('' disables pruning). */
export function encodePruneSpec(bounds: readonly TileBound[]): string {
  return bounds.map((b) => `${b.featureId}=${b.oldestTile}`).join(',');
}

/** The apply function's triple for one window op. */
export function encodeOp(op: WindowOp): OpTriple {
  switch (op.kind) {
    case 'add':
      return [OP.add, tileField(op.featureId, op.tile), String(op.amount)];
    case 'min':
      return [OP.min, tileField(op.featureId, op.tile), op.value];
    case 'max':
      return [OP.max, tileField(op.featureId, op.tile), op.value];
    case 'distinct':
      return [OP.distinct, distinctField(op.featureId, op.value), String(op.tile)];
    case 'last':
      return [OP.last, lastField(op.featureId), encodeLast(op.eventMs, op.eventKey, op.value)];
    case 'latest':
      return [OP.latest, latestEventField(op.featureId), String(op.eventMs)];
  }
}

/** One event of an apply call: its Kafka position, dedup entry and ops. */
export interface ApplyEvent {
  source: Source;
  partitionKey: string;
  /** Kafka offset, as Kafka clients give it (a decimal string). */
  offset: string;
  /** {@link DEDUP_MEMBER_BYTES} bytes of the event key's hash (redis-layout.ts dedupMember). */
  dedupMember: Buffer;
  /** The event's own event_ts in seconds (identical in every copy of the event): files the entry in its tile. */
  dedupScoreS: number;
  ingestMs: number;
  ops: readonly OpTriple[];
}

/** One call of the apply function, on the keys of one user and one source. */
export interface ApplyCall {
  stateTtlMs: number;
  dedupTtlMs: number;
  /** Dedup tiles whose event times (s) are all below this are removed (when the call opens a new tile). */
  dedupPruneBeforeS: number;
  pruneBounds: readonly TileBound[];
  /** Prune stale tiles only once the state hash has more fields than this. */
  pruneAboveFields: number;
  events: readonly ApplyEvent[];
  /** The deletion tombstone the caller honoured (dropped the records before it); '' or absent: none. */
  tombSeen?: string;
  /** The caller decided duplicates itself (`--dedup local`): the call skips the dedup hash. */
  skipDedup?: boolean;
}

/** The ARGV of the apply function for `call`, in the order of {@link APPLY_ARGS} and {@link APPLY_EVENT_ARGS}. */
export function encodeApplyArgs(call: ApplyCall): Array<string | number | Buffer> {
  const args: Array<string | number | Buffer> = [
    `${call.stateTtlMs}/${call.dedupTtlMs}`,
    call.dedupPruneBeforeS,
    encodePruneSpec(call.pruneBounds),
    call.pruneAboveFields,
    call.events.length,
    call.tombSeen ?? '',
    call.skipDedup ? SKIP_DEDUP : '',
  ];
  for (const event of call.events) {
    args.push(sourceField(event.source), event.partitionKey, event.offset, event.dedupMember, event.dedupScoreS, event.ingestMs, event.ops.length);
    for (const op of event.ops) args.push(op[0], op[1], op[2]);
  }
  return args;
}

/** The tombstone (deletion time text) of an apply reply that is a {@link TOMBSTONE_REPLY}; null for verdict letters. */
export function tombstoneOfReply(reply: string): string | null {
  return reply.startsWith(TOMBSTONE_REPLY) ? reply.slice(TOMBSTONE_REPLY.length) : null;
}

const VERDICT_OF_LETTER: Readonly<Record<string, StoreVerdict>> = Object.fromEntries(Object.entries(VERDICT).map(([verdict, letter]) => [letter, verdict as StoreVerdict]));

/** The verdicts of an apply reply (one letter per event). */
export function decodeVerdicts(reply: string): StoreVerdict[] {
  return [...reply].map((letter) => {
    const verdict = VERDICT_OF_LETTER[letter];
    if (verdict === undefined) throw new Error(`unknown verdict letter ${JSON.stringify(letter)} in apply reply ${JSON.stringify(reply)}`);
    return verdict;
  });
}

/**
 * Redis function names for a registry version id. The version id hashes SEMANTICS_VERSION,
 * which holds {@link STORE_PROTOCOL_VERSION}, so the names change with the protocol too.
 */
export function functionNames(registryVersion: string): { library: string; apply: string; read: string; fields: string } {
  return { library: `churnfeat_${registryVersion}`, apply: `cf_apply_${registryVersion}`, read: `cf_read_${registryVersion}`, fields: `cf_fields_${registryVersion}` };
}

function luaString(text: string): string {
  return `'${text.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

function luaLocals(entries: ReadonlyArray<readonly [name: string, value: string | number]>): string {
  return entries.map(([name, value]) => `local ${name} = ${typeof value === 'number' ? String(value) : luaString(value)}`).join('\n');
}

/** Lua positions (1-based) of a list of argument names, as `<PREFIX><NAME> = <position>` pairs. */
function positions(prefix: string, names: readonly string[], first: number): Array<[string, number]> {
  return names.map((name, index) => [`${prefix}${name.toUpperCase()}`, first + index]);
}

/** Escapes the characters that are magic in Lua patterns. */
const luaPattern = (text: string): string => text.replace(/[\^$()%.[\]*+\-?]/g, (c) => `%${c}`);

/**
 * The Lua constants the function library is written against: op codes, field prefixes,
 * patterns of the field and value grammar, verdict letters and argument positions. Every
 * upper-case name the Lua template uses is defined here (a unit test checks it).
 */
export function renderLuaProtocol(): string {
  const sep = luaPattern(FIELD_SEPARATOR);
  const bar = luaPattern(VALUE_SEPARATOR);
  return [
    `-- rendered from sidecar/src/store/store-protocol.ts, store protocol version ${STORE_PROTOCOL_VERSION}`,
    '-- op codes',
    luaLocals(Object.entries(OP).map(([name, code]) => [`OP_${name.toUpperCase()}`, code])),
    '-- state fields: the first character names the kind',
    luaLocals([
      ['FIELD_TILE', FIELD_PREFIX.tile],
      ['FIELD_DISTINCT', FIELD_PREFIX.distinct],
      ['FIELD_LAST', FIELD_PREFIX.last],
      ['FIELD_LATEST_EVENT', FIELD_PREFIX.latestEvent],
      ['FIELD_SOURCE', FIELD_PREFIX.source],
      ['FIELD_PRUNE_MARK', FIELD_PREFIX.pruneMark],
      ['FIELD_RUNNING', FIELD_PREFIX.running],
      ['FIELD_LAYOUT', FIELD_PREFIX.layout],
      ['STATE_LAYOUT', STATE_LAYOUT],
      ['FIELD_SEPARATOR', FIELD_SEPARATOR],
      ['RUNNING_VALUE_PATTERN', `^(%-?%d+)${bar}(%-?%d+)${bar}(%-?%d+)$`],
      // everything after "<kind>:" (the feature id of l: and e:, the source of s:)
      ['FIELD_NAME_START', NAME_START + 1],
      ['TILE_FIELD_PATTERN', `^${FIELD_PREFIX.tile}${sep}([^${sep}]+)${sep}(%d+)$`],
      ['DISTINCT_FIELD_PATTERN', `^${FIELD_PREFIX.distinct}${sep}([^${sep}]+)${sep}`],
      ['LAST_VALUE_PATTERN', `^(%d+)${bar}(%d+)${bar}(.*)$`],
      ['SOURCE_VALUE_PATTERN', `^(.*)${bar}(%d+)${bar}(%d+)$`],
      ['PARTITION_KEY_PATTERN', `${sep}(%d+)$`],
      ['VALUE_SEPARATOR', VALUE_SEPARATOR],
      ['TTL_PATTERN', '^(%d+)/(%d+)$'],
      ['PRUNE_SPEC_PATTERN', '([^=,]+)=(%d+)'],
      ['PRUNE_REGROWTH_FIELDS', PRUNE_REGROWTH_FIELDS],
    ]),
    '-- dedup hash: buckets picked by the member, entries (member, 2-byte tile stamp) packed end to end',
    luaLocals([
      ['DEDUP_TILE_S', DEDUP_TILE_S],
      ['DEDUP_MEMBER_BYTES', DEDUP_MEMBER_BYTES],
      ['DEDUP_ENTRY_BYTES', DEDUP_ENTRY_BYTES],
      ['DEDUP_BUCKETS', DEDUP_BUCKETS],
      ['DEDUP_STAMP_MODULUS', DEDUP_STAMP_MODULUS],
      ['DEDUP_STAMP_AHEAD', DEDUP_STAMP_AHEAD],
      ['BAD_DEDUP_MEMBER_ERROR', BAD_DEDUP_MEMBER_ERROR],
      ['SKIP_DEDUP', SKIP_DEDUP],
    ]),
    `local SOURCES = { ${SOURCES.map(luaString).join(', ')} }`,
    '-- verdicts',
    luaLocals(Object.entries(VERDICT).map(([name, letter]) => [`VERDICT_${name.toUpperCase()}`, letter])),
    luaLocals([['TOMBSTONE_REPLY', TOMBSTONE_REPLY]]),
    '-- apply: KEYS, ARGV header, per-event argument offsets, per-op argument offsets',
    luaLocals([
      ...positions('APPLY_KEY_', APPLY_KEYS, 1),
      ...positions('APPLY_ARG_', APPLY_ARGS, 1),
      ['APPLY_FIRST_EVENT_ARG', APPLY_ARGS.length + 1],
      ...positions('EVENT_ARG_', APPLY_EVENT_ARGS, 0),
      ['EVENT_ARG_COUNT', APPLY_EVENT_ARGS.length],
      ...positions('OP_ARG_', APPLY_OP_ARGS, 0),
      ['OP_ARG_COUNT', APPLY_OP_ARGS.length],
    ]),
    '-- read: KEYS, ARGV, the grammar of as_of_ms',
    luaLocals([
      ...positions('READ_KEY_', READ_KEYS, 1),
      ...positions('READ_ARG_', READ_ARGS, 1),
      ['AS_OF_MS_PATTERN', '^%d+$'],
      ['MAX_AS_OF_DIGITS', MAX_AS_OF_DIGITS],
      ['MAX_AS_OF_MS', MAX_AS_OF_MS],
      ['INVALID_AS_OF_MS_ERROR', INVALID_AS_OF_MS_ERROR],
      ['READ_REPLY_RUNNING', READ_REPLY.running],
      ['READ_REPLY_SCAN', READ_REPLY.scan],
      ['READ_REPLY_HEAD', READ_REPLY.head],
      ...positions('FIELDS_KEY_', FIELDS_KEYS, 1),
      ['HEAD_HORIZON_MS', HEAD_HORIZON_MS],
      ['HEAD_RANGE_PATTERN', `^(%d+)${bar}(%d+)${bar}`],
    ]),
    '',
  ].join('\n');
}
