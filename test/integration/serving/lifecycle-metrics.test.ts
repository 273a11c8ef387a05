/**
 * The lifecycle gauges of the serving process (serving/lifecycle-metrics.ts), scraped from a
 * real Redis holding a catalog: versions in their states, a sharded bootstrap still loading, a
 * shadow whose sidecar stopped, a retired version, a rollback, then a broken alias.
 */
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { command as versionCommand } from '../../../cli/commands/version.ts';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { registerLifecycleMetrics } from '../../../sidecar/src/serving/index.ts';
import { activeVersionKey, bootstrapKey, recordParity, registerVersion, versionCatalogKey, versionPrefix, watermarkKey } from '../../../sidecar/src/store/index.ts';
import { redisCliArgs } from '../../helpers/cli.ts';
import { tempDir } from '../../helpers/consumers.ts';
import { deleteRedisKeys, testRedis } from '../../helpers/redis.ts';
import { compileFixtureV2, FIXTURE_REGISTRY_DIR } from '../../helpers/registry.ts';
import { freePort } from '../../helpers/stack-services.ts';
import { REDIS_URL, testNamespace } from '../../helpers/stack.ts';

/** The value of one series of a Prometheus text exposition (undefined when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (m?.[1] !== name) continue;
    const have = (m[2] ?? '').split(',').filter(Boolean);
    if (want.every((w) => have.includes(w)) && have.length === want.length) return Number(m[3]);
  }
  return undefined;
}

describe('the lifecycle metrics of the serving process', () => {
  it('report each version, its sidecar lag, the bootstrap, the retired version, the last rollback and a broken alias', async () => {
    const v1 = loadFeatureRegistry(FIXTURE_REGISTRY_DIR);
    const v2 = compileFixtureV2(tempDir('churnfeat-lifecycle-metrics-'));
    const prefix = testNamespace().options.keyPrefix;
    onTestFinished(() => deleteRedisKeys(REDIS_URL, prefix));
    const redis = testRedis();
    const now = Date.now();
    let clock = now;
    const registry = new Registry();
    registerLifecycleMetrics(registry, redis, prefix, () => clock);
    const version = (...argv: string[]) => versionCommand.run([...argv, ...redisCliArgs(), '--key-prefix', prefix, '--actor', 'metrics-test']);

    expect(sample(await registry.metrics(), 'churnfeat_lifecycle_alias_problem', { problem: 'missing' })).toBe(0);
    await registerVersion(redis, prefix, v1, 'metrics-test');
    await registerVersion(redis, prefix, v2, 'metrics-test');
    // v1's sidecar is 2 s behind; v2's never published a watermark (it counts from its registration) and its sharded bootstrap loads
    await redis.hset(watermarkKey(versionPrefix(prefix, v1.version)), 'client:0', String(now - 2_000), 'client:1', String(now - 500));
    await redis.hset(bootstrapKey(prefix, v2.version), { state: 'loading', shards: 2, 'shard:1:state': 'complete', started_at: new Date(now - 3_600_000).toISOString() });
    clock = now + 600_000;
    let text = await registry.metrics();
    expect(sample(text, 'churnfeat_lifecycle_version_info', { version: v1.version, state: 'active' })).toBe(1);
    expect(sample(text, 'churnfeat_lifecycle_version_info', { version: v2.version, state: 'shadow' })).toBe(1);
    expect(sample(text, 'churnfeat_lifecycle_version_watermark_age_seconds', { version: v1.version, state: 'active' })).toBe(602);
    expect(sample(text, 'churnfeat_lifecycle_version_watermark_age_seconds', { version: v2.version, state: 'shadow' })).toBeGreaterThanOrEqual(599);
    expect(sample(text, 'churnfeat_lifecycle_bootstrap_complete', { version: v2.version })).toBe(0);
    expect(sample(text, 'churnfeat_lifecycle_bootstrap_started_timestamp_seconds', { version: v2.version })).toBe((now - 3_600_000) / 1000);
    expect(sample(text, 'churnfeat_lifecycle_bootstrap_complete', { version: v1.version })).toBeUndefined();
    expect(sample(text, 'churnfeat_lifecycle_last_rollback_timestamp_seconds')).toBe(0);
    expect(sample(text, 'churnfeat_lifecycle_read_failed')).toBe(0);

    // cut over to v2, roll back to v1, retire v2
    await redis.hset(bootstrapKey(prefix, v2.version), { state: 'complete' });
    await recordParity(redis, prefix, v2.version, { passed: true, mismatches: 0, sampleSize: 1, asOf: new Date().toISOString(), at: new Date().toISOString() }, 'metrics-test');
    expect(await version('cutover', v2.version)).toBe(0);
    expect(await version('rollback')).toBe(0);
    expect(await version('retire', v2.version)).toBe(0);
    clock = Date.now();
    text = await registry.metrics();
    expect(sample(text, 'churnfeat_lifecycle_version_info', { version: v2.version, state: 'retired' })).toBe(1);
    expect(sample(text, 'churnfeat_lifecycle_version_retired_timestamp_seconds', { version: v2.version })).toBeGreaterThan(now / 1000 - 1);
    expect(sample(text, 'churnfeat_lifecycle_version_watermark_age_seconds', { version: v2.version, state: 'retired' })).toBeUndefined();
    expect(sample(text, 'churnfeat_lifecycle_last_rollback_timestamp_seconds')).toBeGreaterThan(now / 1000 - 1);
    expect(sample(text, 'churnfeat_lifecycle_alias_problem', { problem: 'missing' })).toBe(0);
    expect(sample(text, 'churnfeat_lifecycle_alias_problem', { problem: 'unknown_version' })).toBe(0);

    // the alias names a version without a record, then is gone
    await redis.set(activeVersionKey(prefix), 'no-such-version');
    expect(sample(await registry.metrics(), 'churnfeat_lifecycle_alias_problem', { problem: 'unknown_version' })).toBe(1);
    await redis.del(activeVersionKey(prefix));
    expect(sample(await registry.metrics(), 'churnfeat_lifecycle_alias_problem', { problem: 'missing' })).toBe(1);
    expect(await redis.hlen(versionCatalogKey(prefix))).toBe(2);
  });

  it('answers a scrape when Redis is unreachable, with read_failed 1 and no lifecycle series', async () => {
    const gone = new Redis(`redis://127.0.0.1:${await freePort()}`, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    gone.on('error', () => undefined);
    onTestFinished(() => gone.disconnect());
    const registry = new Registry();
    registerLifecycleMetrics(registry, gone, 'cf');
    const text = await registry.metrics();
    expect(sample(text, 'churnfeat_lifecycle_read_failed')).toBe(1);
    expect(sample(text, 'churnfeat_lifecycle_alias_problem', { problem: 'missing' })).toBeUndefined();
  });
});
