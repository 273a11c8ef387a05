/**
 * A network partition between one sidecar (or the serving service) and Redis, on loopback:
 * the client reaches Redis through a TcpProxy (test/helpers/tcp-proxy.ts) that blackholes
 * both directions and later heals.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { SOURCES } from '../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../sidecar/src/features/index.ts';
import { generateWorkload } from '../../sidecar/src/loadgen/workload.ts';
import { startServingService } from '../../sidecar/src/serving/index.ts';
import { FeatureReader, loadFunctionLibrary } from '../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../sidecar/src/windows/index.ts';
import { spawnSidecar, type ChildSidecar, type Totals } from '../helpers/cli.ts';
import { createTestTopics, produceWorkload, testAdmin, waitForGroupCaughtUp } from '../helpers/kafka.ts';
import { testRedis } from '../helpers/redis.ts';
import { compareWithReference, HOUR } from '../helpers/reference.ts';
import { testNamespace, type TestNamespace } from '../helpers/stack.ts';
import { TcpProxy } from '../helpers/tcp-proxy.ts';
import { waitFor } from '../helpers/wait.ts';

const registry = loadFeatureRegistry('dbt_project');
const operators = new WindowOperators(registry);

/** A proxy in front of the namespace's Redis, and the namespace seen through it. */
async function partitionable(ns: TestNamespace): Promise<{ proxy: TcpProxy; through: TestNamespace; url: string }> {
  const redis = new URL(ns.options.redisUrl);
  const proxy = await TcpProxy.start({ host: redis.hostname, port: Number(redis.port || 6379) });
  const proxied = new URL(ns.options.redisUrl);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  const url = proxied.toString();
  return { proxy, through: { ...ns, options: { ...ns.options, redisUrl: url } }, url };
}

/** churnfeat_store_write_retries_total{reason="redis_unavailable"} of one exposition. */
function storeRetries(metrics: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith('churnfeat_store_write_retries_total{') && l.includes('reason="redis_unavailable"'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

async function sum(sidecars: readonly ChildSidecar[], key: keyof Totals): Promise<number> {
  let n = 0;
  for (const s of sidecars) n += (await s.totals())[key];
  return n;
}

describe('a network partition between a sidecar and Redis', () => {
  it('counts nothing twice and loses nothing: the partitioned sidecar stops applying, reports timed-out writes, and resumes its partitions once healed', async () => {
    const ns = testNamespace();
    await createTestTopics(ns);
    const topics = SOURCES.map((s) => ns.topics.sources[s]);
    const end = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    const workload = generateWorkload({ seed: 63, users: 300, eventsPerUser: 30, startMs: end - 2 * 24 * HOUR, endMs: end, duplicateShare: 0.02 });
    const cut1 = Math.floor(workload.length * 0.5);
    const { proxy, through } = await partitionable(ns);
    const partitioned = await spawnSidecar(through);
    const others = [await spawnSidecar(ns), await spawnSidecar(ns)];
    const all = [partitioned, ...others];
    await waitFor('the three sidecars to serve metrics', async () => (await sum(all, 'consumed')) >= 0, { timeoutMs: 60_000 });
    const admin = await testAdmin();
    await waitFor('the three sidecars to be members of the group', async () => (await admin.describeGroups([ns.options.groupId])).groups[0]?.members.length === 3, { timeoutMs: 60_000 });

    const producing = produceWorkload(ns, workload.slice(0, cut1));
    await waitFor('the partitioned-to-be sidecar to apply records', async () => (await partitioned.totals()).applied > 0, { timeoutMs: 120_000, intervalMs: 20 });
    const partitionedAt = Date.now();
    proxy.blackhole();
    const appliedAtCut = (await partitioned.totals()).applied;
    await producing;
    // It stops applying; its writes time out and are retried (with heartbeats, so it stays in
    // the group past the session timeout), and it says so.
    const retries = await waitFor(
      'the partitioned sidecar to report failing Redis writes',
      async () => {
        const n = storeRetries(await partitioned.metricsText());
        return n > 0 && Date.now() - partitionedAt > 12_000 ? n : null; // past the 10 s session timeout
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const appliedDuring = (await partitioned.totals()).applied - appliedAtCut;
    const [group] = (await admin.describeGroups([ns.options.groupId])).groups;
    const membersDuring = group?.members.length ?? 0;

    const observedMs = Date.now() - partitionedAt;
    const healedAt = Date.now();
    proxy.restore();
    await produceWorkload(ns, workload.slice(cut1));
    await waitForGroupCaughtUp(ns.options.groupId, topics, 180_000);
    const healedCaughtUpMs = Date.now() - healedAt;
    const totals = await Promise.all(all.map((s) => s.totals()));
    expect(partitioned.exited(), partitioned.output().slice(-2000)).toBe(false);

    const { reference, users, diff, drift } = await compareWithReference(operators, workload, new FeatureReader(testRedis(), registry, ns.options.keyPrefix));
    const total = (k: keyof Totals) => totals.reduce((n, t) => n + t[k], 0);
    console.info(
      `redis partition (sidecar): ${workload.length} records, ${users.length} users, 3 sidecars; one blackholed from Redis (both directions) for ${observedMs} ms: it applied ${appliedDuring} records meanwhile and reported ${retries} timed-out writes (retried), the group kept ${membersDuring} members (its partitions wait for it); ` +
        `healed: lag 0 again ${healedCaughtUpMs} ms later; partitioned sidecar replays skipped ${totals[0]?.replayed}; applied ${total('applied')} (reference ${reference.counts.applied}); double counts ${drift.doubleCounts}, missing ${drift.missing}`,
    );
    expect(appliedDuring).toBe(0);
    expect(diff).toEqual([]);
    expect(drift).toEqual({ doubleCounts: 0, missing: 0 });
  });

  it('makes serving answer 503 store_unavailable within its command timeout while partitioned, not hang, and answer again once healed', async () => {
    const ns = testNamespace();
    await loadFunctionLibrary(testRedis(), registry, ns.options.keyPrefix);
    const { proxy, url } = await partitionable(ns);
    const service = await startServingService({ redisUrl: url, keyPrefix: ns.options.keyPrefix, port: 0, logLevel: 'silent', redisCommandTimeoutMs: 500 }, registry);
    onTestFinished(() => service.close());
    const read = async () => {
      const started = performance.now();
      const response = await fetch(`${service.url}/v1/features/u-partition`, { signal: AbortSignal.timeout(10_000) });
      return { status: response.status, body: (await response.json()) as { error?: string; message?: string }, ms: Math.round(performance.now() - started) };
    };
    expect((await read()).status).toBe(200);
    proxy.blackhole();
    const during = [await read(), await read(), await read()];
    for (const r of during) {
      expect(r.status).toBe(503);
      expect(r.body.error).toBe('store_unavailable');
    }
    proxy.restore();
    const healed = await waitFor(
      'a read to answer again',
      async () => {
        const r = await read();
        return r.status === 200 ? r : null;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    console.info(
      `redis partition (serving): reads while blackholed: ${during.map((r) => `${r.status} in ${r.ms} ms`).join(', ')} (${during[0]?.body.message}); after healing: ${healed.status} in ${healed.ms} ms`,
    );
  });
});
