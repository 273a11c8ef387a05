import { execa } from 'execa';
import { Redis } from 'ioredis';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createRedisClient } from '../../sidecar/src/config/index.ts';
import { SOURCES } from '../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../sidecar/src/features/index.ts';
import { generateWorkload } from '../../sidecar/src/loadgen/workload.ts';
import { Sidecar } from '../../sidecar/src/pipeline/index.ts';
import { READ_PATH_REDIS_OPTIONS, RedisStateReader } from '../../sidecar/src/serving/index.ts';
import { FeatureReader, functionNames } from '../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../sidecar/src/windows/index.ts';
import { HA_CLUSTER_PORTS } from '../helpers/ha.ts';
import { createTestTopics, produceWorkload, waitForGroupCaughtUp } from '../helpers/kafka.ts';
import { countDrift, diffReads, HOUR, onlineReads, referencePipeline, referenceReads } from '../helpers/reference.ts';
import { testNamespace } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const registry = loadFeatureRegistry('dbt_project');
const operators = new WindowOperators(registry);
const seed = `redis://127.0.0.1:${HA_CLUSTER_PORTS[0]}`;

/** Node id and slot count of each master. */
async function masters(): Promise<Array<{ id: string; port: number; slots: number }>> {
  const redis = new Redis({ port: HA_CLUSTER_PORTS[0], lazyConnect: true });
  try {
    await redis.connect();
    const text = String(await redis.call('CLUSTER', 'NODES'));
    return text
      .trim()
      .split('\n')
      .map((line) => line.split(' '))
      .filter((f) => (f[2] ?? '').includes('master'))
      .map((f) => ({
        id: f[0] as string,
        port: Number((f[1] ?? '').split(':')[1]?.split('@')[0]),
        slots: f.slice(8).reduce((n, range) => {
          const [a, b] = range.split('-').map(Number);
          return n + (b === undefined ? 1 : (b as number) - (a as number) + 1);
        }, 0),
      }));
  } finally {
    redis.disconnect();
  }
}

describe('Redis Cluster (3 masters)', () => {
  it('matches the reference pipeline, with a slot range resharded under load: 0 reader errors, 0 lost writes', async () => {
    const ns = testNamespace({ redisUrl: seed, redisCluster: true });
    await createTestTopics(ns);
    const end = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    const workload = generateWorkload({ seed: 51, users: 400, eventsPerUser: 30, startMs: end - 2 * 24 * HOUR, endMs: end, duplicateShare: 0.03 });
    const users = [...new Set(workload.map((r) => r.key))].sort();

    // no master holds the library yet (earlier runs loaded it: the cluster is this group's own)
    for (const port of HA_CLUSTER_PORTS) await execa('redis-cli', ['-p', String(port), 'FUNCTION', 'FLUSH']);
    const sidecar = new Sidecar(ns.options, registry);
    onTestFinished(() => sidecar.stop());
    await sidecar.start();
    // the library is on every master (a keyless FUNCTION LOAD reaches one node only)
    for (const port of HA_CLUSTER_PORTS) {
      const node = new Redis({ port, lazyConnect: true });
      await node.connect();
      const listed = (await node.call('FUNCTION', 'LIST', 'LIBRARYNAME', functionNames(registry.version).library)) as unknown[];
      node.disconnect();
      expect(listed.length, `library on 127.0.0.1:${port}`).toBeGreaterThan(0);
    }

    const readClient = createRedisClient({ redisUrl: seed, redisCluster: true }, { ...READ_PATH_REDIS_OPTIONS, lazyConnect: true });
    onTestFinished(() => readClient.disconnect());
    await readClient.connect();
    const reader = new RedisStateReader(readClient, registry, ns.options.keyPrefix);
    let reads = 0;
    const readErrors: string[] = [];
    let reading = true;
    const readLoop = (async () => {
      for (let i = 0; reading; i += 1) {
        try {
          await reader.read(users[i % users.length] as string);
        } catch (error) {
          readErrors.push((error as Error).message);
        }
        reads += 1;
      }
    })();

    const producing = produceWorkload(ns, workload);
    await waitFor('a fifth of the workload consumed', async () => (await sidecar.metrics.totals()).consumed >= workload.length / 5, { timeoutMs: 120_000, intervalMs: 20 });
    const [from, to] = await masters();
    const consumedBefore = (await sidecar.metrics.totals()).consumed;
    const t0 = Date.now();
    await execa('redis-cli', [
      '--cluster',
      'reshard',
      `127.0.0.1:${HA_CLUSTER_PORTS[0]}`,
      '--cluster-from',
      (from as { id: string }).id,
      '--cluster-to',
      (to as { id: string }).id,
      '--cluster-slots',
      '1000',
      '--cluster-yes',
      '--cluster-pipeline',
      '50',
    ]);
    const reshardMs = Date.now() - t0;
    const consumedDuring = (await sidecar.metrics.totals()).consumed - consumedBefore;
    await producing;
    await waitForGroupCaughtUp(
      ns.options.groupId,
      SOURCES.map((s) => ns.topics.sources[s]),
    );
    reading = false;
    await readLoop;
    const after = await masters();

    const reference = referencePipeline(
      operators,
      workload.map((r, offset) => ({ source: r.source, value: r.value, partition: 0, offset })),
    );
    const asOf = Math.max(...workload.map((r) => r.ingestMs)) + 7 * 60_000 + 13_000;
    const expected = referenceReads(registry, reference.applied, users, asOf);
    const online = await onlineReads(new FeatureReader(readClient, registry, ns.options.keyPrefix), users, asOf);
    const drift = countDrift(registry, expected, online);
    const totals = await sidecar.metrics.totals();
    console.info(
      `redis cluster: ${workload.length} records, ${users.length} users, 3 masters; fault: 1000 slots moved ${from?.port} -> ${to?.port} under load in ${reshardMs} ms, ${consumedDuring} records consumed meanwhile (slots now ${after.map((m) => `${m.port}:${m.slots}`).join(' ')}); ` +
        `applied ${totals.applied} (reference ${reference.counts.applied}), write retries ${
          (await sidecar.metrics.registry.getSingleMetricAsString('churnfeat_store_retries_total').catch(() => ''))
            .split('\n')
            .filter((l) => !l.startsWith('#'))
            .join(' ') || 0
        }; ` +
        `reader: ${reads} reads, ${readErrors.length} errors${readErrors[0] ? ` (first: ${readErrors[0]})` : ''}; double counts ${drift.doubleCounts}, missing ${drift.missing}`,
    );
    expect(after.find((m) => m.id === to?.id)?.slots).toBeGreaterThan(to?.slots ?? 0);
    expect(readErrors).toEqual([]);
    expect(totals.applied).toBe(reference.counts.applied);
    expect(drift).toEqual({ doubleCounts: 0, missing: 0 });
    expect(diffReads(expected, online)).toEqual([]);
  });
});
