/** The dedup changelog's records: what the sidecar sends is what a rebuild decodes, in sends the broker accepts. */
import type { Producer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { decodeChanges, encodeChanges, sendChanges, type DedupChange } from '../../../sidecar/src/dedup/index.ts';

const change = (userId: string, entries: number, clockMs: number): DedupChange => ({
  userId,
  boundS: clockMs / 1000 - 90_000,
  clockMs,
  appended: Buffer.alloc(entries * 10, userId.length).toString('latin1'),
  packed: '',
});

/** A producer that keeps what it was asked to send. */
function recordingProducer(): { producer: Producer; sends: Array<Array<{ value: Buffer; partition: number }>> } {
  const sends: Array<Array<{ value: Buffer; partition: number }>> = [];
  let offset = 0;
  const producer = {
    send: async ({ messages }: { messages: Array<{ value: Buffer; partition: number }> }) => {
      sends.push(messages);
      const baseOffset = String(offset);
      offset += messages.length;
      return [{ baseOffset }];
    },
  } as unknown as Producer;
  return { producer, sends };
}

describe('the dedup changelog', () => {
  it('decodes what it encodes: user ids (UTF-8), bounds, clocks and the entries byte for byte', () => {
    const changes = [change('u-1', 3, 1_780_000_000_123), change('ü-😀', 0, 1_780_000_001_000), change('u-3', 200, 1_780_000_002_500)];
    expect(decodeChanges(encodeChanges(changes))).toEqual(changes.map(({ userId, boundS, clockMs, appended }) => ({ userId, boundS, clockMs, appended })));
  });

  it('refuses a record of another format instead of misreading it', () => {
    expect(() => decodeChanges(Buffer.from([9, 0, 1]))).toThrow(/unknown format 9/);
  });

  it("sends a large batch's changes in several sends, each far below the broker's 1 MB, to the source's partition, and returns the first offset", async () => {
    const { producer, sends } = recordingProducer();
    // 10,000 users x 12 entries: 1.2 MB of entries in one batch
    const changes = Array.from({ length: 10_000 }, (_, i) => change(`u-${i}`, 12, 1_780_000_000_000 + i));
    expect(await sendChanges(producer, 't.dedup-changelog', 4, changes, {})).toBe('0');
    expect(sends.length).toBeGreaterThan(1);
    for (const messages of sends) expect(messages.reduce((sum, m) => sum + m.value.length, 0)).toBeLessThan(512 * 1024);
    const decoded = sends.flatMap((messages) => messages.flatMap((m) => decodeChanges(m.value)));
    expect(decoded.map((c) => c.userId)).toEqual(changes.map((c) => c.userId));
    expect(new Set(sends.flatMap((messages) => messages.map((m) => m.partition)))).toEqual(new Set([4]));
  });
});
