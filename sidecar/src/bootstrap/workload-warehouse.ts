/**
 * A generated workload as the source topics and dbt's int_feature_events would hold it, built
 * from the sidecar's own parser and operators: for the bootstrap's unit tests and its benchmark,
 * which share it here because neither may import the other's folder (test/, bench/).
 */
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';
import { parseEvent, type Source } from '../events/index.ts';
import type { CompiledFeature } from '../features/index.ts';
import type { StoreRecord } from '../store/index.ts';
import type { WindowOperators } from '../windows/index.ts';
import type { CutPartition } from './bootstrap-cut.ts';
import { featureRowsOf } from './feature-rows.ts';

/** A produced record: its source, key (the user id) and bytes, and when the broker received it. */
export interface ProducedRecord {
  source: Source;
  key: string;
  value: Buffer;
  ingestMs: number;
}

/** Where a workload's records land: the topic of each source and how many partitions (keyed by the digits of the user id). */
export interface TopicLayout {
  topicOf(source: Source): string;
  /** Default 1. */
  partitions?: number;
  /** Records later than this (ingest - event time) are left out, as the batch processor drops them; default: kept, as the lake and dbt keep them. */
  allowedLatenessMs?: number;
}

/** The records of a workload in ingest order, with the offsets the topics give them, and the cut above the last one. */
export class WorkloadTopics {
  private readonly next = new Map<string, { source: Source; topic: string; partition: number; offset: number }>();

  constructor(
    private readonly operators: WindowOperators,
    private readonly layout: TopicLayout,
  ) {}

  /**
   * The records that reach the apply function, in ingest order: every produced record takes an
   * offset of its topic partition (invalid ones too, as on the broker); those that parse, that a
   * feature selects and that have ops are yielded.
   */
  *records(workload: readonly ProducedRecord[]): Generator<StoreRecord> {
    const partitions = this.layout.partitions ?? 1;
    for (const record of [...workload].sort((a, b) => a.ingestMs - b.ingestMs)) {
      const topic = this.layout.topicOf(record.source);
      const partition = Number.parseInt(record.key.replace(/\D/g, '') || '0', 10) % partitions;
      const position = `${topic}:${partition}`;
      const at = this.next.get(position) ?? { source: record.source, topic, partition, offset: 0 };
      this.next.set(position, { ...at, offset: at.offset + 1 });
      const parsed = parseEvent(record.source, record.value);
      if (!parsed.ok || !this.operators.isRelevant(parsed.event)) continue;
      if (this.layout.allowedLatenessMs !== undefined && parsed.event.ingestMs - parsed.event.eventMs > this.layout.allowedLatenessMs) continue;
      const ops = this.operators.opsFor(parsed.event);
      if (ops.length > 0) yield { event: parsed.event, topic, partition, offset: String(at.offset), ops };
    }
  }

  /** Per topic partition seen so far, the offset after its last record: a cut below which everything is in the warehouse. */
  cut(): CutPartition[] {
    return [...this.next.values()];
  }
}

/** The columns of int_feature_events as dbt builds them (dbt_project/models/intermediate/). */
const COLUMNS =
  "{user_id: 'varchar', feature_name: 'varchar', source: 'varchar', kafka_topic: 'varchar', kafka_partition: 'integer', kafka_offset: 'bigint', event_key: 'varchar', event_ms: 'bigint', ingest_ms: 'bigint', tile_start_ms: 'bigint', fixed_value: 'bigint', num_value: 'double', str_value: 'varchar', event_ts_raw: 'varchar', dedup_ms: 'bigint'}";

/** Rows buffered before they are written out. */
const CHUNK_ROWS = 100_000;

/**
 * Writes a DuckDB file at `duckdbPath` with an `int_feature_events` table: the rows dbt holds
 * for `records` (featureRowsOf), streamed through a newline-delimited JSON file beside it
 * (removed afterwards). Returns the number of rows and of records.
 */
export async function writeFeatureEventsTable(duckdbPath: string, features: readonly CompiledFeature[], records: Iterable<StoreRecord>): Promise<{ rows: number; records: number }> {
  const ndjson = `${duckdbPath}.rows.ndjson`;
  let lines: string[] = [];
  let rows = 0;
  let count = 0;
  try {
    const out = openSync(ndjson, 'w');
    try {
      for (const record of records) {
        count += 1;
        for (const row of featureRowsOf(features, record)) {
          lines.push(
            JSON.stringify({
              user_id: row.userId,
              feature_name: row.featureName,
              source: row.source,
              kafka_topic: row.topic,
              kafka_partition: row.partition,
              kafka_offset: row.offset,
              event_key: row.eventKey,
              event_ms: row.eventMs,
              ingest_ms: row.ingestMs,
              tile_start_ms: row.tileStartMs,
              fixed_value: row.fixedValue,
              num_value: row.numValue,
              str_value: row.strValue,
              event_ts_raw: record.event.eventTs,
              dedup_ms: row.dedupMs,
            }),
          );
        }
        if (lines.length >= CHUNK_ROWS) {
          rows += lines.length;
          writeSync(out, `${lines.join('\n')}\n`);
          lines = [];
        }
      }
      rows += lines.length;
      if (lines.length > 0) writeSync(out, `${lines.join('\n')}\n`);
    } finally {
      closeSync(out);
    }
    const instance = await DuckDBInstance.create(duckdbPath);
    const connection = await instance.connect();
    try {
      await connection.run(`create table int_feature_events as select * from read_json('${ndjson.replace(/'/g, "''")}', format = 'newline_delimited', columns = ${COLUMNS})`);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
    return { rows, records: count };
  } finally {
    rmSync(ndjson, { force: true });
  }
}
