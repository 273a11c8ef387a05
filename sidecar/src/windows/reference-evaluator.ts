import type { NormalizedEvent } from '../events/index.ts';
import type { CompiledFeature } from '../features/index.ts';
import { featureInput } from './feature-input.ts';
import { inWindow } from './tiles.ts';

/** The value of one feature for one user at one time, as both runtimes return it. */
export interface FeatureValue {
  value: number | string | null;
  /** Largest event time counted in `value`; null for an empty window. */
  latestEventMs: number | null;
}

function compareLast(a: { eventMs: number; eventKey: string }, b: { eventMs: number; eventKey: string }): number {
  if (a.eventMs !== b.eventMs) return a.eventMs - b.eventMs;
  return a.eventKey < b.eventKey ? -1 : a.eventKey > b.eventKey ? 1 : 0;
}

/**
 * The executable form of docs/feature-semantics.md §3-§4: evaluates one feature over a set
 * of events (already filtered to "applied") at `asOfMs`, with no tiles store in between.
 * Tests use it as the oracle for the Redis operators and the dbt SQL.
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
