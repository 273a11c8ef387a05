import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildUserFeatures, isoFromMs, WatermarkSnapshot } from '../../../sidecar/src/serving/index.ts';
import { absentRead, clientOnlyRead, servingRegistry, NOW, watermarks } from '../../helpers/serving.ts';

describe('buildUserFeatures', () => {
  const registry = servingRegistry();

  it('gives an unknown user the empty-window defaults with status missing, not an error', () => {
    const answer = buildUserFeatures('nobody', absentRead(), registry, watermarks(), NOW);
    expect(answer.status).toBe('missing');
    const values = Object.fromEntries(Object.entries(answer.features).map(([name, f]) => [name, f.value]));
    expect(values).toEqual({ errors_last_1h: 0, watch_time_last_1h: 0, titles_last_1h: 0, min_amount_last_1h: null, max_amount_last_1h: null, last_currency_1h: null });
    for (const feature of Object.values(answer.features)) {
      expect(feature.status).toBe('missing');
      expect(feature.latest_event_at).toBeNull();
      expect(feature.latest_event_ms).toBeNull();
    }
  });

  it('marks every feature present when the user is known and the watermarks are within the freshness SLO', () => {
    const answer = buildUserFeatures('u1', clientOnlyRead(), registry, watermarks(), NOW);
    expect(answer.status).toBe('present');
    expect(answer.features.errors_last_1h).toEqual({
      value: 3,
      status: 'present',
      latest_event_at: new Date(NOW - 60_000).toISOString(),
      latest_event_ms: NOW - 60_000,
      watermark_at: new Date(NOW - 1_000).toISOString(),
      staleness_ms: 1_000,
      freshness_slo_ms: 120_000,
    });
    expect(answer.as_of).toBe(new Date(NOW).toISOString());
    expect(answer.as_of_ms).toBe(NOW);
  });

  it("uses the watermark of the user's own partition, read from the store's sources", () => {
    const answer = buildUserFeatures('u1', clientOnlyRead(), registry, watermarks([['client', 2, NOW - 180_000]]), NOW);
    expect(answer.features.errors_last_1h?.status).toBe('stale');
    expect(answer.features.errors_last_1h?.staleness_ms).toBe(180_000);
    expect(answer.status).toBe('stale');
    // Another client partition being late does not matter to this user.
    const other = buildUserFeatures('u1', clientOnlyRead(), registry, watermarks([['client', 3, NOW - 180_000]]), NOW);
    expect(other.features.errors_last_1h?.status).toBe('present');
  });

  it('bounds a source the user has no state for by the oldest partition of that source', () => {
    const answer = buildUserFeatures('u1', clientOnlyRead(), registry, watermarks([['billing', 1, NOW - 300_000]]), NOW);
    expect(answer.features.min_amount_last_1h?.staleness_ms).toBe(300_000);
    expect(answer.features.min_amount_last_1h?.status).toBe('present'); // billing freshness_slo is 10m
    const late = buildUserFeatures('u1', clientOnlyRead(), registry, watermarks([['billing', 1, NOW - 700_000]]), NOW);
    expect(late.features.min_amount_last_1h?.status).toBe('stale');
    expect(late.features.errors_last_1h?.status).toBe('present');
  });

  it('compares staleness with each feature’s own freshness SLO (stale only past it)', () => {
    const atLimit = buildUserFeatures('u1', clientOnlyRead(), registry, watermarks([['client', 2, NOW - 120_000]]), NOW);
    expect(atLimit.features.errors_last_1h?.status).toBe('present');
    const past = buildUserFeatures('u1', clientOnlyRead(), registry, watermarks([['client', 2, NOW - 120_001]]), NOW);
    expect(past.features.errors_last_1h?.status).toBe('stale');
  });

  it('calls a feature stale, with unknown staleness, when no watermark was ever published for its partition', () => {
    const answer = buildUserFeatures('u1', clientOnlyRead(), registry, WatermarkSnapshot.empty(), NOW);
    expect(answer.features.errors_last_1h?.status).toBe('stale');
    expect(answer.features.errors_last_1h?.staleness_ms).toBeNull();
    expect(answer.features.errors_last_1h?.watermark_at).toBeNull();
    expect(answer.status).toBe('stale');
  });

  it('keeps missing ahead of stale for unknown users', () => {
    const answer = buildUserFeatures('nobody', absentRead(), registry, WatermarkSnapshot.empty(), NOW);
    expect(answer.status).toBe('missing');
    expect(Object.values(answer.features).every((f) => f.status === 'missing')).toBe(true);
  });

  it('never reports negative staleness when a watermark is ahead of the local clock', () => {
    const answer = buildUserFeatures('u1', clientOnlyRead(), registry, watermarks([['client', 2, NOW + 5_000]]), NOW);
    expect(answer.features.errors_last_1h?.staleness_ms).toBe(0);
  });
});

describe('isoFromMs', () => {
  it('formats exactly like Date#toISOString for every millisecond of the 4-digit-year range and beyond', () => {
    fc.assert(
      fc.property(fc.integer({ min: -10_000_000_000_000, max: 300_000_000_000_000 }), (ms) => {
        expect(isoFromMs(ms)).toBe(new Date(ms).toISOString());
      }),
      { numRuns: 20_000 },
    );
    for (const ms of [0, 1, 999, 86_399_999, 86_400_000, 253_402_300_799_999, 253_402_300_800_000, NOW]) expect(isoFromMs(ms)).toBe(new Date(ms).toISOString());
  });
});

describe('WatermarkSnapshot.fromHash', () => {
  it('reads "<source>:<partition>" fields and ignores anything else', () => {
    const snapshot = WatermarkSnapshot.fromHash({ 'client:0': '100', 'client:1': '50', 'billing:0': '70', 'bogus:1': '1', 'client:x': '1', 'client:2': 'soon' }, 1);
    expect(snapshot.entries()).toEqual([
      { source: 'billing', partition: 0, watermarkMs: 70 },
      { source: 'client', partition: 0, watermarkMs: 100 },
      { source: 'client', partition: 1, watermarkMs: 50 },
    ]);
    expect(snapshot.oldestOf('client')).toBe(50);
    expect(snapshot.oldestOf('support')).toBeUndefined();
    expect(snapshot.of('client', 1)).toBe(50);
  });
});
