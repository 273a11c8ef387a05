import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parseLakeObjectKey, type LakeKind } from '../../../../sidecar/src/lake/index.ts';

/** Runs one query on an in-memory DuckDB and returns plain row objects. */
export async function duckQuery(sql: string): Promise<Array<Record<string, unknown>>> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return (await connection.runAndReadAll(sql)).getRowObjectsJS() as Array<Record<string, unknown>>;
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** One landed record as the lake holds it. */
export interface LandedOffset {
  kind: LakeKind;
  key: string;
  topic: string;
  partition: number;
  offset: bigint;
}

function quote(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** Every (kind, file, topic, partition, offset) in the local lake's Parquet files. */
export async function landedOffsets(root: string): Promise<LandedOffset[]> {
  const out: LandedOffset[] = [];
  for (const kind of ['events', 'dead_letter'] as const) {
    if (!existsSync(join(root, kind))) continue;
    const glob = join(root, kind, '**', '*.parquet');
    const rows = await duckQuery(
      `select filename, kafka_topic, kafka_partition, kafka_offset from read_parquet(${quote(glob)}, filename = true, hive_partitioning = false)`,
    );
    for (const row of rows) {
      const file = String(row.filename);
      out.push({ kind, key: file.slice(root.length + 1).split('\\').join('/'), topic: String(row.kafka_topic), partition: Number(row.kafka_partition), offset: BigInt(row.kafka_offset as bigint) });
    }
  }
  return out;
}

/**
 * Checks the lake's invariants for the given high watermarks ("<topic>:<partition>" -> high):
 * every offset below the high watermark exactly once, nothing else, and every file named
 * by the smallest and largest offset it holds. Returns a list of violations (empty = good).
 */
export function lakeViolations(landed: readonly LandedOffset[], highs: ReadonlyMap<string, bigint>): string[] {
  const problems: string[] = [];
  const seen = new Map<string, Map<bigint, number>>();
  const byFile = new Map<string, LandedOffset[]>();
  for (const row of landed) {
    const id = `${row.topic}:${row.partition}`;
    const offsets = seen.get(id) ?? new Map<bigint, number>();
    offsets.set(row.offset, (offsets.get(row.offset) ?? 0) + 1);
    seen.set(id, offsets);
    byFile.set(row.key, [...(byFile.get(row.key) ?? []), row]);
  }
  for (const [id, high] of highs) {
    const offsets = seen.get(id) ?? new Map<bigint, number>();
    let missing = 0;
    let duplicated = 0;
    for (let offset = 0n; offset < high; offset += 1n) {
      const count = offsets.get(offset) ?? 0;
      if (count === 0) missing += 1;
      if (count > 1) duplicated += 1;
    }
    const beyond = [...offsets.keys()].filter((offset) => offset >= high).length;
    if (missing > 0) problems.push(`${id}: ${missing} offsets below ${high} missing`);
    if (duplicated > 0) problems.push(`${id}: ${duplicated} offsets landed more than once`);
    if (beyond > 0) problems.push(`${id}: ${beyond} offsets at or above the high watermark ${high}`);
  }
  for (const id of seen.keys()) if (!highs.has(id)) problems.push(`${id}: landed but not expected`);
  for (const [key, rows] of byFile) {
    const name = parseLakeObjectKey(key);
    const offsets = rows.map((r) => r.offset).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    if (!name) problems.push(`${key}: not a lake object name`);
    else if (name.first !== offsets[0] || name.last !== offsets[offsets.length - 1]) problems.push(`${key}: holds offsets ${offsets[0]}..${offsets[offsets.length - 1]}`);
  }
  return problems;
}
