import { createHash } from 'node:crypto';
import type { IHeaders, Message, Producer } from 'kafkajs';

/** A record for a side topic (dead letters, too-late events): the original key and bytes plus headers. */
export interface SideRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, string>;
}

/** A consumed record's headers as text (the first value of a repeated header), as side records carry them. */
export function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    const first = Array.isArray(value) ? value[0] : value;
    if (first !== undefined) out[name] = Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
  }
  return out;
}

/**
 * Size limits of side-topic sends. The broker refuses a record batch above its
 * `message.max.bytes` (1 MiB by default) and kafkajs sends one batch per partition per
 * request, so both a single record and one send are kept well below it: a backlog of
 * thousands of small bad records of one key, or one invalid record just under the source
 * topic's limit, must never become a send the broker refuses (that stops the consumer).
 */
export interface SideTopicLimits {
  /** A record whose value is larger is republished as a reference (see {@link referenceRecord}). Default 256 KiB. */
  maxRecordBytes: number;
  /** Records are sent in requests of at most this many bytes. Default 512 KiB. */
  maxSendBytes: number;
  /** Bytes of the original value kept in a reference record, for a human to look at. Default 4 KiB. */
  referencePrefixBytes: number;
}

export const DEFAULT_SIDE_TOPIC_LIMITS = {
  maxRecordBytes: 256 * 1024,
  maxSendBytes: 512 * 1024,
  referencePrefixBytes: 4 * 1024,
} satisfies SideTopicLimits;

/** Bytes a record takes in a batch, headers and a per-record overhead included (an upper bound). */
export function sideRecordBytes(record: SideRecord): number {
  let bytes = 64 + (record.key?.length ?? 0) + (record.value?.length ?? 0);
  for (const [name, value] of Object.entries(record.headers)) bytes += 8 + Buffer.byteLength(name) + Buffer.byteLength(value);
  return bytes;
}

/**
 * The record republished in place of an original too large for the side topic: the first
 * bytes of the value, and headers that say so and where the whole original is. The
 * original stays in its source topic at the offset the `churnfeat.source.*` headers name,
 * and the lake writer lands it whole as a dead-letter row of that topic, partition and
 * offset; nothing is dropped.
 */
export function referenceRecord(record: SideRecord, prefixBytes: number): SideRecord {
  const value = record.value ?? Buffer.alloc(0);
  return {
    key: record.key,
    value: value.subarray(0, prefixBytes),
    headers: {
      ...record.headers,
      'churnfeat.value_truncated': 'true',
      'churnfeat.original_bytes': String(value.length),
      'churnfeat.original_sha256': createHash('sha256').update(value).digest('hex'),
      'churnfeat.original_location': 'source topic at churnfeat.source.offset; lake dead_letter row of the same topic/partition/offset',
    },
  };
}

/** Splits records into sends of at most `maxSendBytes`, replacing oversized records by references; keeps order. */
export function planSideSends(records: readonly SideRecord[], limits: SideTopicLimits = DEFAULT_SIDE_TOPIC_LIMITS): SideRecord[][] {
  const sends: SideRecord[][] = [];
  let current: SideRecord[] = [];
  let currentBytes = 0;
  for (const original of records) {
    const record = (original.value?.length ?? 0) > limits.maxRecordBytes ? referenceRecord(original, limits.referencePrefixBytes) : original;
    const bytes = sideRecordBytes(record);
    if (current.length > 0 && currentBytes + bytes > limits.maxSendBytes) {
      sends.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(record);
    currentBytes += bytes;
  }
  if (current.length > 0) sends.push(current);
  return sends;
}

/** Sends side records with acks=all, in bounded requests, in order. Returns how many were references. */
export async function sendSideRecords(
  producer: Producer,
  topic: string,
  records: readonly SideRecord[],
  limits: SideTopicLimits = DEFAULT_SIDE_TOPIC_LIMITS,
): Promise<{ sends: number; references: number }> {
  let references = 0;
  const sends = planSideSends(records, limits);
  for (const messages of sends) {
    references += messages.filter((m) => m.headers['churnfeat.value_truncated'] === 'true').length;
    await producer.send({ topic, acks: -1, messages: messages as Message[] });
  }
  return { sends: sends.length, references };
}
