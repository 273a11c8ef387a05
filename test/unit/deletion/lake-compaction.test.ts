import { describe, expect, it } from 'vitest';
import { compactionAccounting, retiredObjects, userBucket, type CompactionManifest } from '../../../sidecar/src/deletion/index.ts';
import { compactedObjectKey, compactionManifestKey, parseCompactedObjectKey, parseLakeObjectKey } from '../../../sidecar/src/lake/index.ts';

const HOURLY = 'events/source=client/date=2026-11-30/hour=07/churnfeat.client.events-3-00000000000000000010-00000000000000004000.parquet';

function manifest(overrides: Partial<CompactionManifest> = {}): CompactionManifest {
  const bucket = (b: number, generation: number): string => compactedObjectKey({ kind: 'events', source: 'client', date: '2026-11-30', bucket: b, buckets: 16, generation });
  return {
    kind: 'events',
    source: 'client',
    date: '2026-11-30',
    buckets: 16,
    generation: 2,
    objects: [{ object: bucket(3, 2), bucket: 3, rows: 10 }],
    landed: [{ object: HOURLY, topic: 'churnfeat.client.events', partition: 3, first: '10', last: '4000', records: 12 }],
    erased: 2,
    pending: null,
    updated_at: '',
    ...overrides,
  };
}

describe('the compacted lake layout', () => {
  it('names a bucket object so it parses back, sorts by bucket and is never taken for an hourly object', () => {
    const name = { kind: 'events', source: 'client', date: '2026-11-30', bucket: 7, buckets: 16_384, generation: 3 } as const;
    const key = compactedObjectKey(name);
    expect(key).toBe('events/source=client/date=2026-11-30/hour=all/bucket-00007-of-16384-g000003.parquet');
    expect(parseCompactedObjectKey(key)).toEqual(name);
    expect(parseLakeObjectKey(key)).toBeNull();
    expect(parseCompactedObjectKey(HOURLY)).toBeNull();
    expect(compactionManifestKey('events', 'client', '2026-11-30')).toBe('_compaction/events/source=client/date=2026-11-30.json');
  });

  it('puts a user in a stable bucket below the count, spread over the buckets', () => {
    expect(userBucket('u-1', 16_384)).toBe(userBucket('u-1', 16_384));
    const seen = new Set<number>();
    for (let i = 0; i < 2_000; i += 1) {
      const b = userBucket(`user-${i}`, 16);
      expect(b).toBeGreaterThanOrEqual(0);
      expect(b).toBeLessThan(16);
      seen.add(b);
    }
    expect(seen.size).toBe(16);
  });
});

describe('the compaction manifest', () => {
  it('retires the landed hourly objects and the buckets of other generations, keeping the current and the pending ones', () => {
    const current = compactedObjectKey({ kind: 'events', source: 'client', date: '2026-11-30', bucket: 3, buckets: 16, generation: 2 });
    const old = compactedObjectKey({ kind: 'events', source: 'client', date: '2026-11-30', bucket: 3, buckets: 16, generation: 1 });
    const next = compactedObjectKey({ kind: 'events', source: 'client', date: '2026-11-30', bucket: 3, buckets: 16, generation: 3 });
    const late = HOURLY.replace('hour=07', 'hour=08');
    expect(retiredObjects(manifest(), [HOURLY, current, old, next, late])).toEqual([HOURLY, old, next]);
    expect(retiredObjects(manifest({ pending: { generation: 3, sources: [current, late] } }), [HOURLY, current, old, next, late])).toEqual([HOURLY, old]);
  });

  it('balances when the landed records equal the rows kept plus the rows erased', () => {
    expect(compactionAccounting(manifest())).toEqual({ landed: 12, rows: 10, erased: 2, balanced: true });
    expect(compactionAccounting(manifest({ erased: 1 })).balanced).toBe(false);
  });
});
