import { spawn } from 'node:child_process';
import { describe, expect, it, onTestFinished } from 'vitest';
import { generateWorkload } from '../../../sidecar/src/loadgen/workload.ts';
import { SOURCES } from '../../../sidecar/src/events/index.ts';
import { churnfeatArgs, parseTotals } from '../../helpers/cli.ts';
import { createTestTopics, produceWorkload, testAdmin } from '../../helpers/kafka.ts';
import { freePort } from '../../helpers/stack-services.ts';
import { testNamespace, type TestNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

/** The drain must end well inside Kubernetes' default 30 s grace period. */
const DRAIN_DEADLINE_MS = 20_000;

/** `node dist/cli/churnfeat.js sidecar` as a child, with the namespace's settings passed as flags and env. */
function startSidecar(ns: TestNamespace, metricsPort: number) {
  const child = spawn(
    process.execPath,
    churnfeatArgs('sidecar', '--key-prefix', ns.options.keyPrefix, '--topic-namespace', ns.options.topicNamespace, '--group-id', ns.options.groupId, '--metrics-port', String(metricsPort)),
    { env: { ...process.env, CHURNFEAT_KAFKA_BROKERS: ns.options.brokers.join(','), CHURNFEAT_REDIS_URL: ns.options.redisUrl }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, exited, output: () => output };
}

describe('churnfeat sidecar as a child process', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)('drains on %s: commits what it consumed and exits 0 within the deadline', async (signal) => {
    const ns = testNamespace();
    await createTestTopics(ns);
    const metricsPort = await freePort();
    const sidecar = startSidecar(ns, metricsPort);
    await waitFor('the sidecar to subscribe', async () => sidecar.output().includes('churnfeat sidecar: consuming'), { timeoutMs: 60_000, intervalMs: 50 });

    const now = Date.now();
    const records = generateWorkload({ seed: 11, users: 50, eventsPerUser: 8, startMs: now - 600_000, endMs: now, veryLateShare: 0 });
    await produceWorkload(ns, records);
    const consumed = async (): Promise<number> => parseTotals(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()).consumed;
    await waitFor('the sidecar to consume the records', async () => (await consumed()) >= records.length, { timeoutMs: 60_000, intervalMs: 100 });

    const sentAt = Date.now();
    sidecar.child.kill(signal);
    const exit = await Promise.race([
      sidecar.exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit ${DRAIN_DEADLINE_MS} ms after ${signal}:\n${sidecar.output()}`)), DRAIN_DEADLINE_MS)),
    ]);
    expect(exit, sidecar.output()).toMatchObject({ code: 0, signal: null });
    expect(exit.at - sentAt).toBeLessThan(DRAIN_DEADLINE_MS);
    expect(sidecar.output()).toContain(`churnfeat sidecar: ${signal}, draining`);
    expect(sidecar.output()).toContain('churnfeat sidecar: stopped');

    // Graceful means committed: the group's offsets reach the end of every partition it consumed.
    const admin = await testAdmin();
    for (const source of SOURCES) {
      const topic = ns.topics.sources[source];
      const ends = await admin.fetchTopicOffsets(topic);
      const [committed] = await admin.fetchOffsets({ groupId: ns.options.groupId, topics: [topic] });
      for (const end of ends) {
        const at = committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? '-1';
        expect(Number(at) === Number(end.offset) || (Number(end.offset) === 0 && at === '-1'), `${topic}:${end.partition} committed ${at} of ${end.offset}`).toBe(true);
      }
    }
  });
});
