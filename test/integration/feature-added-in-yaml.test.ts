import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadFeatureRegistry, StaleRegistryError, writeRegistryArtifact } from '../../sidecar/src/features/index.ts';
import { generateWorkload } from '../../sidecar/src/loadgen/workload.ts';
import { Sidecar } from '../../sidecar/src/pipeline/index.ts';
import { FeatureReader, type UserStateRead } from '../../sidecar/src/store/index.ts';
import { diffFeatures } from '../helpers/compare.ts';
import { queryDuckDb, runDbt } from '../helpers/dbt.ts';
import { createTestTopics, produceWorkload } from '../helpers/kafka.ts';
import { landTopicsInLake } from '../helpers/lake.ts';
import { testRedis } from '../helpers/redis.ts';
import { testNamespace } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const HOUR = 3_600_000;

/** Fixture features a test adds to a copy of the dbt project: one YAML block each, nothing else. */
const FIXTURE_FEATURES = [
  {
    name: 'fixture_max_heartbeat_last_1h',
    description: 'Largest heartbeat increment in the last hour (fixture).',
    config: {
      meta: {
        feature: {
          entity: 'user_id',
          source: 'client',
          filter: { event_types: ['playback_heartbeat'] },
          aggregation: { function: 'max', attribute: 'watched_seconds' },
          window: '1h',
          granularity: '5m',
          freshness_slo: '2m',
        },
      },
    },
  },
  {
    name: 'fixture_last_error_code_last_2h',
    description: 'The newest playback error code of the last two hours (fixture).',
    config: {
      meta: {
        feature: {
          entity: 'user_id',
          source: 'client',
          filter: { event_types: ['playback_error'], where: [{ attribute: 'error_code', op: 'neq', value: 'E3003' }] },
          aggregation: { function: 'last', attribute: 'error_code' },
          window: '2h',
          granularity: '10m',
          freshness_slo: '2m',
        },
      },
    },
  },
  {
    name: 'fixture_min_payment_amount_last_3d',
    description: 'Smallest failed or retried payment amount in three days (fixture).',
    config: {
      meta: {
        feature: {
          entity: 'user_id',
          source: 'billing',
          filter: { event_types: ['payment_failed', 'payment_retried'], where: [{ attribute: 'amount', op: 'gt', value: 10 }] },
          aggregation: { function: 'min', attribute: 'amount' },
          window: '3d',
          granularity: '1h',
          freshness_slo: '2m',
        },
      },
    },
  },
];

function copyProjectWithFixtures(into: string): string {
  const project = join(into, 'dbt_project');
  cpSync('dbt_project', project, { recursive: true, filter: (src) => !/[/\\](target|logs|dbt_packages)$/.test(src) });
  const file = join(project, 'models', 'marts', '_marts__models.yml');
  const doc = yaml.load(readFileSync(file, 'utf8')) as { models: Array<{ name: string; columns: unknown[] }> };
  const model = doc.models.find((m) => m.name === 'fct_user_features');
  if (!model) throw new Error('fct_user_features is not declared in _marts__models.yml');
  model.columns.push(...FIXTURE_FEATURES);
  writeFileSync(file, yaml.dump(doc, { lineWidth: 120 }));
  return project;
}

describe('adding a feature is one YAML block', () => {
  it('serves fixture features added only in a copy of the dbt YAML online and offline, equal at several as_of times', async () => {
    const work = mkdtempSync(join(tmpdir(), 'churnfeat-added-'));
    onTestFinished(() => rmSync(work, { recursive: true, force: true }));
    const project = copyProjectWithFixtures(work);
    // The YAML alone is not enough: the artifact is stale until `churnfeat compile` runs.
    expect(() => loadFeatureRegistry(project)).toThrow(StaleRegistryError);
    writeRegistryArtifact(project);
    const registry = loadFeatureRegistry(project);
    expect(registry.features.map((f) => f.name)).toEqual(expect.arrayContaining(FIXTURE_FEATURES.map((f) => f.name)));

    const ns = testNamespace({ dbtProjectDir: project });
    await createTestTopics(ns);
    const end = Math.floor(Date.now() / HOUR) * HOUR - 27 * HOUR;
    const workload = generateWorkload({ seed: 9, users: 60, eventsPerUser: 40, startMs: end - 3 * 24 * HOUR, endMs: end, duplicateShare: 0.04, veryLateShare: 0.02 }).filter(
      (r) => r.ingestMs <= end + 4 * 60_000,
    );
    const firstAsOf = end - 24 * HOUR + 17 * 60_000;
    const phase1 = workload.filter((r) => r.ingestMs <= firstAsOf);
    const phase2 = workload.filter((r) => r.ingestMs > firstAsOf);

    const sidecar = new Sidecar(ns.options, registry);
    await sidecar.start();
    onTestFinished(() => sidecar.stop());
    const reader = new FeatureReader(testRedis(), registry, ns.options.keyPrefix);
    const users = [...new Set(workload.filter((r) => r.kind !== 'invalid').map((r) => r.key))].sort();

    await produceWorkload(ns, phase1);
    await waitFor('phase 1 consumed', async () => (await sidecar.metrics.totals()).consumed >= phase1.length, { timeoutMs: 120_000 });
    const reads = new Map<number, UserStateRead[]>();
    reads.set(firstAsOf, await reader.readMany(users, firstAsOf));

    await produceWorkload(ns, phase2);
    await waitFor('phase 2 consumed', async () => (await sidecar.metrics.totals()).consumed >= workload.length, { timeoutMs: 120_000 });
    for (const asOf of [end + 4 * 60_000, end + 95 * 60_000]) reads.set(asOf, await reader.readMany(users, asOf));

    const lakeRoot = join(work, 'lake');
    await landTopicsInLake(ns, lakeRoot, workload.length);
    const duckdbPath = join(work, 'warehouse.duckdb');
    const instance = await DuckDBInstance.create(duckdbPath);
    const connection = await instance.connect();
    await connection.run('create table main.test_spine (user_id varchar, as_of_ms bigint)');
    const values = [...reads.keys()].flatMap((asOf) => users.map((u) => `('${u}', ${asOf})`));
    await connection.run(`insert into main.test_spine values ${values.join(', ')}`);
    connection.closeSync();
    instance.closeSync();

    const env = { duckdbPath, lakeRoot };
    await runDbt(['run', '--select', '+fct_training_features'], env, { spine_relation: 'main.test_spine' }, project);
    const offline = await queryDuckDb(duckdbPath, "select * from main.fct_training_features where mode = 'as_available'");
    const byKey = new Map(offline.map((row) => [`${row.user_id}@${Number(row.as_of_ms)}`, row]));

    const mismatches: string[] = [];
    let nonDefault = 0;
    for (const [asOf, userReads] of reads) {
      users.forEach((user, i) => {
        const row = byKey.get(`${user}@${asOf}`);
        if (!row) {
          mismatches.push(`${user}@${asOf}: no offline row`);
          return;
        }
        mismatches.push(...diffFeatures(`${user}@${new Date(asOf).toISOString()}`, registry.features, userReads[i], row));
        for (const f of FIXTURE_FEATURES) if ((userReads[i]?.features[f.name]?.value ?? null) !== null) nonDefault += 1;
      });
    }
    expect(mismatches).toEqual([]);
    expect(nonDefault).toBeGreaterThan(10);
  });
});
