import { describe, expect, it } from 'vitest';
import { DEFAULT_SIDE_TOPIC_LIMITS, planSideSends, sideRecordBytes, type SideRecord } from '../../../sidecar/src/kafka/index.ts';

const record = (bytes: number, offset = 0): SideRecord => ({ key: Buffer.from('u1'), value: Buffer.alloc(bytes, 0x61), headers: { 'churnfeat.source.offset': String(offset) } });

describe('side-topic sends', () => {
  it('splits a backlog of small records into sends below the byte budget, keeping every record in order', () => {
    const records = Array.from({ length: 2_600 }, (_, i) => record(421, i));
    const sends = planSideSends(records);
    expect(sends.length).toBeGreaterThan(1);
    for (const send of sends) expect(send.reduce((n, r) => n + sideRecordBytes(r), 0)).toBeLessThanOrEqual(DEFAULT_SIDE_TOPIC_LIMITS.maxSendBytes);
    expect(sends.flat().map((r) => r.headers['churnfeat.source.offset'])).toEqual(records.map((r) => r.headers['churnfeat.source.offset']));
  });

  it('replaces a value above the record limit by a reference holding its size, hash and first bytes', () => {
    const huge = record(1_048_400);
    const [[reference]] = planSideSends([huge]) as [[SideRecord]];
    expect(reference.value?.length).toBe(DEFAULT_SIDE_TOPIC_LIMITS.referencePrefixBytes);
    expect(reference.headers).toMatchObject({ 'churnfeat.value_truncated': 'true', 'churnfeat.original_bytes': '1048400', 'churnfeat.source.offset': '0' });
    expect(reference.headers['churnfeat.original_sha256']).toMatch(/^[0-9a-f]{64}$/);
    expect(sideRecordBytes(reference)).toBeLessThan(DEFAULT_SIDE_TOPIC_LIMITS.maxRecordBytes);
  });

  it('keeps a record at the limit whole and sends it alone when it does not fit with others', () => {
    const big = record(DEFAULT_SIDE_TOPIC_LIMITS.maxRecordBytes);
    const sends = planSideSends([record(250_000), record(250_000), big, record(10)]);
    expect(sends.map((send) => send.length)).toEqual([2, 2]);
    expect(sends[1]?.[0]?.value?.length).toBe(DEFAULT_SIDE_TOPIC_LIMITS.maxRecordBytes);
    expect(sends[1]?.[0]?.headers['churnfeat.value_truncated']).toBeUndefined();
  });
});
