/**
 * Redis access control, TLS and credential redaction, against redis-servers of the test's
 * own (ACL file and certificates from scripts/stack/redis-security.sh, the script the local
 * stack uses) and the stack's Kafka broker.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createRedisClient, waitForRedis } from '../../../sidecar/src/config/index.ts';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { Sidecar } from '../../../sidecar/src/pipeline/index.ts';
import { connectFeatureClient } from '../../../sidecar/src/serving/index.ts';
import { explainUser, versionPrefix } from '../../../sidecar/src/store/index.ts';
import { churnfeatArgs } from '../../helpers/cli.ts';
import { validBytes } from '../../helpers/events.ts';
import { createTestTopics, kafkaClient } from '../../helpers/kafka.ts';
import { freePort } from '../../helpers/stack-services.ts';
import { testNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const SECRET = 's3cr3t-canary';
const registry = loadFeatureRegistry('dbt_project');

interface SecuredRedis {
  port: number;
  tlsPort: number;
  ca: string;
  password(user: 'churnfeat-sidecar' | 'churnfeat-serving'): string;
}

/** A redis-server with the stack's ACL users (keys `<prefix>:*`) and a TLS port signed by a fresh CA; killed by pid. */
async function securedRedis(prefix: string): Promise<SecuredRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'churnfeat-redis-security-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  for (const args of [
    ['acl', dir, `${prefix}:*`],
    ['tls', dir],
  ]) {
    const made = spawnSync('scripts/stack/redis-security.sh', args, { encoding: 'utf8' });
    expect(made.status, made.stderr).toBe(0);
  }
  const [port, tlsPort] = [await freePort(), await freePort()];
  const child: ChildProcess = spawn(
    'redis-server',
    [
      ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--aclfile', join(dir, 'users.acl')],
      ...['--tls-port', String(tlsPort), '--tls-cert-file', join(dir, 'server.pem'), '--tls-key-file', join(dir, 'server.key')],
      ...['--tls-ca-cert-file', join(dir, 'ca.pem'), '--tls-auth-clients', 'no'],
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  onTestFinished(async () => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    await exited;
  });
  await waitForRedis(`redis://127.0.0.1:${port}`, { timeoutMs: 60_000, exited: () => child.exitCode !== null });
  return { port, tlsPort, ca: join(dir, 'ca.pem'), password: (user) => readFileSync(join(dir, `${user}.password`), 'utf8').trim() };
}

function client(url: string, ca?: string): Redis {
  const redis = createRedisClient({ redisUrl: url, redisTlsCa: ca }, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  onTestFinished(() => void redis.disconnect());
  return redis;
}

/** `churnfeat sidecar` with one Redis URL: its exit code and everything it printed. */
async function runSidecar(redisUrl: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, churnfeatArgs('sidecar'), {
    env: { ...process.env, CHURNFEAT_REDIS_URL: redisUrl, CHURNFEAT_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  return { code, output };
}

describe('credentials never reach the output', () => {
  it('keeps the password out of the log and the error when Redis is unreachable, and exits 1 with one line, no stack', async () => {
    const closed = await freePort();
    const { code, output } = await runSidecar(`redis://user:${SECRET}@127.0.0.1:${closed}`);
    expect(output).not.toContain(SECRET);
    expect(output).toContain(`redis://user:***@127.0.0.1:${closed}`);
    expect(code).toBe(1);
    expect(output).toMatch(/^churnfeat sidecar: redis_unavailable: cannot reach Redis at /m);
    expect(output).not.toMatch(/^\s+at /m);
  });

  it('keeps a wrong password out of the output when Redis refuses it', async () => {
    const redis = await securedRedis(`p${randomBytes(3).toString('hex')}`);
    const { code, output } = await runSidecar(`redis://churnfeat-sidecar:${SECRET}@127.0.0.1:${redis.port}`);
    expect(output).toContain('WRONGPASS');
    expect(output).not.toContain(SECRET);
    expect(code).toBe(1);
  });
});

describe('the Redis ACL users', () => {
  it('let the sidecar user run its own commands on its prefix only, and deny FLUSHALL, CONFIG and KEYS', async () => {
    const prefix = `p${randomBytes(3).toString('hex')}`;
    const server = await securedRedis(prefix);
    const sidecar = client(`redis://churnfeat-sidecar:${server.password('churnfeat-sidecar')}@127.0.0.1:${server.port}`);
    await sidecar.connect();
    expect(await sidecar.set(`${prefix}:registry`, 'v1')).toBe('OK');
    expect(await sidecar.hset(`${prefix}:wm`, 'client:0', '1')).toBe(1);
    await expect(sidecar.set('other:registry', 'v1')).rejects.toThrow(/NOPERM/);
    await expect(sidecar.flushall()).rejects.toThrow(/NOPERM/);
    await expect(sidecar.call('CONFIG', 'GET', 'maxmemory')).rejects.toThrow(/NOPERM/);
    await expect(sidecar.keys('*')).rejects.toThrow(/NOPERM/);
  });

  it('let the serving user read its prefix and write nothing', async () => {
    const prefix = `p${randomBytes(3).toString('hex')}`;
    const server = await securedRedis(prefix);
    const admin = client(`redis://127.0.0.1:${server.port}`);
    await admin.connect();
    await admin.set(`${prefix}:registry`, 'v1');
    const serving = client(`redis://churnfeat-serving:${server.password('churnfeat-serving')}@127.0.0.1:${server.port}`);
    await serving.connect();
    expect(await serving.get(`${prefix}:registry`)).toBe('v1');
    await expect(serving.set(`${prefix}:registry`, 'v2')).rejects.toThrow(/NOPERM/);
    await expect(serving.call('FCALL', 'anything', '0')).rejects.toThrow(/NOPERM/);
    await expect(serving.call('FUNCTION', 'LOAD', '#!lua name=x\nredis.register_function("x", function() return 1 end)')).rejects.toThrow(/NOPERM/);
    await expect(serving.flushall()).rejects.toThrow(/NOPERM/);
    await expect(serving.call('CONFIG', 'GET', 'maxmemory')).rejects.toThrow(/NOPERM/);
    await expect(serving.keys('*')).rejects.toThrow(/NOPERM/);
  });

  it('refuse a TLS client that does not trust the CA, and accept one given the CA file', async () => {
    const server = await securedRedis(`p${randomBytes(3).toString('hex')}`);
    const url = `rediss://churnfeat-serving:${server.password('churnfeat-serving')}@127.0.0.1:${server.tlsPort}`;
    const untrusting = client(url);
    const seen: string[] = [];
    untrusting.on('error', (error: Error) => seen.push(error.message));
    await expect(untrusting.connect()).rejects.toThrow();
    expect(seen.join('\n')).toMatch(/certificate/i);
    const trusted = client(url, server.ca);
    await trusted.connect();
    expect(await trusted.ping()).toBe('PONG');
  });

  it('run a sidecar and a reader end to end over TLS, each as its own ACL user', async () => {
    const ns = testNamespace();
    const server = await securedRedis(ns.options.keyPrefix);
    await createTestTopics(ns);
    const sidecar = new Sidecar({ ...ns.options, redisUrl: `rediss://churnfeat-sidecar:${server.password('churnfeat-sidecar')}@127.0.0.1:${server.tlsPort}`, redisTlsCa: server.ca }, registry);
    await sidecar.start();
    onTestFinished(() => sidecar.stop());
    const producer = kafkaClient(`${ns.id}-producer`).producer();
    await producer.connect();
    onTestFinished(() => producer.disconnect());
    const user = `u-${randomBytes(4).toString('hex')}`;
    const now = new Date().toISOString();
    await producer.send({
      topic: ns.topics.sources.client,
      acks: -1,
      messages: [{ key: user, value: validBytes('client', 'playback_error', { user_id: user, event_ts: now, ingest_ts: now }) }],
    });
    const reader = await connectFeatureClient({
      redisUrl: `rediss://churnfeat-serving:${server.password('churnfeat-serving')}@127.0.0.1:${server.tlsPort}`,
      redisTlsCa: server.ca,
      prefix: ns.options.keyPrefix,
      registry,
      watermarkRefreshMs: 200,
    });
    onTestFinished(() => reader.close());
    const answer = await waitFor(
      'the error readable through the serving user',
      async () => {
        const read = await reader.client.get(user);
        return read.features.errors_last_10m?.value === 1 ? read : null;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(answer.user_id).toBe(user);
    // the explain endpoint's transaction (MULTI, HGETALL, FCALL_RO, EXEC) as the serving user
    const serving = createRedisClient({ redisUrl: `rediss://churnfeat-serving:${server.password('churnfeat-serving')}@127.0.0.1:${server.tlsPort}`, redisTlsCa: server.ca });
    onTestFinished(() => serving.quit().then(() => undefined));
    const explained = await explainUser(serving, registry, versionPrefix(ns.options.keyPrefix, registry.version), { userId: user });
    expect(explained.consistent).toBe(true);
    expect(explained.features.find((f) => f.feature === 'errors_last_10m')?.served).toBe(1);
    expect(sidecar.health().lastError).toBeNull();
  });
});
