import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { EventStream, fromNdjsonLine, NdjsonWriter, readNdjson, toNdjsonLine, type StreamRecord } from '../../../sidecar/src/loadgen/index.ts';

function records(count: number): StreamRecord[] {
  const stream = new EventStream({ seed: 9, users: 500, invalidShare: 0.05 });
  return Array.from({ length: count }, (_, i) => stream.next(Date.UTC(2026, 0, 1) + i));
}

describe('NDJSON files of the load generator', () => {
  it('round-trips every record byte for byte, including payloads that are not UTF-8', () => {
    const all = records(3_000);
    const notUtf8 = all.filter((r) => toNdjsonLine(r).includes('"value_b64"'));
    expect(notUtf8.length).toBeGreaterThan(0);
    for (const record of all) {
      const back = fromNdjsonLine(toNdjsonLine(record));
      expect(back.value.equals(record.value)).toBe(true);
      expect({ ...back, value: null }).toEqual({ ...record, value: null });
    }
  });

  it('writes one line per record and reads them back in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'churnfeat-ndjson-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'events.ndjson');
    const all = records(2_500);
    const writer = new NdjsonWriter(path);
    for (let i = 0; i < all.length; i += 1_000) await writer.write(all.slice(i, i + 1_000));
    await writer.close();
    expect(readFileSync(path, 'utf8').trimEnd().split('\n')).toHaveLength(all.length);
    const back: StreamRecord[] = [];
    for await (const record of readNdjson(path)) back.push(record);
    expect(back.map((r) => r.seq)).toEqual(all.map((r) => r.seq));
    expect(back.every((r, i) => r.value.equals((all[i] as StreamRecord).value))).toBe(true);
  });
});
