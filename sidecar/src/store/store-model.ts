/**
 * The TypeScript model of the two Redis Functions of lua/churnfeat.lua, decoded with the
 * same protocol module: what the apply function leaves in a user's state hash and dedup hash,
 * and what the read function answers for a state hash. Tests hold it to the real functions
 * (test/integration/store/store-model-property.test.ts: random states and calls against a
 * real redis-server) and parity uses it to predict online values from lake records.
 * It models the hash and set contents, not TTLs.
 */
import { SOURCES } from '../events/index.ts';
import type { CompiledFeature } from '../features/index.ts';
import type { FeatureValue } from '../windows/index.ts';
import {
  decodeLast,
  decodeHead,
  decodeSourceState,
  encodeHead,
  encodeSourceState,
  headPlan,
  FIELD_PREFIX,
  fieldName,
  INVALID_AS_OF_MS_ERROR,
  OP,
  parseAsOfMs,
  parseDistinctFeatureId,
  parseTileField,
  READ_REPLY,
  readHeadFields,
  PRUNE_REGROWTH_FIELDS,
  decodeRunning,
  encodeRunning,
  runningField,
  STATE_LAYOUT,
  tileField,
  lastField,
  latestEventField,
  type RunningTotal,
  dedupBucketField,
  dedupBucketHas,
  dedupStamp,
  pruneDedupBucket,
  sourceField,
  type ApplyCall,
  type OpTriple,
  type StoreVerdict,
} from './store-protocol.ts';

/** The answer of a read for one user (built by {@link readReply} from the read function's raw fields). */
export interface UserStateRead {
  present: boolean;
  as_of_ms: number;
  features: Record<string, { value: number | string | null; latest_event_ms: number | null }>;
  sources: Record<string, { partition: number; offset: number; applied_ingest_ms: number }>;
}

/** What the read of one feature needs to know about it. */
export type ReadFeature = Pick<CompiledFeature, 'id' | 'name' | 'aggregation' | 'granularityMs' | 'windowMs' | 'scale'>;

/**
 * One user's keys: the state hash (field -> value), one source's dedup hash (bucket -> packed
 * members) and the read head (store protocol 7; null or absent: no head key).
 */
export interface ModelState {
  fields: Map<string, string>;
  dedup: Map<string, Buffer>;
  head?: string | null;
}

/**
 * The read head the apply function leaves after a call that changed the state (`build_head`):
 * the e:, l:, r:, s: fields and the tiles of {@link headPlan}, copied from the state hash; null
 * when no head can be built. `oldest`: the call's prune bounds.
 */
export function buildHead(fields: ReadonlyMap<string, string>, features: readonly ReadFeature[], oldest: ReadonlyMap<string, number>): string | null {
  const plan = headPlan(
    features,
    (id) => {
      const text = fields.get(runningField(id));
      return text === undefined ? null : decodeRunning(text);
    },
    oldest,
  );
  if (plan === null) return null;
  const entries: Array<[string, string]> = [];
  for (const name of [...readHeadFields(features).slice(1), ...plan.tiles]) {
    const value = fields.get(name);
    if (value !== undefined) entries.push([name, value]);
  }
  return encodeHead(plan.fromMs, plan.untilMs, entries);
}

/** Byte-wise a < b of the UTF-8 encodings, as the Lua compares strings. */
function bytesLess(a: string, b: string): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) < 0;
}

function lastIsNewer(candidate: string, current: string): boolean {
  const c = decodeLast(candidate);
  const o = decodeLast(current);
  if (c.eventMs !== o.eventMs) return c.eventMs > o.eventMs;
  return bytesLess(o.eventKey, c.eventKey);
}

/** Applies one (op, field, value) triple to a state hash, as `apply_op` does. */
export function applyOp(fields: Map<string, string>, [op, field, value]: OpTriple): void {
  const current = fields.get(field);
  switch (op) {
    case OP.add:
      fields.set(field, String((current === undefined ? 0 : Number(current)) + Number(value)));
      return;
    case OP.min:
      if (current === undefined || Number(value) < Number(current)) fields.set(field, value);
      return;
    case OP.max:
    case OP.distinct:
    case OP.latest:
      if (current === undefined || Number(value) > Number(current)) fields.set(field, value);
      return;
    case OP.last:
      if (current === undefined || lastIsNewer(value, current)) fields.set(field, value);
      return;
  }
}

/** Drops tiles and distinct values older than their feature's bound and rebases the running totals below it, as `prune` does. */
function prune(fields: Map<string, string>, oldest: ReadonlyMap<string, number>): void {
  const kept = new Map<string, number>();
  const totals = new Map<string, string>();
  for (const [field, value] of [...fields]) {
    if (field[0] === FIELD_PREFIX.tile) {
      const tile = parseTileField(field);
      const bound = tile === null ? undefined : oldest.get(tile.featureId);
      if (tile === null || bound === undefined) continue;
      if (tile.tile < bound) fields.delete(field);
      else kept.set(tile.featureId, (kept.get(tile.featureId) ?? 0) + (Number.isNaN(Number(value)) ? 0 : Number(value)));
    } else if (field[0] === FIELD_PREFIX.distinct) {
      const id = parseDistinctFeatureId(field);
      const bound = id === null ? undefined : oldest.get(id);
      if (bound !== undefined && Number(value) < bound) fields.delete(field);
    } else if (field[0] === FIELD_PREFIX.running) {
      totals.set(fieldName(field), value);
    }
  }
  for (const [id, text] of totals) {
    const running = decodeRunning(text);
    const bound = oldest.get(id);
    if (bound !== undefined && running !== null && running.base < bound) fields.set(runningField(id), encodeRunning({ base: bound, total: kept.get(id) ?? 0, top: running.top }));
  }
}

/** Sum of the stored tiles of a feature with an index in [a, b], as `sum_tiles` does. */
function sumTiles(fields: ReadonlyMap<string, string>, id: string, a: number, b: number): number {
  let total = 0;
  for (let k = a; k <= b; k++) {
    const value = fields.get(tileField(id, k));
    if (value !== undefined) total += Number(value);
  }
  return total;
}

/** A running total within one call: undefined base until the feature's first tile. */
type CallRunning = { base: number | undefined; total: number; top: number | undefined; stored: string | undefined; low?: number };

function loadRunning(fields: ReadonlyMap<string, string>, id: string): CallRunning {
  const stored = fields.get(runningField(id));
  const decoded = stored === undefined ? null : decodeRunning(stored);
  return decoded === null ? { base: undefined, total: 0, top: undefined, stored } : { ...decoded, stored };
}

function runningOf(fields: ReadonlyMap<string, string>, running: Map<string, CallRunning>, id: string): CallRunning {
  let r = running.get(id);
  if (r === undefined) {
    r = loadRunning(fields, id);
    running.set(id, r);
  }
  return r;
}

const isAdditive = (f: ReadFeature): boolean => f.aggregation === 'count' || f.aggregation === 'sum' || f.aggregation === 'count_distinct';

/** A total created in this call covers every tile (base undefined, low = its lowest tile) until the call ends. */
function runningAdd(r: CallRunning, tile: number, delta: number): void {
  if (r.base === undefined) {
    r.total += delta;
    if (r.low === undefined || tile < r.low) r.low = tile;
    if (r.top === undefined || tile > r.top) r.top = tile;
    return;
  }
  if (tile >= r.base) r.total += delta;
  if (r.top === undefined || tile > r.top) r.top = tile;
}

/** HINCRBY of a state field. */
function incrBy(fields: Map<string, string>, field: string, delta: number): number {
  const next = Number(fields.get(field) ?? '0') + delta;
  fields.set(field, String(next));
  return next;
}

/** One op as the apply function of the current layout runs it: tiles of additive features also move their running totals. */
function applyLayoutOp(fields: Map<string, string>, running: Map<string, CallRunning>, triple: OpTriple): void {
  const [op, field, value] = triple;
  if (op === OP.add) {
    incrBy(fields, field, Number(value));
    const tile = parseTileField(field);
    if (tile !== null) runningAdd(runningOf(fields, running, tile.featureId), tile.tile, Number(value));
    return;
  }
  if (op === OP.distinct) {
    const current = fields.get(field);
    const tile = Number(value);
    if (current !== undefined && !(tile > Number(current))) return;
    fields.set(field, value);
    const id = parseDistinctFeatureId(field);
    if (id === null) return;
    const r = runningOf(fields, running, id);
    incrBy(fields, tileField(id, tile), 1);
    runningAdd(r, tile, 1);
    if (current !== undefined) {
      const old = Number(current);
      if (incrBy(fields, tileField(id, old), -1) === 0) fields.delete(tileField(id, old));
      runningAdd(r, old, -1);
    }
    return;
  }
  applyOp(fields, triple);
}

/**
 * A state hash of store protocol 2 gets the current layout, as `migrate` does: per-tile counts
 * of the distinct values' newest tiles and a running total per additive feature. `features`
 * says which features are additive (the Lua knows its registry).
 */
export function migrateState(fields: Map<string, string>, features: readonly ReadFeature[]): void {
  const aggregation = new Map(features.map((f) => [f.id, f.aggregation]));
  const counts = new Map<string, Map<number, number>>();
  const tiles = new Map<string, Map<number, number>>();
  for (const [field, value] of [...fields]) {
    if (field[0] === FIELD_PREFIX.distinct) {
      const id = parseDistinctFeatureId(field);
      if (id === null) continue;
      const byTile = counts.get(id) ?? new Map<number, number>();
      counts.set(id, byTile);
      byTile.set(Number(value), (byTile.get(Number(value)) ?? 0) + 1);
    } else if (field[0] === FIELD_PREFIX.tile) {
      const tile = parseTileField(field);
      const fn = tile === null ? undefined : aggregation.get(tile.featureId);
      if (tile === null || (fn !== 'count' && fn !== 'sum')) continue;
      const byTile = tiles.get(tile.featureId) ?? new Map<number, number>();
      tiles.set(tile.featureId, byTile);
      byTile.set(tile.tile, Number(value));
    }
  }
  for (const [id, byTile] of counts) {
    for (const [tile, n] of byTile) incrBy(fields, tileField(id, tile), n);
    tiles.set(id, byTile);
  }
  for (const [id, byTile] of tiles) {
    const indexes = [...byTile.keys()];
    const total = [...byTile.values()].reduce((a, b) => a + b, 0);
    fields.set(runningField(id), encodeRunning({ base: Math.min(...indexes), total, top: Math.max(...indexes) }));
  }
}

/**
 * One call of the apply function on one user's state and dedup hash: the verdict of each event.
 * `features` is the registry the function was rendered for (its additive features' running
 * totals are moved on every call, and a state of store protocol 2 is migrated with it).
 */
export function applyCall(state: ModelState, call: ApplyCall, features: readonly ReadFeature[]): StoreVerdict[] {
  const { fields, dedup } = state;
  const verdicts: StoreVerdict[] = [];
  const written = new Set<string>();
  const layoutMarked = fields.has(FIELD_PREFIX.layout);
  const pruneMark = fields.get(FIELD_PREFIX.pruneMark);
  if (!layoutMarked && fields.size > 0) migrateState(fields, features);
  const running = new Map<string, CallRunning>(features.filter(isAdditive).map((f) => [f.id, loadRunning(fields, f.id)]));
  for (const event of call.events) {
    const field = sourceField(event.source);
    const offset = Number(event.offset);
    let appliedOffset: number | null = null;
    let appliedIngest = 0;
    const current = fields.get(field);
    if (current !== undefined) {
      const applied = decodeSourceState(current);
      if (applied.partitionKey === event.partitionKey) appliedOffset = applied.offset;
      appliedIngest = applied.appliedIngestMs;
    }
    let verdict: StoreVerdict = 'applied';
    if (appliedOffset !== null && offset <= appliedOffset) verdict = 'replayed';
    else if (!call.skipDedup) {
      const bucket = dedupBucketField(event.dedupMember);
      const packed = dedup.get(bucket) ?? Buffer.alloc(0);
      if (dedupBucketHas(packed, event.dedupMember)) verdict = 'duplicate';
      else {
        dedup.set(bucket, Buffer.concat([packed, event.dedupMember, dedupStamp(event.dedupScoreS, call.dedupPruneBeforeS)]));
        written.add(bucket);
      }
    }
    if (verdict === 'applied') for (const op of event.ops) applyLayoutOp(fields, running, op);
    if (verdict !== 'replayed') fields.set(field, encodeSourceState(event.partitionKey, offset, Math.max(appliedIngest, event.ingestMs)));
    verdicts.push(verdict);
  }
  // a bucket written loses its entries whose tile lies wholly below the bound; one left empty goes
  for (const bucket of written) {
    const kept = pruneDedupBucket(dedup.get(bucket) as Buffer, call.dedupPruneBeforeS);
    if (kept.length > 0) dedup.set(bucket, kept);
    else dedup.delete(bucket);
  }
  const oldest = new Map(call.pruneBounds.map((b) => [b.featureId, b.oldestTile]));
  // a call whose events were all replayed writes nothing (a replay must leave the state as it was)
  const moveBases = verdicts.some((v) => v !== 'replayed');
  for (const [id, r] of moveBases ? running : []) {
    const next = oldest.get(id);
    if (r.base === undefined && r.low !== undefined) r.base = next !== undefined && next < r.low ? next : r.low;
    if (r.base === undefined || r.top === undefined) continue;
    const base = r.base;
    const top = r.top;
    let moved: RunningTotal = { base, total: r.total, top };
    if (next !== undefined && next > base) {
      let total: number;
      if (top < next) total = 0;
      else if (next - base <= top - next + 1) total = r.total - sumTiles(fields, id, base, next - 1);
      else total = sumTiles(fields, id, next, top);
      moved = { base: next, total, top };
    }
    const text = encodeRunning(moved);
    if (text !== r.stored) fields.set(runningField(id), text);
  }
  if (!layoutMarked) fields.set(FIELD_PREFIX.layout, STATE_LAYOUT);
  if (call.pruneBounds.length > 0) {
    const afterLast = Number(pruneMark ?? '0');
    if (fields.size > call.pruneAboveFields && fields.size > afterLast + PRUNE_REGROWTH_FIELDS) {
      prune(fields, oldest);
      fields.set(FIELD_PREFIX.pruneMark, String(fields.size));
    }
  }
  if (moveBases) state.head = buildHead(fields, features, oldest);
  return verdicts;
}

/** The read of one feature from a state hash at `asOfMs`, as the read function computes it. */
export function readFeature(feature: ReadFeature, fields: Iterable<readonly [string, string]>, asOfMs: number): FeatureValue {
  const g = feature.granularityMs;
  const hi = Math.floor(asOfMs / g);
  const lo = hi - feature.windowMs / g;
  const fn = feature.aggregation;
  let total = 0;
  let distinct = 0;
  let best: { number: number; text: string } | null = null;
  let latest: number | null = null;
  let last: string | null = null;
  const visible = (ms: number): boolean => ms <= asOfMs && Math.floor(ms / g) >= lo;
  for (const [field, value] of fields) {
    switch (field[0]) {
      case FIELD_PREFIX.tile: {
        const parsed = parseTileField(field);
        if (parsed === null || parsed.featureId !== feature.id || parsed.tile < lo || parsed.tile > hi) break;
        if (fn === 'min' || fn === 'max') {
          const v = Number(value);
          if (best === null || (fn === 'min' && v < best.number) || (fn === 'max' && v > best.number)) best = { number: v, text: value };
        } else {
          total += Number(value);
        }
        break;
      }
      case FIELD_PREFIX.distinct: {
        if (parseDistinctFeatureId(field) !== feature.id) break;
        const tile = Number(value);
        if (tile >= lo && tile <= hi) distinct += 1;
        break;
      }
      case FIELD_PREFIX.latestEvent:
        if (fieldName(field) === feature.id && visible(Number(value))) latest = Number(value);
        break;
      case FIELD_PREFIX.last: {
        if (fieldName(field) !== feature.id) break;
        const candidate = decodeLast(value);
        if (visible(candidate.eventMs)) last = candidate.value;
        break;
      }
    }
  }
  switch (fn) {
    case 'count':
    case 'sum':
      // the Lua prints the fixed-point total as a decimal; dividing gives the same double
      return { value: total / 10 ** feature.scale, latestEventMs: latest };
    case 'count_distinct':
      return { value: distinct, latestEventMs: latest };
    case 'min':
    case 'max':
      return { value: best === null ? null : (JSON.parse(best.text) as number), latestEventMs: latest };
    case 'last':
      return { value: last, latestEventMs: latest };
  }
}

/** Sum of a feature's tiles in [lo, hi] from its running total and the edge tiles, or from the window's tiles, as `window_total` does. */
function windowTotal(fields: ReadonlyMap<string, string>, id: string, lo: number, hi: number): number {
  const text = fields.get(runningField(id));
  if (text === undefined) return 0;
  const running = decodeRunning(text);
  if (running === null) throw new Error(`malformed running total ${JSON.stringify(text)}`);
  const { base, top } = running;
  const upper = Math.min(hi, top);
  if (upper < lo) return 0;
  if (lo >= base && lo - base + (top - upper) < upper - lo + 1) {
    let total = running.total;
    if (lo > base) total -= sumTiles(fields, id, base, lo - 1);
    if (top > upper) total -= sumTiles(fields, id, upper + 1, top);
    return total;
  }
  return sumTiles(fields, id, lo, upper);
}

/**
 * The window sum of an additive feature from the read head, at a read inside the head's range
 * (hi >= top, lo >= base): the running total less its tiles below the window, which the head holds.
 */
function headTotal(fields: ReadonlyMap<string, string>, id: string, lo: number): number {
  const text = fields.get(runningField(id));
  if (text === undefined) return 0;
  const running = decodeRunning(text);
  if (running === null) throw new Error(`malformed running total ${JSON.stringify(text)}`);
  return running.total - sumTiles(fields, id, running.base, lo - 1);
}

/**
 * The read of one feature from a state hash of the current layout (with the layout mark), as
 * `read_running` computes it: additive features from their running totals, min / max from the
 * window's tiles in tile order, last and latest from their one field.
 */
export function readFeatureRunning(feature: ReadFeature, fields: ReadonlyMap<string, string>, asOfMs: number, fromHead = false): FeatureValue {
  const g = feature.granularityMs;
  const hi = Math.floor(asOfMs / g);
  const lo = hi - feature.windowMs / g;
  const visible = (ms: number): boolean => ms <= asOfMs && Math.floor(ms / g) >= lo;
  const latestText = fields.get(latestEventField(feature.id));
  const latestMs = latestText === undefined || latestText === '' ? NaN : Number(latestText);
  const latestEventMs = !Number.isNaN(latestMs) && visible(latestMs) ? latestMs : null;
  switch (feature.aggregation) {
    case 'count':
    case 'sum':
      return { value: (fromHead ? headTotal(fields, feature.id, lo) : windowTotal(fields, feature.id, lo, hi)) / 10 ** feature.scale, latestEventMs };
    case 'count_distinct':
      return { value: fromHead ? headTotal(fields, feature.id, lo) : windowTotal(fields, feature.id, lo, hi), latestEventMs };
    case 'min':
    case 'max': {
      let best: { number: number; text: string } | null = null;
      for (let k = lo; k <= hi; k++) {
        const text = fields.get(tileField(feature.id, k));
        if (text === undefined) continue;
        const v = Number(text);
        if (best === null || (feature.aggregation === 'min' && v < best.number) || (feature.aggregation === 'max' && v > best.number)) best = { number: v, text };
      }
      return { value: best === null ? null : (JSON.parse(best.text) as number), latestEventMs };
    }
    case 'last': {
      const text = fields.get(lastField(feature.id));
      const candidate = text === undefined ? null : decodeLast(text);
      return { value: candidate !== null && visible(candidate.eventMs) ? candidate.value : null, latestEventMs };
    }
  }
}

/** The read function's whole answer for a state hash at `asOfMs` (JSON-parsed). */
export function readState(features: readonly ReadFeature[], fields: ReadonlyMap<string, string>, asOfMs: number, fromHead = false): UserStateRead {
  const layout = fromHead || fields.has(FIELD_PREFIX.layout);
  const out: UserStateRead = { present: fromHead || fields.size > 0, as_of_ms: asOfMs, features: {}, sources: {} };
  for (const feature of features) {
    const { value, latestEventMs } = layout ? readFeatureRunning(feature, fields, asOfMs, fromHead) : readFeature(feature, fields, asOfMs);
    out.features[feature.name] = { value, latest_event_ms: latestEventMs };
  }
  if (layout) {
    for (const source of SOURCES) {
      const text = fields.get(sourceField(source));
      if (text === undefined) continue;
      const applied = decodeSourceState(text);
      out.sources[source] = { partition: applied.partition, offset: applied.offset, applied_ingest_ms: applied.appliedIngestMs };
    }
    return out;
  }
  for (const [field, value] of fields) {
    if (field[0] !== FIELD_PREFIX.source) continue;
    const applied = decodeSourceState(value);
    out.sources[fieldName(field)] = { partition: applied.partition, offset: applied.offset, applied_ingest_ms: applied.appliedIngestMs };
  }
  return out;
}

/** What the read function answers for an `as_of_ms` argument as sent: the read, or the error of a malformed argument. */
export type ReadAnswer = { ok: true; read: UserStateRead } | { ok: false; error: string };

/** The read function called with the argument text `asOfArg` (see {@link parseAsOfMs}): a malformed one is an error, never a read. */
export function readStateArg(features: readonly ReadFeature[], fields: ReadonlyMap<string, string>, asOfArg: string): ReadAnswer {
  const asOfMs = parseAsOfMs(asOfArg);
  return asOfMs === null ? { ok: false, error: INVALID_AS_OF_MS_ERROR } : { ok: true, read: readState(features, fields, asOfMs) };
}

/**
 * Decodes the reply of the read function (see READ_REPLY in store-protocol.ts) into the read's
 * answer: the raw fields it returned, one snapshot of the user's hash, go through
 * {@link readState}. `headFields` is `readHeadFields(features)`, computed once per registry.
 */
export function readReply(features: readonly ReadFeature[], headFields: readonly string[], reply: unknown): UserStateRead {
  if (!Array.isArray(reply) || typeof reply[1] !== 'number') throw new Error(`unexpected reply of the read function: ${JSON.stringify(reply)}`);
  const [kind, asOfMs] = reply as [unknown, number];
  const fields = new Map<string, string>();
  if (kind === READ_REPLY.running) {
    const [, , head, names, values] = reply as [unknown, number, Array<string | null>, string[], Array<string | null>];
    for (let i = 0; i < headFields.length; i++) {
      const value = head[i];
      if (value !== null && value !== undefined) fields.set(headFields[i] as string, value);
    }
    for (let i = 0; i < names.length; i++) {
      const value = values[i];
      if (value !== null && value !== undefined) fields.set(names[i] as string, value);
    }
  } else if (kind === READ_REPLY.head) {
    // the read head of store protocol 7: the function checked that as_of_ms lies in its range
    return readState(features, decodeHead(String(reply[2])).fields, asOfMs, true);
  } else if (kind === READ_REPLY.scan) {
    const all = reply[2] as string[];
    for (let i = 0; i + 1 < all.length; i += 2) fields.set(all[i] as string, all[i + 1] as string);
  } else {
    throw new Error(`unexpected reply of the read function: ${JSON.stringify(reply)}`);
  }
  return readState(features, fields, asOfMs);
}

/** The reply decoder of one registry's read function: {@link readReply} with its head fields computed once. */
export function replyDecoder(features: readonly ReadFeature[]): (reply: unknown) => UserStateRead {
  const headFields = readHeadFields(features);
  return (reply) => readReply(features, headFields, reply);
}
