/**
 * Lake erasure before and after the bucketed compaction (docs/deletion.md, "Scaling to 20M
 * users"). Not a test: it builds a day of the events lake in a temporary folder the way the lake
 * writer lays it out (per partition, cut every --flush offsets, one object per hour), then for
 * each batch size D erases D users from a fresh copy of the hourly lake and from a fresh copy of
 * the lake compacted into --buckets buckets, and prints the objects read and rewritten, the
 * user lists read, and the time; writes bench/results/deletion-compaction-<date>.json.
 *
 *   npx tsx bench/deletion/run.ts [--users 4000] [--events-per-user 24] [--partitions 16]
 *     [--flush 250] [--buckets 64] [--batches 1,10,100,1000] [--label L]  (file ...-<date>[-L].json)
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { compactLakeDay, eraseFromLake } from '../../sidecar/src/deletion/index.ts';
import { hourPartition, LAKE_COLUMNS, lakeObjectKey, LocalLakeStorage, ParquetEncoder, usersOfRows, writeObjectIndex, type LakeRow, type ParquetColumn } from '../../sidecar/src/lake/index.ts';
import { prng } from '../../sidecar/src/loadgen/workload.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '4000' },
    'events-per-user': { type: 'string', default: '24' },
    partitions: { type: 'string', default: '16' },
    flush: { type: 'string', default: '250' },
    buckets: { type: 'string', default: '64' },
    batches: { type: 'string', default: '1,10,100,1000' },
    label: { type: 'string', default: '' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  console.log('lake erasure before/after compaction (not a test): npx tsx bench/deletion/run.ts [--users N] [--events-per-user N] [--partitions N] [--flush N] [--buckets N] [--batches 1,10,100]');
  process.exit(0);
}
const USERS = Number(values.users);
const EVENTS = Number(values['events-per-user']);
const PARTITIONS = Number(values.partitions);
const FLUSH = Number(values.flush);
const BUCKETS = Number(values.buckets);
const BATCHES = String(values.batches).split(',').map(Number);
const DATE = '2026-11-30';
const DAY_START = Date.parse(`${DATE}T00:00:00Z`);

/** The user's partition, as the producer's key hash would pick it (FNV-1a; any hash unrelated to the bucket hash). */
function partitionOf(user: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < user.length; i += 1) h = Math.imul(h ^ user.charCodeAt(i), 0x01000193) >>> 0;
  return h % PARTITIONS;
}

/** A day of client events: each user's events spread over the day, in the user's partition, in offset order. */
async function buildDay(root: string): Promise<{ objects: number; rows: number; users: string[] }> {
  const rand = prng(14);
  const users = Array.from({ length: USERS }, (_, i) => `user-${String(i).padStart(6, '0')}`);
  const events = users.flatMap((user) => Array.from({ length: EVENTS }, () => ({ user, partition: partitionOf(user), ms: DAY_START + Math.floor(rand() * 86_400_000) })));
  events.sort((a, b) => a.ms - b.ms);
  const storage = new LocalLakeStorage(root);
  const encoder = await ParquetEncoder.create();
  const topic = 'churnfeat.client.events';
  const perPartition = new Map<number, LakeRow[]>();
  for (const e of events) {
    const list = perPartition.get(e.partition) ?? [];
    const offset = BigInt(list.length);
    list.push({
      source: 'client',
      kafka_topic: topic,
      kafka_partition: e.partition,
      kafka_offset: offset,
      kafka_ts_ms: BigInt(e.ms),
      event_key: `${e.user}-${offset}`,
      event_id: `${e.user}-${offset}`,
      user_id: e.user,
      device_id: 'd1',
      event_type: 'play_start',
      event_ts: new Date(e.ms).toISOString(),
      ingest_ts: new Date(e.ms).toISOString(),
      event_ms: BigInt(e.ms),
      ingest_ms: BigInt(e.ms),
      attributes: '{}',
    });
    perPartition.set(e.partition, list);
  }
  let objects = 0;
  try {
    for (const rows of perPartition.values()) {
      for (let start = 0; start < rows.length; start += FLUSH) {
        const byHour = new Map<string, LakeRow[]>();
        for (const row of rows.slice(start, start + FLUSH)) {
          const hour = hourPartition(Number(row.kafka_ts_ms)).hour;
          byHour.set(hour, [...(byHour.get(hour) ?? []), row]);
        }
        for (const [hour, group] of byHour) {
          const first = group[0] as LakeRow;
          const key = lakeObjectKey({
            kind: 'events',
            source: 'client',
            date: DATE,
            hour,
            topic,
            partition: first.kafka_partition,
            first: first.kafka_offset,
            last: (group[group.length - 1] as LakeRow).kafka_offset,
          });
          await storage.put(key, await encoder.encode(LAKE_COLUMNS as ReadonlyArray<ParquetColumn<LakeRow>>, group));
          await writeObjectIndex(storage, { object: key, kind: 'events', users: usersOfRows('events', group), rows: group.length, erased: 0 });
          objects += 1;
        }
      }
    }
  } finally {
    await encoder.close();
  }
  return { objects, rows: events.length, users };
}

/** D distinct users drawn at random (seeded). */
function targetsOf(users: readonly string[], d: number): Map<string, number> {
  const rand = prng(d);
  const pool = [...users];
  const out = new Map<string, number>();
  while (out.size < d) out.set(pool.splice(Math.floor(rand() * pool.length), 1)[0] as string, DAY_START + 2 * 86_400_000);
  return out;
}

const work = mkdtempSync(join(os.tmpdir(), 'churnfeat-bench-deletion-'));
try {
  const hourly = join(work, 'hourly');
  const built = await buildDay(hourly);
  const compacted = join(work, 'compacted');
  cpSync(hourly, compacted, { recursive: true });
  const compactStarted = performance.now();
  const compaction = await compactLakeDay(new LocalLakeStorage(compacted), { source: 'client', date: DATE, buckets: BUCKETS });
  const compactSeconds = (performance.now() - compactStarted) / 1000;
  console.log(`a day: ${built.rows} events of ${USERS} users in ${built.objects} hourly objects; compacted into ${compaction.objectsWritten} buckets of ${BUCKETS} in ${compactSeconds.toFixed(1)} s`);
  const rows: Array<Record<string, number | string>> = [];
  for (const d of BATCHES.filter((n) => n <= USERS)) {
    const targets = targetsOf(built.users, d);
    for (const layout of ['hourly', 'compacted'] as const) {
      const copy = join(work, `run-${layout}-${d}`);
      cpSync(layout === 'hourly' ? hourly : compacted, copy, { recursive: true });
      const started = performance.now();
      const report = await eraseFromLake(new LocalLakeStorage(copy), targets);
      const seconds = (performance.now() - started) / 1000;
      rmSync(copy, { recursive: true, force: true });
      const expected = layout === 'compacted' ? BUCKETS * (1 - (1 - 1 / BUCKETS) ** d) : Number.NaN;
      const row = {
        layout,
        deletions: d,
        objects: report.objects,
        userListsRead: layout === 'hourly' ? built.objects : 0,
        objectsRead: report.objectsRead,
        objectsRewritten: report.objectsRewritten,
        shareRewritten: Math.round((report.objectsRewritten / report.objects) * 1000) / 1000,
        expectedByFormula: Math.round(expected * 10) / 10,
        rowsErased: report.rowsErased,
        seconds: Math.round(seconds * 100) / 100,
      };
      rows.push(row);
      console.log(
        `${layout.padEnd(9)} D=${String(d).padStart(5)}: read ${String(row.objectsRead).padStart(5)} / rewrote ${String(row.objectsRewritten).padStart(5)} of ${row.objects} objects (${(row.shareRewritten * 100).toFixed(1)}%)${layout === 'compacted' ? `, formula B(1-(1-1/B)^D) = ${row.expectedByFormula}` : `, ${row.userListsRead} user lists read`}; ${row.rowsErased} rows, ${row.seconds} s`,
      );
    }
  }
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/deletion-compaction-${new Date().toISOString().slice(0, 10)}${values.label ? `-${values.label}` : ''}.json`;
  const machine = { cpuModel: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10, node: process.version };
  const setup = {
    users: USERS,
    eventsPerUser: EVENTS,
    partitions: PARTITIONS,
    flushRecords: FLUSH,
    buckets: BUCKETS,
    hourlyObjects: built.objects,
    rows: built.rows,
    compactionSeconds: compactSeconds,
    bucketObjects: compaction.objectsWritten,
  };
  writeFileSync(file, `${JSON.stringify({ command: `npx tsx bench/deletion/run.ts ${process.argv.slice(2).join(' ')}`.trim(), machine, setup, result: rows }, null, 2)}\n`);
  console.log(`wrote ${file}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
