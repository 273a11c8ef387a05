/**
 * The executable specification of the window semantics (docs/feature-semantics.md §1-§4),
 * written once, directly from the page, with no tiles store in between:
 * - {@link judgeRecords}: the verdict of each record, in the order of §1;
 * - {@link evaluateFeature}: the value of a feature over the applied events at a time (§2-§4).
 * Every other implementation is tested against it (the list is in docs/feature-semantics.md,
 * "Executable spec and store protocol"): the window operators with the Lua functions, the
 * TypeScript store model, the dbt SQL through the parity tests.
 */
import { parseEvent, type NormalizedEvent, type Source } from '../events/index.ts';
import type { CompiledFeature } from '../features/index.ts';
import { featureInput } from './feature-input.ts';
import { inWindow, oldestTileIndex, tileIndex } from './tiles.ts';

/** The value of one feature for one user at one time, as both runtimes return it. */
export interface FeatureValue {
  value: number | string | null;
  /** Largest event time counted in `value`; null for an empty window. */
  latestEventMs: number | null;
}

/** Orders `last` candidates by (event_ms, event key); keys compare byte-wise in UTF-8, as SQL and the store do. */
function compareLast(a: { eventMs: number; eventKey: string }, b: { eventMs: number; eventKey: string }): number {
  if (a.eventMs !== b.eventMs) return a.eventMs - b.eventMs;
  return Buffer.compare(Buffer.from(a.eventKey), Buffer.from(b.eventKey));
}

/**
 * §2-§4: the value of one feature over a set of events (already filtered to "applied") at
 * `asOfMs`: the events the feature reads with `tile_start(e) >= tile_start(t) - W` and
 * `event_ms(e) <= t`, aggregated exactly.
 */
export function evaluateFeature(feature: CompiledFeature, events: Iterable<NormalizedEvent>, asOfMs: number): FeatureValue {
  let count = 0;
  let fixedSum = 0;
  let extreme: number | null = null;
  const distinct = new Set<string>();
  let last: { eventMs: number; eventKey: string; text: string } | null = null;
  let latest: number | null = null;
  for (const event of events) {
    if (!inWindow(event.eventMs, asOfMs, feature.windowMs, feature.granularityMs)) continue;
    const input = featureInput(feature, event);
    if (input === null) continue;
    latest = latest === null ? event.eventMs : Math.max(latest, event.eventMs);
    switch (input.kind) {
      case 'count':
        count += 1;
        break;
      case 'sum':
        fixedSum += input.fixed;
        break;
      case 'min':
        extreme = extreme === null ? input.number : Math.min(extreme, input.number);
        break;
      case 'max':
        extreme = extreme === null ? input.number : Math.max(extreme, input.number);
        break;
      case 'count_distinct':
        distinct.add(input.text);
        break;
      case 'last': {
        const candidate = { eventMs: event.eventMs, eventKey: event.eventKey, text: input.text };
        if (last === null || compareLast(candidate, last) > 0) last = candidate;
        break;
      }
    }
  }
  switch (feature.aggregation) {
    case 'count':
      return { value: count, latestEventMs: latest };
    case 'sum':
      return { value: fixedSum / 10 ** feature.scale, latestEventMs: latest };
    case 'min':
    case 'max':
      return { value: extreme, latestEventMs: latest };
    case 'count_distinct':
      return { value: distinct.size, latestEventMs: latest };
    case 'last':
      return { value: last?.text ?? null, latestEventMs: latest };
  }
}

/** The verdicts of §1 for records given in Kafka order ("replayed" needs a crash: not here). */
export type SpecVerdict = 'applied' | 'duplicate' | 'too_late' | 'invalid' | 'irrelevant';

/** One record as it was read from a source topic. */
export interface SpecRecord {
  source: Source;
  value: Buffer | null;
}

/**
 * §1: the verdict of each record, judged in order: invalid (bytes, schema, timestamps),
 * irrelevant (no feature reads it), too late (`ingest_ms - event_ms > allowed lateness`),
 * irrelevant again when every feature that reads it has already closed the event's tile at
 * ingest time, duplicate of an earlier applied copy of the same (user, source, event key),
 * else applied. Lateness is judged before dedup, so a too-late copy never shadows a later
 * timely one. The dedup horizon is taken as unbounded (copies within it).
 */
export function judgeRecords(features: readonly CompiledFeature[], records: Iterable<SpecRecord>, allowedLatenessMs: number): { verdicts: SpecVerdict[]; applied: NormalizedEvent[] } {
  const verdicts: SpecVerdict[] = [];
  const applied: NormalizedEvent[] = [];
  const seen = new Set<string>();
  for (const record of records) {
    const parsed = parseEvent(record.source, record.value);
    if (!parsed.ok) {
      verdicts.push('invalid');
      continue;
    }
    const event = parsed.event;
    const readers = features.filter((f) => featureInput(f, event) !== null);
    if (readers.length === 0) {
      verdicts.push('irrelevant');
      continue;
    }
    if (event.ingestMs - event.eventMs > allowedLatenessMs) {
      verdicts.push('too_late');
      continue;
    }
    if (readers.every((f) => tileIndex(event.eventMs, f.granularityMs) < oldestTileIndex(event.ingestMs, f.windowMs, f.granularityMs))) {
      verdicts.push('irrelevant');
      continue;
    }
    const key = `${event.userId}\u0000${event.source}\u0000${event.eventKey}`;
    if (seen.has(key)) {
      verdicts.push('duplicate');
      continue;
    }
    seen.add(key);
    applied.push(event);
    verdicts.push('applied');
  }
  return { verdicts, applied };
}
