import { describe, expect, it } from 'vitest';
import { MISMATCH_CLASSES } from '../../../parity/src/classify.ts';
import { distributionOf } from '../../../parity/src/report/distribution.ts';
import { renderParityHtml } from '../../../parity/src/report/html.ts';
import type { ParityResult } from '../../../parity/src/result.ts';

function result(): ParityResult {
  const byClass = Object.fromEntries(MISMATCH_CLASSES.map((c) => [c, 0])) as ParityResult['totals']['byClass'];
  const features = ['a_count', 'b_sum', 'c_last'].map((name, i) => ({
    name,
    source: 'client',
    aggregation: ['count', 'sum', 'last'][i] as string,
    window: '1h',
    granularity: '5m',
    compared: 10,
    mismatches: i === 0 ? 1 : 0,
    mismatchRate: i === 0 ? 0.1 : 0,
    byClass: { ...byClass, unexplained: i === 0 ? 1 : 0 },
    distribution: i === 2 ? distributionOf(['x', 'y', null], ['x', 'y', null]) : distributionOf([0, 1, 2, 2.5], [0, 1, 2, 3]),
  }));
  return {
    status: 'fail',
    exitCode: 1,
    threshold: 0,
    asOfMs: 0,
    asOf: '1970-01-01T00:00:00.000Z',
    startedAt: 'now',
    finishedAt: 'later',
    warehouse: 'duckdb',
    keyPrefix: 'cf',
    registry: { dbtVersion: 'abc', onlineVersion: 'abc', same: true },
    sample: { requested: 10, population: 10, sampled: 10, seed: 1, strata: [{ name: 'all', minEvents: 1, maxEvents: 9, population: 10, sampled: 10, users: [] }] },
    snapshot: { readStartedAt: 'a', readEndedAt: 'b', committedOffsets: true, lakeManifests: false, usersWithOnlineState: 10, usersOnSeveralPartitions: 0 },
    totals: { comparisons: 30, mismatches: 1, usersWithMismatch: 1, byClass: { ...byClass, unexplained: 1 }, unexplained: 1 },
    features,
    mismatches: [
      {
        userId: 'u<1>',
        stratum: 'all',
        feature: 'a_count',
        field: 'value',
        online: { value: 2, latestEventMs: 5 },
        offline: { value: 1, latestEventMs: 5 },
        class: 'unexplained',
        explanation: 'x & y',
      },
    ],
    reports: { json: 'r.json', html: 'r.html' },
  };
}

describe('parity HTML report', () => {
  it('is one self-contained page: a summary, a rate chart and one distribution chart per feature, nothing fetched', () => {
    const html = renderParityHtml(result());
    expect(html).toContain('id="summary"');
    expect(html).toContain('data-status="fail"');
    expect(html.match(/<svg class="chart"/g)).toHaveLength(4);
    expect(html).not.toMatch(/<script|<link|<img|\ssrc=|\shref=|@import|url\(/i);
    expect(html).toContain('u&lt;1&gt;');
    expect(html).toContain('x &amp; y');
  });
});

describe('value distributions', () => {
  it('bins small integer ranges one value per bin and counts nulls apart', () => {
    const d = distributionOf([0, 1, 1, null], [0, 1, 2]);
    expect(d.kind).toBe('numeric');
    if (d.kind !== 'numeric') return;
    expect(d.bins.map((b) => [b.label, b.online, b.offline])).toEqual([
      ['0', 1, 1],
      ['1', 2, 1],
      ['2', 0, 1],
    ]);
    expect(d.nulls).toEqual({ online: 1, offline: 0 });
  });

  it('gives wide integer ranges whole-number bins', () => {
    const d = distributionOf([1, 5, 38], [1, 38]);
    if (d.kind !== 'numeric') throw new Error('numeric expected');
    expect(d.bins.every((b) => Number.isInteger(b.lo) && Number.isInteger(b.hi))).toBe(true);
    expect(d.bins[0]?.label).toBe('1–4');
    expect(d.bins.reduce((n, b) => n + b.online, 0)).toBe(3);
  });

  it('spreads wide or fractional ranges over equal-width bins that hold every value', () => {
    const values = Array.from({ length: 100 }, (_, i) => i * 37.5);
    const d = distributionOf(values, values);
    if (d.kind !== 'numeric') throw new Error('numeric expected');
    expect(d.bins).toHaveLength(12);
    expect(d.bins.reduce((n, b) => n + b.online, 0)).toBe(100);
  });
});
