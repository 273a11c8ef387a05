/**
 * The detector's evaluation data (bench/quality, test/unit/quality); not used by the sidecar.
 * A multi-week, minute-by-minute synthetic event stream with daily and weekly seasonality,
 * Poisson noise, a little day-to-day wobble, the normal background of duplicates, late
 * arrivals and dead letters, and injected anomalies of known start and end. It yields, per
 * arrival minute, the observations the detector would get (as counts per cell, not one
 * object per event: the detector buckets by minute anyway, so a count of n is the same
 * input as n records of that cell).
 */
import { prng } from '../loadgen/workload.ts';
import type { AnomalyKind, Observation } from './volume-detector.ts';

const MINUTE_MS = 60_000;
const DAY_MINUTES = 1440;
const WEEK_MINUTES = 7 * DAY_MINUTES;

/** A Poisson draw (Knuth below 30, a rounded normal above). */
export function poisson(rand: () => number, lambda: number): number {
  if (lambda <= 0) return 0;
  if (lambda < 30) {
    const limit = Math.exp(-lambda);
    let k = 0;
    let p = 1;
    do {
      k += 1;
      p *= rand();
    } while (p > limit);
    return k - 1;
  }
  const u = Math.max(rand(), 1e-12);
  const v = rand();
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * z));
}

/** Mean events per minute at the weekly average, per source and event type (the loadgen's mixes, scaled). */
export const BASE_RATES: Record<string, Record<string, number>> = {
  client: { playback_heartbeat: 2400, playback_start: 480, search: 320, add_to_watchlist: 160, playback_error: 60, cancel_flow_view: 120, plan_change_view: 120 },
  billing: { payment_succeeded: 180, payment_failed: 75, payment_retried: 45 },
  support: { ticket_created: 54, ticket_resolved: 42, sentiment_score: 24 },
};
/** Client events split over platforms (attributes.platform). */
export const PLATFORM_SHARES: Array<[string, number]> = [
  ['web', 0.35],
  ['ios', 0.3],
  ['android', 0.25],
  ['tv', 0.1],
];
const SOURCE_NAMES = Object.keys(BASE_RATES);

/** One injected anomaly: what, where, and its event-time interval [startMs, endMs). */
export interface InjectedAnomaly {
  id: number;
  kind: AnomalyKind;
  source: string;
  eventType: string;
  platform: string;
  startMs: number;
  endMs: number;
}

export interface StreamOptions {
  seed: number;
  weeks: number;
  /** Anomalies are injected only after this many weeks (the detector's cold start). */
  warmupWeeks: number;
  /** Anomalies of each kind. */
  perKind: number;
  startMs: number;
}

/** Daily shape (trough ~04:00, peak ~21:00) times weekend uplift. */
export function seasonality(minuteOfWeek: number): number {
  const day = Math.floor(minuteOfWeek / DAY_MINUTES);
  const minuteOfDay = minuteOfWeek % DAY_MINUTES;
  const daily = 1 + 0.6 * Math.sin((2 * Math.PI * (minuteOfDay - 750)) / DAY_MINUTES);
  const weekend = day >= 5 ? 1.25 : 1;
  return daily * weekend;
}

/** Draws the anomalies: `perKind` of each kind at random times after the warm-up, never overlapping on one source. */
export function planAnomalies(o: StreamOptions): InjectedAnomaly[] {
  const rand = prng(o.seed ^ 0x5eed);
  const kinds: AnomalyKind[] = ['drop', 'spike', 'silent_source', 'duplicate_storm', 'late_surge', 'dead_letter_surge'];
  const out: InjectedAnomaly[] = [];
  const firstMinute = o.warmupWeeks * WEEK_MINUTES + 60;
  const lastMinute = o.weeks * WEEK_MINUTES - 180;
  let id = 0;
  for (const kind of kinds) {
    for (let i = 0; i < o.perKind; i += 1) {
      for (let attempt = 0; attempt < 100; attempt += 1) {
        const start = firstMinute + Math.floor(rand() * (lastMinute - firstMinute));
        const duration = 20 + Math.floor(rand() * 40);
        let source = SOURCE_NAMES[Math.floor(rand() * SOURCE_NAMES.length)] as string;
        let eventType = '*';
        let platform = '*';
        if (kind === 'drop' || kind === 'spike') {
          source = 'client';
          eventType = kind === 'drop' ? 'playback_start' : 'playback_error';
          platform = rand() < 0.5 ? '*' : (PLATFORM_SHARES[Math.floor(rand() * 3)] as [string, number])[0];
        }
        const candidate = { id, kind, source, eventType, platform, startMs: o.startMs + start * MINUTE_MS, endMs: o.startMs + (start + duration) * MINUTE_MS };
        // Leave two hours between anomalies of one source so each detection has one cause.
        const clash = out.some((a) => a.source === source && candidate.startMs < a.endMs + 120 * MINUTE_MS && a.startMs < candidate.endMs + 120 * MINUTE_MS);
        if (!clash) {
          out.push(candidate);
          id += 1;
          break;
        }
      }
    }
  }
  return out.sort((a, b) => a.startMs - b.startMs);
}

/**
 * The stream, one arrival minute at a time, in order. Normal background: 0.5% of events
 * sent twice, 2% arriving 2-20 minutes late, dead letters at 0.3% of volume; every on-time
 * event arrives 0-20 s after it happened. Anomalies: drop (the series at 30%), spike (x5),
 * silent source (nothing), duplicate storm (30% of events sent again), late surge (an extra
 * 40% of volume arriving 5-30 minutes late: a buffering edge flushing), dead-letter surge
 * (invalid records at 10% of volume).
 */
export function* syntheticStream(o: StreamOptions, anomalies: readonly InjectedAnomaly[]): Generator<{ minuteMs: number; observations: Observation[] }> {
  const rand = prng(o.seed);
  const minutes = o.weeks * WEEK_MINUTES;
  /** Late arrivals scheduled for a later minute. */
  const pendingLate = new Map<number, Observation[]>();
  // Day-to-day wobble: each day's volume is 1 +- ~4%.
  const dayFactor = Array.from({ length: o.weeks * 7 + 1 }, () => 1 + (rand() - 0.5) * 0.08);
  const activeAt = (ms: number) => anomalies.filter((a) => a.startMs <= ms && ms < a.endMs);
  for (let m = 0; m < minutes; m += 1) {
    const minuteMs = o.startMs + m * MINUTE_MS;
    const factor = seasonality(m % WEEK_MINUTES) * (dayFactor[Math.floor(m / DAY_MINUTES)] as number) * (1 + 0.01 * Math.floor(m / WEEK_MINUTES));
    const active = activeAt(minuteMs);
    const observations: Observation[] = [...(pendingLate.get(m) ?? [])];
    pendingLate.delete(m);
    const input = (source: string) => `${source}:0`;
    for (const source of SOURCE_NAMES) {
      if (active.some((a) => a.kind === 'silent_source' && a.source === source)) continue;
      let sourceVolume = 0;
      for (const [eventType, rate] of Object.entries(BASE_RATES[source] as Record<string, number>)) {
        const cells: Array<[string | null, number]> = source === 'client' ? PLATFORM_SHARES.map(([p, share]) => [p, share]) : [[null, 1]];
        for (const [platform, share] of cells) {
          let lambda = rate * share * factor;
          for (const a of active) {
            if (a.source !== source || a.eventType !== eventType || (a.platform !== '*' && a.platform !== platform)) continue;
            if (a.kind === 'drop') lambda *= 0.3;
            if (a.kind === 'spike') lambda *= 5;
          }
          const n = poisson(rand, lambda);
          sourceVolume += n;
          const late = poisson(rand, n * 0.02);
          const onTime = n - Math.min(n, late);
          // Arrival 0-20 s after the event: half in the same minute's first part, counted at the minute.
          if (onTime > 0) observations.push({ source, kind: 'event', eventType, platform, eventMs: minuteMs + 10_000, arrivalMs: minuteMs + 30_000, input: input(source), count: onTime });
          if (late > 0) {
            const delay = 2 + Math.floor(rand() * 18);
            const list = pendingLate.get(m + delay) ?? [];
            list.push({ source, kind: 'event', eventType, platform, eventMs: minuteMs + 10_000, arrivalMs: minuteMs + delay * MINUTE_MS + 30_000, input: input(source), count: Math.min(n, late) });
            pendingLate.set(m + delay, list);
          }
          const dupShare = active.some((a) => a.kind === 'duplicate_storm' && a.source === source) ? 0.3 : 0.005;
          const dups = poisson(rand, n * dupShare);
          if (dups > 0) observations.push({ source, kind: 'duplicate', eventType, platform, eventMs: minuteMs + 10_000, arrivalMs: minuteMs + 30_000, input: input(source), count: dups });
        }
      }
      const surge = active.find((a) => a.kind === 'late_surge' && a.source === source);
      if (surge) {
        const extra = poisson(rand, sourceVolume * 0.4);
        const back = 5 + Math.floor(rand() * 25);
        if (extra > 0)
          observations.push({ source, kind: 'event', eventType: 'mixed', platform: null, eventMs: minuteMs - back * MINUTE_MS, arrivalMs: minuteMs + 30_000, input: input(source), count: extra });
      }
      const dlShare = active.some((a) => a.kind === 'dead_letter_surge' && a.source === source) ? 0.1 : 0.003;
      const invalid = poisson(rand, sourceVolume * dlShare);
      if (invalid > 0) observations.push({ source, kind: 'invalid', eventType: null, platform: null, eventMs: minuteMs + 30_000, arrivalMs: minuteMs + 30_000, input: input(source), count: invalid });
    }
    // The silent source's partitions still exist: they just stop sending.
    yield { minuteMs, observations };
  }
}
