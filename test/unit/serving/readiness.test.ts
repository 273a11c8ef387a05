import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ReadinessProbe, WatermarkSnapshot } from '../../../sidecar/src/serving/index.ts';
import { servingRegistry, NOW, watermarks } from '../../helpers/serving.ts';

/** Just the two commands the probe sends. */
function fakeRedis(options: { down?: boolean; registry?: string | null; hang?: boolean } = {}): Redis {
  const answer = <T>(value: T): Promise<T> => {
    if (options.hang) return new Promise<T>(() => undefined);
    return options.down ? Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1')) : Promise.resolve(value);
  };
  return {
    ping: () => answer('PONG'),
    get: () => answer(options.registry === undefined ? servingRegistry().version : options.registry),
  } as unknown as Redis;
}

function probe(redis: Redis, snapshot: WatermarkSnapshot, maxWatermarkAgeMs = 600_000): ReadinessProbe {
  return new ReadinessProbe({ redis, registry: servingRegistry(), prefix: 'cf', watermarks: { snapshot: () => snapshot }, maxWatermarkAgeMs, pingTimeoutMs: 50, clock: () => NOW });
}

describe('ReadinessProbe', () => {
  it('is ready when Redis answers, our registry is loaded and every watermark is recent', async () => {
    const report = await probe(fakeRedis(), watermarks()).check();
    expect(report.ready).toBe(true);
    expect(report.reasons).toEqual([]);
  });

  it('says why it is not ready when Redis is down', async () => {
    const report = await probe(fakeRedis({ down: true }), watermarks()).check();
    expect(report.ready).toBe(false);
    expect(report.checks.redis.ok).toBe(false);
    expect(report.reasons[0]).toMatch(/^redis: Redis does not answer: connect ECONNREFUSED/);
  });

  it('times a hanging Redis out instead of hanging the probe', async () => {
    const report = await probe(fakeRedis({ hang: true }), watermarks()).check();
    expect(report.checks.redis.detail).toContain('timed out after 50 ms');
  });

  it("fails when the served version's registry is not loaded in its keyspace, or the marker names another", async () => {
    expect((await probe(fakeRedis({ registry: null }), watermarks()).check()).checks.registry.detail).toContain('no registry loaded under cf:v:feedfacecafebeef:registry');
    const other = await probe(fakeRedis({ registry: '0123456789abcdef' }), watermarks()).check();
    expect(other.ready).toBe(false);
    expect(other.checks.registry.detail).toBe('cf:v:feedfacecafebeef:registry names registry 0123456789abcdef, this service serves feedfacecafebeef');
  });

  it('fails when a source has no watermark or a partition watermark is older than the limit', async () => {
    const none = await probe(fakeRedis(), WatermarkSnapshot.empty()).check();
    expect(none.checks.watermarks.detail).toContain('no watermark published for source client');
    expect(none.checks.watermarks.detail).toContain('no watermark published for source billing');
    const old = await probe(fakeRedis(), watermarks([['client', 3, NOW - 900_000]])).check();
    expect(old.ready).toBe(false);
    expect(old.checks.watermarks.detail).toBe('client:3 watermark is 900 s old (limit 600 s)');
  });

  it('ignores watermarks when the limit is 0', async () => {
    const report = await probe(fakeRedis(), WatermarkSnapshot.empty(), 0).check();
    expect(report.ready).toBe(true);
  });
});
