/**
 * The lake in tests: land topics as the lake writer would, wait until the writer has landed
 * everything, read back what landed and check the lake's invariants.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Admin } from 'kafkajs';
import { parseEvent, SOURCES } from '../../sidecar/src/events/index.ts';
import {
  LakeWriter,
  parseLakeObjectKey,
  readAllManifests,
  resolveLakeWriterOptions,
  toLakeRow,
  writeLakeParquet,
  type LakeKind,
  type LakeRow,
  type LakeStorage,
} from '../../sidecar/src/lake/index.ts';
import { duckQuery } from './dbt.ts';
import { kafkaClient } from './kafka.ts';
import type { TestNamespace } from './stack.ts';
import { waitFor } from './wait.ts';

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
    const rows = await duckQuery(`select filename, kafka_topic, kafka_partition, kafka_offset from read_parquet(${quote(glob)}, filename = true, hive_partitioning = false)`);
    for (const row of rows) {
      const file = String(row.filename);
      out.push({
        kind,
        key: file
          .slice(root.length + 1)
          .split('\\')
          .join('/'),
        topic: String(row.kafka_topic),
        partition: Number(row.kafka_partition),
        offset: BigInt(row.kafka_offset as bigint),
      });
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

/**
 * Reads every record of the namespace's source topics from the beginning and lands the
 * valid ones in `<lakeRoot>/events/source=.../date=.../hour=.../*.parquet` with the same
 * row builder as the lake writer. Returns the rows written.
 */
export async function landTopicsInLake(ns: TestNamespace, lakeRoot: string, expectedRecords: number): Promise<LakeRow[]> {
  const consumer = kafkaClient(`${ns.id}-lake`).consumer({ groupId: `${ns.id}-lake-dump` });
  const rows: LakeRow[] = [];
  let seen = 0;
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: SOURCES.map((s) => ns.topics.sources[s]), fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ topic, partition, message }) => {
        seen += 1;
        const source = SOURCES.find((s) => ns.topics.sources[s] === topic);
        if (!source) return;
        const parsed = parseEvent(source, message.value);
        if (parsed.ok) rows.push(toLakeRow(parsed.event, { topic, partition, offset: message.offset, timestampMs: Number(message.timestamp) }));
      },
    });
    await waitFor(`${expectedRecords} records read back for the lake`, async () => seen >= expectedRecords, { timeoutMs: 120_000 });
  } finally {
    await consumer.disconnect();
  }
  const files = new Map<string, LakeRow[]>();
  for (const row of rows) {
    const at = new Date(Number(row.ingest_ms)).toISOString();
    const dir = join(lakeRoot, 'events', `source=${row.source}`, `date=${at.slice(0, 10)}`, `hour=${at.slice(11, 13)}`);
    const list = files.get(dir) ?? [];
    list.push(row);
    files.set(dir, list);
  }
  for (const [dir, list] of files) await writeLakeParquet(join(dir, 'part-0.parquet'), list);
  return rows;
}

/** High watermark of every partition of `topics`: "<topic>:<partition>" -> high. */
export async function highWatermarks(admin: Admin, topics: readonly string[]): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (const topic of topics) {
    for (const p of await admin.fetchTopicOffsets(topic)) out.set(`${topic}:${p.partition}`, BigInt(p.high));
  }
  return out;
}

/** Waits until the manifests say every offset below each high watermark is landed. */
export async function waitUntilLanded(storage: LakeStorage, highs: ReadonlyMap<string, bigint>, timeoutMs = 120_000): Promise<void> {
  await waitFor(
    'the lake writer to land every record',
    async () => {
      const manifests = new Map((await readAllManifests(storage)).map((m) => [`${m.topic}:${m.partition}`, m]));
      for (const [id, high] of highs) {
        if (high === 0n) continue;
        const manifest = manifests.get(id);
        if (!manifest || manifest.pending !== null || manifest.landedThrough === null || manifest.landedThrough < high - 1n) return false;
      }
      return true;
    },
    { timeoutMs, intervalMs: 250 },
  );
}

/** A lake writer of the namespace's topics into `storage`, started; the caller stops it (for a beforeAll: nothing tied to one test). */
export async function startNamespaceLakeWriter(ns: TestNamespace, storage: LakeStorage): Promise<LakeWriter> {
  const writer = new LakeWriter(
    resolveLakeWriterOptions({
      brokers: ns.options.brokers,
      topicNamespace: ns.options.topicNamespace,
      groupId: `${ns.id}-lake`,
      clientId: `${ns.id}-lake`,
      flushRecords: 2_000,
      flushIntervalMs: 500,
      sessionTimeoutMs: 6_000,
    }),
    { storage },
  );
  await writer.start();
  return writer;
}
