import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadFeatureRegistry } from '../../sidecar/src/features/index.ts';
import { generateWorkload } from '../../sidecar/src/loadgen/workload.ts';
import { FeatureReader } from '../../sidecar/src/store/index.ts';
import { startSidecar } from '../helpers/consumers.ts';
import { queryDuckDb, runDbt } from '../helpers/dbt.ts';
import { createTestTopics, produceWorkload } from '../helpers/kafka.ts';
import { landTopicsInLake } from '../helpers/lake.ts';
import { testRedis } from '../helpers/redis.ts';
import { testNamespace } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const HOUR = 3_600_000;

describe('online and offline features agree', () => {
  it('gives every user the same seven features online (Redis) and offline (dbt on DuckDB) at the same as_of', async () => {
    const ns = testNamespace();
    await createTestTopics(ns);
    const registry = loadFeatureRegistry('dbt_project');
    const end = Math.floor(Date.now() / HOUR) * HOUR - 27 * HOUR;
    // as_of a few minutes after the traffic ends, and only what was ingested by then: the short
    // windows (10 min, 30 min, 1 h) hold events at as_of, not only the 7- and 30-day ones
    const asOfMs = end + 7 * 60_000 + 13_000;
    const workload = generateWorkload({ seed: 42, users: 80, eventsPerUser: 30, startMs: end - 3 * 24 * HOUR, endMs: end, lateShare: 0.05, veryLateShare: 0.05, duplicateShare: 0.05 }).filter(
      (r) => r.ingestMs <= asOfMs,
    );

    const sidecar = await startSidecar(ns);
    await produceWorkload(ns, workload);
    await waitFor('the sidecar to consume the workload', async () => (await sidecar.metrics.totals()).consumed >= workload.length, { timeoutMs: 120_000 });

    const totals = await sidecar.metrics.totals();
    expect(totals.consumed).toBe(totals.applied + totals.duplicate + totals.replayed + totals.too_late + totals.invalid + totals.irrelevant);
    expect(totals.invalid, JSON.stringify((await sidecar.metrics.invalid.get()).values)).toBe(workload.filter((r) => r.kind === 'invalid').length);
    expect(totals.duplicate).toBeGreaterThan(0);
    expect(totals.too_late).toBeGreaterThan(0);

    const work = mkdtempSync(join(tmpdir(), 'churnfeat-parity-'));
    onTestFinished(() => rmSync(work, { recursive: true, force: true }));
    const lakeRoot = join(work, 'lake');
    await landTopicsInLake(ns, lakeRoot, workload.length);

    const duckdbPath = join(work, 'warehouse.duckdb');
    await runDbt(['run', '--select', '+fct_user_features'], { duckdbPath, lakeRoot }, { as_of: asOfMs });
    const offline = await queryDuckDb(duckdbPath, 'select * from main.fct_user_features order by user_id');

    const reader = new FeatureReader(testRedis(), registry, ns.options.keyPrefix);
    const users = offline.map((row) => String(row.user_id));
    expect(users.length).toBeGreaterThan(40);
    const online = await reader.readMany(users, asOfMs);
    const mismatches: string[] = [];
    let nonZero = 0;
    users.forEach((user, index) => {
      const row = offline[index] as Record<string, unknown>;
      const read = online[index];
      for (const feature of registry.features) {
        const onlineValue = read?.features[feature.name]?.value ?? null;
        const offlineValue = row[feature.name] === null || row[feature.name] === undefined ? null : typeof onlineValue === 'string' ? String(row[feature.name]) : Number(row[feature.name]);
        if (onlineValue !== offlineValue) mismatches.push(`${user} ${feature.name}: online ${onlineValue} offline ${offlineValue}`);
        const onlineLatest = read?.features[feature.name]?.latest_event_ms ?? null;
        const offlineLatestRaw = row[`${feature.name}__latest_event_ms`];
        const offlineLatest = offlineLatestRaw === null || offlineLatestRaw === undefined ? null : Number(offlineLatestRaw);
        if (onlineLatest !== offlineLatest) mismatches.push(`${user} ${feature.name} latest: online ${onlineLatest} offline ${offlineLatest}`);
        if (onlineValue !== 0 && onlineValue !== null) nonZero += 1;
      }
    });
    expect(mismatches).toEqual([]);
    expect(nonZero).toBeGreaterThan(users.length);
    const shortWindow = registry.features.filter((f) => f.windowMs <= HOUR).map((f) => f.name);
    expect(online.some((read) => shortWindow.some((name) => (read.features[name]?.value ?? 0) !== 0))).toBe(true);
  });
});
