import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveOptions } from '../../sidecar/src/config/index.ts';
import { SOURCES } from '../../sidecar/src/events/index.ts';
import { loadFeatureRegistry, type FeatureRegistry } from '../../sidecar/src/features/index.ts';
import { ensureTopics } from '../../sidecar/src/kafka/index.ts';
import { LakeWriter, LocalLakeStorage, resolveLakeWriterOptions } from '../../sidecar/src/lake/index.ts';
import { generateWorkload, type WorkloadRecord } from '../../sidecar/src/loadgen/workload.ts';
import { Sidecar } from '../../sidecar/src/pipeline/index.ts';
import { dbtBuildFeatureEvents, defaultParityOptions, type DbtOptions, type ParityOptions } from '../../parity/src/index.ts';
import { kafkaClient, namespaceTopics, produceWorkload } from './kafka.ts';
import { highWatermarks, waitUntilLanded } from './lake.ts';
import { deleteRedisKeys } from './redis.ts';
import { BROKERS, REDIS_URL, testNamespace, type TestNamespace } from './stack.ts';
import { waitFor } from './wait.ts';

const HOUR = 3_600_000;

/** One online store fed from the shared topics: its own consumer group and key prefix. */
export interface OnlineStack {
  name: string;
  keyPrefix: string;
  groupId: string;
  sidecar: Sidecar;
}

/** Topics with a realistic generated day, a lake, a dbt-built warehouse and three online stores. */
export interface ParityPipeline {
  ns: TestNamespace;
  workload: WorkloadRecord[];
  registry: FeatureRegistry;
  work: string;
  lakeRoot: string;
  duckdbPath: string;
  maxIngestMs: number;
  /** maxIngest + 13 s: every record has arrived and the short windows still hold events. */
  asOfMs: number;
  /** healthy; late: allowed lateness 20 h (dbt says 24 h); broken: watch_time_last_24h one tile too long. */
  stacks: Record<'healthy' | 'late' | 'broken', OnlineStack>;
  cleanup(): Promise<void>;
}

/** The registry with one feature's window one tile too long: a deliberately broken build. */
export function brokenRegistry(registry: FeatureRegistry, feature: string): FeatureRegistry {
  return {
    ...registry,
    version: `broken${registry.version.slice(0, 10)}`,
    features: registry.features.map((f) => (f.name === feature ? { ...f, windowMs: f.windowMs + f.granularityMs } : f)),
  };
}

export async function startParityPipeline(): Promise<ParityPipeline> {
  const ns = testNamespace();
  const registry = loadFeatureRegistry('dbt_project');
  const work = mkdtempSync(join(tmpdir(), 'churnfeat-parity-'));
  const lakeRoot = join(work, 'lake');
  const duckdbPath = join(work, 'warehouse.duckdb');
  const end = Math.floor(Date.now() / HOUR) * HOUR - 27 * HOUR;
  // The records of one day as they stand at its end: whatever would arrive later (the tail
  // of the very late events) has not been produced yet.
  const workload = generateWorkload({ seed: 2024, users: 150, eventsPerUser: 60, startMs: end - 28 * HOUR, endMs: end, lateShare: 0.08, veryLateShare: 0.03, duplicateShare: 0.05 }).filter(
    (r) => r.ingestMs <= end,
  );
  const maxIngestMs = Math.max(...workload.map((r) => r.ingestMs));

  const admin = kafkaClient(`${ns.id}-admin`).admin();
  await admin.connect();
  await ensureTopics(admin, ns.topics);

  // The late store runs a registry whose lateness policy differs from dbt's (a deploy out of step).
  const late: FeatureRegistry = { ...registry, version: `late${registry.version.slice(0, 12)}`, policies: { ...registry.policies, allowedLatenessMs: 20 * HOUR } };
  const variants: Array<{ name: 'healthy' | 'late' | 'broken'; suffix: string; registry: FeatureRegistry }> = [
    { name: 'healthy', suffix: '', registry },
    { name: 'late', suffix: 'l', registry: late },
    { name: 'broken', suffix: 'b', registry: brokenRegistry(registry, 'watch_time_last_24h') },
  ];
  const stacks = {} as ParityPipeline['stacks'];
  for (const variant of variants) {
    const keyPrefix = `${ns.id}${variant.suffix}`;
    const groupId = `${ns.id}-${variant.name}`;
    const options = resolveOptions({ ...ns.options, keyPrefix, groupId, clientId: groupId });
    const sidecar = new Sidecar(options, variant.registry);
    await sidecar.start();
    stacks[variant.name] = { name: variant.name, keyPrefix, groupId, sidecar };
  }
  const storage = new LocalLakeStorage(lakeRoot);
  const lakeWriter = new LakeWriter(
    resolveLakeWriterOptions({
      brokers: BROKERS,
      topicNamespace: ns.options.topicNamespace,
      groupId: `${ns.id}-lake`,
      clientId: `${ns.id}-lake`,
      flushRecords: 1_000,
      flushIntervalMs: 500,
      sessionTimeoutMs: 6_000,
    }),
    { storage },
  );
  await lakeWriter.start();

  const cleanup = async (): Promise<void> => {
    for (const stack of Object.values(stacks)) await stack.sidecar.stop().catch(() => undefined);
    await lakeWriter.stop().catch(() => undefined);
    await admin.deleteTopics({ topics: namespaceTopics(ns) }).catch(() => undefined);
    await admin.disconnect();
    await deleteRedisKeys(REDIS_URL, ...Object.values(stacks).map((stack) => stack.keyPrefix));
    rmSync(work, { recursive: true, force: true });
  };

  try {
    await produceWorkload(ns, workload);
    for (const stack of Object.values(stacks)) {
      await waitFor(`the ${stack.name} sidecar to consume the workload`, async () => (await stack.sidecar.metrics.totals()).consumed >= workload.length, { timeoutMs: 120_000 });
    }
    await waitUntilLanded(
      storage,
      await highWatermarks(
        admin,
        SOURCES.map((s) => ns.topics.sources[s]),
      ),
    );
    await dbtBuildFeatureEvents(parityDbtOptions(duckdbPath, lakeRoot));
  } catch (error) {
    await cleanup();
    throw error;
  }
  return { ns, workload, registry, work, lakeRoot, duckdbPath, maxIngestMs, asOfMs: maxIngestMs + 13_000, stacks, cleanup };
}

/** The test profile dir: dbt_project's duckdb target, written in a format Node's DuckDB reads. */
export const TEST_PROFILES_DIR = resolve('test/fixtures/dbt-profiles');

export function parityDbtOptions(duckdbPath: string, lakeRoot: string): DbtOptions {
  return { ...defaultParityOptions().dbt, profilesDir: TEST_PROFILES_DIR, env: { CHURNFEAT_DUCKDB_PATH: duckdbPath, CHURNFEAT_LAKE_ROOT: lakeRoot }, vars: { lake_root: lakeRoot } };
}

/** Parity options for one online store of the pipeline. */
export function parityOptionsFor(pipeline: ParityPipeline, stack: OnlineStack, overrides: Partial<ParityOptions> = {}): Partial<ParityOptions> {
  return {
    asOfMs: pipeline.asOfMs,
    users: 60,
    outDir: resolve('reports', 'test', 'parity', stack.name),
    redisUrl: REDIS_URL,
    keyPrefix: stack.keyPrefix,
    topicNamespace: pipeline.ns.options.topicNamespace,
    kafka: { brokers: BROKERS, groupId: stack.groupId },
    lake: { uri: pipeline.lakeRoot, s3Endpoint: null },
    warehouse: { kind: 'duckdb', path: pipeline.duckdbPath },
    dbt: parityDbtOptions(pipeline.duckdbPath, pipeline.lakeRoot),
    ...overrides,
  };
}
