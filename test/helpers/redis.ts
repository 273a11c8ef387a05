/** Redis for tests: clients closed when the test ends, key cleanup, a private redis-server. */
import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { onTestFinished } from 'vitest';
import { createRedisClient, waitForRedis } from '../../sidecar/src/config/index.ts';
import { readyMasters } from '../../sidecar/src/store/index.ts';
import { REDIS_CLUSTER, REDIS_URL } from './stack.ts';
import { freePort } from './stack-services.ts';

/** A client of the shared Redis (a Cluster client when REDIS_CLUSTER), closed when the test ends. */
export function testRedis(url = REDIS_URL): Redis {
  const redis = REDIS_CLUSTER && url === REDIS_URL ? createRedisClient({ redisUrl: url, redisCluster: true }) : new Redis(url);
  onTestFinished(() => redis.disconnect());
  return redis;
}

/** Deletes every key under `<prefix>:` through an open client: on every master of a Cluster, one key per UNLINK (a Cluster refuses multi-key commands across slots). */
export async function unlinkPrefix(redis: Redis, prefix: string): Promise<void> {
  for (const node of await readyMasters(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = (await node.call('SCAN', cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)) as [string, string[]];
      cursor = next;
      if (keys.length > 0) await Promise.all(keys.map((key) => node.call('UNLINK', key)));
    } while (cursor !== '0');
  }
}

/** Deletes every key under `<prefix>:` (a test's namespace), on every master of a Cluster. */
export async function deleteRedisKeys(url: string, ...prefixes: string[]): Promise<void> {
  const redis = REDIS_CLUSTER && url === REDIS_URL ? createRedisClient({ redisUrl: url, redisCluster: true }) : new Redis(url);
  try {
    for (const prefix of prefixes) await unlinkPrefix(redis, prefix);
  } finally {
    redis.disconnect();
  }
}

/** A redis-server of the test's own, with ways to take it away. */
export interface PrivateRedis {
  url: string;
  /** Kills the server (SIGKILL, by its pid): what a crashed node looks like to its clients. */
  kill(): Promise<void>;
  /** Starts a new, empty server on the same port (no persistence): a node restarted empty, or a failover to a fresh one. */
  startEmpty(): Promise<void>;
}

/** A redis-server of the test's own on a free port (never the shared one), stopped by its pid when the test ends. */
export async function privateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let kill: () => Promise<void> = async () => undefined;
  const startEmpty = async (): Promise<void> => {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    kill = async (): Promise<void> => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      await exited;
    };
    try {
      await waitForRedis(url, { exited: () => child.exitCode !== null });
    } catch (error) {
      throw new Error(`private redis-server did not start on port ${port}`, { cause: error });
    }
  };
  onTestFinished(() => kill());
  await startEmpty();
  return { url, kill: () => kill(), startEmpty };
}

/** Every key under `<keyspace>:` but `skip`, with its hash's fields (values as hex), on every master of a Cluster: two loads compared byte for byte. */
export async function dumpKeyspace(redis: Redis, keyspace: string, skip = ''): Promise<Record<string, Record<string, string>>> {
  const keys: string[] = [];
  for (const node of await readyMasters(redis)) {
    let cursor = '0';
    do {
      const [next, found] = (await node.call('SCAN', cursor, 'MATCH', `${keyspace}:*`, 'COUNT', 1000)) as [string, string[]];
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
  }
  const out: Record<string, Record<string, string>> = {};
  for (const key of keys.sort()) {
    if (key === skip) continue;
    // the read head (store protocol 7) is a string: its bytes under the field ''
    if ((await redis.type(key)) === 'string') {
      out[key.slice(keyspace.length)] = { '': ((await redis.getBuffer(key)) as Buffer).toString('hex') };
      continue;
    }
    const fields = await redis.hgetallBuffer(key);
    out[key.slice(keyspace.length)] = Object.fromEntries(Object.entries(fields).map(([f, v]) => [f, v.toString('hex')]));
  }
  return out;
}
