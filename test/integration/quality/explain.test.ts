/**
 * "Explain this value" on the real stack: known events of one user go through the sidecar and
 * the lake writer; the explanation (store/state-explanation.ts online, audit/ offline) must
 * recompute the served values from their tiles and find exactly those events' offsets and
 * lake objects, through the library, the HTTP endpoint and the compiled CLI.
 */
import { execa } from 'execa';
import { describe, expect, it, onTestFinished } from 'vitest';
import { explainOffline } from '../../../sidecar/src/audit/index.ts';
import { compactLakeDay } from '../../../sidecar/src/deletion/index.ts';
import { LocalLakeStorage } from '../../../sidecar/src/lake/index.ts';
import { startServingService } from '../../../sidecar/src/serving/index.ts';
import { explainUser, FeatureReader, versionPrefix } from '../../../sidecar/src/store/index.ts';
import { churnfeatArgs } from '../../helpers/cli.ts';
import { runDbt } from '../../helpers/dbt.ts';
import { conformanceRegistry as registry, startLakeWriter, startSidecar, tempDir } from '../../helpers/consumers.ts';
import { createTestTopics, sendOne, testAdmin, testProducer } from '../../helpers/kafka.ts';
import { highWatermarks, waitUntilLanded } from '../../helpers/lake.ts';
import { testRedis } from '../../helpers/redis.ts';
import { rawEvent } from '../../helpers/reference.ts';
import { REDIS_URL, testNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const MINUTE = 60_000;

describe('explain a served value', () => {
  it('recomputes the served values from their tiles and finds exactly the events, offsets and lake objects behind them', async () => {
    const ns = testNamespace();
    await createTestTopics(ns);
    const root = tempDir('churnfeat-explain-lake-');
    const producer = await testProducer(ns.id);
    const user = 'explain-user';
    const now = Date.now();
    const client = ns.topics.sources.client;
    // three playback errors (one sent twice: the copy must not count), a heartbeat, and another user's error
    const sent: Array<{ id: string; partition: number; offset: string }> = [];
    for (const [i, id] of ['err-a', 'err-b', 'err-c'].entries()) {
      const value = rawEvent({ eventId: id, userId: user, eventType: 'playback_error', eventTs: now - (5 - i) * MINUTE, ingestMs: now - (5 - i) * MINUTE + 500, attributes: { error_code: 'E1' } });
      sent.push({ id, ...(await sendOne(producer, client, user, value)) });
      if (id === 'err-b') await sendOne(producer, client, user, value);
    }
    await sendOne(
      producer,
      client,
      user,
      rawEvent({ eventId: 'hb-1', userId: user, eventType: 'playback_heartbeat', eventTs: now - MINUTE, ingestMs: now - MINUTE + 200, attributes: { watched_seconds: 42, session_id: 's' } }),
    );
    await sendOne(
      producer,
      client,
      'someone-else',
      rawEvent({ eventId: 'err-x', userId: 'someone-else', eventType: 'playback_error', eventTs: now - MINUTE, ingestMs: now - MINUTE, attributes: { error_code: 'E1' } }),
    );

    const sidecar = await startSidecar(ns);
    await startLakeWriter(ns, root);
    await waitFor('the sidecar to apply the events', async () => (await sidecar.metrics.totals()).applied >= 5);
    const admin = await testAdmin();
    const storage = new LocalLakeStorage(root);
    await waitUntilLanded(storage, await highWatermarks(admin, Object.values(ns.topics.sources)));

    const redis = testRedis();
    onTestFinished(() => redis.quit().then(() => undefined));
    const asOfMs = Date.now();
    const online = await explainUser(redis, registry, versionPrefix(ns.options.keyPrefix, registry.version), { userId: user, asOfMs });
    const served = await new FeatureReader(redis, registry, ns.options.keyPrefix).read(user, asOfMs);
    expect(online.consistent).toBe(true);
    expect(online.version).toBe(registry.version);
    for (const f of online.features) expect(f.served).toEqual(served.features[f.feature]?.value ?? null);
    const errors = online.features.find((f) => f.feature === 'errors_last_10m');
    expect(errors?.served).toBe(3);
    expect(errors?.tiles.reduce((n, t) => n + t.value, 0)).toBe(3);
    // the applied position of the user's client records: the partition and highest offset of what was sent for them
    const partition = sent[0]!.partition;
    const clientSource = online.sources.find((s) => s.source === 'client');
    expect(clientSource).toMatchObject({ partition });
    expect(clientSource!.offset).toBeGreaterThanOrEqual(Number(sent[2]!.offset));
    expect(clientSource!.watermark_ms).not.toBeNull();

    // dbt's tiles of the same lake, as the nightly build makes them
    const duckdbPath = `${root}/warehouse.duckdb`;
    await runDbt(['run', '--select', '+fct_feature_tiles'], { duckdbPath, lakeRoot: root });
    const offline = await explainOffline({ storage, registry, userId: user, asOfMs: online.as_of_ms, online, warehousePath: duckdbPath });
    expect(offline.equal_to_online).toBe(true);
    const behind = offline.features.find((f) => f.feature === 'errors_last_10m')!;
    expect(behind.value).toBe(3);
    expect(behind.rows.map((r) => [r.event_id, r.partition, r.offset])).toEqual(sent.map((s) => [s.id, s.partition, s.offset]));
    expect(offline.excluded.duplicate_copies).toBe(1);
    expect(new Set(behind.rows.map((r) => r.object))).toEqual(new Set(offline.objects.map((o) => o.key)));
    expect(offline.objects.every((o) => o.key.startsWith('events/source=client/') && o.indexed)).toBe(true);
    expect(offline.features.find((f) => f.feature === 'watch_time_last_24h')?.rows.map((r) => r.event_id)).toEqual(['hb-1']);
    expect(behind.dbt_error).toBeUndefined();
    expect(behind.dbt_tiles?.reduce((n, t) => n + Number(t.applied_event_count), 0)).toBe(3);
    expect(behind.dbt_tiles?.every((t) => t.user_id === user && t.feature_name === 'errors_last_10m')).toBe(true);

    // the HTTP endpoint: the same explanation, and 4xx naming the parameter
    const service = await startServingService({ redisUrl: REDIS_URL, keyPrefix: ns.options.keyPrefix, host: '127.0.0.1', port: 0, logLevel: 'silent' }, registry);
    onTestFinished(() => service.close());
    const answer = await fetch(`${service.url}/v1/users/${user}/explain?feature=errors_last_10m&as_of=${new Date(asOfMs).toISOString()}`);
    expect(answer.status).toBe(200);
    const body = await answer.json();
    expect(body.consistent).toBe(true);
    expect(body.features.map((f: { feature: string; served: unknown }) => [f.feature, f.served])).toEqual([['errors_last_10m', 3]]);
    const badTime = await fetch(`${service.url}/v1/users/${user}/explain?as_of=yesterday`);
    expect(badTime.status).toBe(400);
    expect((await badTime.json()).message).toMatch(/as_of/);
    const badFeature = await fetch(`${service.url}/v1/users/${user}/explain?feature=nope`);
    expect(badFeature.status).toBe(400);
    expect((await badFeature.json()).message).toMatch(/feature/);
    const document = await (await fetch(`${service.url}/openapi.json`)).json();
    expect(Object.keys(document.paths)).toContain('/v1/users/{userId}/explain');

    // the compiled CLI, offline included
    const env = { ...process.env, CHURNFEAT_REDIS_URL: REDIS_URL, CHURNFEAT_KEY_PREFIX: ns.options.keyPrefix, CHURNFEAT_LAKE_URI: root };
    const cli = await execa('node', churnfeatArgs('explain', user, '--as-of', String(asOfMs), '--offline', '--json', '--duckdb-path', `${root}/no-warehouse.duckdb`), { env, reject: false });
    expect(cli.exitCode, cli.stderr).toBe(0);
    const printed = JSON.parse(cli.stdout);
    expect(printed.online.consistent).toBe(true);
    const printedErrors = printed.offline.features.find((f: { feature: string }) => f.feature === 'errors_last_10m');
    expect(printedErrors.rows).toHaveLength(3);
    expect(printedErrors.dbt_tiles).toBeNull();
    expect(printedErrors.dbt_error).toMatch(/no-warehouse\.duckdb|not exist|No such file/i);
    // Redis away: one line, exit 1, no stack and no reconnect loop (there were both)
    const away = await execa('node', churnfeatArgs('explain', user, '--redis-url', 'redis://127.0.0.1:1'), { env, reject: false, timeout: 20_000 });
    expect(away.exitCode).toBe(1);
    expect(away.stderr.trim()).toMatch(/^churnfeat explain: redis_unavailable: Redis redis:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/);
    expect(away.stderr.trim().split('\n')).toHaveLength(1);
    const usage = await execa('node', churnfeatArgs('explain', user, '--as-of', 'soon'), { env, reject: false });
    expect(usage.exitCode).toBe(2);
    expect(usage.stderr).toMatch(/as-of|asOf/);

    // lake compaction rewrites the days into user-hash buckets: the same rows are found in the user's bucket (they were missed)
    const days = new Set(offline.objects.map((o) => /\/date=(\d{4}-\d{2}-\d{2})\//.exec(o.key)?.[1] as string));
    for (const date of days) expect((await compactLakeDay(storage, { source: 'client', date, buckets: 4 })).objectsWritten).toBeGreaterThan(0);
    const compacted = await explainOffline({ storage, registry, userId: user, asOfMs: online.as_of_ms, online, warehousePath: duckdbPath });
    expect(compacted.equal_to_online).toBe(true);
    const fromBuckets = compacted.features.find((f) => f.feature === 'errors_last_10m')!;
    expect(fromBuckets.rows.map((r) => [r.event_id, r.partition, r.offset])).toEqual(sent.map((s) => [s.id, s.partition, s.offset]));
    expect(compacted.excluded.duplicate_copies).toBe(1);
    expect(compacted.objects.length).toBe(days.size);
    expect(compacted.objects.every((o) => o.key.startsWith('events/source=client/') && o.key.includes('/hour=all/bucket-'))).toBe(true);
  });
});
