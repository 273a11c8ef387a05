import type { CompiledFeature, FeatureRegistry } from '../features/index.ts';
import type { UserStateRead } from '../store/index.ts';
import { isoFromMs } from './iso-time.ts';
import type { WatermarkSnapshot } from './watermarks.ts';

/**
 * How far a feature value can be trusted:
 * - `missing`: the store holds no state for the user (never seen, or idle past the TTL);
 *   the value is the empty-window default.
 * - `stale`: the watermark of the user's partition is older than the feature's
 *   freshness_slo (or unknown): recent events may not be counted yet.
 * - `present`: every event ingested before `watermark_at` is counted, and that is within
 *   the freshness SLO.
 */
export type FeatureStatus = 'present' | 'missing' | 'stale';

export const FEATURE_STATUSES = ['present', 'missing', 'stale'] as const satisfies readonly FeatureStatus[];

/** One feature of one user as the scoring service sees it. */
export interface FeatureValue {
  /** The value at `as_of` (count/sum/count_distinct: number; min/max: number or null; last: string or null). */
  value: number | string | null;
  status: FeatureStatus;
  /** Event time of the newest event counted in the value (ISO 8601, UTC); null for an empty window. */
  latest_event_at: string | null;
  /** The same instant in epoch milliseconds. */
  latest_event_ms: number | null;
  /** Watermark of the user's partition for the feature's source (ISO 8601); null when unknown. */
  watermark_at: string | null;
  /** now minus the watermark, in milliseconds; null when the watermark is unknown. */
  staleness_ms: number | null;
  /** The feature's freshness SLO from the registry, in milliseconds. */
  freshness_slo_ms: number;
}

/** Every feature of one user, read in one Redis round trip. */
export interface UserFeatures {
  user_id: string;
  /** The registry version that answered (the active one when the read was resolved); every value of the answer is from it. */
  version: string;
  /** `missing` for unknown users, `stale` when any feature is stale, else `present`. */
  status: FeatureStatus;
  /** The instant the windows were evaluated at (ISO 8601; the Redis server clock unless asked otherwise). */
  as_of: string;
  as_of_ms: number;
  features: Record<string, FeatureValue>;
}

/** The empty-window value of a feature (docs/feature-semantics.md §4). */
export function defaultValue(feature: CompiledFeature): number | null {
  return feature.aggregation === 'count' || feature.aggregation === 'sum' || feature.aggregation === 'count_distinct' ? 0 : null;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : isoFromMs(ms);
}

/**
 * Turns the raw answer of the read function into what the scoring service gets: defaults
 * for unknown users, the watermark and staleness of the user's partition per source, and a
 * status per feature. Pure: the clock and the watermarks are arguments.
 */
export function buildUserFeatures(userId: string, read: UserStateRead, registry: FeatureRegistry, watermarks: WatermarkSnapshot, nowMs: number): UserFeatures {
  const features: Record<string, FeatureValue> = {};
  let overall: FeatureStatus = read.present ? 'present' : 'missing';
  for (const feature of registry.features) {
    // The user's partition for this source comes from the store; a user with no state from
    // the source is bounded by the oldest partition of that source.
    const source = read.sources[feature.source];
    const watermarkMs = source ? watermarks.of(feature.source, source.partition) : watermarks.oldestOf(feature.source);
    const stalenessMs = watermarkMs === undefined ? null : Math.max(0, nowMs - watermarkMs);
    let status: FeatureStatus;
    if (!read.present) status = 'missing';
    else if (stalenessMs === null || stalenessMs > feature.freshnessSloMs) status = 'stale';
    else status = 'present';
    if (status === 'stale' && overall === 'present') overall = 'stale';
    const raw = read.present ? read.features[feature.name] : undefined;
    const latestMs = raw?.latest_event_ms ?? null;
    features[feature.name] = {
      value: raw === undefined ? defaultValue(feature) : raw.value,
      status,
      latest_event_at: iso(latestMs),
      latest_event_ms: latestMs,
      watermark_at: iso(watermarkMs ?? null),
      staleness_ms: stalenessMs,
      freshness_slo_ms: feature.freshnessSloMs,
    };
  }
  return { user_id: userId, version: registry.version, status: overall, as_of: isoFromMs(read.as_of_ms), as_of_ms: read.as_of_ms, features };
}
