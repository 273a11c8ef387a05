import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { QualityMonitor, VolumeDetector, type Detection, type Observation } from '../../../sidecar/src/quality/index.ts';
import { syntheticStream, type InjectedAnomaly, type StreamOptions } from '../../../sidecar/src/quality/seasonal-stream.ts';

const MINUTE = 60_000;
const WEEK = 7 * 24 * 60 * MINUTE;
const START = Date.parse('2026-01-05T00:00:00Z');
const STREAM: StreamOptions = { seed: 11, weeks: 2, warmupWeeks: 1, perKind: 0, startMs: START };

/** Runs a two-week stream (the first week is the cold start) with the given anomalies in week two. */
function run(anomalies: InjectedAnomaly[], until = STREAM.weeks * WEEK): Detection[] {
  const out: Detection[] = [];
  const detector = new VolumeDetector((d) => out.push(d));
  for (const { minuteMs, observations } of syntheticStream(STREAM, anomalies)) {
    if (minuteMs - START >= until) break;
    detector.observe(observations);
  }
  return out;
}

function anomaly(kind: InjectedAnomaly['kind'], source: string, eventType: string, platform: string, atMs: number, minutes: number): InjectedAnomaly {
  return { id: 0, kind, source, eventType, platform, startMs: atMs, endMs: atMs + minutes * MINUTE };
}

const firing = (detections: Detection[]) => detections.filter((d) => d.state === 'firing');
// Tuesday of week two, 03:00 (near the daily trough) and 20:00 (near the peak).
const NIGHT = START + WEEK + 24 * 60 * MINUTE + 3 * 60 * MINUTE;
const EVENING = START + WEEK + 24 * 60 * MINUTE + 20 * 60 * MINUTE;

describe('VolumeDetector', () => {
  it('says cold start once per series in the first week and never fires without history', () => {
    const detections = run([anomaly('drop', 'client', 'playback_start', '*', START + 2 * 24 * 60 * MINUTE, 60)], WEEK);
    expect(firing(detections)).toEqual([]);
    const cold = detections.filter((d) => d.kind === 'cold_start');
    expect(cold.length).toBeGreaterThan(40);
    expect(new Set(cold.map((d) => JSON.stringify(d.where))).size).toBe(cold.length);
    expect(cold[0]).toMatchObject({ state: 'cold', severity: 'info', baseline: null });
  });

  it('stays quiet through a normal second week (seasonality, noise and the usual duplicates, late data and dead letters)', () => {
    expect(firing(run([]))).toEqual([]);
  });

  it('detects playback_start falling to 30% within five minutes, with baseline, observed and severity', () => {
    const detections = firing(run([anomaly('drop', 'client', 'playback_start', '*', NIGHT, 30)], NIGHT - START + 60 * MINUTE));
    expect(detections.length).toBeGreaterThan(0);
    expect(new Set(detections.map((d) => d.kind))).toEqual(new Set(['drop']));
    const first = detections[0] as Detection;
    expect(Date.parse(first.detected_at) - NIGHT).toBeLessThanOrEqual(5 * MINUTE);
    expect(first.where).toMatchObject({ series: 'volume', source: 'client', event_type: 'playback_start' });
    expect(first.severity).toBe('critical');
    expect(first.ratio).toBeLessThan(0.5);
    expect(first.baseline?.weeks).toBe(1);
    expect(first.baseline?.expected).toBeGreaterThan(first.observed);
  });

  it('detects a x5 playback_error spike on one platform and resolves it after the spike', () => {
    const detections = run([anomaly('spike', 'client', 'playback_error', 'ios', EVENING, 20)], EVENING - START + 60 * MINUTE);
    const fired = firing(detections);
    expect(fired.map((d) => [d.kind, d.where.platform])).toContainEqual(['spike', 'ios']);
    expect(fired.every((d) => d.kind === 'spike' && d.where.event_type === 'playback_error')).toBe(true);
    expect(Date.parse((fired[0] as Detection).detected_at) - EVENING).toBeLessThanOrEqual(5 * MINUTE);
    expect(detections.some((d) => d.state === 'resolved' && d.kind === 'spike')).toBe(true);
  });

  it('reports a silent source once, not as a drop of each of its event types', () => {
    const fired = firing(run([anomaly('silent_source', 'billing', '*', '*', EVENING, 20)], EVENING - START + 90 * MINUTE));
    expect(fired.map((d) => d.kind)).toEqual(['silent_source']);
    expect(fired[0]?.where).toMatchObject({ series: 'source_total', source: 'billing' });
  });

  it.each([
    ['duplicate_storm', 'duplicates'],
    ['late_surge', 'late'],
    ['dead_letter_surge', 'dead_letters'],
  ] as const)('detects a %s on the %s series of the source', (kind, series) => {
    const fired = firing(run([anomaly(kind, 'support', '*', '*', EVENING, 20)], EVENING - START + 60 * MINUTE));
    expect(fired.map((d) => [d.kind, d.where.series, d.where.source])).toEqual([[kind, series, 'support']]);
  });
  it('takes a rebalance that doubles the partitions this instance reads as no spike, and a halving as no drop', () => {
    const out: Detection[] = [];
    const detector = new VolumeDetector((d) => out.push(d));
    const change = NIGHT;
    const back = EVENING;
    // A second partition of each source: the same traffic shape, its own noise.
    const second = syntheticStream({ ...STREAM, seed: STREAM.seed + 1 }, []);
    for (const { minuteMs, observations } of syntheticStream(STREAM, [])) {
      const other: Observation[] = second.next().value?.observations ?? [];
      if (minuteMs >= back + 60 * MINUTE) break;
      // Two partitions of each source instead of one from `change` to `back`: twice the traffic.
      const doubled = minuteMs >= change && minuteMs < back;
      for (const source of ['client', 'billing', 'support']) detector.setAssignedPartitions(source, doubled ? 2 : 1, minuteMs);
      detector.observe(doubled ? [...observations, ...other.map((o) => ({ ...o, input: `${o.input}b` }))] : observations);
    }
    expect(firing(out)).toEqual([]);
  });
});

describe('QualityMonitor', () => {
  it('turns its own failure into a metric and never throws into the batch', async () => {
    const registry = new Registry();
    const monitor = new QualityMonitor(null, registry, { topic: 'unused' });
    monitor.detector.observe = () => {
      throw new Error('boom');
    };
    expect(() => monitor.observe([{ source: 'client', kind: 'event', eventType: 'search', platform: null, eventMs: 0, arrivalMs: 0, input: 't:0' }])).not.toThrow();
    const errors = await registry.getSingleMetric('churnfeat_quality_detector_errors_total')?.get();
    expect(errors?.values.find((v) => v.labels.stage === 'observe')?.value).toBe(1);
  });
});

describe('VolumeDetector history across a restart', () => {
  const DROP = NIGHT;
  /** Feeds the stream from `fromMs` to `untilMs` into the detector. */
  function feed(detector: VolumeDetector, fromMs: number, untilMs: number, anomalies: InjectedAnomaly[] = []): void {
    for (const { minuteMs, observations } of syntheticStream(STREAM, anomalies)) {
      if (minuteMs >= untilMs) break;
      if (minuteMs >= fromMs) detector.observe(observations);
    }
  }
  const restartAt = DROP - 2 * 60 * MINUTE;
  const drop = [anomaly('drop', 'client', 'playback_start', '*', DROP, 30)];

  it('a detector restarted from the snapshot of the one before still detects an injected drop; one restarted without it is cold', () => {
    const before = new VolumeDetector(() => undefined);
    feed(before, START, restartAt);
    // what a restart keeps: the snapshot as it went through JSON (Redis holds it as gzip JSON)
    const snapshot = JSON.parse(JSON.stringify(before.snapshot()));
    expect(snapshot.series.length).toBeGreaterThan(40);

    const restored: Detection[] = [];
    const after = new VolumeDetector((d) => restored.push(d));
    expect(after.restore(snapshot)).toBeGreaterThan(0);
    feed(after, restartAt, DROP + 60 * MINUTE, drop);
    const fired = firing(restored);
    expect(fired.map((d) => [d.kind, d.where.event_type])).toContainEqual(['drop', 'playback_start']);
    expect(Date.parse(fired[0]!.detected_at) - DROP).toBeLessThanOrEqual(5 * MINUTE);
    expect(restored.filter((d) => d.kind === 'cold_start')).toEqual([]);

    const cold: Detection[] = [];
    const fresh = new VolumeDetector((d) => cold.push(d));
    feed(fresh, restartAt, DROP + 60 * MINUTE, drop);
    expect(firing(cold)).toEqual([]);
    expect(cold.some((d) => d.kind === 'cold_start')).toBe(true);
  });

  it('keeps a snapshot bounded: at most historyWeeks + 1 weeks of hours per series, hours it learnt itself win, junk is ignored', () => {
    const detector = new VolumeDetector(() => undefined, { historyWeeks: 1 });
    feed(detector, START, START + 2 * WEEK - 60 * MINUTE);
    const snapshot = detector.snapshot();
    for (const s of snapshot.series) expect(s.hours.length).toBeLessThanOrEqual(2 * 168);
    const other = new VolumeDetector(() => undefined, { historyWeeks: 1 });
    expect(other.restore({ ...snapshot, schema: 'something.else' } as never)).toBe(0);
    expect(other.restore(snapshot)).toBe(snapshot.series.reduce((n, s) => n + s.hours.length, 0));
    expect(other.restore(snapshot)).toBe(0);
  });
});

describe('QualityMonitor history', () => {
  it('never saves before the saved history was restored, so a failed restore cannot overwrite it with a cold one', async () => {
    const saved: unknown[] = [];
    let fail = true;
    const store = {
      load: async () => {
        if (fail) throw new Error('redis away');
        return null;
      },
      save: async (snapshot: unknown) => void saved.push(snapshot),
    };
    const registry = new Registry();
    const monitor = new QualityMonitor(null, registry, { topic: 'unused', history: store, minSaveIntervalMs: 0 });
    monitor.onAssignment({ t: [0] }, () => 'client');
    await monitor.ready();
    await monitor.persist();
    expect(saved).toEqual([]);
    const errors = await registry.getSingleMetric('churnfeat_quality_detector_errors_total')?.get();
    expect(errors?.values.find((v) => v.labels.stage === 'history')?.value).toBe(1);
    fail = false;
    monitor.onAssignment({ t: [0] }, () => 'client');
    await monitor.ready();
    await monitor.persist();
    expect(saved).toHaveLength(1);
  });
});
