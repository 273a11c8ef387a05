import type { InvalidReason, Source } from '../events/index.ts';

/**
 * One row of the dead-letter lake (dead_letter/source=/date=/hour=/*.parquet): a record
 * the sidecar judged `invalid`, with the reason and the original bytes (base64), so it can
 * be inspected or replayed after a contract fix.
 */
export interface DeadLetterRow {
  source: string;
  kafka_topic: string;
  kafka_partition: number;
  kafka_offset: bigint;
  kafka_ts_ms: bigint;
  /** The record key, base64; null when the record had none. */
  kafka_key_b64: string | null;
  reason: string;
  detail: string;
  /** The record value exactly as consumed, base64; null for a null value (tombstone). */
  payload_b64: string | null;
  /** Size of the value in bytes; null for a null value. */
  payload_bytes: number | null;
}

export function toDeadLetterRow(
  source: Source,
  failure: { reason: InvalidReason; detail: string },
  kafka: { topic: string; partition: number; offset: string; timestampMs: number; key: Buffer | null; value: Buffer | null },
): DeadLetterRow {
  return {
    source,
    kafka_topic: kafka.topic,
    kafka_partition: kafka.partition,
    kafka_offset: BigInt(kafka.offset),
    kafka_ts_ms: BigInt(kafka.timestampMs),
    kafka_key_b64: kafka.key === null ? null : kafka.key.toString('base64'),
    reason: failure.reason,
    detail: failure.detail,
    payload_b64: kafka.value === null ? null : kafka.value.toString('base64'),
    payload_bytes: kafka.value === null ? null : kafka.value.byteLength,
  };
}

/** Column order and DuckDB types of a dead-letter file. */
export const DEAD_LETTER_COLUMNS: ReadonlyArray<[keyof DeadLetterRow, 'VARCHAR' | 'BIGINT' | 'INTEGER']> = [
  ['source', 'VARCHAR'],
  ['kafka_topic', 'VARCHAR'],
  ['kafka_partition', 'INTEGER'],
  ['kafka_offset', 'BIGINT'],
  ['kafka_ts_ms', 'BIGINT'],
  ['kafka_key_b64', 'VARCHAR'],
  ['reason', 'VARCHAR'],
  ['detail', 'VARCHAR'],
  ['payload_b64', 'VARCHAR'],
  ['payload_bytes', 'INTEGER'],
];
