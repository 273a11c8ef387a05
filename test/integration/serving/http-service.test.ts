import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parseEvent, SOURCES } from '../../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { startServingService, type ServingService } from '../../../sidecar/src/serving/index.ts';
import { FeatureWriter, loadFunctionLibrary, registryKey, versionPrefix, watermarkKey, type StoreRecord } from '../../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../../sidecar/src/windows/index.ts';
import { privateRedis } from '../../helpers/redis.ts';
import { REDIS_URL } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const registry = loadFeatureRegistry('dbt_project');
const operators = new WindowOperators(registry);

/** A Redis client and a key prefix of the test's own; the prefix's keys are deleted when the test ends. */
function testStore(url = REDIS_URL): { redis: Redis; prefix: string } {
  const prefix = `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  onTestFinished(async () => {
    if (redis.status === 'ready') {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.unlink(...keys);
    }
    redis.disconnect();
  });
  return { redis, prefix };
}

/** Publishes a watermark for partition 0 of every source, as the sidecar would. */
async function publishWatermarks(redis: Redis, prefix: string, watermarkMs: number): Promise<void> {
  const writer = new FeatureWriter(redis, operators, { prefix, allowedLatenessMs: 86_400_000, dedupMarginMs: 3_600_000, pruneAboveFields: 256 });
  await writer.writeWatermarks(SOURCES.map((source) => ({ source, partition: 0, watermarkMs })));
}

/** Applies client events through the store's write function directly (this test is about serving, not Kafka). */
async function applyClientEvents(redis: Redis, prefix: string, userId: string, events: Array<{ type: string; atMs: number; attributes: Record<string, unknown> }>): Promise<void> {
  const writer = new FeatureWriter(redis, operators, { prefix, allowedLatenessMs: 86_400_000, dedupMarginMs: 3_600_000, pruneAboveFields: 256 });
  const records: StoreRecord[] = events.map((e, index) => {
    const parsed = parseEvent(
      'client',
      Buffer.from(
        JSON.stringify({
          event_id: `${userId}-${index}`,
          user_id: userId,
          device_id: 'd',
          event_type: e.type,
          event_ts: new Date(e.atMs).toISOString(),
          ingest_ts: new Date(e.atMs).toISOString(),
          attributes: e.attributes,
        }),
      ),
    );
    if (!parsed.ok) throw new Error(parsed.detail);
    return { event: parsed.event, topic: 'http-test.client.events', partition: 0, offset: String(index + 1), ops: operators.opsFor(parsed.event) };
  });
  await writer.write(records);
}

async function serve(redisUrl: string, prefix: string, overrides: Parameters<typeof startServingService>[0] = {}): Promise<ServingService> {
  const service = await startServingService({ redisUrl, keyPrefix: prefix, port: 0, logLevel: 'silent', watermarkRefreshMs: 100, maxBatch: 3, ...overrides }, registry);
  onTestFinished(() => service.close());
  return service;
}

async function http(service: ServingService, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: any; text: string; headers: Headers }> {
  const response = await fetch(`${service.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: response.status, json, text, headers: response.headers };
}

describe('the serving HTTP service against Redis', () => {
  it('serves values, timestamps and statuses for known and unknown users, single and batch', async () => {
    const { redis, prefix } = testStore();
    await loadFunctionLibrary(redis, registry, prefix);
    const now = Date.now();
    await applyClientEvents(redis, prefix, 'alice', [
      { type: 'playback_error', atMs: now - 120_000, attributes: { error_code: 'E1' } },
      { type: 'playback_error', atMs: now - 60_000, attributes: { error_code: 'E2' } },
      { type: 'playback_start', atMs: now - 30_000, attributes: { content_id: 'title-1' } },
    ]);
    await publishWatermarks(redis, prefix, Date.now());
    const service = await serve(REDIS_URL, prefix);

    const alice = await http(service, 'GET', '/v1/features/alice');
    expect(alice.status).toBe(200);
    expect(alice.json.status).toBe('present');
    expect(alice.json.features.errors_last_10m).toMatchObject({ value: 2, status: 'present', latest_event_ms: now - 60_000, latest_event_at: new Date(now - 60_000).toISOString() });
    expect(alice.json.features.distinct_titles_last_7d).toMatchObject({ value: 1, latest_event_ms: now - 30_000 });
    expect(alice.json.features.watch_time_last_24h).toMatchObject({ value: 0, latest_event_at: null });

    const nobody = await http(service, 'GET', '/v1/features/nobody');
    expect(nobody.status).toBe(200);
    expect(nobody.json.status).toBe('missing');

    const batch = await http(service, 'POST', '/v1/features:batch', { user_ids: ['nobody', 'alice'] });
    expect(batch.status).toBe(200);
    expect(batch.json.results.map((r: { user_id: string; status: string }) => `${r.user_id}:${r.status}`)).toEqual(['nobody:missing', 'alice:present']);

    expect(await http(service, 'GET', '/v1/features/al%20ice')).toMatchObject({ status: 400, json: { error: 'bad_request', message: 'params/userId must match pattern "^[A-Za-z0-9_.-]{1,64}$"' } });
    expect(await http(service, 'POST', '/v1/features:batch', { user_ids: ['a', 'b', 'c', 'd'] })).toMatchObject({ status: 400, json: { message: 'body/user_ids must NOT have more than 3 items' } });
    expect(await http(service, 'POST', '/v1/features:batch', { user_ids: [] })).toMatchObject({ status: 400, json: { message: 'body/user_ids must NOT have fewer than 1 items' } });

    expect((await http(service, 'GET', '/healthz')).json).toEqual({ status: 'ok' });
    const ready = await http(service, 'GET', '/readyz');
    expect(ready.status, ready.text).toBe(200);
    const metrics = await http(service, 'GET', '/metrics');
    expect(metrics.text).toContain('churnfeat_serving_request_duration_seconds_bucket{le="0.005",method="GET",route="/v1/features/:userId",status_code="200"}');
    expect(metrics.text).toMatch(/churnfeat_serving_watermark_age_seconds\{source="client",partition="0"\} \d/);
    expect((await http(service, 'GET', '/openapi.json')).json.info.version).toBe(registry.version);
  });

  it('turns /readyz to 503 with reasons when the watermarks are old or another registry is loaded', async () => {
    const { redis, prefix } = testStore();
    await loadFunctionLibrary(redis, registry, prefix);
    await publishWatermarks(redis, prefix, Date.now());
    const service = await serve(REDIS_URL, prefix, { readyMaxWatermarkAgeMs: 60_000 });
    expect((await http(service, 'GET', '/readyz')).status).toBe(200);

    await publishWatermarks(redis, prefix, Date.now() - 5 * 60_000);
    const old = await waitFor('readyz 503 on old watermarks', async () => {
      const answer = await http(service, 'GET', '/readyz');
      return answer.status === 503 ? answer : null;
    });
    expect(old.json.checks.watermarks.ok).toBe(false);
    expect(old.json.reasons).toEqual([expect.stringMatching(/^watermarks: billing:0 watermark is 30\d s old; client:0 watermark is 30\d s old; support:0 watermark is 30\d s old \(limit 60 s\)$/)]);
    // Reads keep working and flag the staleness.
    const stale = await http(service, 'GET', '/v1/features/anyone');
    expect(stale.json.features.errors_last_10m.staleness_ms).toBeGreaterThan(290_000);

    await publishWatermarks(redis, prefix, Date.now());
    await waitFor('readyz 200 again', async () => (await http(service, 'GET', '/readyz')).status === 200);
    // the version's registry marker (its keyspace, docs/lifecycle.md) names another registry
    const keyspace = versionPrefix(prefix, registry.version);
    await redis.set(registryKey(keyspace), '0000000000000000');
    const mismatch = await http(service, 'GET', '/readyz');
    expect(mismatch.status).toBe(503);
    expect(mismatch.json.reasons).toEqual([`registry: ${registryKey(keyspace)} names registry 0000000000000000, this service serves ${registry.version}`]);
    await redis.del(watermarkKey(keyspace));
  });

  it('turns /readyz to 503 and reads to 503 store_unavailable when its Redis goes down, while /healthz stays 200', async () => {
    const own = await privateRedis();
    const { redis, prefix } = testStore(own.url);
    await loadFunctionLibrary(redis, registry, prefix);
    await publishWatermarks(redis, prefix, Date.now());
    const service = await serve(own.url, prefix, { redisCommandTimeoutMs: 300 });
    expect((await http(service, 'GET', '/readyz')).status).toBe(200);
    expect((await http(service, 'GET', '/v1/features/bob')).status).toBe(200);

    await own.kill();
    const down = await waitFor('readyz 503 with Redis down', async () => {
      const answer = await http(service, 'GET', '/readyz');
      return answer.status === 503 ? answer : null;
    });
    expect(down.json.checks.redis.ok).toBe(false);
    expect(down.json.reasons[0]).toMatch(/^redis: Redis does not answer: /);
    const read = await http(service, 'GET', '/v1/features/bob');
    expect(read.status).toBe(503);
    expect(read.json.error).toBe('store_unavailable');
    expect(read.headers.get('retry-after')).toBe('1');
    expect((await http(service, 'GET', '/healthz')).status).toBe(200);
  });
});
