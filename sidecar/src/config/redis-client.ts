import { readFileSync } from 'node:fs';
import { Cluster, Redis, type ChainableCommander, type RedisOptions } from 'ioredis';

/** Where and how to reach Redis: the URL (rediss:// for TLS, user:password@ for an ACL user) and a private CA. */
export interface RedisConnection {
  readonly redisUrl: string;
  /** PEM file of the CA of Redis's certificate; '' or absent = the system CAs. */
  readonly redisTlsCa?: string;
  /** Sentinels (host:port) that name the primary; empty or absent = the URL's node. */
  readonly redisSentinels?: readonly string[];
  /** The master name the Sentinels monitor. */
  readonly redisSentinelName?: string;
  /** The URL's node seeds a Redis Cluster. */
  readonly redisCluster?: boolean;
  /** Where read-only calls go with Sentinels or a Cluster. */
  readonly redisReadFrom?: 'primary' | 'replica';
}

/** The TLS settings of a connection, or undefined for plain TCP (a redis:// URL). */
export function redisTlsOptions(connection: RedisConnection): RedisOptions['tls'] {
  if (!/^rediss:\/\//i.test(connection.redisUrl)) return undefined;
  const ca = connection.redisTlsCa ? readFileSync(connection.redisTlsCa) : undefined;
  return ca === undefined ? {} : { ca };
}

function hostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}

/**
 * The commands' pipelines on a Cluster: ioredis refuses a pipeline whose keys live on more
 * than one node, and every batch of the project spans many users. The commands of one
 * `exec()` are all sent before any reply is awaited, so they are in flight together as in a
 * pipeline (ioredis' auto-pipelining cannot be used: it builds on `pipeline()` itself).
 */
class ClusterPipeline {
  private readonly commands: Array<[string, Array<string | number | Buffer>]> = [];

  constructor(private readonly cluster: Cluster) {}

  call(command: string, ...args: Array<string | number | Buffer>): this {
    this.commands.push([command, args]);
    return this;
  }

  async exec(): Promise<Array<[Error | null, unknown]>> {
    const settled = await Promise.allSettled(this.commands.map(([command, args]) => this.cluster.call(command, ...args)));
    return settled.map((s) => (s.status === 'fulfilled' ? [null, s.value] : [s.reason as Error, null]));
  }
}

/**
 * A Cluster client seen through the Redis interface the store code is written against: the
 * same single-key commands (every key of a call shares the user's hash tag, one slot), with
 * `pipeline()` replaced by {@link ClusterPipeline}. Only `call`-style pipelines are offered.
 */
function clusterAsRedis(cluster: Cluster): Redis {
  return new Proxy(cluster, {
    get(target, property, receiver) {
      if (property === 'pipeline') return () => new ClusterPipeline(target) as unknown as ChainableCommander;
      return Reflect.get(target, property, receiver) as unknown;
    },
  }) as unknown as Redis;
}

/**
 * The one place a Redis client is made: every service passes its options here, so TLS, the
 * CA, the ACL user and the topology (one node, Sentinels, a Cluster) work the same
 * everywhere. `options` are the caller's ioredis settings (timeouts, retries); the URL's
 * credentials never appear in what this module throws.
 */
export function createRedisClient(connection: RedisConnection, options: RedisOptions = {}): Redis {
  const tls = redisTlsOptions(connection);
  const base = tls === undefined ? options : { ...options, tls };
  const replica = connection.redisReadFrom === 'replica';
  if (connection.redisSentinels && connection.redisSentinels.length > 0) {
    const url = new URL(connection.redisUrl);
    return new Redis({
      ...base,
      sentinels: connection.redisSentinels.map(hostPort),
      name: connection.redisSentinelName ?? 'churnfeat',
      role: replica ? 'slave' : 'master',
      username: url.username ? decodeURIComponent(url.username) : undefined,
      password: url.password ? decodeURIComponent(url.password) : undefined,
      enableTLSForSentinelMode: tls !== undefined,
    });
  }
  if (connection.redisCluster) {
    const url = new URL(connection.redisUrl);
    const { lazyConnect, ...redisOptions } = base;
    const cluster = new Cluster([{ host: url.hostname, port: Number(url.port || 6379) }], {
      lazyConnect,
      scaleReads: replica ? 'slave' : 'master',
      redisOptions: {
        ...redisOptions,
        username: url.username ? decodeURIComponent(url.username) : undefined,
        password: url.password ? decodeURIComponent(url.password) : undefined,
      },
    });
    return clusterAsRedis(cluster);
  }
  return new Redis(connection.redisUrl, base);
}

/**
 * Resolves once the Redis node at `url` answers PING (a fresh connection per try, 50 ms
 * apart); rejects after `timeoutMs` (default 10 s), or at once when `exited()` says the server
 * process is gone. For the tools that start a redis-server of their own (tests, benchmarks).
 */
export async function waitForRedis(url: string, options: { timeoutMs?: number; exited?: () => boolean } = {}): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  for (;;) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      // not up yet
    } finally {
      probe.disconnect();
    }
    if (Date.now() > deadline || options.exited?.() === true)
      throw new Error(`Redis at ${url} did not answer PING${options.exited?.() === true ? ': the server exited' : ` within ${options.timeoutMs ?? 10_000} ms`}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
