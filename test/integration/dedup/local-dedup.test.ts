/**
 * `--dedup local` against the real broker and Redis: the sidecar's own partition indexes give
 * exactly the reference, keep no dedup hash in Redis, and survive a SIGKILL (rebuilt from the
 * changelog) and a partition moving to a second sidecar, with copies of events from before the
 * kill / the move produced after it.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { SOURCES } from '../../../sidecar/src/events/index.ts';
import { changelogTopic } from '../../../sidecar/src/dedup/index.ts';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { generateWorkload, type WorkloadRecord } from '../../../sidecar/src/loadgen/workload.ts';
import { Sidecar } from '../../../sidecar/src/pipeline/index.ts';
import { FeatureReader, versionPrefix } from '../../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../../sidecar/src/windows/index.ts';
import { spawnSidecar, type Totals } from '../../helpers/cli.ts';
import { createTestTopics, produceWorkload, testAdmin, waitForGroupCaughtUp } from '../../helpers/kafka.ts';
import { testRedis } from '../../helpers/redis.ts';
import { countDrift, diffReads, HOUR, onlineReads, referencePipeline, referenceReads } from '../../helpers/reference.ts';
import { testNamespace, type TestNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const registry = loadFeatureRegistry('dbt_project');
const operators = new WindowOperators(registry);

/** Topics and keys of the test's own, the changelogs the sidecar creates included. */
async function localNamespace(): Promise<TestNamespace> {
  const ns = testNamespace();
  await createTestTopics(ns);
  onTestFinished(async () => {
    const admin = await testAdmin();
    const changelogs = SOURCES.map((s) => changelogTopic(ns.topics.sources[s]));
    const existing = new Set(await admin.listTopics());
    await admin.deleteTopics({ topics: changelogs.filter((t) => existing.has(t)) }).catch(() => undefined);
  });
  return ns;
}

function workloadOf(seed: number, users: number): WorkloadRecord[] {
  const end = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
  return generateWorkload({ seed, users, eventsPerUser: 20, startMs: end - 2 * 24 * HOUR, endMs: end, duplicateShare: 0.05, lateShare: 0.1, veryLateShare: 0.02, idlessShare: 0.2 });
}

/** Every record of `records` again (re-sent copies: same bytes, later offsets), every third one. */
const copiesOf = (records: readonly WorkloadRecord[]): WorkloadRecord[] => records.filter((_, i) => i % 3 === 0);

/** The online store against the reference pipeline over `records` in produce order. */
async function expectReference(ns: TestNamespace, records: readonly WorkloadRecord[]): Promise<{ doubleCounts: number; missing: number }> {
  const reference = referencePipeline(
    operators,
    records.map((r, offset) => ({ source: r.source, value: r.value, partition: 0, offset })),
  );
  const users = [...new Set(records.map((r) => r.key))].sort();
  const reader = new FeatureReader(testRedis(), registry, ns.options.keyPrefix);
  let drift = { doubleCounts: 0, missing: 0 };
  for (const asOf of [Math.max(...records.map((r) => r.ingestMs)) + 7 * 60_000 + 13_000]) {
    const expected = referenceReads(registry, reference.applied, users, asOf);
    const online = await onlineReads(reader, users, asOf);
    expect(diffReads(expected, online, ['reference', 'online'])).toEqual([]);
    const d = countDrift(registry, expected, online);
    drift = { doubleCounts: drift.doubleCounts + d.doubleCounts, missing: drift.missing + d.missing };
  }
  return drift;
}

async function dedupKeys(ns: TestNamespace): Promise<number> {
  const keys = await testRedis().keys(`${versionPrefix(ns.options.keyPrefix, registry.version)}:*:dt:*`);
  return keys.length;
}

const caughtUp = (ns: TestNamespace) =>
  waitForGroupCaughtUp(
    ns.options.groupId,
    SOURCES.map((s) => ns.topics.sources[s]),
    120_000,
  );

const conserved = (t: Totals) => expect(t.consumed).toBe(t.applied + t.duplicate + t.replayed + t.deleted + t.too_late + t.invalid + t.irrelevant);

describe('--dedup local', () => {
  it('gives exactly the reference for a workload with duplicates, late and id-less events, and keeps no dedup hash in Redis', { timeout: 120_000 }, async () => {
    const ns = await localNamespace();
    const workload = workloadOf(31, 120);
    const sidecar = new Sidecar({ ...ns.options, dedup: 'local' }, registry);
    onTestFinished(() => sidecar.stop());
    await sidecar.start();
    await produceWorkload(ns, workload);
    await caughtUp(ns);
    const reference = referencePipeline(
      operators,
      workload.map((r, offset) => ({ source: r.source, value: r.value, partition: 0, offset })),
    );
    const totals = await sidecar.metrics.totals();
    conserved(totals as Totals);
    expect(reference.counts.duplicate).toBeGreaterThan(0);
    expect(totals.applied).toBe(reference.counts.applied);
    expect(totals.duplicate).toBe(reference.counts.duplicate);
    expect(await expectReference(ns, workload)).toEqual({ doubleCounts: 0, missing: 0 });
    expect(await dedupKeys(ns)).toBe(0);
    const members = (await sidecar.metrics.registry.getSingleMetric('churnfeat_dedup_index_members')?.get())?.values.reduce((sum, v) => sum + v.value, 0);
    expect(members).toBeGreaterThan(0);
  });

  it('after a SIGKILL mid-run, rebuilds its indexes from the changelog: copies of events from before the kill count 0 times more, nothing is missing', { timeout: 180_000 }, async () => {
    const ns = await localNamespace();
    const workload = workloadOf(47, 120);
    const half = Math.floor(workload.length / 2);
    const before = workload.slice(0, half);
    const env = { CHURNFEAT_DEDUP: 'local' };
    const first = await spawnSidecar(ns, env);
    await waitFor('the sidecar to subscribe', async () => first.output().includes('consuming'), { timeoutMs: 60_000, intervalMs: 20 });
    await produceWorkload(ns, before);
    await caughtUp(ns);
    // and a little more, killed while it consumes
    const during = workload.slice(half, half + 200);
    const producing = produceWorkload(ns, during);
    await waitFor('the sidecar to consume past the first half', async () => (await first.totals()).consumed > before.length, { timeoutMs: 60_000, intervalMs: 5 });
    await first.kill();
    await producing;
    // copies of events the killed process applied, produced after the kill, then the rest
    const after = [...copiesOf(before), ...workload.slice(half + 200)];
    await produceWorkload(ns, after);
    const second = await spawnSidecar(ns, env);
    await caughtUp(ns);
    const totals = await second.totals();
    conserved(totals);
    const all = [...before, ...during, ...after];
    const reference = referencePipeline(
      operators,
      all.map((r, offset) => ({ source: r.source, value: r.value, partition: 0, offset })),
    );
    // every copy of an event from before the kill that the reference calls a duplicate was one (or a replay) here, none applied
    const copyDuplicates = reference.verdicts.slice(before.length + during.length, before.length + during.length + copiesOf(before).length).filter((v) => v === 'duplicate').length;
    expect(copyDuplicates).toBeGreaterThan(50);
    expect(totals.duplicate + totals.replayed).toBeGreaterThanOrEqual(copyDuplicates);
    expect(totals.applied).toBeLessThanOrEqual(reference.counts.applied);
    expect(await expectReference(ns, all)).toEqual({ doubleCounts: 0, missing: 0 });
    // the restarted process read the changelog back (every partition of the killed one)
    const rebuilt = [...(await second.metricsText()).matchAll(/^churnfeat_dedup_rebuild_records_total\{[^}]*\} (\d+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    expect(rebuilt).toBeGreaterThan(0);
    expect(await dedupKeys(ns)).toBe(0);
    await second.stop();
  });

  it('when a second sidecar joins and takes partitions over, copies of events the first applied are duplicates there too', { timeout: 180_000 }, async () => {
    const ns = await localNamespace();
    const workload = workloadOf(53, 120);
    const half = Math.floor(workload.length / 2);
    const a = new Sidecar({ ...ns.options, dedup: 'local', clientId: `${ns.id}-a` }, registry);
    const b = new Sidecar({ ...ns.options, dedup: 'local', clientId: `${ns.id}-b` }, registry);
    onTestFinished(async () => {
      await a.stop();
      await b.stop();
    });
    await a.start();
    await produceWorkload(ns, workload.slice(0, half));
    await caughtUp(ns);
    await b.start();
    await waitFor('B to be given partitions', async () => (b.localDedup?.owned().length ?? 0) > 0, { timeoutMs: 60_000, intervalMs: 50 });
    const copies = copiesOf(workload.slice(0, half));
    await produceWorkload(ns, [...copies, ...workload.slice(half)]);
    await caughtUp(ns);
    const ta = await a.metrics.totals();
    const tb = await b.metrics.totals();
    conserved(ta as Totals);
    conserved(tb as Totals);
    expect(tb.consumed).toBeGreaterThan(0);
    expect(tb.duplicate).toBeGreaterThan(0);
    const all = [...workload.slice(0, half), ...copies, ...workload.slice(half)];
    const reference = referencePipeline(
      operators,
      all.map((r, offset) => ({ source: r.source, value: r.value, partition: 0, offset })),
    );
    expect(ta.applied + tb.applied).toBe(reference.counts.applied);
    expect(await expectReference(ns, all)).toEqual({ doubleCounts: 0, missing: 0 });
  });

  it('switched from --dedup redis on a running group, warms up: Redis still deduplicates the copies of events applied before the switch', { timeout: 120_000 }, async () => {
    const ns = await localNamespace();
    const workload = workloadOf(59, 80);
    const half = Math.floor(workload.length / 2);
    const before = new Sidecar(ns.options, registry);
    await before.start();
    await produceWorkload(ns, workload.slice(0, half));
    await caughtUp(ns);
    await before.stop();
    const after = new Sidecar({ ...ns.options, dedup: 'local' }, registry);
    onTestFinished(() => after.stop());
    await after.start();
    const copies = copiesOf(workload.slice(0, half));
    await produceWorkload(ns, [...copies, ...workload.slice(half)]);
    await caughtUp(ns);
    const all = [...workload.slice(0, half), ...copies, ...workload.slice(half)];
    expect(await expectReference(ns, all)).toEqual({ doubleCounts: 0, missing: 0 });
    const warm = (await after.metrics.registry.getSingleMetric('churnfeat_dedup_warmup')?.get())?.values ?? [];
    expect(warm.some((v) => v.value === 1)).toBe(true);
  });
});
