/**
 * The erasure acceptance test (docs/deletion.md), on the real stack: Kafka, Redis, the S3
 * stand-in with versioning on, DuckDB and dbt. 50 users are deleted mid-stream (through the
 * deletion topic and the admin endpoint); the stream goes on with their records, late events of
 * theirs are injected, all source topics are replayed from offset 0 into a fresh group; then the
 * lake (a folder and a versioned bucket) and the warehouse are erased. Every store is scanned:
 * no key, row or object version of theirs is left, and every other user's keys, lake rows and
 * warehouse rows are byte-identical to what they were (Redis: to a control store that never saw
 * a deletion; running totals, read heads and expired dedup entries through what they answer). One deleted user comes back after the deletion: only what came after is kept.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, GetObjectCommand, ListObjectVersionsCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it, onTestFinished } from 'vitest';
import { resolveOptions } from '../../../sidecar/src/config/index.ts';
import {
  DeletionRegistry,
  deletionRequestsTopic,
  drainDeletionTopic,
  ensureDeletionTopic,
  ErasedUsers,
  hasLeftovers,
  eraseFromLake,
  isErasedRow,
  registerDeletionRoutes,
  runDeletions,
  tombstoneHorizonMs,
  verifyDeletions,
  verifyLake,
  type DeletionContext,
} from '../../../sidecar/src/deletion/index.ts';
import { SOURCES, type Source } from '../../../sidecar/src/events/index.ts';
import {
  LakeWriter,
  LocalLakeStorage,
  ParquetEncoder,
  parseLakeObjectKey,
  resolveLakeWriterOptions,
  S3LakeStorage,
  type DeadLetterRow,
  type LakeRow,
  type LakeStorage,
} from '../../../sidecar/src/lake/index.ts';
import { generateWorkload, type WorkloadRecord } from '../../../sidecar/src/loadgen/workload.ts';
import { Sidecar } from '../../../sidecar/src/pipeline/index.ts';
import { startServingService } from '../../../sidecar/src/serving/index.ts';
import { activeVersionKey, FeatureReader, lifecycleAuditKey, sourceField, tombstoneKey, versionCatalogKey, versionPrefix } from '../../../sidecar/src/store/index.ts';
import { conformanceRegistry, tempDir } from '../../helpers/consumers.ts';
import { queryDuckDb, runDbt } from '../../helpers/dbt.ts';
import { liveDedupHash } from '../../helpers/dedup.ts';
import { validBytes } from '../../helpers/events.ts';
import { createTestTopics, kafkaClient, produceWorkload, readTopic } from '../../helpers/kafka.ts';
import { highWatermarks, waitUntilLanded } from '../../helpers/lake.ts';
import { deleteRedisKeys, testRedis } from '../../helpers/redis.ts';
import { BROKERS, REDIS_URL, S3_ENDPOINT, testNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const HOUR = 3_600_000;
const TOKEN = 'deletion-test-admin-token-0123456789';

/**
 * Every key of a prefix with its type and content, the prefix cut off (so two stores compare).
 * The running totals (`r:` fields, store protocol 3 on) and the read heads built from them (store
 * protocol 7) are left out: their base is moved up by whichever call of the user comes after
 * them, so it depends on how the source topics interleaved; what a read answers from them is
 * compared instead (readsOf). A dedup hash is compared by its entries live at the user's clock:
 * a call prunes only the buckets it writes, by its own clock, so the expired entries left behind
 * depend on the batching too (test/unit/store/dedup-batching.test.ts; docs/deletion.md).
 */
async function dumpKeys(redis: ReturnType<typeof testRedis>, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  // The users' keys: the tombstones under the base prefix, the state in the registry version's keyspace (docs/lifecycle.md).
  for (const base of [prefix, versionPrefix(prefix, conformanceRegistry.version)]) await dumpUserKeys(redis, base, out);
  return out;
}

async function dumpUserKeys(redis: ReturnType<typeof testRedis>, prefix: string, out: Map<string, string>): Promise<void> {
  const lifecycle = new Set([activeVersionKey(prefix), versionCatalogKey(prefix), lifecycleAuditKey(prefix)]);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:{*`, 'COUNT', 1000);
    // the read head (store protocol 7) copies the r: fields and the tiles above their base: left out
    // with them, and compared through what the reads answer
    for (const key of keys.filter((k) => !lifecycle.has(k) && !k.endsWith('}:h'))) {
      const type = await redis.type(key);
      const dedupOf = /^(.*):dt:([a-z]+)$/.exec(key);
      if (dedupOf) {
        // a dedup hash: its live entries (its bytes depend on the batching, test/helpers/dedup.ts)
        const sourceState = await redis.hget(dedupOf[1] as string, sourceField(dedupOf[2] as Source));
        const live = sourceState === null ? 'no state hash' : JSON.stringify(liveDedupHash(new Map(Object.entries(await redis.hgetallBuffer(key))), sourceState, conformanceRegistry.policies));
        out.set(key.slice(prefix.length), `${type}:live ${live}`);
        continue;
      }
      const content =
        type === 'hash'
          ? Object.entries(await redis.hgetall(key))
              .filter(([field]) => !field.startsWith('r:'))
              .sort()
          : type === 'zset'
            ? await redis.zrange(key, 0, -1, 'WITHSCORES')
            : [await redis.get(key)];
      out.set(key.slice(prefix.length), `${type}:${JSON.stringify(content)}`);
    }
    cursor = next;
  } while (cursor !== '0');
}

const userOfKey = (key: string): string => /^:\{([^}]+)\}/.exec(key)?.[1] as string;

/** Every row of every current lake object, as JSON text, with its object's kind. */
async function lakeRows(storage: LakeStorage, encoder: ParquetEncoder): Promise<Array<{ kind: 'events' | 'dead_letter'; row: LakeRow | DeadLetterRow; text: string }>> {
  const out: Array<{ kind: 'events' | 'dead_letter'; row: LakeRow | DeadLetterRow; text: string }> = [];
  for (const kind of ['events', 'dead_letter'] as const) {
    for (const { key } of await storage.list(`${kind}/`)) {
      if (!parseLakeObjectKey(key)) continue;
      for (const row of await encoder.decode<LakeRow | DeadLetterRow>((await storage.get(key)) as Buffer))
        out.push({ kind, row, text: JSON.stringify(row, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) });
    }
  }
  return out.sort((a, b) => (a.text < b.text ? -1 : 1));
}

const rowUser = (kind: 'events' | 'dead_letter', row: LakeRow | DeadLetterRow): string =>
  kind === 'events' ? (row as LakeRow).user_id : Buffer.from((row as DeadLetterRow).kafka_key_b64 ?? '', 'base64').toString();

/** Rows of every warehouse table with a user_id column, keyed by table, as sorted JSON texts. */
async function warehouseRows(path: string): Promise<Map<string, Array<{ user: string; text: string }>>> {
  const tables = await queryDuckDb(
    path,
    "select distinct table_schema, table_name from information_schema.columns where column_name = 'user_id' and table_name in (select table_name from information_schema.tables where table_type = 'BASE TABLE')",
  );
  const out = new Map<string, Array<{ user: string; text: string }>>();
  for (const { table_schema, table_name } of tables) {
    const rows = await queryDuckDb(path, `select * from "${String(table_schema)}"."${String(table_name)}"`);
    out.set(
      `${String(table_schema)}.${String(table_name)}`,
      rows.map((row) => ({ user: String(row.user_id), text: JSON.stringify(row, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) })).sort((a, b) => (a.text < b.text ? -1 : 1)),
    );
  }
  return out;
}

describe('GDPR/CCPA erasure across every store', () => {
  it('deletes 50 users mid-stream: a replay from offset 0 and late events resurrect nothing, every store scans clean (local and versioned S3 lake), other users are byte-identical', async () => {
    const ns = testNamespace();
    await createTestTopics(ns);
    const work = tempDir('churnfeat-deletion-');
    const localLake = new LocalLakeStorage(join(work, 'lake'));
    const duckdbPath = join(work, 'warehouse.duckdb');
    const bucket = `${ns.id}-lake`.toLowerCase();
    const s3Lake = new S3LakeStorage({ bucket, prefix: 'raw/', endpoint: S3_ENDPOINT, forcePathStyle: true });
    onTestFinished(() => s3Lake.close());
    await s3Lake.client.send(new CreateBucketCommand({ Bucket: bucket }));
    await s3Lake.client.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    const redis = testRedis();
    const controlPrefix = `${ns.id}c`;
    onTestFinished(() => deleteRedisKeys(REDIS_URL, controlPrefix));
    const registry = new DeletionRegistry(localLake);
    const erasedUsers = new ErasedUsers(registry, 500);
    await erasedUsers.start();
    onTestFinished(() => erasedUsers.stop());

    // A day of traffic of 200 users, ending now; invalid records included (dead letters).
    const now = Date.now();
    const workload = generateWorkload({
      seed: 14,
      users: 200,
      eventsPerUser: 40,
      startMs: now - 20 * HOUR,
      endMs: now - 60_000,
      lateShare: 0.05,
      veryLateShare: 0.01,
      duplicateShare: 0.05,
      invalidShare: 0.02,
    });
    const users = [...new Set(workload.map((r) => r.key))].sort();
    const deleted = users.filter((_, i) => i % 4 === 0).slice(0, 50);
    expect(deleted).toHaveLength(50);
    const returning = deleted[0] as string;
    const half = Math.floor(workload.length / 2);

    const sidecar = (prefix: string, group: string): Sidecar => new Sidecar(resolveOptions({ ...ns.options, keyPrefix: prefix, groupId: group, clientId: group }), conformanceRegistry);
    const main = sidecar(ns.id, `${ns.id}-main`);
    const control = sidecar(controlPrefix, `${ns.id}-control`);
    const lakeWriter = (storage: LakeStorage, label: string): LakeWriter =>
      new LakeWriter(
        resolveLakeWriterOptions({
          brokers: BROKERS,
          topicNamespace: ns.options.topicNamespace,
          groupId: `${ns.id}-${label}`,
          clientId: `${ns.id}-${label}`,
          flushRecords: 500,
          flushIntervalMs: 300,
          sessionTimeoutMs: 6_000,
        }),
        { storage, erased: erasedUsers.erased },
      );
    const writers = [lakeWriter(localLake, 'lake-local'), lakeWriter(s3Lake, 'lake-s3')];
    for (const consumer of [main, control, ...writers]) {
      await consumer.start();
      onTestFinished(() => consumer.stop());
    }
    const consumed = (s: Sidecar, n: number) => waitFor(`a sidecar to consume ${n} records`, async () => (await s.metrics.totals()).consumed >= n, { timeoutMs: 120_000 });
    const admin = kafkaClient(`${ns.id}-admin`).admin();
    await admin.connect();
    onTestFinished(() => admin.disconnect());
    const sourceTopics = SOURCES.map((s) => ns.topics.sources[s]);

    await produceWorkload(ns, workload.slice(0, half));
    await consumed(main, half);

    // Mid-stream: 40 requests on the deletion topic (plus a malformed one, a repeated request id
    // and an unknown user), 10 through the admin endpoint.
    const producer = kafkaClient(`${ns.id}-requests`).producer();
    await producer.connect();
    onTestFinished(() => producer.disconnect());
    const topic = deletionRequestsTopic(ns.options.topicNamespace);
    await ensureDeletionTopic(admin, topic);
    onTestFinished(() => admin.deleteTopics({ topics: [topic] }).catch(() => undefined));
    const viaTopic = deleted.slice(0, 40);
    await producer.send({
      topic,
      messages: [
        ...viaTopic.map((user) => ({ key: user, value: JSON.stringify({ request_id: `req-${user}`, user_id: user, received_at: new Date().toISOString() }) })),
        { key: 'bad', value: JSON.stringify({ request_id: 'req-bad', user_id: 'not a user id!' }) },
        { key: viaTopic[0] as string, value: JSON.stringify({ request_id: `req-${viaTopic[0] as string}`, user_id: viaTopic[0] }) },
        { key: 'nobody', value: JSON.stringify({ request_id: 'req-nobody', user_id: 'user-who-never-was' }) },
      ],
    });
    const intake = await drainDeletionTopic(kafkaClient(`${ns.id}-intake`), registry, { topic, groupId: `${ns.id}-intake`, deadLetterTopic: ns.topics.deadLetter, timeoutMs: 60_000 });
    expect(intake).toEqual({ registered: 41, duplicates: 1, deadLettered: 1 });
    const dead = await readTopic(ns.topics.deadLetter, (records) => records.some((r) => r.headers['churnfeat.reason'] === 'invalid_deletion_request'));
    expect(dead.find((r) => r.headers['churnfeat.reason'] === 'invalid_deletion_request')?.headers['churnfeat.detail']).toMatch(/^user_id: /);

    const serving = await startServingService({ redisUrl: REDIS_URL, keyPrefix: ns.id, port: 0, adminToken: TOKEN, logLevel: 'silent' }, conformanceRegistry, {
      adminRoutes: (scope) => registerDeletionRoutes(scope, registry),
    });
    onTestFinished(() => serving.close());
    const post = (body: unknown, token: string | null = TOKEN) =>
      fetch(`${serving.url}/admin/v1/deletions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: JSON.stringify(body),
      });
    expect((await post({ request_id: 'x', user_id: 'u' }, null)).status).toBe(401);
    const bad = await post({ request_id: 'req-http-bad', user_id: 'u', received_at: 'yesterday' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/^received_at: /);
    for (const user of deleted.slice(40)) expect((await post({ request_id: `req-${user}`, user_id: user })).status).toBe(202);
    expect((await post({ request_id: `req-${deleted[45] as string}`, user_id: deleted[45] })).status).toBe(200);
    expect((await post({ request_id: `req-${deleted[45] as string}`, user_id: deleted[46] })).status).toBe(409);

    const context: DeletionContext = { registry, redis, prefix: ns.id, horizonMs: tombstoneHorizonMs(conformanceRegistry.policies.allowedLatenessMs) };
    const online = await runDeletions(context, ['online']);
    expect(online.online?.failed).toEqual([]);
    expect(online.online?.done).toHaveLength(51);
    const deletedAt = Math.max(...(await registry.all()).map((r) => r.deleted_before_ms));
    for (const user of deleted) expect(Number(await redis.get(tombstoneKey(ns.id, user)))).toBeGreaterThan(0);

    // The stream goes on (deleted users' records included), late events of the deleted users
    // arrive, and one deleted user comes back after the deletion.
    await produceWorkload(ns, workload.slice(half));
    const lateAt = new Date().toISOString();
    const late: WorkloadRecord[] = deleted.map((user, i) => ({
      source: 'client',
      key: user,
      value: validBytes('client', 'playback_error', { event_id: `late-${i}`, user_id: user, event_ts: new Date(deletedAt - 2 * HOUR).toISOString(), ingest_ts: lateAt }),
      ingestMs: Date.parse(lateAt),
      kind: 'valid',
    }));
    const comeback = new Date(Math.max(Date.now(), deletedAt + 1)).toISOString();
    late.push({
      source: 'client',
      key: returning,
      value: validBytes('client', 'playback_error', { event_id: 'comeback', user_id: returning, event_ts: comeback, ingest_ts: comeback }),
      ingestMs: Date.parse(comeback),
      kind: 'valid',
    });
    await produceWorkload(ns, late);
    const total = workload.length + late.length;
    await consumed(main, total);
    await consumed(control, total);

    // Replay every source topic from offset 0 into a fresh group, on the same store.
    const replay = sidecar(ns.id, `${ns.id}-replay`);
    await replay.start();
    onTestFinished(() => replay.stop());
    await consumed(replay, total);
    const replayTotals = await replay.metrics.totals();
    const mainTotals = await main.metrics.totals();
    for (const t of [replayTotals, mainTotals]) expect(t.applied + t.duplicate + t.replayed + t.deleted + t.too_late + t.invalid + t.irrelevant).toBe(t.consumed);
    expect(mainTotals.deleted).toBeGreaterThan(50);
    expect(replayTotals.deleted).toBeGreaterThan(mainTotals.deleted);

    // Redis: no key of a deleted user but the returning customer's, which holds only the comeback.
    const keys = await dumpKeys(redis, ns.id);
    const resurrected = [...keys.keys()].filter((key) => deleted.includes(userOfKey(key)) && userOfKey(key) !== returning && !key.endsWith(':tomb'));
    expect(resurrected).toEqual([]);
    const [comebackRead] = await new FeatureReader(redis, conformanceRegistry, ns.id).readMany([returning]);
    const counted = Object.values(comebackRead?.features ?? {}).filter((f) => f.latest_event_ms !== null);
    expect(counted.length).toBeGreaterThan(0);
    for (const f of counted) expect(f.latest_event_ms).toBeGreaterThanOrEqual(deletedAt);
    const controlKeys = await dumpKeys(redis, controlPrefix);
    // the unknown user's erasure is a no-op but for its tombstone (a record of it may still come)
    expect(keys.get(':{user-who-never-was}:tomb')).toMatch(/^string:/);
    // a dedup hash with no live entry left and none at all are the same (whether its last buckets were pruned depends on the batching)
    const others = (m: Map<string, string>) => new Map([...m].filter(([key, content]) => !deleted.includes(userOfKey(key)) && userOfKey(key) !== 'user-who-never-was' && content !== 'hash:live []'));
    expect(others(keys)).toEqual(others(controlKeys));
    const otherUsers = [...new Set([...others(keys).keys()].map(userOfKey))].sort();
    const readsOf = async (prefix: string) => (await new FeatureReader(redis, conformanceRegistry, prefix).readMany(otherUsers, deletedAt)).map((read) => read.features);
    expect(await readsOf(ns.id)).toEqual(await readsOf(controlPrefix));
    expect(others(keys).size).toBeGreaterThan(100);

    // Lake and warehouse: everything landed; dbt builds with the deleted users still in the lake.
    const highs = await highWatermarks(admin, sourceTopics);
    await waitUntilLanded(localLake, highs);
    await waitUntilLanded(s3Lake, highs);
    for (const writer of writers) await writer.stop();
    // the lake writers dropped the late records of the deleted users themselves
    for (const writer of writers) expect(writer.stats.erased).toBeGreaterThanOrEqual(deleted.length);
    const asOf = new Date(Date.now()).toISOString();
    const dbtEnv = { duckdbPath, lakeRoot: localLake.root };
    // A label spine of its own (the label owners' table, outside the project) with deleted and kept users.
    await runDbt(['seed'], dbtEnv);
    const spine = await DuckDBInstance.create(duckdbPath);
    const spineConnection = await spine.connect();
    await spineConnection.run('create schema if not exists labels; create table labels.deletion_spine (user_id varchar, as_of timestamp, churned_within_30d boolean)');
    const spineUsers = [...deleted.slice(0, 10), ...users.filter((u) => !deleted.includes(u)).slice(0, 10)];
    await spineConnection.run(`insert into labels.deletion_spine values ${spineUsers.map((u) => `('${u}', '${asOf.replace('T', ' ').replace('Z', '')}', false)`).join(', ')}`);
    spineConnection.closeSync();
    spine.closeSync();
    const dbtVars = { as_of: asOf, spine_relation: 'labels.deletion_spine' };
    await runDbt(['run'], dbtEnv, dbtVars);
    const targets = new Map((await registry.all()).map((r) => [r.user_id, r.deleted_before_ms]));
    const encoder = await ParquetEncoder.create();
    onTestFinished(() => encoder.close());
    const lakeBefore = await lakeRows(localLake, encoder);
    expect(lakeBefore.filter(({ kind, row }) => isErasedRow(kind, row, targets)).length).toBeGreaterThan(0);
    const warehouseBefore = await warehouseRows(duckdbPath);
    expect([...warehouseBefore.values()].flat().filter((r) => deleted.includes(r.user)).length).toBeGreaterThan(0);
    expect(warehouseBefore.get('main.fct_training_features')?.filter((r) => deleted.includes(r.user)).length).toBeGreaterThan(0);

    const warehouse = {
      dbtScript: 'dbt_project/scripts/dbt.sh',
      target: '',
      vars: { lake_root: localLake.root, ...dbtVars },
      env: { ...process.env, CHURNFEAT_DUCKDB_PATH: duckdbPath, CHURNFEAT_LAKE_ROOT: localLake.root } as Record<string, string>,
    };
    const runs = await runDeletions({ ...context, lake: localLake, warehouse }, ['lake', 'warehouse']);
    expect(runs.lake?.failed).toEqual([]);
    expect(runs.warehouse?.failed).toEqual([]);
    const s3Erasure = await eraseFromLake(s3Lake, targets);
    const s3Check = await verifyLake(s3Lake, targets);
    expect(s3Check).toMatchObject({ rowsLeft: 0, versionsLeft: 0 });
    const status = await registry.all();
    expect(status.filter((r) => r.closed_at === null)).toEqual([]);
    // The per-store latency figures of docs/deletion.md: CHURNFEAT_DELETION_RESULTS=bench/results/<name>.json keeps them.
    if (process.env.CHURNFEAT_DELETION_RESULTS) {
      writeFileSync(
        process.env.CHURNFEAT_DELETION_RESULTS,
        `${JSON.stringify(
          {
            measured_at: new Date().toISOString(),
            users: deleted.length,
            requests: status.length,
            records: total,
            seconds: { online: online.online?.seconds, lake_local: runs.lake?.seconds, warehouse: runs.warehouse?.seconds },
            lake_local: runs.lake?.detail,
            lake_s3: s3Erasure,
            warehouse: runs.warehouse?.detail,
            replay_verdicts: replayTotals,
          },
          null,
          2,
        )}\n`,
      );
    }
    process.stdout.write(
      `deletion acceptance: ${deleted.length} users; online ${online.online?.seconds.toFixed(3)} s, local lake ${runs.lake?.seconds.toFixed(3)} s (${JSON.stringify(runs.lake?.detail)}), ` +
        `warehouse ${runs.warehouse?.seconds.toFixed(3)} s (${JSON.stringify(runs.warehouse?.detail)}); S3 lake rewrote ${s3Erasure.objectsRewritten}/${s3Erasure.objects} objects, purged ${s3Erasure.versionsPurged} versions; ` +
        `replay verdicts ${JSON.stringify(replayTotals)}\n`,
    );

    // Full scans, not the index: every local object, every version of every S3 object.
    const lakeAfter = await lakeRows(localLake, encoder);
    expect(lakeAfter.filter(({ kind, row }) => isErasedRow(kind, row, targets))).toEqual([]);
    const keep = (rows: typeof lakeBefore) => rows.filter(({ kind, row }) => !deleted.includes(rowUser(kind, row))).map((r) => r.text);
    expect(keep(lakeAfter)).toEqual(keep(lakeBefore));
    expect(lakeAfter.some(({ kind, row }) => kind === 'events' && (row as LakeRow).user_id === returning && Number((row as LakeRow).event_ms) >= deletedAt)).toBe(true);
    let versionsScanned = 0;
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    for (;;) {
      const page = await s3Lake.client.send(new ListObjectVersionsCommand({ Bucket: bucket, KeyMarker: keyMarker, VersionIdMarker: versionMarker }));
      for (const version of page.Versions ?? []) {
        const key = (version.Key as string).slice('raw/'.length);
        const name = parseLakeObjectKey(key);
        const body = await s3Lake.client.send(new GetObjectCommand({ Bucket: bucket, Key: version.Key, VersionId: version.VersionId }));
        const bytes = Buffer.from(await (body.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
        versionsScanned += 1;
        if (name) expect((await encoder.decode<LakeRow | DeadLetterRow>(bytes)).filter((row) => isErasedRow(name.kind, row, targets))).toEqual([]);
        else if (key.startsWith('_index/')) for (const user of deleted.slice(1)) expect(bytes.toString()).not.toContain(`"${user}"`);
      }
      if (!page.IsTruncated) break;
      keyMarker = page.NextKeyMarker;
      versionMarker = page.NextVersionIdMarker;
    }
    expect(versionsScanned).toBeGreaterThan(0);

    // Warehouse: no row of a deleted user in any table (but the suppression list), before or
    // after a rebuild; every other row as it was.
    const check = async () => {
      const after = await warehouseRows(duckdbPath);
      for (const [table, rows] of after) {
        // the suppression list holds them by design; the label owners' spine is theirs to erase (docs/deletion.md)
        if (table.endsWith('churnfeat_deleted_users') || table.startsWith('labels.')) continue;
        // the returning customer keeps what came after the deletion (event-grain rows from then on, aggregates of them)
        const eventMs = (text: string) => Number(/"event_ms":"?(\d+)/.exec(text)?.[1] ?? Number.NaN);
        const left = rows.filter((r) => deleted.includes(r.user) && (r.user !== returning || table.includes('training') || eventMs(r.text) < deletedAt));
        expect(left, table).toEqual([]);
        expect(
          rows.filter((r) => !deleted.includes(r.user)).map((r) => r.text),
          table,
        ).toEqual((warehouseBefore.get(table) ?? []).filter((r) => !deleted.includes(r.user)).map((r) => r.text));
      }
    };
    await check();
    await runDbt(['run'], dbtEnv, dbtVars);
    await check();
    // and the daily verification (what `churnfeat delete verify` runs) finds nothing anywhere
    const verified = await verifyDeletions({ ...context, lake: localLake, warehouse }, ['online', 'lake', 'warehouse']);
    expect(verified).toMatchObject({ online: { keysLeft: 0 }, lake: { rowsLeft: 0, versionsLeft: 0 }, warehouse: { rowsLeft: 0 } });
    expect(hasLeftovers(verified)).toBe(false);
  }, 600_000);
});
