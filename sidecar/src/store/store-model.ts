/**
 * The TypeScript model of the two Redis Functions of lua/churnfeat.lua, decoded with the
 * same protocol module: what the apply function leaves in a user's state hash and dedup hash,
 * and what the read function answers for a state hash. Tests hold it to the real functions
 * (test/integration/store/store-model-property.test.ts: random states and calls against a
 * real redis-server) and parity uses it to predict online values from lake records.
 * It models the hash and set contents, not TTLs.
 */
import type { CompiledFeature } from '../features/index.ts';
import type { FeatureValue } from '../windows/index.ts';
import type { UserStateRead } from './feature-reader.ts';
import {
  decodeLast,
  decodeSourceState,
  encodeSourceState,
  FIELD_PREFIX,
  fieldName,
  INVALID_AS_OF_MS_ERROR,
  OP,
  parseAsOfMs,
  parseDistinctFeatureId,
  parseTileField,
  PRUNE_REGROWTH_FIELDS,
  DEDUP_TILE_S,
  dedupTileField,
  dedupTileHas,
  sourceField,
  type ApplyCall,
  type OpTriple,
  type StoreVerdict,
} from './store-protocol.ts';

/** What the read of one feature needs to know about it. */
export type ReadFeature = Pick<CompiledFeature, 'id' | 'name' | 'aggregation' | 'granularityMs' | 'windowMs' | 'scale'>;

/** One user's keys: the state hash (field -> value) and one source's dedup hash (tile field -> packed members). */
export interface ModelState {
  fields: Map<string, string>;
  dedup: Map<string, Buffer>;
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

/** Drops tiles and distinct values older than their feature's bound, as `prune` does. */
function prune(fields: Map<string, string>, oldest: ReadonlyMap<string, number>): void {
  for (const [field, value] of [...fields]) {
    if (field[0] === FIELD_PREFIX.tile) {
      const tile = parseTileField(field);
      const bound = tile === null ? undefined : oldest.get(tile.featureId);
      if (tile !== null && bound !== undefined && tile.tile < bound) fields.delete(field);
    } else if (field[0] === FIELD_PREFIX.distinct) {
      const id = parseDistinctFeatureId(field);
      const bound = id === null ? undefined : oldest.get(id);
      if (bound !== undefined && Number(value) < bound) fields.delete(field);
    }
  }
}

/** One call of the apply function on one user's state and dedup set: the verdict of each event. */
export function applyCall(state: ModelState, call: ApplyCall): StoreVerdict[] {
  const { fields, dedup } = state;
  const verdicts: StoreVerdict[] = [];
  let tileOpened = false;
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
    else {
      const tile = dedupTileField(event.dedupScoreS);
      const packed = dedup.get(tile);
      if (packed !== undefined && dedupTileHas(packed, event.dedupMember)) verdict = 'duplicate';
      else {
        if (packed === undefined) tileOpened = true;
        dedup.set(tile, packed === undefined ? Buffer.from(event.dedupMember) : Buffer.concat([packed, event.dedupMember]));
      }
    }
    if (verdict === 'applied') for (const op of event.ops) applyOp(fields, op);
    if (verdict !== 'replayed') fields.set(field, encodeSourceState(event.partitionKey, offset, Math.max(appliedIngest, event.ingestMs)));
    verdicts.push(verdict);
  }
  // a tile goes once all of its event times are below the bound, looked for only when the call opened a tile
  if (tileOpened) for (const tile of [...dedup.keys()]) if ((Number(tile) + 1) * DEDUP_TILE_S <= call.dedupPruneBeforeS) dedup.delete(tile);
  if (call.pruneBounds.length > 0) {
    const afterLast = Number(fields.get(FIELD_PREFIX.pruneMark) ?? '0');
    if (fields.size > call.pruneAboveFields && fields.size > afterLast + PRUNE_REGROWTH_FIELDS) {
      prune(fields, new Map(call.pruneBounds.map((b) => [b.featureId, b.oldestTile])));
      fields.set(FIELD_PREFIX.pruneMark, String(fields.size));
    }
  }
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

/** The read function's whole answer for a state hash at `asOfMs` (JSON-parsed). */
export function readState(features: readonly ReadFeature[], fields: ReadonlyMap<string, string>, asOfMs: number): UserStateRead {
  const out: UserStateRead = { present: fields.size > 0, as_of_ms: asOfMs, features: {}, sources: {} };
  for (const feature of features) {
    const { value, latestEventMs } = readFeature(feature, fields, asOfMs);
    out.features[feature.name] = { value, latest_event_ms: latestEventMs };
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
