import { describe, expect, it, onTestFinished } from 'vitest';
import { SOURCES } from '../../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { generateWorkload } from '../../../sidecar/src/loadgen/workload.ts';
import type { RecordVerdict } from '../../../sidecar/src/metrics/index.ts';
import { Sidecar } from '../../../sidecar/src/pipeline/index.ts';
import { FeatureReader } from '../../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../../sidecar/src/windows/index.ts';
import { createTestTopics, produceWorkload, waitForGroupCaughtUp } from '../../helpers/kafka.ts';
import { testRedis } from '../../helpers/redis.ts';
import { countDrift, diffReads, HOUR, onlineReads, referencePipeline, referenceReads } from '../../helpers/reference.ts';
import { testNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const registry = loadFeatureRegistry('dbt_project');
const operators = new WindowOperators(registry);

describe('rebalances', () => {
  it('ends with the reference state when a second sidecar joins the consumer group mid-run and then leaves mid-run', async () => {
    const ns = testNamespace();
    await createTestTopics(ns);
    const end = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    const workload = generateWorkload({ seed: 11, users: 150, eventsPerUser: 24, startMs: end - 2 * 24 * HOUR, endMs: end, duplicateShare: 0.03 });
    const cut1 = Math.floor(workload.length * 0.3);
    const cut2 = Math.floor(workload.length * 0.6);

    const a = new Sidecar({ ...ns.options, clientId: `${ns.id}-a` }, registry);
    const b = new Sidecar({ ...ns.options, clientId: `${ns.id}-b` }, registry);
    let bStopped = false;
    onTestFinished(async () => {
      await a.stop();
      if (!bStopped) await b.stop();
    });
    await a.start();
    const consumed = async () => (await a.metrics.totals()).consumed + (await b.metrics.totals()).consumed;

    // B joins while A is consuming the first part: the group rebalances mid-run
    const first = produceWorkload(ns, workload.slice(0, cut1));
    await waitFor('A to start consuming', async () => (await a.metrics.totals()).consumed > 0, { timeoutMs: 60_000, intervalMs: 5 });
    await b.start();
    await first;
    await waitFor('the first part to be consumed', async () => (await consumed()) >= cut1, { timeoutMs: 90_000 });
    await produceWorkload(ns, workload.slice(cut1, cut2));
    await waitFor('B to take part and the second part to be consumed', async () => (await b.metrics.totals()).consumed > 0 && (await consumed()) >= cut2, { timeoutMs: 90_000 });

    // B leaves while the third part is being consumed
    const third = produceWorkload(ns, workload.slice(cut2));
    const before = await consumed();
    await waitFor('the third part to be in flight', async () => (await consumed()) > before, { timeoutMs: 60_000, intervalMs: 5 });
    await b.stop();
    bStopped = true;
    await third;
    await waitForGroupCaughtUp(
      ns.options.groupId,
      SOURCES.map((s) => ns.topics.sources[s]),
    );

    const ta = await a.metrics.totals();
    const tb = await b.metrics.totals();
    for (const t of [ta, tb]) expect(t.consumed).toBe(t.applied + t.duplicate + t.replayed + t.too_late + t.invalid + t.irrelevant);
    expect(tb.consumed).toBeGreaterThan(0);
    expect(tb.consumed).toBeLessThan(workload.length);

    const reference = referencePipeline(
      operators,
      workload.map((r, offset) => ({ source: r.source, value: r.value, partition: 0, offset })),
    );
    const sum = (verdict: RecordVerdict) => ta[verdict] + tb[verdict];
    // every event applied exactly once across the two instances
    expect(sum('applied')).toBe(reference.counts.applied);
    expect(sum('duplicate')).toBe(reference.counts.duplicate);
    expect(ta.consumed + tb.consumed).toBeGreaterThanOrEqual(workload.length);

    const users = [...new Set(workload.map((r) => r.key))].sort();
    const asOf = Math.max(...workload.map((r) => r.ingestMs)) + 7 * 60_000 + 13_000;
    const expected = referenceReads(registry, reference.applied, users, asOf);
    const online = await onlineReads(new FeatureReader(testRedis(), registry, ns.options.keyPrefix), users, asOf);
    expect(diffReads(expected, online, ['reference', 'online'])).toEqual([]);
    const drift = countDrift(registry, expected, online);
    console.info(
      `rebalance: ${workload.length} records, ${users.length} users; A consumed ${ta.consumed}, B consumed ${tb.consumed} before leaving; replays skipped ${sum('replayed')}; applied ${sum('applied')} = reference ${reference.counts.applied}; double counts ${drift.doubleCounts}, missing ${drift.missing}`,
    );
  });
});
