import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inWindow, oldestTileIndex, tileIndex } from '../../../sidecar/src/windows/index.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Window and tile sizes as the project uses them: W a multiple of g. */
const windowArb = fc.record({ g: fc.constantFrom(MINUTE, 5 * MINUTE, 15 * MINUTE, HOUR, 24 * HOUR), tiles: fc.integer({ min: 1, max: 720 }) }).map(({ g, tiles }) => ({ g, w: g * tiles }));
const instantArb = fc.integer({ min: 1_500_000_000_000, max: 2_000_000_000_000 });

describe('tiles and windows', () => {
  it('aligns tiles to the UTC epoch: a tile holds [index * g, (index + 1) * g)', () => {
    expect(tileIndex(0, MINUTE)).toBe(0);
    expect(tileIndex(MINUTE - 1, MINUTE)).toBe(0);
    expect(tileIndex(MINUTE, MINUTE)).toBe(1);
    // 2024-01-01T00:14:59.999Z and 00:15:00Z fall in adjacent 15-minute tiles
    const quarter = Date.parse('2024-01-01T00:15:00Z');
    expect(tileIndex(quarter - 1, 15 * MINUTE) + 1).toBe(tileIndex(quarter, 15 * MINUTE));
    expect(tileIndex(quarter, 15 * MINUTE) * 15 * MINUTE).toBe(quarter);
  });

  it('counts, at t, the tiles from tile_start(t) - W up to t', () => {
    const g = 5 * MINUTE;
    const w = HOUR;
    const t = Date.parse('2024-01-01T10:07:30Z');
    expect(oldestTileIndex(t, w, g)).toBe(tileIndex(Date.parse('2024-01-01T09:05:00Z'), g));
    expect(inWindow(Date.parse('2024-01-01T09:05:00Z'), t, w, g)).toBe(true);
    expect(inWindow(Date.parse('2024-01-01T09:04:59.999Z'), t, w, g)).toBe(false);
    expect(inWindow(t, t, w, g)).toBe(true);
    expect(inWindow(t + 1, t, w, g)).toBe(false);
  });

  it('always covers at least W and less than W + g of history, and nothing after t', () => {
    fc.assert(
      fc.property(windowArb, instantArb, fc.integer({ min: -2 * 24 * HOUR, max: HOUR }), ({ g, w }, t, delta) => {
        const e = t - w - g + delta;
        const covered = inWindow(e, t, w, g);
        expect(covered).toBe(e <= t && tileIndex(e, g) >= oldestTileIndex(t, w, g));
        if (e <= t && e >= t - w) expect(covered).toBe(true);
        if (e <= t - w - g || e > t) expect(covered).toBe(false);
      }),
    );
  });

  it('lets a window only shrink as t grows within a tile and drop whole tiles at a tile boundary', () => {
    fc.assert(
      fc.property(windowArb, instantArb, fc.integer({ min: 0, max: 10 * HOUR }), ({ g, w }, t, step) => {
        // an event that left the window never comes back at a later t
        const e = t - w - g;
        if (!inWindow(e, t, w, g)) expect(inWindow(e, t + step, w, g)).toBe(false);
        expect(oldestTileIndex(t + step, w, g)).toBeGreaterThanOrEqual(oldestTileIndex(t, w, g));
      }),
    );
  });
});
