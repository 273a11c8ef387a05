import type { NormalizedEvent } from '../events/index.ts';

/**
 * One row of the raw event lake (events/source=/date=/hour=/*.parquet). The event key and
 * the normalized times are computed here, by the online code, so dbt's staging reads them
 * instead of re-deriving them (docs/feature-semantics.md §1).
 */
export interface LakeRow {
  source: string;
  kafka_topic: string;
  kafka_partition: number;
  kafka_offset: bigint;
  kafka_ts_ms: bigint;
  event_key: string;
  event_id: string | null;
  user_id: string;
  device_id: string;
  event_type: string;
  event_ts: string;
  ingest_ts: string;
  event_ms: bigint;
  ingest_ms: bigint;
  attributes: string;
}

export function toLakeRow(event: NormalizedEvent, kafka: { topic: string; partition: number; offset: string; timestampMs: number }): LakeRow {
  return {
    source: event.source,
    kafka_topic: kafka.topic,
    kafka_partition: kafka.partition,
    kafka_offset: BigInt(kafka.offset),
    kafka_ts_ms: BigInt(kafka.timestampMs),
    event_key: event.eventKey,
    event_id: event.eventId,
    user_id: event.userId,
    device_id: event.deviceId,
    event_type: event.eventType,
    event_ts: event.eventTs,
    ingest_ts: event.ingestTs,
    event_ms: BigInt(event.eventMs),
    ingest_ms: BigInt(event.ingestMs),
    attributes: JSON.stringify(event.attributes),
  };
}

/** Column order and DuckDB types of a lake file. */
export const LAKE_COLUMNS: ReadonlyArray<[keyof LakeRow, string]> = [
  ['source', 'VARCHAR'],
  ['kafka_topic', 'VARCHAR'],
  ['kafka_partition', 'INTEGER'],
  ['kafka_offset', 'BIGINT'],
  ['kafka_ts_ms', 'BIGINT'],
  ['event_key', 'VARCHAR'],
  ['event_id', 'VARCHAR'],
  ['user_id', 'VARCHAR'],
  ['device_id', 'VARCHAR'],
  ['event_type', 'VARCHAR'],
  ['event_ts', 'VARCHAR'],
  ['ingest_ts', 'VARCHAR'],
  ['event_ms', 'BIGINT'],
  ['ingest_ms', 'BIGINT'],
  ['attributes', 'VARCHAR'],
];
