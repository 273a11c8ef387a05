import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseEvent, SOURCES } from '../../../sidecar/src/events/index.ts';
import { dedupMember, partitionKey, userDedupKey, userKeys, userStateKey } from '../../../sidecar/src/store/index.ts';

/** CRC16/XMODEM, as Redis Cluster uses for key slots. */
function crc16(bytes: Buffer): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The Redis Cluster slot of a key: CRC16 of the hash tag (first non-empty {...}) or the whole key, mod 16384. */
function keySlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return crc16(Buffer.from(key.slice(open + 1, close))) % 16384;
  }
  return crc16(Buffer.from(key)) % 16384;
}

describe('the Redis layout', () => {
  it('computes key slots the way Redis Cluster does (reference values from the cluster spec)', () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0x31c3);
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('{user1000}.following')).toBe(keySlot('{user1000}.followers'));
  });

  it('puts every key of one user (state and the dedup set of each source) in one cluster slot, so the apply function is a single-slot call', () => {
    for (const user of ['u0000001', 'u0000042', 'a.b-c_d', 'X'.repeat(64)]) {
      const keys = userKeys('cf', user);
      expect(keys).toEqual(expect.arrayContaining([userStateKey('cf', user), ...SOURCES.map((source) => userDedupKey('cf', user, source))]));
      expect(new Set(keys).size).toBe(keys.length);
      expect(new Set(keys.map(keySlot)).size).toBe(1);
      expect(keySlot(userStateKey('other-prefix', user))).toBe(keySlot(keys[0] as string));
    }
    const slots = new Set(Array.from({ length: 200 }, (_, i) => keySlot(userStateKey('cf', `u${i}`))));
    expect(slots.size).toBeGreaterThan(150);
  });

  it('relies on user ids without braces, which the event contract rejects', () => {
    const raw = (userId: string) =>
      Buffer.from(JSON.stringify({ event_id: 'e', user_id: userId, device_id: 'd', event_type: 'search', event_ts: '2024-01-01T00:00:00Z', ingest_ts: '2024-01-01T00:00:00Z', attributes: {} }));
    expect(parseEvent('client', raw('u1')).ok).toBe(true);
    for (const bad of ['u{1}', 'u}1', '{u1', '', 'u 1']) {
      const parsed = parseEvent('client', raw(bad));
      expect(parsed.ok).toBe(false);
    }
  });

  it('names the partition a record came from by topic hash and partition, and a dedup entry by source letter and 64 bits of the key hash', () => {
    expect(partitionKey('a.client.events', 3)).toMatch(/^[0-9a-f]{8}:3$/);
    expect(partitionKey('a.client.events', 3)).not.toBe(partitionKey('b.client.events', 3));
    expect(partitionKey('a.client.events', 3)).not.toBe(partitionKey('a.client.events', 4));
    expect(dedupMember('ev-1')).toHaveLength(8);
    expect(dedupMember('ev-1').equals(createHash('sha256').update('ev-1').digest().subarray(0, 8))).toBe(true);
    expect(dedupMember('ev-1').equals(dedupMember('ev-1'))).toBe(true);
    expect(dedupMember('ev-1').equals(dedupMember('ev-2'))).toBe(false);
    expect(dedupMember('fp:' + 'f'.repeat(64))).toHaveLength(8);
  });
});
