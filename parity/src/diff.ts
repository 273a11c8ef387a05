import type { CompiledFeature } from '../../sidecar/src/features/index.ts';
import type { FeatureValue } from '../../sidecar/src/windows/index.ts';

/** Whether two values of a feature are the same, by the feature's own arithmetic. */
export function valuesEqual(feature: CompiledFeature, a: FeatureValue['value'], b: FeatureValue['value']): boolean {
  if (a === null || b === null) return a === b;
  switch (feature.aggregation) {
    case 'last':
      return String(a) === String(b);
    case 'sum': {
      // Both sides hold an integer number of 10^-scale units; compare those integers.
      const unit = 10 ** feature.scale;
      return Math.round(Number(a) * unit) === Math.round(Number(b) * unit);
    }
    default:
      return Number(a) === Number(b);
  }
}

/** Which part of a feature differs between online and offline. */
export type MismatchField = 'value' | 'latest_event_ms' | 'value+latest_event_ms';

/** Compares one feature of one user; null when online and offline agree. */
export function compareFeature(feature: CompiledFeature, online: FeatureValue, offline: FeatureValue): MismatchField | null {
  const value = valuesEqual(feature, online.value, offline.value);
  const latest = online.latestEventMs === offline.latestEventMs;
  if (value && latest) return null;
  if (!value && !latest) return 'value+latest_event_ms';
  return value ? 'latest_event_ms' : 'value';
}

/** A value as read from the warehouse, in the online read's types (numbers, text or null). */
export function offlineValue(feature: CompiledFeature, raw: unknown): FeatureValue['value'] {
  if (raw === null || raw === undefined) return null;
  if (feature.aggregation === 'last') return String(raw);
  return Number(raw);
}
