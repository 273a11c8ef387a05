import { describe, expect, it } from 'vitest';
import { EventStream, generateWorkload, runLoad, type StreamRecord } from '../../../sidecar/src/loadgen/index.ts';

describe('runLoad', () => {
  it('hands every record to every sink in order, with the virtual clock advancing at the virtual rate', async () => {
    const seen: StreamRecord[] = [];
    const also: number[] = [];
    const summary = await runLoad({
      stream: new EventStream({ seed: 3, users: 1_000 }),
      rate: 0,
      count: 2_500,
      clock: 'virtual',
      virtualStartMs: 1_000_000,
      virtualRate: 1_000,
      batch: 300,
      sinks: [{ write: async (records) => void seen.push(...records) }, { write: async (records) => void also.push(records.length) }],
    });
    expect(summary.produced).toBe(2_500);
    expect(seen.map((r) => r.seq)).toEqual(Array.from({ length: 2_500 }, (_, i) => i));
    expect(also.reduce((a, b) => a + b, 0)).toBe(2_500);
    expect(Math.max(...also)).toBeLessThanOrEqual(300);
    expect(seen.map((r) => r.ingestMs)).toEqual(seen.map((_, i) => 1_000_000 + i));
    expect(summary.byKind.valid + summary.byKind.duplicate + summary.byKind.invalid).toBe(2_500);
    expect(summary.bytes).toBe(seen.reduce((n, r) => n + r.value.length, 0));
  });

  it('gives the same SHA-256 for the same seed and virtual start, a different one otherwise', async () => {
    const run = (seed: number, start: number) => runLoad({ stream: new EventStream({ seed, users: 1_000 }), rate: 0, count: 1_000, clock: 'virtual', virtualStartMs: start, sinks: [] });
    const a = await run(1, 5_000);
    expect((await run(1, 5_000)).sha256).toBe(a.sha256);
    expect((await run(2, 5_000)).sha256).not.toBe(a.sha256);
    expect((await run(1, 6_000)).sha256).not.toBe(a.sha256);
  });

  it('paces a live run at the target rate', async () => {
    const summary = await runLoad({ stream: new EventStream({ seed: 4, users: 100 }), rate: 2_000, durationMs: 500, clock: 'live', sinks: [] });
    expect(summary.produced).toBeGreaterThan(600);
    expect(summary.produced).toBeLessThanOrEqual(1_001);
  });

  it('needs a count or a duration', async () => {
    await expect(runLoad({ stream: new EventStream({ seed: 1 }), rate: 0, clock: 'live', sinks: [] })).rejects.toThrow(/count or durationMs/);
  });
});

describe('generateWorkload (the batch generator the integration tests use)', () => {
  it('still returns the whole workload in ingest order with valid, duplicate and invalid records', () => {
    const workload = generateWorkload({ seed: 42, users: 80, eventsPerUser: 30, startMs: 0, endMs: 3 * 86_400_000, lateShare: 0.05, veryLateShare: 0.01, duplicateShare: 0.05 });
    expect(workload.length).toBeGreaterThanOrEqual(80 * 30);
    expect(workload.every((r, i) => i === 0 || (workload[i - 1] as { ingestMs: number }).ingestMs <= r.ingestMs)).toBe(true);
    expect(new Set(workload.map((r) => r.kind))).toEqual(new Set(['valid', 'duplicate', 'invalid']));
  });
});
