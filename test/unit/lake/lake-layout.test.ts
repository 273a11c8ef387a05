import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hourPartition, LAKE_KINDS, lakeObjectKey, manifestKey, MANIFEST_PREFIX, padOffset, parseLakeObjectKey } from '../../../sidecar/src/lake/index.ts';

describe('lake layout', () => {
  it('names an object by kind, source, UTC hour and zero-padded offsets, and parses the name back', () => {
    const key = lakeObjectKey({ kind: 'events', source: 'client', date: '2026-11-30', hour: '07', topic: 'churnfeat.client.events', partition: 3, first: 10n, last: 4_000n });
    expect(key).toBe('events/source=client/date=2026-11-30/hour=07/churnfeat.client.events-3-00000000000000000010-00000000000000004000.parquet');
    expect(parseLakeObjectKey(key)).toEqual({ kind: 'events', source: 'client', date: '2026-11-30', hour: '07', topic: 'churnfeat.client.events', partition: 3, first: 10n, last: 4_000n });
  });

  it('round-trips any key it builds (topics with dots and dashes, offsets up to 2^63)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...LAKE_KINDS),
        fc.constantFrom('client', 'billing', 'support'),
        fc.integer({ min: 0, max: 4_102_444_800_000 }),
        fc.stringMatching(/^[a-z][a-z0-9.-]{0,40}$/),
        fc.nat(1_000),
        fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
        fc.bigInt({ min: 0n, max: 1_000_000n }),
        (kind, source, ms, topic, partition, first, span) => {
          const { date, hour } = hourPartition(ms);
          const file = { kind, source, date, hour, topic, partition, first, last: first + span };
          expect(parseLakeObjectKey(lakeObjectKey(file))).toEqual(file);
        },
      ),
    );
  });

  it('sorts object names of one partition by offset (20-digit padding)', () => {
    const names = [5n, 100n, 99n, 10_000_000_000n].map((first) => padOffset(first));
    expect([...names].sort()).toEqual([5n, 99n, 100n, 10_000_000_000n].map((first) => padOffset(first)));
  });

  it('puts a record in the UTC hour of its Kafka timestamp, and a nonsense timestamp in the epoch hour', () => {
    expect(hourPartition(Date.UTC(2026, 11, 1, 23, 59, 59, 999))).toEqual({ date: '2026-12-01', hour: '23' });
    expect(hourPartition(Number.NaN)).toEqual({ date: '1970-01-01', hour: '00' });
    expect(hourPartition(-1)).toEqual({ date: '1970-01-01', hour: '00' });
  });

  it('does not take manifests or temporaries for lake files', () => {
    expect(manifestKey('t', 2)).toBe('_state/t/partition=2.json');
    expect(manifestKey('t', 2).startsWith(MANIFEST_PREFIX)).toBe(true);
    expect(parseLakeObjectKey(manifestKey('t', 2))).toBeNull();
    expect(parseLakeObjectKey('events/source=client/date=2026-11-30/hour=07/t-1-1-2.parquet.tmp')).toBeNull();
  });
});
