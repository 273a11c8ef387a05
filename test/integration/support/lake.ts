import { join } from 'node:path';
import { parseEvent, SOURCES } from '../../../sidecar/src/events/index.ts';
import { toLakeRow, writeLakeParquet, type LakeRow } from '../../../sidecar/src/lake/index.ts';
import type { TestNamespace } from './stack.ts';
import { kafkaClient } from './stack.ts';
import { waitFor } from './wait.ts';

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
