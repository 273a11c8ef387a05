/**
 * "Explain this value": what in a user's state hash produced each feature value the read
 * function served at one instant (docs/data-quality.md, "Explain"). Pure: it takes the hash as
 * HGETALL returned it (read in the same MULTI as the served read, state-explainer.ts), decodes it
 * with the store protocol and recomputes every value from its parts, independently of the read
 * function and of store-model.ts, so a disagreement is evidence rather than a tautology:
 *
 * - additive features (count, sum, count_distinct): the window's tiles summed directly, and the
 *   running total `r:` minus its edge tiles (base..lo-1, hi+1..top), the path store protocol 5's
 *   read takes when that touches fewer tiles;
 * - min / max: the extreme of the window's tiles;
 * - last: the `l:` candidate when its event time is inside the window.
 */
import { isSource, type Source } from '../events/index.ts';
import type { CompiledFeature } from '../features/index.ts';
import type { UserStateRead } from './store-model.ts';
import {
  MAX_AS_OF_MS,
  decodeLast,
  decodeRunning,
  decodeSourceState,
  FIELD_PREFIX,
  fieldName,
  lastField,
  latestEventField,
  parseDistinctFeatureId,
  parseTileField,
  runningField,
} from './store-protocol.ts';

/** What the explanation needs to know about a feature. */
export type ExplainFeature = Pick<CompiledFeature, 'id' | 'name' | 'aggregation' | 'granularityMs' | 'windowMs' | 'scale' | 'source'>;

/** One stored tile: its index and start, the integer or number text the store keeps, and that in feature units. */
export interface ExplainedTile {
  index: number;
  start: string;
  start_ms: number;
  /** The field's text as stored: a count, a fixed-point sum, a min/max number, or (count_distinct) how many values have this as their newest tile. */
  stored: string;
  /** `stored` in the feature's unit (a fixed-point sum divided by 10^scale). */
  value: number;
}

/** Which read path store protocol 5 takes for an additive feature, and its parts. */
export interface ExplainedRunning {
  base: number;
  total: number;
  top: number;
  /** `running`: total minus the edge tiles; `direct`: the window's tiles summed (fewer tiles); `none`: no running total yet. */
  path: 'running' | 'direct' | 'none';
  /** Tiles base..lo-1 the running path subtracts. */
  below: ExplainedTile[];
  /** Tiles hi+1..top the running path subtracts (events after as_of). */
  above: ExplainedTile[];
  /** total - below - above, in feature units (null when the path is not `running`). */
  value_from_running: number | null;
}

export interface FeatureExplanation {
  feature: string;
  feature_id: string;
  aggregation: CompiledFeature['aggregation'];
  source: Source;
  /** The window at as_of: tiles lo..hi, from the start of tile lo to as_of. */
  window: { from: string; from_ms: number; to: string; to_ms: number; tile_lo: number; tile_hi: number; granularity_ms: number; window_ms: number };
  /** The stored tiles inside the window, by index. */
  tiles: ExplainedTile[];
  /** count_distinct: each value counted and the newest tile it was seen in. */
  distinct_values?: Array<{ value: string; tile: number }>;
  running?: ExplainedRunning;
  /** last: the stored candidate (counted when its event time is inside the window). */
  last_candidate?: { event_ms: number; event_key: string; value: string; in_window: boolean } | null;
  latest_event_ms: number | null;
  /** What the read function served. */
  served: number | string | null;
  /** The value recomputed here from the parts above. */
  recomputed: number | string | null;
  /** served === recomputed (and, on the running path, the running total agrees with the tiles). */
  consistent: boolean;
  /** Why not, when not consistent. */
  discrepancy?: string;
}

/** Where the user's records of one source were applied up to (the `s:` field), and that partition's watermark. */
export interface ExplainedSource {
  source: Source;
  partition: number;
  partition_key: string;
  /** The highest Kafka offset applied for the user in that partition. */
  offset: number;
  applied_ingest_ms: number;
  /** The partition's watermark (every record ingested before it is applied), when published. */
  watermark_ms: number | null;
}

export interface StateExplanation {
  user_id: string;
  /** The keyspace version the state was read from: the registry version today (redis-layout.ts versionPrefix later). */
  version: string;
  registry_version: string;
  as_of: string;
  as_of_ms: number;
  present: boolean;
  sources: ExplainedSource[];
  /** Every published partition watermark, "<source>:<partition>" -> ms. */
  watermarks: Record<string, number>;
  features: FeatureExplanation[];
  /** Every feature consistent. */
  consistent: boolean;
}

export interface ExplainInput {
  userId: string;
  registryVersion: string;
  /** The keyspace version; defaults to the registry version. */
  version?: string;
  features: readonly ExplainFeature[];
  /** The state hash as HGETALL returned it. */
  fields: Readonly<Record<string, string>>;
  /** The read function's answer in the same transaction (its as_of_ms is the instant explained). */
  served: UserStateRead;
  watermarks: ReadonlyMap<string, number>;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function tileOf(feature: ExplainFeature, index: number, stored: string): ExplainedTile {
  const start = index * feature.granularityMs;
  const number = Number(stored);
  const scaled = feature.aggregation === 'sum' ? number / 10 ** feature.scale : number;
  return { index, start: iso(start), start_ms: start, stored, value: scaled };
}

/** Numbers compare exactly except for the double rounding of a fixed-point division. */
function sameValue(a: number | string | null, b: number | string | null): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b || Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
  return a === b;
}

function explainFeature(feature: ExplainFeature, fields: Readonly<Record<string, string>>, asOfMs: number, served: number | string | null, servedLatest: number | null): FeatureExplanation {
  const g = feature.granularityMs;
  const hi = Math.floor(asOfMs / g);
  const lo = hi - feature.windowMs / g;
  const stored = new Map<number, string>();
  const distinct: Array<{ value: string; tile: number }> = [];
  const distinctPrefix = `${FIELD_PREFIX.distinct}:${feature.id}:`;
  for (const [field, text] of Object.entries(fields)) {
    const tile = parseTileField(field);
    if (tile !== null && tile.featureId === feature.id) stored.set(tile.tile, text);
    else if (field[0] === FIELD_PREFIX.distinct && parseDistinctFeatureId(field) === feature.id) {
      const at = Number(text);
      if (at >= lo && at <= hi) distinct.push({ value: field.slice(distinctPrefix.length), tile: at });
    }
  }
  const tilesIn = (a: number, b: number): ExplainedTile[] =>
    [...stored.entries()]
      .filter(([k]) => k >= a && k <= b)
      .sort(([x], [y]) => x - y)
      .map(([k, text]) => tileOf(feature, k, text));
  const tiles = tilesIn(lo, hi);
  const unit = feature.aggregation === 'sum' ? 10 ** feature.scale : 1;
  const fixedSum = (list: readonly ExplainedTile[]): number => list.reduce((total, t) => total + Number(t.stored), 0);
  const visible = (ms: number): boolean => ms <= asOfMs && Math.floor(ms / g) >= lo;
  const latestText = fields[latestEventField(feature.id)];
  const latestMs = latestText === undefined || latestText === '' ? null : Number(latestText);
  const out: FeatureExplanation = {
    feature: feature.name,
    feature_id: feature.id,
    aggregation: feature.aggregation,
    source: feature.source,
    window: { from: iso(lo * g), from_ms: lo * g, to: iso(asOfMs), to_ms: asOfMs, tile_lo: lo, tile_hi: hi, granularity_ms: g, window_ms: feature.windowMs },
    tiles,
    latest_event_ms: latestMs !== null && visible(latestMs) ? latestMs : null,
    served,
    recomputed: null,
    consistent: true,
  };
  const problems: string[] = [];
  switch (feature.aggregation) {
    case 'count':
    case 'sum':
    case 'count_distinct': {
      const direct = fixedSum(tiles);
      out.recomputed = direct / unit;
      if (feature.aggregation === 'count_distinct') {
        out.distinct_values = distinct.sort((a, b) => a.tile - b.tile || (a.value < b.value ? -1 : 1));
        if (distinct.length !== direct) problems.push(`${distinct.length} distinct values have their newest tile in the window, but its tiles count ${direct}`);
      }
      const runningText = fields[runningField(feature.id)];
      const running = runningText === undefined ? null : decodeRunning(runningText);
      if (running === null) {
        out.running = { base: 0, total: 0, top: 0, path: 'none', below: [], above: [], value_from_running: null };
        break;
      }
      const upper = Math.min(hi, running.top);
      // the read's choice (store-protocol.ts r: field): the running path when it touches fewer tiles
      const viaRunning = upper >= lo && lo >= running.base && lo - running.base + (running.top - upper) < upper - lo + 1;
      const below = viaRunning ? tilesIn(running.base, lo - 1) : [];
      const above = viaRunning ? tilesIn(upper + 1, running.top) : [];
      const fromRunning = viaRunning ? (running.total - fixedSum(below) - fixedSum(above)) / unit : null;
      out.running = { ...running, path: viaRunning ? 'running' : 'direct', below, above, value_from_running: fromRunning };
      if (fromRunning !== null && !sameValue(fromRunning, out.recomputed)) problems.push(`the running total gives ${fromRunning}, the window's tiles ${String(out.recomputed)}`);
      break;
    }
    case 'min':
    case 'max': {
      let best: ExplainedTile | null = null;
      for (const t of tiles) if (best === null || (feature.aggregation === 'min' ? t.value < best.value : t.value > best.value)) best = t;
      out.recomputed = best === null ? null : best.value;
      break;
    }
    case 'last': {
      const text = fields[lastField(feature.id)];
      const candidate = text === undefined ? null : decodeLast(text);
      out.last_candidate = candidate === null ? null : { event_ms: candidate.eventMs, event_key: candidate.eventKey, value: candidate.value, in_window: visible(candidate.eventMs) };
      out.recomputed = candidate !== null && visible(candidate.eventMs) ? candidate.value : null;
      break;
    }
  }
  if (!sameValue(served, out.recomputed)) problems.push(`served ${JSON.stringify(served)}, recomputed ${JSON.stringify(out.recomputed)}`);
  if (servedLatest !== out.latest_event_ms) problems.push(`served latest_event_ms ${String(servedLatest)}, the e: field gives ${String(out.latest_event_ms)}`);
  if (problems.length > 0) {
    out.consistent = false;
    out.discrepancy = problems.join('; ');
  }
  return out;
}

/** The explanation of every feature (or the given ones) of one user's state at the served read's as_of. */
export function explainState(input: ExplainInput): StateExplanation {
  const asOfMs = input.served.as_of_ms;
  const sources: ExplainedSource[] = [];
  for (const [field, text] of Object.entries(input.fields)) {
    const source = fieldName(field);
    if (field[0] !== FIELD_PREFIX.source || !isSource(source)) continue;
    const applied = decodeSourceState(text);
    sources.push({
      source,
      partition: applied.partition,
      partition_key: applied.partitionKey,
      offset: applied.offset,
      applied_ingest_ms: applied.appliedIngestMs,
      watermark_ms: input.watermarks.get(`${source}:${applied.partition}`) ?? null,
    });
  }
  sources.sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
  const features = input.features.map((feature) => {
    const served = input.served.features[feature.name];
    return explainFeature(feature, input.fields, asOfMs, served?.value ?? null, served?.latest_event_ms ?? null);
  });
  return {
    user_id: input.userId,
    version: input.version ?? input.registryVersion,
    registry_version: input.registryVersion,
    as_of: iso(asOfMs),
    as_of_ms: asOfMs,
    present: input.served.present,
    sources,
    watermarks: Object.fromEntries([...input.watermarks.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    features,
    consistent: features.every((f) => f.consistent),
  };
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/** An instant given as RFC 3339 with a zone or as epoch milliseconds; null when it is neither, or outside what a read takes (0..MAX_AS_OF_MS). */
export function parseInstant(text: string): number | null {
  const ms = /^\d{1,16}$/.test(text) ? Number(text) : RFC3339.test(text) ? Date.parse(text) : NaN;
  return Number.isSafeInteger(ms) && ms >= 0 && ms <= MAX_AS_OF_MS ? ms : null;
}
