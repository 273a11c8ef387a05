import { execa, type ResultPromise } from 'execa';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ChurnfeatError } from '../../sidecar/src/errors.ts';
import { generateWorkload } from '../../sidecar/src/loadgen/workload.ts';
import { Sidecar } from '../../sidecar/src/pipeline/index.ts';
import { createTestTopics, produceWorkload, testAdmin } from '../helpers/kafka.ts';
import { testNamespace } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

/** A redis-server of the test's own on a free port, killed when the test ends. */
async function privateRedis(): Promise<{ url: string; process: ResultPromise }> {
  const port = 16_400 + Math.floor(Math.random() * 500);
  const child = execa('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { reject: false });
  onTestFinished(() => {
    child.kill('SIGKILL');
  });
  await waitFor(
    'the private redis-server to answer',
    async () => {
      const ping = await execa('redis-cli', ['-p', String(port), 'ping'], { reject: false });
      return ping.stdout.trim() === 'PONG';
    },
    { timeoutMs: 10_000 },
  );
  return { url: `redis://127.0.0.1:${port}`, process: child };
}

describe('when a dependency is down the sidecar fails clearly instead of hanging', () => {
  it('refuses to start with a redis_unavailable error when Redis cannot be reached', async () => {
    const ns = testNamespace({ redisUrl: 'redis://127.0.0.1:1' });
    const sidecar = new Sidecar(ns.options);
    const error = await sidecar.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ChurnfeatError);
    expect((error as ChurnfeatError).code).toBe('redis_unavailable');
    expect((error as Error).message).toContain('127.0.0.1:1');
  });

  it('refuses to start with a kafka_unavailable error when no broker answers', async () => {
    const ns = testNamespace({ brokers: ['127.0.0.1:1'] });
    const sidecar = new Sidecar(ns.options);
    onTestFinished(() => sidecar.stop());
    const error = await sidecar.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect((error as ChurnfeatError).code).toBe('kafka_unavailable');
  });

  it('reports Redis going away mid-run and commits nothing it could not write', async () => {
    const redis = await privateRedis();
    const ns = testNamespace({ redisUrl: redis.url });
    await createTestTopics(ns, { client: 1, billing: 1, support: 1 });
    const sidecar = new Sidecar(ns.options);
    await sidecar.start();
    onTestFinished(() => sidecar.stop());
    const now = Date.now() - 60_000;
    const first = generateWorkload({ seed: 1, users: 20, eventsPerUser: 5, startMs: now - 600_000, endMs: now, invalidShare: 0, veryLateShare: 0 });
    await produceWorkload(ns, first);
    await waitFor('the first records to be applied', async () => (await sidecar.metrics.totals()).consumed >= first.length);

    redis.process.kill('SIGKILL');
    const second = generateWorkload({ seed: 2, users: 20, eventsPerUser: 5, startMs: now - 600_000, endMs: now, invalidShare: 0, veryLateShare: 0 });
    await produceWorkload(ns, second);
    const health = await waitFor(
      'the sidecar to report Redis unavailable',
      async () => {
        const h = sidecar.health();
        return h.lastError?.code === 'redis_unavailable' || h.lastError?.message.includes('Redis') ? h : null;
      },
      { timeoutMs: 30_000 },
    );
    expect(health.lastError?.message).toMatch(/Redis|ECONNREFUSED|Connection/i);

    const admin = await testAdmin();
    const [committed] = await admin.fetchOffsets({ groupId: ns.options.groupId, topics: [ns.topics.sources.client] });
    const [high] = await admin.fetchTopicOffsets(ns.topics.sources.client);
    expect(BigInt(committed?.partitions[0]?.offset ?? '0')).toBeLessThan(BigInt(high?.high ?? '0'));
  });
});
