import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { parseEvent, SOURCES } from '../../../sidecar/src/events/index.ts';
import { LakeWriter, LocalLakeStorage, parseLakeObjectKey, readAllManifests, resolveLakeWriterOptions, S3LakeStorage, type LakeStorage } from '../../../sidecar/src/lake/index.ts';
import { generateWorkload, type WorkloadRecord } from '../../../sidecar/src/loadgen/workload.ts';
import { duckQuery } from '../../helpers/dbt.ts';
import { createTestTopics, produceWorkload, testAdmin } from '../../helpers/kafka.ts';
import { highWatermarks, lakeViolations, landedOffsets, waitUntilLanded } from '../../helpers/lake.ts';
import { ensureStackService } from '../../helpers/stack-services.ts';
import { BROKERS, S3_ENDPOINT, testNamespace, type TestNamespace } from '../../helpers/stack.ts';

const HOUR = 3_600_000;

function workloadFor(seed: number): WorkloadRecord[] {
  const end = Math.floor(Date.now() / HOUR) * HOUR - 27 * HOUR;
  return generateWorkload({ seed, users: 120, eventsPerUser: 25, startMs: end - 6 * HOUR, endMs: end, invalidShare: 0.03, duplicateShare: 0.03 });
}

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function runWriterUntilLanded(ns: TestNamespace, storage: LakeStorage, flushRecords: number): Promise<{ writer: LakeWriter; highs: Map<string, bigint> }> {
  const options = resolveLakeWriterOptions({
    brokers: BROKERS,
    topicNamespace: ns.options.topicNamespace,
    groupId: `${ns.id}-lake`,
    clientId: `${ns.id}-lake`,
    flushRecords,
    flushIntervalMs: 500,
    sessionTimeoutMs: 6_000,
  });
  const writer = new LakeWriter(options, { storage });
  await writer.start();
  let stopped = false;
  onTestFinished(async () => {
    if (!stopped) await writer.stop();
  });
  const highs = await highWatermarks(
    await testAdmin(),
    SOURCES.map((s) => ns.topics.sources[s]),
  );
  await waitUntilLanded(storage, highs);
  await writer.stop();
  stopped = true;
  return { writer, highs };
}

/** Copies every Parquet object of a storage into a local folder (DuckDB here reads local files only). */
async function mirror(storage: LakeStorage, root: string): Promise<void> {
  for (const object of await storage.list('')) {
    if (!object.key.endsWith('.parquet')) continue;
    const path = join(root, ...object.key.split('/'));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, (await storage.get(object.key)) as Buffer);
  }
}

async function expectCompleteLake(root: string, highs: Map<string, bigint>, workload: readonly WorkloadRecord[]): Promise<void> {
  const landed = await landedOffsets(root);
  expect(lakeViolations(landed, highs)).toEqual([]);
  expect(landed.length).toBe(workload.length);
  expect(landed.filter((r) => r.kind === 'dead_letter').length).toBe(workload.filter((r) => r.kind === 'invalid').length);

  // A file holds one (source, date, hour): the UTC hour of each record's Kafka timestamp.
  const mismatched = await duckQuery(
    `select count(*) as n from read_parquet('${join(root, 'events', '**', '*.parquet')}', hive_partitioning = true, hive_types_autocast = false)
     where strftime(make_timestamp(kafka_ts_ms * 1000), '%Y-%m-%d') <> date or strftime(make_timestamp(kafka_ts_ms * 1000), '%H') <> hour`,
  );
  expect(Number(mismatched[0]?.n)).toBe(0);

  // Dead letters keep the original bytes and the reason the sidecar would give.
  const dead = await duckQuery(`select source, reason, payload_b64 from read_parquet('${join(root, 'dead_letter', '**', '*.parquet')}', hive_partitioning = false)`);
  const invalidPayloads = new Set(workload.filter((r) => r.kind === 'invalid').map((r) => r.value.toString('base64')));
  for (const row of dead) {
    expect(invalidPayloads.has(String(row.payload_b64))).toBe(true);
    const verdict = parseEvent('client', Buffer.from(String(row.payload_b64), 'base64'));
    expect(verdict.ok ? null : verdict.reason).toBe(row.reason);
  }
}

describe('lake writer', () => {
  it('lands every record of the source topics exactly once in a local folder, events and dead letters apart', async () => {
    const ns = testNamespace();
    await createTestTopics(ns);
    const workload = workloadFor(11);
    await produceWorkload(ns, workload);
    const root = tempDir('churnfeat-lake-');
    const { writer, highs } = await runWriterUntilLanded(ns, new LocalLakeStorage(root), 400);

    await expectCompleteLake(root, highs, workload);
    expect(writer.stats.records).toBe(workload.length);
    expect(writer.stats.flushes).toBeGreaterThan(6);
    const manifests = await readAllManifests(new LocalLakeStorage(root));
    expect(manifests.every((m) => m.pending === null)).toBe(true);
    expect(manifests.reduce((n, m) => n + m.records, 0)).toBe(workload.length);

    // The dbt source reads exactly these files (events/**/*.parquet, hive partitions).
    const events = await duckQuery(
      `select source, count(*) as n from read_parquet('${join(root, 'events', '**', '*.parquet')}', hive_partitioning = true, union_by_name = true, hive_types_autocast = false) group by all order by source`,
    );
    expect(events.map((r) => r.source)).toEqual(['billing', 'client', 'support']);
  });

  it('lands the same lake in S3 through @aws-sdk/client-s3 (moto server)', async () => {
    const ns = testNamespace();
    await createTestTopics(ns);
    const workload = workloadFor(12);
    await produceWorkload(ns, workload);
    const storage = new S3LakeStorage({ bucket: `churnfeat-lake-${ns.id}`, prefix: 'raw/', endpoint: S3_ENDPOINT, forcePathStyle: true });
    onTestFinished(() => storage.close());
    await storage.ensureBucket();
    const { highs } = await runWriterUntilLanded(ns, storage, 700);

    const objects = await storage.list('');
    expect(objects.some((o) => o.key.startsWith('events/source=client/date='))).toBe(true);
    expect(objects.some((o) => o.key.startsWith('dead_letter/source=client/date='))).toBe(true);
    expect(objects.filter((o) => o.key.startsWith('_state/')).length).toBe(highs.size);
    expect(objects.filter((o) => o.key.endsWith('.parquet')).every((o) => parseLakeObjectKey(o.key) !== null)).toBe(true);

    const root = tempDir('churnfeat-lake-s3-');
    await mirror(storage, root);
    await expectCompleteLake(root, highs, workload);
  });
});

let stopS3: () => Promise<void> = async () => undefined;
beforeAll(async () => {
  stopS3 = await ensureStackService('s3', Number(new URL(S3_ENDPOINT).port));
});
afterAll(async () => {
  await stopS3();
});
