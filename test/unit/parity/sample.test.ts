import { describe, expect, it } from 'vitest';
import { stratifiedSample, type UserActivity } from '../../../parity/src/sample.ts';

const population: UserActivity[] = Array.from({ length: 1_000 }, (_, i) => ({ userId: `u${String(i).padStart(4, '0')}`, events: i < 600 ? 1 + (i % 3) : i < 900 ? 10 + (i % 40) : 500 + i }));

describe('stratified user sample', () => {
  it('draws the same number from every activity quartile, so rare and active users both appear', () => {
    const sample = stratifiedSample(population, 40, 4, 7);
    expect(sample.users).toHaveLength(40);
    expect(sample.strata.map((s) => s.users.length)).toEqual([10, 10, 10, 10]);
    expect(sample.strata.map((s) => s.name)).toEqual(['rare', 'light', 'regular', 'active']);
    const events = new Map(population.map((u) => [u.userId, u.events]));
    expect(Math.min(...sample.strata[0]!.users.map((u) => events.get(u)!))).toBeLessThanOrEqual(3);
    expect(Math.min(...sample.strata[3]!.users.map((u) => events.get(u)!))).toBeGreaterThanOrEqual(10);
    expect(new Set(sample.users).size).toBe(40);
  });

  it('gives the same sample for the same seed and a different one for another seed', () => {
    expect(stratifiedSample(population, 40, 4, 7).users).toEqual(stratifiedSample([...population].reverse(), 40, 4, 7).users);
    expect(stratifiedSample(population, 40, 4, 8).users).not.toEqual(stratifiedSample(population, 40, 4, 7).users);
  });

  it('takes everyone from a population smaller than the sample and never more', () => {
    const small = population.slice(0, 5);
    expect(stratifiedSample(small, 40, 4, 1).users.sort()).toEqual(small.map((u) => u.userId));
    expect(stratifiedSample([], 40, 4, 1).users).toEqual([]);
  });

  it('hands the quota of a small stratum to the others', () => {
    const sample = stratifiedSample(population.slice(0, 9), 8, 4, 3);
    expect(sample.users).toHaveLength(8);
  });
});
