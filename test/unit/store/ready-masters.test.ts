import { Cluster, Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ChurnfeatError } from '../../../sidecar/src/errors.ts';
import { freePort } from '../../helpers/stack-services.ts'; // a loopback port nothing listens on any more
import { readyMasters } from '../../../sidecar/src/store/index.ts';

describe('readyMasters: the masters a command for every master reaches', () => {
  it('is the client itself for one node, without connecting it', async () => {
    const redis = new Redis({ port: await freePort(), lazyConnect: true });
    onTestFinished(() => redis.disconnect());
    expect(await readyMasters(redis, 50)).toEqual([redis]);
    expect(redis.status).toBe('wait');
  });

  it('refuses, by its deadline and saying why, a Cluster client that never learns its masters (instead of reaching none)', async () => {
    const cluster = new Cluster([{ host: '127.0.0.1', port: await freePort() }], { lazyConnect: true, clusterRetryStrategy: () => 50 });
    onTestFinished(() => cluster.disconnect());
    const events: Error[] = [];
    cluster.on('error', (error: Error) => events.push(error)); // the client's own reports of each failed attempt
    const started = performance.now();
    const error = await readyMasters(cluster as unknown as Redis, 400).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChurnfeatError);
    expect((error as ChurnfeatError).code).toBe('redis_unavailable');
    expect((error as Error).message).toMatch(/the Redis Cluster's masters are unknown \(not ready after 400 ms; client status [a-z]+\): a command for every master would reach none/);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(events.length).toBeGreaterThan(0);
  });
});
