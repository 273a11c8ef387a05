import { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createRedisClient, resolveOptions } from '../../../sidecar/src/config/index.ts';

describe('createRedisClient topologies', () => {
  it('connects to the primary the Sentinels name, with the credentials of the URL, and to a replica for replica reads', () => {
    const primary = createRedisClient({ redisUrl: 'redis://svc:s3cret@ignored:1', redisSentinels: ['10.0.0.1:26379', '10.0.0.2:26380'], redisSentinelName: 'shard-a' }, { lazyConnect: true });
    expect(primary.options.sentinels).toEqual([
      { host: '10.0.0.1', port: 26379 },
      { host: '10.0.0.2', port: 26380 },
    ]);
    expect(primary.options).toMatchObject({ name: 'shard-a', role: 'master', username: 'svc', password: 's3cret' });
    const replica = createRedisClient({ redisUrl: 'redis://h:1', redisSentinels: ['10.0.0.1:26379'], redisReadFrom: 'replica' }, { lazyConnect: true });
    expect(replica.options.role).toBe('slave');
    primary.disconnect();
    replica.disconnect();
  });

  it('makes a Cluster client seeded by the URL whose pipeline() takes keys of many slots', () => {
    const redis = createRedisClient({ redisUrl: 'redis://127.0.0.1:7000', redisCluster: true, redisReadFrom: 'replica' }, { lazyConnect: true });
    const cluster: unknown = redis;
    expect(cluster).toBeInstanceOf(Cluster);
    expect((cluster as Cluster).options.scaleReads).toBe('slave');
    const pipeline = redis.pipeline();
    expect(() => pipeline.call('GET', 'a:{u1}').call('GET', 'a:{u2}')).not.toThrow();
    redis.disconnect();
  });

  it('rejects a bad topology option naming it', () => {
    expect(() => resolveOptions({ redisReadFrom: 'nearest' as never })).toThrow(/redisReadFrom|read-from/);
    expect(() => resolveOptions({ redisSentinels: ['no-port'] })).toThrow(/redisSentinels|sentinels/);
    expect(() => resolveOptions({ redisWaitReplicas: -1 })).toThrow(/redisWaitReplicas|wait-replicas/);
  });
});
