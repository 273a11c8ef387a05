/**
 * Scores detections against the injected anomalies: a firing detection is a true positive
 * when an anomaly of the same kind, source and place (event type; platform, where the
 * anomaly names one or the detection is the aggregate) was active at its decision time
 * (up to `toleranceMs` after the anomaly ended); otherwise a false positive.
 */
import { median } from 'simple-statistics';
import type { Detection } from '../../sidecar/src/quality/index.ts';
import type { InjectedAnomaly } from '../../sidecar/src/quality/seasonal-stream.ts';

export interface KindScore {
  injected: number;
  detected: number;
  recall: number;
  detections: number;
  falsePositives: number;
  precision: number;
  /** Detection delay (minutes from anomaly start to the first matching detection's decision). */
  medianDelayMinutes: number | null;
  maxDelayMinutes: number | null;
}

function matches(d: Detection, a: InjectedAnomaly, toleranceMs: number): boolean {
  if (d.kind !== a.kind || d.where.source !== a.source) return false;
  const at = Date.parse(d.detected_at);
  if (at < a.startMs || at > a.endMs + toleranceMs) return false;
  if (a.eventType === '*') return true;
  if (d.where.event_type !== a.eventType) return false;
  return a.platform === '*' || d.where.platform === '*' || d.where.platform === a.platform;
}

export function score(
  detections: readonly Detection[],
  anomalies: readonly InjectedAnomaly[],
  toleranceMs: number,
): { byKind: Record<string, KindScore>; falsePositiveSamples: Detection[]; missed: InjectedAnomaly[] } {
  const firing = detections.filter((d) => d.state === 'firing');
  const byKind: Record<string, KindScore> = {};
  const falsePositiveSamples: Detection[] = [];
  const missed: InjectedAnomaly[] = [];
  const kinds = [...new Set([...anomalies.map((a) => a.kind), ...firing.map((d) => d.kind)])];
  for (const kind of kinds) {
    const injected = anomalies.filter((a) => a.kind === kind);
    const mine = firing.filter((d) => d.kind === kind);
    const delays: number[] = [];
    for (const a of injected) {
      const first = mine.filter((d) => matches(d, a, toleranceMs)).map((d) => Date.parse(d.detected_at));
      if (first.length > 0) delays.push((Math.min(...first) - a.startMs) / 60_000);
      else missed.push(a);
    }
    const falsePositives = mine.filter((d) => !injected.some((a) => matches(d, a, toleranceMs)));
    falsePositiveSamples.push(...falsePositives.slice(0, 5));
    byKind[kind] = {
      injected: injected.length,
      detected: delays.length,
      recall: injected.length ? delays.length / injected.length : 1,
      detections: mine.length,
      falsePositives: falsePositives.length,
      precision: mine.length ? (mine.length - falsePositives.length) / mine.length : 1,
      medianDelayMinutes: delays.length ? median(delays) : null,
      maxDelayMinutes: delays.length ? Math.max(...delays) : null,
    };
  }
  return { byKind, falsePositiveSamples, missed };
}
