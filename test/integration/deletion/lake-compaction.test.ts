/**
 * Bucketed lake compaction (docs/deletion.md, "Lake compaction") on the real DuckDB and dbt:
 * a crash mid-compaction leaves readers on the old copies, the resumed run swaps them in one
 * manifest PUT, dbt builds identical marts before, during and after, every offset is read
 * exactly once, the day's accounting balances, and an erasure then reads one bucket object per
 * user and day.
 */
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectVersionsCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import { describe, expect, it, onTestFinished } from 'vitest';
import { compactionAccounting, compactLakeDay, eraseFromLake, readCompactionManifest, userBucket, verifyLake } from '../../../sidecar/src/deletion/index.ts';
import { SOURCES } from '../../../sidecar/src/events/index.ts';
import { LocalLakeStorage, parseCompactedObjectKey, parseLakeObjectKey, S3LakeStorage, type LakeStorage } from '../../../sidecar/src/lake/index.ts';
import { generateWorkload } from '../../../sidecar/src/loadgen/workload.ts';
import { tempDir } from '../../helpers/consumers.ts';
import { queryDuckDb, runDbt } from '../../helpers/dbt.ts';
import { writeHourlyLake } from '../../helpers/lake-objects.ts';
import { S3_ENDPOINT, testNamespace } from '../../helpers/stack.ts';

const DAY = 86_400_000;
const BUCKETS = 8;

/** Every base table of the warehouse as sorted JSON rows. */
async function marts(path: string): Promise<Map<string, string[]>> {
  const tables = await queryDuckDb(path, "select table_schema, table_name from information_schema.tables where table_type = 'BASE TABLE' order by all");
  const out = new Map<string, string[]>();
  for (const { table_schema, table_name } of tables) {
    const rows = await queryDuckDb(path, `select * from "${String(table_schema)}"."${String(table_name)}"`);
    out.set(`${String(table_schema)}.${String(table_name)}`, rows.map((row) => JSON.stringify(row, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).sort());
  }
  return out;
}

/** What the dbt lake reader (the table macro source('lake', 'events') reads) returns: (topic:partition:offset) -> copies. */
async function readerCopies(path: string): Promise<Map<string, number>> {
  const rows = await queryDuckDb(path, 'select kafka_topic, kafka_partition, kafka_offset, count(*) as n from main.churnfeat_lake_events() group by all');
  return new Map(rows.map((r) => [`${String(r.kafka_topic)}:${String(r.kafka_partition)}:${String(r.kafka_offset)}`, Number(r.n)]));
}

async function build(work: string, name: string, lakeRoot: string, asOf: string): Promise<string> {
  const env = { duckdbPath: join(work, `${name}.duckdb`), lakeRoot };
  await runDbt(['seed'], env);
  await runDbt(['run'], env, { as_of: asOf });
  return env.duckdbPath;
}

async function keys(storage: LakeStorage): Promise<string[]> {
  return (await storage.list('events/')).map((o) => o.key);
}

describe('bucketed lake compaction', () => {
  it('survives a crash mid-compaction with readers on one copy of every row, gives dbt identical marts, balances the accounting, and leaves an erasure one object per user and day', async () => {
    const work = tempDir('churnfeat-compaction-');
    const lake = new LocalLakeStorage(join(work, 'lake'));
    // Two closed days and part of today: 80 users, their records in hourly objects of 3 partitions.
    const today = Date.parse(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`);
    const workload = generateWorkload({ seed: 7, users: 80, eventsPerUser: 30, startMs: today - 2 * DAY, endMs: today + 3_600_000, duplicateShare: 0.05, lateShare: 0.05 });
    const landed = await writeHourlyLake(lake, workload, { partitions: 3, recordsPerFlush: 150 });
    const offsets = new Set(landed.rows.map((r) => `${r.kafka_topic}:${r.kafka_partition}:${r.kafka_offset}`));
    const asOf = new Date(today + 3_600_000).toISOString();
    const days = [new Date(today - 2 * DAY).toISOString().slice(0, 10), new Date(today - DAY).toISOString().slice(0, 10)];
    const before = await marts(await build(work, 'before', lake.root, asOf));
    expect(before.get('main.fct_user_features')?.length).toBeGreaterThan(0);

    // A crash after the second bucket object of the first (source, day): nothing is committed.
    const [firstDay, secondDay] = days as [string, string];
    let written = 0;
    await expect(
      compactLakeDay(lake, {
        source: 'client',
        date: firstDay,
        buckets: BUCKETS,
        afterObjectWritten: () => {
          written += 1;
          if (written === 2) throw new Error('crash');
        },
      }),
    ).rejects.toThrow('crash');
    const crashed = await readCompactionManifest(lake, 'client', firstDay);
    expect(crashed?.pending?.generation).toBe(1);
    expect((await keys(lake)).filter((k) => parseCompactedObjectKey(k) !== null)).toHaveLength(2);
    const during = await build(work, 'during', lake.root, asOf);
    expect(await marts(during)).toEqual(before);
    const duringCopies = await readerCopies(during);
    expect(duringCopies.size).toBe(offsets.size);
    expect([...duringCopies.values()].every((n) => n === 1)).toBe(true);

    // The resumed run redoes the same plan; the other days compact from scratch; again is a no-op.
    const resumed = await compactLakeDay(lake, { source: 'client', date: firstDay, buckets: BUCKETS });
    expect(resumed.resumed).toBe(true);
    for (const date of days) for (const source of SOURCES) await compactLakeDay(lake, { source, date, buckets: BUCKETS });
    const again = await compactLakeDay(lake, { source: 'client', date: secondDay, buckets: BUCKETS });
    expect(again.objectsWritten).toBe(0);
    // The reader that was built during the crash reads the manifests at query time: still one copy.
    expect(await readerCopies(during)).toEqual(duringCopies);

    const after = await keys(lake);
    for (const date of days) {
      // no hourly object of a compacted day is left, only buckets
      expect(after.filter((k) => parseLakeObjectKey(k)?.date === date)).toEqual([]);
      for (const source of SOURCES) {
        const manifest = await readCompactionManifest(lake, source, date);
        if (manifest === null) continue;
        expect(compactionAccounting(manifest).balanced).toBe(true);
        expect(manifest.objects.length).toBeLessThanOrEqual(BUCKETS);
        expect(manifest.landed.map((o) => o.object).every((o) => parseLakeObjectKey(o)?.date === date)).toBe(true);
      }
    }
    expect(after.some((k) => parseLakeObjectKey(k) !== null)).toBe(true); // today stays hourly
    const compacted = await build(work, 'after', lake.root, asOf);
    expect(await marts(compacted)).toEqual(before);
    const afterCopies = await readerCopies(compacted);
    expect(afterCopies.size).toBe(offsets.size);
    expect([...afterCopies.values()].every((n) => n === 1)).toBe(true);

    // An erasure of 3 users reads, per compacted (source, day), each user's bucket object.
    const users = [...new Set(landed.rows.map((r) => r.user_id))].sort().slice(0, 3);
    const targets = new Map(users.map((u) => [u, today + DAY]));
    const manifests = (await Promise.all(days.flatMap((d) => SOURCES.map((s) => readCompactionManifest(lake, s, d))))).filter((m) => m !== null);
    const expectedBuckets = manifests.reduce((n, m) => n + new Set(users.map((u) => userBucket(u, m.buckets))).size, 0);
    const report = await eraseFromLake(lake, targets);
    expect(report.compactedRead).toBeLessThanOrEqual(expectedBuckets);
    expect(report.compactedRead).toBeGreaterThan(0);
    expect(report.rowsErased).toBe(landed.rows.filter((r) => targets.has(r.user_id)).length);
    expect((await verifyLake(lake, targets)).rowsLeft).toBe(0);
    for (const date of days) {
      for (const source of SOURCES) {
        const manifest = await readCompactionManifest(lake, source, date);
        if (manifest) expect(compactionAccounting(manifest).balanced).toBe(true);
      }
    }
  }, 600_000);

  it('on S3 with versioning, leaves no old version of a compacted source, and an erasure none of the bucket it rewrote', async () => {
    const bucket = `${testNamespace().id}-compact`.toLowerCase();
    const lake = new S3LakeStorage({ bucket, prefix: 'raw/', endpoint: S3_ENDPOINT, forcePathStyle: true });
    onTestFinished(() => lake.close());
    await lake.client.send(new CreateBucketCommand({ Bucket: bucket }));
    await lake.client.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    const today = Date.parse(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`);
    const day = new Date(today - DAY).toISOString().slice(0, 10);
    const workload = generateWorkload({ seed: 8, users: 20, eventsPerUser: 10, startMs: today - DAY, endMs: today - 60_000 });
    const landed = await writeHourlyLake(lake, workload, { partitions: 2, recordsPerFlush: 40 });
    const report = await compactLakeDay(lake, { source: 'client', date: day, buckets: 4 });
    expect(report.objectsDeleted).toBeGreaterThan(0);
    /** Versions and delete markers that still hold or hid data: every version but a current delete marker. */
    const versions = async (): Promise<string[]> => {
      const page = await lake.client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'raw/events/' }));
      return (page.Versions ?? []).filter((v) => !v.IsLatest).map((v) => String(v.Key));
    };
    expect(await versions()).toEqual([]);
    expect((await keys(lake)).filter((k) => parseLakeObjectKey(k)?.date === day && parseLakeObjectKey(k)?.source === 'client')).toEqual([]);
    const user = landed.rows.find((r) => r.source === 'client')?.user_id as string;
    const erased = await eraseFromLake(lake, new Map([[user, today + DAY]]));
    expect(erased.compactedRead).toBe(1);
    expect(erased.versionsPurged).toBeGreaterThanOrEqual(1);
    expect(await versions()).toEqual([]);
    const verified = await verifyLake(lake, new Map([[user, today + DAY]]));
    expect(verified).toMatchObject({ rowsLeft: 0, versionsLeft: 0 });
  }, 120_000);
});
