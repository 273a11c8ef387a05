import type { CompiledFeature } from '../../sidecar/src/features/index.ts';
import type { UserStateRead } from '../../sidecar/src/store/index.ts';

/** Normalizes an offline value to the online read's JSON type (numbers, strings, null). */
function offlineValue(raw: unknown, online: unknown): unknown {
  if (raw === null || raw === undefined) return null;
  return typeof online === 'string' ? String(raw) : Number(raw);
}

/**
 * Compares an online read with an offline row (columns <feature> and <feature>__latest_event_ms)
 * feature by feature; returns one line per difference.
 */
export function diffFeatures(label: string, features: readonly CompiledFeature[], online: UserStateRead | undefined, offline: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const feature of features) {
    const onlineValue = online?.features[feature.name]?.value ?? null;
    const value = offlineValue(offline[feature.name], onlineValue);
    if (onlineValue !== value) out.push(`${label} ${feature.name}: online ${onlineValue} offline ${value}`);
    const onlineLatest = online?.features[feature.name]?.latest_event_ms ?? null;
    const latest = offlineValue(offline[`${feature.name}__latest_event_ms`], 0);
    if (onlineLatest !== latest) out.push(`${label} ${feature.name} latest_event_ms: online ${onlineLatest} offline ${latest}`);
  }
  return out;
}
