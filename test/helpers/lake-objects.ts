/**
 * A lake built without Kafka: a workload's valid records laid out as the lake writer lays them
 * (per topic-partition, cut every `recordsPerFlush` offsets, one object per (date, hour) of the
 * Kafka timestamp, named by first and last offset, each with its user list). For tests and
 * benchmarks of what reads the lake (compaction, erasure, dbt).
 */
import { parseEvent, type Source } from '../../sidecar/src/events/index.ts';
import {
  hourPartition,
  lakeObjectKey,
  ParquetEncoder,
  toLakeRow,
  usersOfRows,
  writeObjectIndex,
  LAKE_COLUMNS,
  type LakeRow,
  type LakeStorage,
  type ParquetColumn,
} from '../../sidecar/src/lake/index.ts';
import type { WorkloadRecord } from '../../sidecar/src/loadgen/workload.ts';

export interface HourlyLake {
  rows: LakeRow[];
  objects: string[];
}

/** Lands the valid records of `workload` in `storage` (partition = a hash of the key, Kafka timestamp = ingest time). */
export async function writeHourlyLake(storage: LakeStorage, workload: readonly WorkloadRecord[], options: { partitions?: number; recordsPerFlush?: number } = {}): Promise<HourlyLake> {
  const partitions = options.partitions ?? 3;
  const perFlush = options.recordsPerFlush ?? 200;
  const next = new Map<string, bigint>();
  const byPartition = new Map<string, LakeRow[]>();
  for (const record of [...workload].sort((a, b) => a.ingestMs - b.ingestMs)) {
    const parsed = parseEvent(record.source, record.value);
    if (!parsed.ok) continue;
    const topic = `churnfeat.${record.source}.events`;
    const partition = [...record.key].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7) % partitions;
    const id = `${topic}:${partition}`;
    const offset = next.get(id) ?? 0n;
    next.set(id, offset + 1n);
    const list = byPartition.get(id) ?? [];
    list.push(toLakeRow(parsed.event, { topic, partition, offset: offset.toString(), timestampMs: record.ingestMs }));
    byPartition.set(id, list);
  }
  const encoder = await ParquetEncoder.create();
  const objects: string[] = [];
  const rows: LakeRow[] = [];
  try {
    for (const list of byPartition.values()) {
      for (let start = 0; start < list.length; start += perFlush) {
        const groups = new Map<string, LakeRow[]>();
        for (const row of list.slice(start, start + perFlush)) {
          const { date, hour } = hourPartition(Number(row.kafka_ts_ms));
          const group = groups.get(`${date}/${hour}`) ?? [];
          group.push(row);
          groups.set(`${date}/${hour}`, group);
        }
        for (const [at, group] of groups) {
          const [date, hour] = at.split('/') as [string, string];
          const first = group[0] as LakeRow;
          const key = lakeObjectKey({
            kind: 'events',
            source: first.source as Source,
            date,
            hour,
            topic: first.kafka_topic,
            partition: first.kafka_partition,
            first: first.kafka_offset,
            last: (group[group.length - 1] as LakeRow).kafka_offset,
          });
          await storage.put(key, await encoder.encode(LAKE_COLUMNS as ReadonlyArray<ParquetColumn<LakeRow>>, group));
          await writeObjectIndex(storage, { object: key, kind: 'events', users: usersOfRows('events', group), rows: group.length, erased: 0 });
          objects.push(key);
          rows.push(...group);
        }
      }
    }
  } finally {
    await encoder.close();
  }
  return { rows, objects: objects.sort() };
}
