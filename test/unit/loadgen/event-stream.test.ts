import { describe, expect, it } from 'vitest';
import { parseEvent } from '../../../sidecar/src/events/index.ts';
import { EventStream, type EventStreamOptions, type StreamRecord } from '../../../sidecar/src/loadgen/index.ts';

const START = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

function take(options: EventStreamOptions, count: number, clock: (seq: number) => number = (seq) => START + seq * 10): StreamRecord[] {
  const stream = new EventStream(options);
  return Array.from({ length: count }, (_, seq) => stream.next(clock(seq)));
}

function json(record: StreamRecord): Record<string, unknown> {
  return JSON.parse(record.value.toString('utf8')) as Record<string, unknown>;
}

const share = (records: readonly StreamRecord[], test: (r: StreamRecord) => boolean): number => records.filter(test).length / records.length;

describe('EventStream', () => {
  const records = take({ seed: 42, users: 5_000, duplicateGapRecords: [10, 2_000] }, 40_000);
  const valid = records.filter((r) => r.kind === 'valid');

  it('gives byte-identical records for the same seed and clock, and other records for another seed', () => {
    const again = take({ seed: 42, users: 5_000, duplicateGapRecords: [10, 2_000] }, 40_000);
    expect(again.map((r) => r.value.toString('base64'))).toEqual(records.map((r) => r.value.toString('base64')));
    const other = take({ seed: 43, users: 5_000 }, 1_000);
    expect(other.filter((r, i) => r.value.equals((records[i] as StreamRecord).value)).length).toBeLessThan(5);
  });

  it('draws the same users, sources and kinds at the same positions whatever the clock', () => {
    const live = take({ seed: 42, users: 5_000, duplicateGapRecords: [10, 2_000] }, 5_000, (seq) => START + 7 * 86_400_000 + seq * 3);
    expect(live.map((r) => `${r.key}/${r.source}/${r.kind}/${r.arrival}`)).toEqual(records.slice(0, 5_000).map((r) => `${r.key}/${r.source}/${r.kind}/${r.arrival}`));
  });

  it('produces events every source schema accepts, and invalid payloads the parser rejects', () => {
    for (const record of records) {
      const parsed = parseEvent(record.source, record.value);
      expect(parsed.ok, `${record.kind} #${record.seq}: ${parsed.ok ? '' : parsed.detail}`).toBe(record.kind !== 'invalid');
    }
    expect(share(records, (r) => r.kind === 'invalid')).toBeGreaterThan(0.001);
    expect(share(records, (r) => r.kind === 'invalid')).toBeLessThan(0.004);
  });

  it('has the mix of a streaming service: client traffic and, within it, player heartbeats dominate', () => {
    expect(share(valid, (r) => r.source === 'client')).toBeGreaterThan(0.93);
    const client = valid.filter((r) => r.source === 'client');
    expect(share(client, (r) => json(r).event_type === 'playback_heartbeat')).toBeGreaterThan(0.75);
    const types = new Set(valid.map((r) => `${r.source}/${json(r).event_type as string}`));
    expect(types.size).toBe(13);
  });

  it('sends 2-3% of events 5-30 minutes late and a tail 1-26 hours late', () => {
    const late = valid.filter((r) => r.arrival === 'late');
    expect(late.length / valid.length).toBeGreaterThan(0.02);
    expect(late.length / valid.length).toBeLessThan(0.03);
    for (const r of late) {
      expect(r.ingestMs - r.trueMs).toBeGreaterThanOrEqual(5 * MINUTE);
      expect(r.ingestMs - r.trueMs).toBeLessThanOrEqual(30 * MINUTE);
    }
    const veryLate = valid.filter((r) => r.arrival === 'very_late');
    expect(veryLate.length).toBeGreaterThan(40);
    expect(Math.max(...veryLate.map((r) => r.ingestMs - r.trueMs))).toBeGreaterThan(24 * 60 * MINUTE);
    for (const r of valid.filter((x) => x.arrival === 'on_time')) expect(r.ingestMs - r.trueMs).toBeLessThanOrEqual(2_000);
  });

  it('re-sends about 1% of events later with the same content and a later ingest_ts', () => {
    const duplicates = records.filter((r) => r.kind === 'duplicate');
    expect(duplicates.length / records.length).toBeGreaterThan(0.007);
    expect(duplicates.length / records.length).toBeLessThan(0.013);
    const originals = new Map(valid.map((r) => [JSON.stringify({ ...json(r), ingest_ts: null }), r]));
    for (const dup of duplicates) {
      const original = originals.get(JSON.stringify({ ...json(dup), ingest_ts: null }));
      expect(original, `duplicate #${dup.seq} has an original`).toBeDefined();
      expect(dup.seq).toBeGreaterThan((original as StreamRecord).seq);
      expect(dup.key).toBe((original as StreamRecord).key);
      expect(dup.value.length).toBe((original as StreamRecord).value.length);
    }
  });

  it('omits event_id for the TV users only, always the same users', () => {
    const idless = valid.filter((r) => json(r).event_id === undefined);
    expect(idless.length / valid.length).toBeGreaterThan(0.05);
    expect(idless.length / valid.length).toBeLessThan(0.15);
    const idlessUsers = new Set(idless.map((r) => r.key));
    for (const r of idless) expect(json(r).device_id).toMatch(/^tv-/);
    for (const r of valid.filter((x) => x.source === 'client' && idlessUsers.has(x.key))) expect(json(r).event_id).toBeUndefined();
  });

  it('gives a few users device clocks ahead of the server and a few behind', () => {
    const skew = (r: StreamRecord): number => Date.parse(json(r).event_ts as string) - r.trueMs;
    const onTime = valid.filter((r) => r.arrival === 'on_time');
    expect(share(onTime, (r) => skew(r) >= MINUTE)).toBeGreaterThan(0.005);
    expect(share(onTime, (r) => skew(r) <= -10_000)).toBeGreaterThan(0.002);
    expect(share(onTime, (r) => skew(r) >= MINUTE && Date.parse(json(r).event_ts as string) > r.ingestMs)).toBeGreaterThan(0.005);
  });

  it('lets a handful of hot users send a visible share of all events', () => {
    const hot = take({ seed: 7, users: 100_000, hotUsers: 5, hotShare: 0.05 }, 20_000);
    const hotKeys = new Set(Array.from({ length: 5 }, (_, i) => `u${String(i).padStart(8, '0')}`));
    expect(share(hot, (r) => hotKeys.has(r.key))).toBeGreaterThan(0.04);
    expect(share(hot, (r) => hotKeys.has(r.key))).toBeLessThan(0.07);
  });

  it('pads valid events to exactly the requested size, and draws sizes of 0.5-2 KB averaging about 1 KB by default', () => {
    const fixed = take({ seed: 1, users: 1_000, size: 1_024 }, 3_000).filter((r) => r.kind !== 'invalid');
    for (const r of fixed) expect(r.value.length).toBe(1_024);
    const sizes = valid.map((r) => r.value.length);
    // Only an event whose bare JSON is within a few bytes of its drawn size can fall short of it.
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(489);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2_048);
    const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
    expect(mean).toBeGreaterThan(950);
    expect(mean).toBeLessThan(1_100);
  });

  it('lets viewers come back to a few titles of their own, so distinct titles per user stay bounded', () => {
    const plays = take({ seed: 5, users: 50, ownTitleShare: 1 }, 20_000).filter((r) => r.kind === 'valid' && typeof (json(r).attributes as Record<string, unknown>).content_id === 'string');
    const titles = new Map<string, Set<string>>();
    for (const r of plays) titles.set(r.key, (titles.get(r.key) ?? new Set()).add((json(r).attributes as Record<string, string>).content_id as string));
    expect(Math.max(...[...titles.values()].map((t) => t.size))).toBeLessThanOrEqual(4);
    const catalog = take({ seed: 5, users: 50, ownTitleShare: 0 }, 20_000).filter((r) => r.kind === 'valid' && typeof (json(r).attributes as Record<string, unknown>).content_id === 'string');
    expect(new Set(catalog.filter((r) => r.key === (catalog[0] as StreamRecord).key).map((r) => (json(r).attributes as Record<string, string>).content_id)).size).toBeGreaterThan(20);
  });

  it('rejects options out of range, naming the option', () => {
    expect(() => new EventStream({ seed: 1, lateShare: 1.5 })).toThrow(/lateShare/);
    expect(() => new EventStream({ seed: 1, users: 0 })).toThrow(/users/);
    expect(() => new EventStream({ seed: 1, size: 100 })).toThrow(/size/);
    expect(() => new EventStream({ seed: 1, sourceShares: { client: 0.5, billing: 0.1, support: 0.1 } })).toThrow(/sourceShares/);
  });
});
