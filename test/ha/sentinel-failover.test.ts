import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createRedisClient } from '../../sidecar/src/config/index.ts';
import { SOURCES } from '../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../sidecar/src/features/index.ts';
import { generateWorkload } from '../../sidecar/src/loadgen/workload.ts';
import { Sidecar } from '../../sidecar/src/pipeline/index.ts';
import { READ_PATH_REDIS_OPTIONS, RedisStateReader, startServingService, type ServingService } from '../../sidecar/src/serving/index.ts';
import { FeatureReader } from '../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../sidecar/src/windows/index.ts';
import { HA_SENTINEL_DATA, HA_SENTINEL_NAME, HA_SENTINELS, restartMissing, signalNode } from '../helpers/ha.ts';
import { createTestTopics, produceWorkload, waitForGroupCaughtUp } from '../helpers/kafka.ts';
import { countDrift, diffReads, HOUR, onlineReads, referencePipeline, referenceReads } from '../helpers/reference.ts';
import { testNamespace } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const registry = loadFeatureRegistry('dbt_project');
const operators = new WindowOperators(registry);
const sentinelPort = Number(HA_SENTINELS[0]?.split(':')[1]);

/** The Sentinel group's data node that is primary now. */
async function primaryNode(): Promise<keyof typeof HA_SENTINEL_DATA> {
  const sentinel = new Redis({ port: sentinelPort, host: '127.0.0.1', lazyConnect: true });
  try {
    const [, port] = (await sentinel.call('SENTINEL', 'get-master-addr-by-name', HA_SENTINEL_NAME)) as [string, string];
    const found = Object.entries(HA_SENTINEL_DATA).find(([, p]) => p === Number(port));
    if (!found) throw new Error(`Sentinel names an unknown primary port ${port}`);
    return found[0] as keyof typeof HA_SENTINEL_DATA;
  } finally {
    sentinel.disconnect();
  }
}

/** Reads while a failover happens: errors, and the latency of the reads that answered. */
class ReadProbe {
  reads = 0;
  errors = 0;
  readonly latencies: number[] = [];
  private running = true;
  private readonly done: Promise<void>;

  constructor(
    private readonly reader: RedisStateReader,
    private readonly users: readonly string[],
  ) {
    this.done = this.loop();
  }

  private async loop(): Promise<void> {
    let i = 0;
    while (this.running) {
      const started = performance.now();
      try {
        await this.reader.read(this.users[i++ % this.users.length] as string);
        this.latencies.push(performance.now() - started);
      } catch {
        this.errors += 1;
        await new Promise((resolve) => setTimeout(resolve, 20)); // pace retries of a failing read, as a client would
      }
      this.reads += 1;
    }
  }

  async stop(): Promise<{ reads: number; errors: number; p99Ms: number; maxMs: number }> {
    this.running = false;
    await this.done;
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return { reads: this.reads, errors: this.errors, p99Ms: Math.round((sorted[Math.floor(sorted.length * 0.99)] ?? 0) * 10) / 10, maxMs: Math.round(sorted.at(-1) ?? 0) };
  }
}

/**
 * The sidecar consumes a workload through the Sentinels; mid-run the replica falls 1 s behind
 * (its link cut) and the primary is killed (-9); Sentinel promotes the replica. Then every acked
 * (committed) event must be in the store: the reads are compared with the reference pipeline.
 */
async function failoverRun(waitReplicas: number) {
  const topology = { redisUrl: 'redis://127.0.0.1:6379', redisSentinels: HA_SENTINELS, redisSentinelName: HA_SENTINEL_NAME };
  const ns = testNamespace({ ...topology, redisWaitReplicas: waitReplicas, redisWaitTimeoutMs: 500 });
  await createTestTopics(ns);
  const end = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
  const workload = generateWorkload({ seed: 21 + waitReplicas, users: 300, eventsPerUser: 30, startMs: end - 2 * 24 * HOUR, endMs: end, duplicateShare: 0.02 });
  const users = [...new Set(workload.map((r) => r.key))].sort();

  const sidecar = new Sidecar({ ...ns.options, partitionsConsumedConcurrently: 2 }, registry);
  onTestFinished(() => sidecar.stop());
  await sidecar.start();
  const readClient = createRedisClient({ ...topology, redisReadFrom: 'replica' }, { ...READ_PATH_REDIS_OPTIONS, lazyConnect: true });
  onTestFinished(() => readClient.disconnect());
  await readClient.connect();
  const probe = new ReadProbe(new RedisStateReader(readClient, registry, ns.options.keyPrefix), users);

  const producing = produceWorkload(ns, workload);
  await waitFor('a third of the workload to be consumed', async () => (await sidecar.metrics.totals()).consumed >= workload.length / 3, { timeoutMs: 120_000, intervalMs: 20 });
  const primary = await primaryNode();
  const replica = primary === 'redis-primary' ? 'redis-replica' : 'redis-primary';
  // The fault: the replication link breaks and cannot come back (the primary refuses new
  // logins of the user the replica connects as; the sidecar's open connection stays), so for
  // 1 s the primary acknowledges writes the replica never gets; then the primary dies (-9).
  const primaryClient = new Redis({ host: '127.0.0.1', port: HA_SENTINEL_DATA[primary], lazyConnect: true });
  primaryClient.on('error', () => undefined);
  await primaryClient.connect();
  const faultAt = Date.now();
  await primaryClient.call('ACL', 'SETUSER', 'default', 'off');
  await primaryClient.call('CLIENT', 'KILL', 'TYPE', 'replica');
  await new Promise((resolve) => setTimeout(resolve, 1_000)); // the fault's duration
  await signalNode(primary, 'SIGKILL');
  primaryClient.disconnect();
  await waitFor('Sentinel to promote the replica', async () => (await primaryNode()) === replica, { timeoutMs: 60_000, intervalMs: 100 });
  const promotedMs = Date.now() - faultAt;
  await restartMissing('sentinel'); // the old primary comes back empty, as a replica of the new one
  await producing;
  await waitForGroupCaughtUp(
    ns.options.groupId,
    SOURCES.map((s) => ns.topics.sources[s]),
    180_000,
  );
  const recoveredMs = Date.now() - faultAt;
  const serving = await probe.stop();

  const reference = referencePipeline(
    operators,
    workload.map((r, offset) => ({ source: r.source, value: r.value, partition: 0, offset })),
  );
  const asOf = Math.max(...workload.map((r) => r.ingestMs)) + 7 * 60_000 + 13_000;
  const expected = referenceReads(registry, reference.applied, users, asOf);
  const writeClient = createRedisClient(topology, { lazyConnect: true });
  onTestFinished(() => writeClient.disconnect());
  await writeClient.connect();
  const online = await onlineReads(new FeatureReader(writeClient, registry, ns.options.keyPrefix), users, asOf);
  const drift = countDrift(registry, expected, online);
  const usersWrong = new Set(diffReads(expected, online).map((line) => line.split(' ')[0])).size;
  const totals = await sidecar.metrics.totals();
  return { records: workload.length, users: users.length, promotedMs, recoveredMs, drift, usersWrong, replayed: totals.replayed, serving };
}

function report(label: string, r: Awaited<ReturnType<typeof failoverRun>>): void {
  console.info(
    `sentinel failover (${label}): ${r.records} records, ${r.users} users, faults: replication link cut 1 s + primary kill -9; promoted after ${r.promotedMs} ms, lag 0 again after ${r.recoveredMs} ms; ` +
      `acked-but-lost counts ${r.drift.missing} (users wrong ${r.usersWrong}), double counts ${r.drift.doubleCounts}, replays skipped ${r.replayed}; ` +
      `serving (replica reads): ${r.serving.reads} reads, ${r.serving.errors} errors, p99 ${r.serving.p99Ms} ms, max ${r.serving.maxMs} ms`,
  );
}

describe('Redis Sentinel: primary killed under load', () => {
  it('negative control: without WAIT the offsets of writes the replica never got are committed, and those events are lost', async () => {
    const r = await failoverRun(0);
    report('WAIT off', r);
    expect(r.drift.missing).toBeGreaterThan(0);
    expect(r.drift.doubleCounts).toBe(0);
  });

  it('loses no committed event after failover with WAIT 1 before the commit, and serving keeps answering from the replica', async () => {
    const r = await failoverRun(1);
    report('WAIT 1', r);
    expect(r.drift.missing).toBe(0);
    expect(r.usersWrong).toBe(0);
    expect(r.drift.doubleCounts).toBe(0);
  });
});

/** Every user read through the service's HTTP API: the feature values of the 200s, and how many were not 200. */
async function readAll(service: ServingService, users: readonly string[]): Promise<{ bodies: Map<string, string>; errors: number }> {
  const bodies = new Map<string, string>();
  let errors = 0;
  for (const user of users) {
    const response = await fetch(`${service.url}/v1/features/${encodeURIComponent(user)}`);
    if (response.status !== 200) {
      errors += 1;
      continue;
    }
    const body = (await response.json()) as { features: Record<string, { value: unknown }> };
    bodies.set(user, JSON.stringify(Object.entries(body.features).map(([name, f]) => [name, f.value])));
  }
  return { bodies, errors };
}

async function gauge(service: ServingService, name: 'replicaFallback' | 'replicaFallbackReads'): Promise<number> {
  return (await service.metrics[name].get()).values[0]?.value ?? 0;
}

describe('serving with --redis-read-from replica through the Sentinels', () => {
  it('reads from the primary while no replica is reachable (and says so in a metric), then from the replica again once one is back', async () => {
    const topology = { redisUrl: 'redis://127.0.0.1:6379', redisSentinels: HA_SENTINELS, redisSentinelName: HA_SENTINEL_NAME };
    const ns = testNamespace(topology);
    await createTestTopics(ns);
    const end = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    const workload = generateWorkload({ seed: 8, users: 40, eventsPerUser: 10, startMs: end - 24 * HOUR, endMs: end, duplicateShare: 0 });
    const users = [...new Set(workload.map((r) => r.key))].sort();
    const sidecar = new Sidecar(ns.options, registry);
    onTestFinished(() => sidecar.stop());
    await sidecar.start();
    await produceWorkload(ns, workload);
    await waitForGroupCaughtUp(
      ns.options.groupId,
      SOURCES.map((s) => ns.topics.sources[s]),
      120_000,
    );
    const service = await startServingService({ ...topology, redisReadFrom: 'replica', keyPrefix: ns.options.keyPrefix, port: 0, logLevel: 'silent', watermarkRefreshMs: 200 }, registry);
    onTestFinished(() => service.close());
    const healthy = await waitFor(
      'every user to be readable from the replica',
      async () => {
        const r = await readAll(service, users);
        return r.errors === 0 && r.bodies.size === users.length ? r : null;
      },
      { timeoutMs: 30_000 },
    );
    expect(await gauge(service, 'replicaFallback')).toBe(0);

    const replica = (await primaryNode()) === 'redis-primary' ? 'redis-replica' : 'redis-primary';
    const killedAt = Date.now();
    await signalNode(replica, 'SIGKILL');
    const without = await readAll(service, users);
    const withoutMs = Date.now() - killedAt;
    expect(without.errors).toBe(0);
    expect(without.bodies).toEqual(healthy.bodies);
    expect(await gauge(service, 'replicaFallback')).toBe(1);
    const fallbackReads = await gauge(service, 'replicaFallbackReads');
    expect(fallbackReads).toBeGreaterThanOrEqual(users.length);

    await restartMissing('sentinel'); // the replica comes back (empty, then synced from the primary)
    await waitFor('reads to go to the replica again', async () => (await readAll(service, users)).errors === 0 && (await gauge(service, 'replicaFallback')) === 0, {
      timeoutMs: 60_000,
      intervalMs: 200,
    });
    const backMs = Date.now() - killedAt;
    const after = await readAll(service, users);
    expect(after.bodies).toEqual(healthy.bodies);
    console.info(
      `replica reads fallback: ${users.length} users; replica killed (-9): ${users.length} reads in ${withoutMs} ms, 0 errors, all from the primary (${fallbackReads} fallback reads); back on the replica ${backMs} ms after the kill`,
    );
  });
});
