/**
 * Kafka over TLS with SASL/SCRAM, against a broker of this file's own that accepts nothing
 * else (scripts/stack/kafka-security.sh: a fresh test CA, SCRAM users made at format time):
 * the client refuses an untrusted certificate, the broker refuses a wrong password, the
 * sidecar runs end to end as a SCRAM user (library and `churnfeat sidecar` with the env
 * variables a deployment sets), and no password reaches an error or the log.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import { logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createKafkaClient, type KafkaConnection } from '../../../sidecar/src/config/index.ts';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { ensureTopics } from '../../../sidecar/src/kafka/index.ts';
import { Sidecar } from '../../../sidecar/src/pipeline/index.ts';
import { connectFeatureClient } from '../../../sidecar/src/serving/index.ts';
import { churnfeatArgs } from '../../helpers/cli.ts';
import { validBytes } from '../../helpers/events.ts';
import { deleteRedisKeys } from '../../helpers/redis.ts';
import { freePort, portOpen } from '../../helpers/stack-services.ts';
import { REDIS_URL, testNamespace, type TestNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const registry = loadFeatureRegistry('dbt_project');
const WRONG = 'wr0ng-s3cr3t-canary';

interface SecuredKafka {
  brokers: string[];
  ca: string;
  password(user: 'churnfeat-sidecar' | 'churnfeat-admin'): string;
}

let broker: SecuredKafka;
let stopBroker: () => Promise<void> = async () => undefined;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'churnfeat-kafka-security-'));
  const [saslPort, internalPort, controllerPort] = [await freePort(), await freePort(), await freePort()];
  const prepared = spawnSync('scripts/stack/kafka-security.sh', ['prepare', dir, String(saslPort), String(internalPort), String(controllerPort)], { encoding: 'utf8' });
  expect(prepared.status, prepared.stderr).toBe(0);
  // The script execs java: this pid is the broker's, and SIGTERM reaches it.
  const child: ChildProcess = spawn('scripts/stack/kafka-security.sh', ['run', dir], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  stopBroker = async () => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  broker = {
    brokers: [`127.0.0.1:${saslPort}`],
    ca: join(dir, 'tls', 'ca.pem'),
    password: (user) => readFileSync(join(dir, `${user}.password`), 'utf8').trim(),
  };
  await waitFor('the secured broker accepts connections', () => portOpen(saslPort), { timeoutMs: 90_000, intervalMs: 250 });
}, 120_000);

afterAll(() => stopBroker(), 60_000);

function connection(overrides: Partial<KafkaConnection> = {}): KafkaConnection {
  return {
    brokers: broker.brokers,
    kafkaTlsCa: broker.ca,
    kafkaSaslMechanism: 'scram-sha-512',
    kafkaSaslUsername: 'churnfeat-sidecar',
    kafkaSaslPassword: broker.password('churnfeat-sidecar'),
    ...overrides,
  };
}

function client(overrides: Partial<KafkaConnection> = {}): Kafka {
  return createKafkaClient(connection(overrides), { clientId: 'security-test', logLevel: logLevel.NOTHING, retry: { retries: 1, initialRetryTime: 100 } });
}

/** A namespace whose topics live on the secured broker (created as the admin user); its Redis keys go with the test. */
async function securedNamespace(): Promise<TestNamespace> {
  const ns = testNamespace({ ...connection(), brokers: broker.brokers });
  const admin = client({ kafkaSaslUsername: 'churnfeat-admin', kafkaSaslPassword: broker.password('churnfeat-admin') }).admin();
  await admin.connect();
  await ensureTopics(admin, ns.topics);
  await admin.disconnect();
  onTestFinished(() => deleteRedisKeys(REDIS_URL, ns.id));
  return ns;
}

async function produceError(ns: TestNamespace, user: string): Promise<void> {
  const producer = client().producer();
  await producer.connect();
  const now = new Date().toISOString();
  await producer.send({
    topic: ns.topics.sources.client,
    acks: -1,
    messages: [{ key: user, value: validBytes('client', 'playback_error', { user_id: user, event_ts: now, ingest_ts: now }) }],
  });
  await producer.disconnect();
}

async function readErrors(ns: TestNamespace, user: string): Promise<number> {
  const reader = await connectFeatureClient({ redisUrl: REDIS_URL, prefix: ns.options.keyPrefix, registry, watermarkRefreshMs: 200 });
  onTestFinished(() => reader.close());
  return waitFor(
    `user ${user}'s error readable`,
    async () => {
      const value = (await reader.client.get(user)).features.errors_last_10m?.value;
      return value === 1 ? value : null;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}

/** `churnfeat sidecar` configured by env as a deployment would be; stopped with SIGTERM once `until` resolves. */
async function runSidecarCli(ns: TestNamespace, password: string, until?: () => Promise<unknown>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, churnfeatArgs('sidecar'), {
    env: {
      ...process.env,
      CHURNFEAT_KAFKA_BROKERS: broker.brokers.join(','),
      CHURNFEAT_KAFKA_TLS_CA: broker.ca,
      CHURNFEAT_KAFKA_SASL_MECHANISM: 'scram-sha-256',
      CHURNFEAT_KAFKA_SASL_USERNAME: 'churnfeat-sidecar',
      CHURNFEAT_KAFKA_SASL_PASSWORD: password,
      CHURNFEAT_REDIS_URL: REDIS_URL,
      CHURNFEAT_KEY_PREFIX: ns.options.keyPrefix,
      CHURNFEAT_TOPIC_NAMESPACE: ns.options.topicNamespace,
      CHURNFEAT_GROUP_ID: ns.options.groupId,
      CHURNFEAT_METRICS_PORT: String(await freePort()),
      CHURNFEAT_LOG_LEVEL: 'debug',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  try {
    if (until) {
      await Promise.race([until(), exit]);
      if (child.exitCode === null) child.kill('SIGTERM');
    }
    return { code: await exit, output };
  } finally {
    clearTimeout(timer);
  }
}

describe('Kafka over TLS with SASL/SCRAM', () => {
  it('refuses a broker certificate the client does not trust', async () => {
    const admin = client({ kafkaTlsCa: '', kafkaTls: true }).admin();
    await expect(admin.connect()).rejects.toThrow(/certificate/i);
  });

  it('is refused by the broker with a wrong password, and the password is in no error', async () => {
    const admin = client({ kafkaSaslPassword: WRONG }).admin();
    const error: unknown = await admin.connect().then(
      () => null,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(Error);
    const text = `${String(error)} ${JSON.stringify(error)} ${(error as Error).stack ?? ''}`;
    expect(text).toMatch(/authentication failed/i);
    expect(text).not.toContain(WRONG);
  });

  it('runs the sidecar end to end as a SCRAM-SHA-512 user over TLS', async () => {
    const ns = await securedNamespace();
    const sidecar = new Sidecar(ns.options, registry);
    await sidecar.start();
    onTestFinished(() => sidecar.stop());
    const user = `u-${randomBytes(4).toString('hex')}`;
    await produceError(ns, user);
    expect(await readErrors(ns, user)).toBe(1);
    expect(sidecar.health().lastError).toBeNull();
  });

  it('runs `churnfeat sidecar` configured by env (SCRAM-SHA-256), drains on SIGTERM, and logs no password', async () => {
    const ns = await securedNamespace();
    const user = `u-${randomBytes(4).toString('hex')}`;
    await produceError(ns, user);
    const password = broker.password('churnfeat-sidecar');
    const { code, output } = await runSidecarCli(ns, password, () => readErrors(ns, user));
    expect(code, output).toBe(0);
    expect(output).not.toContain(password);
  });

  it('exits 1 with one line naming the failure when the broker refuses the password, which it never prints', async () => {
    const ns = await securedNamespace();
    const { code, output } = await runSidecarCli(ns, WRONG);
    expect(output).not.toContain(WRONG);
    expect(output).toMatch(/authentication failed/i);
    expect(code).toBe(1);
  });
});
