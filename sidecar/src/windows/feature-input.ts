import type { NormalizedEvent } from '../events/index.ts';
import type { CompiledFeature, Predicate } from '../features/index.ts';

/** What one event contributes to one feature (docs/feature-semantics.md §2, §4). */
export type FeatureInput = { kind: 'count' } | { kind: 'sum'; fixed: number } | { kind: 'min' | 'max'; number: number; text: string } | { kind: 'count_distinct' | 'last'; text: string };

function attributeOf(event: NormalizedEvent, name: string): unknown {
  return Object.hasOwn(event.attributes, name) ? event.attributes[name] : undefined;
}

/** Evaluates one `filter.where` predicate; a missing attribute passes only neq / not_in. */
export function predicateHolds(predicate: Predicate, value: unknown): boolean {
  const missing = value === undefined || value === null;
  switch (predicate.op) {
    case 'exists':
      return !missing;
    case 'eq':
      return !missing && value === predicate.value;
    case 'neq':
      return missing || value !== predicate.value;
    case 'in':
      return !missing && (predicate.values ?? []).some((candidate) => candidate === value);
    case 'not_in':
      return missing || !(predicate.values ?? []).some((candidate) => candidate === value);
    case 'gt':
      return typeof value === 'number' && value > (predicate.value as number);
    case 'gte':
      return typeof value === 'number' && value >= (predicate.value as number);
    case 'lt':
      return typeof value === 'number' && value < (predicate.value as number);
    case 'lte':
      return typeof value === 'number' && value <= (predicate.value as number);
  }
}

/** Rounds a value to `scale` decimals as an integer: floor(v * 10^scale + 0.5). */
export function toFixedPoint(value: number, scale: number): number {
  return Math.floor(value * 10 ** scale + 0.5);
}

/**
 * The contribution of `event` to `feature`, or null when the feature does not read it
 * (other source or type, a failing predicate, a missing or mistyped attribute).
 */
export function featureInput(feature: CompiledFeature, event: NormalizedEvent): FeatureInput | null {
  if (event.source !== feature.source || !feature.eventTypes.includes(event.eventType)) return null;
  for (const predicate of feature.where) {
    if (!predicateHolds(predicate, attributeOf(event, predicate.attribute))) return null;
  }
  if (feature.aggregation === 'count') return { kind: 'count' };
  const value = attributeOf(event, feature.attribute as string);
  switch (feature.aggregation) {
    case 'sum':
      return typeof value === 'number' && Number.isFinite(value) ? { kind: 'sum', fixed: toFixedPoint(value, feature.scale) } : null;
    case 'min':
    case 'max':
      return typeof value === 'number' && Number.isFinite(value) ? { kind: feature.aggregation, number: value, text: String(value) } : null;
    case 'count_distinct':
    case 'last':
      return typeof value === 'string' ? { kind: feature.aggregation, text: value } : null;
  }
}
