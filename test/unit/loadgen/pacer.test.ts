import { describe, expect, it } from 'vitest';
import { Pacer } from '../../../sidecar/src/loadgen/index.ts';

describe('Pacer', () => {
  it('allows rate records per second since the start, no more', () => {
    const pacer = new Pacer(1_000, 0, 10_000);
    expect(pacer.due(0, 0)).toBe(0);
    expect(pacer.due(250, 0)).toBe(250);
    expect(pacer.due(250, 200)).toBe(50);
    expect(pacer.due(250, 300)).toBe(0);
  });

  it('caps a catch-up burst at maxBurst and says how far behind the producer is', () => {
    const pacer = new Pacer(10_000, 0, 500);
    expect(pacer.due(1_000, 0)).toBe(500);
    expect(pacer.behindBy(1_000, 0)).toBe(10_000);
    expect(pacer.behindBy(1_000, 10_000)).toBe(0);
  });

  it('says how long to wait for the next record', () => {
    const pacer = new Pacer(100, 1_000);
    expect(pacer.waitMs(1_000, 0)).toBe(10);
    expect(pacer.waitMs(1_005, 0)).toBe(5);
    expect(pacer.waitMs(1_050, 3)).toBe(0);
  });

  it('treats rate 0 as as-fast-as-possible, bounded by the burst', () => {
    const pacer = new Pacer(0, 0, 1_000);
    expect(pacer.due(0, 123_456)).toBe(1_000);
    expect(pacer.waitMs(0, 5)).toBe(0);
    expect(pacer.behindBy(0, 0)).toBe(0);
  });

  it('rejects a negative or infinite rate', () => {
    expect(() => new Pacer(-1, 0)).toThrow(/rate/);
    expect(() => new Pacer(Number.POSITIVE_INFINITY, 0)).toThrow(/rate/);
  });
});
