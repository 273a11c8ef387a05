import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Source } from '../events/index.ts';
import type { Arrival, StreamRecord } from './event-stream.ts';

/**
 * One line of a load generator NDJSON file: the record as produced to Kafka, plus what the
 * generator knows about it. `value` is the payload as text when it is valid UTF-8,
 * otherwise `value_b64` holds the bytes (some invalid payloads are not UTF-8).
 */
export interface NdjsonLine {
  seq: number;
  source: Source;
  key: string;
  kind: StreamRecord['kind'];
  arrival: Arrival;
  ingest_ms: number;
  true_ms: number;
  value?: string;
  value_b64?: string;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The NDJSON line (without the newline) of a record. */
export function toNdjsonLine(record: StreamRecord): string {
  const line: NdjsonLine = { seq: record.seq, source: record.source, key: record.key, kind: record.kind, arrival: record.arrival, ingest_ms: record.ingestMs, true_ms: record.trueMs };
  try {
    line.value = strictUtf8.decode(record.value);
  } catch {
    line.value_b64 = record.value.toString('base64');
  }
  return JSON.stringify(line);
}

/** The record an NDJSON line was written from (the exact bytes of its value). */
export function fromNdjsonLine(text: string): StreamRecord {
  const line = JSON.parse(text) as NdjsonLine;
  const value = line.value !== undefined ? Buffer.from(line.value, 'utf8') : Buffer.from(line.value_b64 ?? '', 'base64');
  return { seq: line.seq, source: line.source, key: line.key, kind: line.kind, arrival: line.arrival, ingestMs: line.ingest_ms, trueMs: line.true_ms, value };
}

/** Appends records to an NDJSON file, honouring the stream's back-pressure. */
export class NdjsonWriter {
  private readonly out: WriteStream;

  constructor(path: string) {
    this.out = createWriteStream(path, { flags: 'w' });
  }

  async write(records: readonly StreamRecord[]): Promise<void> {
    let text = '';
    for (const record of records) text += toNdjsonLine(record) + '\n';
    if (!this.out.write(text)) await once(this.out, 'drain');
  }

  async close(): Promise<void> {
    this.out.end();
    await once(this.out, 'finish');
  }
}

/** Reads the records of an NDJSON file written by the load generator, in file order. */
export async function* readNdjson(path: string): AsyncGenerator<StreamRecord> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const text of lines) {
    if (text.length > 0) yield fromNdjsonLine(text);
  }
}
