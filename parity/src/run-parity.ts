import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { createRedisClient } from '../../sidecar/src/config/index.ts';
import { SOURCES, type Source } from '../../sidecar/src/events/index.ts';
import { formatDuration, loadFeatureRegistry, type CompiledFeature } from '../../sidecar/src/features/index.ts';
import { topicNames } from '../../sidecar/src/kafka/index.ts';
import { readRecord, recordParity, type UserStateRead } from '../../sidecar/src/store/index.ts';
import type { FeatureValue } from '../../sidecar/src/windows/index.ts';
import { classifyMismatch, MISMATCH_CLASSES, type MismatchClass } from './classify.ts';
import { compileOfflineSql, dbtBuildFeatureEvents, parseCompiled, type OfflineSql } from './dbt.ts';
import { compareFeature, offlineValue } from './diff.ts';
import { queryActivity, queryLakeRows, queryOfflineFeatures, queryUserPartitions, type SpineRow } from './offline.ts';
import { defaultParityOptions, validateParityOptions, type ParityOptions } from './options.ts';
import { distributionOf } from './report/distribution.ts';
import { renderParityHtml } from './report/html.ts';
import type { FeatureSummary, MismatchRecord, ParityResult } from './result.ts';
import { stratifiedSample } from './sample.ts';
import { takeOnlineSnapshot } from './snapshot.ts';
import { DuckDbWarehouse } from './warehouse/duckdb-warehouse.ts';
import type { SqlRow, Warehouse } from './warehouse/warehouse.ts';

function zeroByClass(): Record<MismatchClass, number> {
  return Object.fromEntries(MISMATCH_CLASSES.map((c) => [c, 0])) as Record<MismatchClass, number>;
}

function offlineFeature(feature: CompiledFeature, row: SqlRow | undefined): FeatureValue {
  const latest = row?.[`${feature.name}__latest_event_ms`];
  return { value: offlineValue(feature, row?.[feature.name] ?? null), latestEventMs: latest === null || latest === undefined ? null : Number(latest) };
}

function onlineFeature(feature: CompiledFeature, read: UserStateRead | undefined): FeatureValue {
  const value = read?.features[feature.name];
  return { value: value?.value ?? null, latestEventMs: value?.latest_event_ms ?? null };
}

async function openWarehouse(options: ParityOptions): Promise<Warehouse> {
  if (options.openWarehouse) return options.openWarehouse();
  if (options.warehouse.kind === 'snowflake') {
    // Loaded on demand: snowflake-sdk pulls in a large dependency tree.
    const { SnowflakeWarehouse } = await import('./warehouse/snowflake-warehouse.ts');
    return SnowflakeWarehouse.open(options.warehouse.connection);
  }
  return DuckDbWarehouse.open({ path: options.warehouse.path, fileSearchPath: resolve(options.dbt.projectDir) });
}

/** The lake writer's manifests: "<topic>:<partition>" -> highest landed offset. */
async function landedThrough(lake: NonNullable<ParityOptions['lake']>): Promise<Map<string, number | null>> {
  // Loaded on demand: the S3 client is only needed when the lake is checked.
  const { lakeStorageFromUri, readAllManifests } = await import('../../sidecar/src/lake/index.ts');
  const manifests = await readAllManifests(lakeStorageFromUri(lake.uri, { endpoint: lake.s3Endpoint ?? undefined }));
  return new Map(manifests.map((m) => [`${m.topic}:${m.partition}`, m.landedThrough === null ? null : Number(m.landedThrough)]));
}

/**
 * Users erased under GDPR/CCPA (the deletion registry next to the lake, docs/deletion.md): never
 * sampled, their online and offline states are erased on different days by design.
 */
async function erasedUsers(lake: ParityOptions['lake']): Promise<Set<string>> {
  if (lake === null) return new Set();
  const { lakeStorageFromUri } = await import('../../sidecar/src/lake/index.ts');
  const { DeletionRegistry } = await import('../../sidecar/src/deletion/index.ts');
  return new Set((await new DeletionRegistry(lakeStorageFromUri(lake.uri, { endpoint: lake.s3Endpoint ?? undefined })).all()).map((r) => r.user_id));
}

/** The parity options with defaults (and CHURNFEAT_* environment) under the given overrides. */
export function resolveParityOptions(overrides: Partial<ParityOptions> = {}): ParityOptions {
  const options = { ...defaultParityOptions(), ...overrides };
  validateParityOptions(options);
  return options;
}

/**
 * The nightly parity job: samples users, snapshots their online reads at as_of, computes
 * the same features offline with dbt's definitions restricted to the records the online
 * state had processed, diffs, classifies every mismatch, and writes report.json and
 * report.html under `outDir`. Resolves with the result; `exitCode` is 1 when unexplained
 * mismatches exceed the threshold. Throws when a step cannot run (no store, no warehouse).
 */
export async function runParity(overrides: Partial<ParityOptions> = {}): Promise<ParityResult> {
  const options = resolveParityOptions(overrides);
  const startedAt = new Date();
  const registry = loadFeatureRegistry(options.dbt.projectDir);
  const asOfMs = options.asOfMs ?? Date.now();
  const sources = SOURCES.filter((source) => registry.features.some((f) => f.source === source));

  if (options.dbtBuild) await dbtBuildFeatureEvents(options.dbt);
  // Compile before opening the warehouse: dbt-duckdb opens the same file.
  const offlineSql: OfflineSql = options.offlineSqlFile ? parseCompiled(await readFile(options.offlineSqlFile, 'utf8')) : await compileOfflineSql(options.dbt);

  const warehouse = await openWarehouse(options);
  const redis = createRedisClient(options, { lazyConnect: true, maxRetriesPerRequest: 3 });
  try {
    await redis.connect();
    const erased = await erasedUsers(options.lake);
    const activity = (await queryActivity(warehouse, offlineSql.lakeEvents, asOfMs)).filter((user) => !erased.has(user.userId));
    const seed = options.seed ?? Math.floor(asOfMs / 60_000) % 2_147_483_647;
    const sample = stratifiedSample(activity, options.users, options.strata, seed);
    if (sample.users.length === 0) throw new Error(`no user has lake records ingested at or before as_of ${new Date(asOfMs).toISOString()}`);
    const stratumOf = new Map(sample.strata.flatMap((s) => s.users.map((u) => [u, s.name] as const)));

    const snapshot = await takeOnlineSnapshot({
      redis,
      keyPrefix: options.keyPrefix,
      version: options.version,
      registry,
      users: sample.users,
      asOfMs,
      kafka: options.kafka ? { ...options.kafka, topicNamespace: options.topicNamespace } : null,
    });
    const partitions = await queryUserPartitions(warehouse, offlineSql.lakeEvents, sample.users);
    const topics = topicNames(options.topicNamespace);
    const landed = options.lake ? await landedThrough(options.lake) : null;

    // The offsets counted offline per user and source: what the read says was applied,
    // raised to everything the sidecar group had committed on that partition.
    let usersOnSeveralPartitions = 0;
    const partitionOf = new Map<string, number | null>();
    const spine: SpineRow[] = sample.users.map((userId) => {
      const read = snapshot.reads.get(userId);
      const maxOffset = {} as Record<Source, number>;
      let several = false;
      for (const source of SOURCES) {
        const applied = read?.sources[source];
        const inLake = partitions.get(userId)?.get(source) ?? [];
        if (inLake.length > 1) several = true;
        const partition = applied?.partition ?? inLake[0] ?? null;
        partitionOf.set(`${userId}/${source}`, partition);
        const committedNext = partition === null ? undefined : snapshot.committed?.get(`${source}:${partition}`);
        maxOffset[source] = Math.max(applied?.offset ?? -1, committedNext !== undefined && committedNext > 0 ? committedNext - 1 : -1);
      }
      if (several) usersOnSeveralPartitions += 1;
      return { userId, asOfMs, maxOffset };
    });
    const offline = await queryOfflineFeatures(warehouse, offlineSql.pointInTime, spine);

    const found: Array<Omit<MismatchRecord, 'class' | 'explanation'>> = [];
    const values = new Map<string, { online: Array<number | string | null>; offline: Array<number | string | null> }>();
    for (const feature of registry.features) values.set(feature.name, { online: [], offline: [] });
    for (const userId of sample.users) {
      for (const feature of registry.features) {
        const on = onlineFeature(feature, snapshot.reads.get(userId));
        const off = offlineFeature(feature, offline.get(userId));
        values.get(feature.name)?.online.push(on.value);
        values.get(feature.name)?.offline.push(off.value);
        const field = compareFeature(feature, on, off);
        if (field) found.push({ userId, stratum: stratumOf.get(userId) ?? '', feature: feature.name, field, online: on, offline: off });
      }
    }

    const lakeRows = found.length > 0 ? await queryLakeRows(warehouse, offlineSql.lakeEvents, [...new Set(found.map((m) => m.userId))]) : new Map();
    const spineOf = new Map(spine.map((row) => [row.userId, row]));
    const maxIngestBetween = async (source: Source, partition: number, fromOffset: number, toOffset: number): Promise<number | null> => {
      const [row] = await warehouse.query(
        `select max(ingest_ms) as max_ingest_ms from ${offlineSql.lakeEvents} where source = '${source}' and kafka_partition = ${partition} and kafka_offset between ${fromOffset} and ${toOffset}`,
      );
      return row?.max_ingest_ms === null || row?.max_ingest_ms === undefined ? null : Number(row.max_ingest_ms);
    };
    const mismatches: MismatchRecord[] = [];
    for (const m of found) {
      const feature = registry.features.find((f) => f.name === m.feature) as CompiledFeature;
      const partition = partitionOf.get(`${m.userId}/${feature.source}`) ?? null;
      const landedThrough = landed && partition !== null ? (landed.get(`${topics.sources[feature.source]}:${partition}`) ?? null) : undefined;
      const verdict = await classifyMismatch({
        feature,
        asOfMs,
        offsetLimit: (spineOf.get(m.userId) as SpineRow).maxOffset[feature.source],
        appliedOffset: snapshot.reads.get(m.userId)?.sources[feature.source]?.offset ?? null,
        // dbt reads the same registry artifact: its policies are dbt's.
        allowedLatenessMs: registry.policies.allowedLatenessMs,
        dedupMarginMs: registry.policies.dedupMarginMs,
        rows: lakeRows.get(m.userId) ?? [],
        online: m.online,
        offline: m.offline,
        maxIngestBetween,
        ...(landedThrough === undefined ? {} : { lakeLandedThrough: landedThrough }),
        ...(options.onlineAllowedLatenessMs === null ? {} : { onlineAllowedLatenessMs: options.onlineAllowedLatenessMs }),
      });
      mismatches.push({ ...m, class: verdict.class, explanation: verdict.explanation });
    }

    const byClass = zeroByClass();
    for (const m of mismatches) byClass[m.class] += 1;
    const features: FeatureSummary[] = registry.features.map((feature) => {
      const own = mismatches.filter((m) => m.feature === feature.name);
      const featureByClass = zeroByClass();
      for (const m of own) featureByClass[m.class] += 1;
      const v = values.get(feature.name) as { online: Array<number | string | null>; offline: Array<number | string | null> };
      return {
        name: feature.name,
        source: feature.source,
        aggregation: feature.aggregation,
        window: formatDuration(feature.windowMs),
        granularity: formatDuration(feature.granularityMs),
        compared: sample.users.length,
        mismatches: own.length,
        mismatchRate: own.length / sample.users.length,
        byClass: featureByClass,
        distribution: distributionOf(v.online, v.offline),
      };
    });
    const unexplained = byClass.unexplained;
    const exitCode: 0 | 1 = unexplained > options.threshold ? 1 : 0;
    const outDir = resolve(options.outDir);
    const result: ParityResult = {
      status: exitCode === 0 ? 'pass' : 'fail',
      exitCode,
      threshold: options.threshold,
      asOfMs,
      asOf: new Date(asOfMs).toISOString(),
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      warehouse: warehouse.dialect,
      keyPrefix: options.keyPrefix,
      registry: { dbtVersion: registry.version, onlineVersion: snapshot.onlineVersion, same: registry.version === snapshot.onlineVersion },
      sample: {
        requested: options.users,
        population: sample.population,
        sampled: sample.users.length,
        seed,
        strata: sample.strata.map((s) => ({ name: s.name, minEvents: s.minEvents, maxEvents: s.maxEvents, population: s.population, sampled: s.users.length, users: s.users })),
      },
      snapshot: {
        readStartedAt: new Date(snapshot.readStartedMs).toISOString(),
        readEndedAt: new Date(snapshot.readEndedMs).toISOString(),
        committedOffsets: snapshot.committed !== null,
        lakeManifests: landed !== null,
        usersWithOnlineState: [...snapshot.reads.values()].filter((r) => r.present).length,
        usersOnSeveralPartitions,
      },
      totals: {
        comparisons: sources.length === 0 ? 0 : sample.users.length * registry.features.length,
        mismatches: mismatches.length,
        usersWithMismatch: new Set(mismatches.map((m) => m.userId)).size,
        byClass,
        unexplained,
      },
      features,
      mismatches: mismatches.slice(0, options.maxMismatchesListed),
      reports: { json: join(outDir, 'report.json'), html: join(outDir, 'report.html') },
    };
    await mkdir(outDir, { recursive: true });
    await writeFile(result.reports.json, `${JSON.stringify(result, null, 2)}\n`);
    await writeFile(result.reports.html, renderParityHtml(result));
    await recordVersionParity(redis, result);
    return result;
  } finally {
    redis.disconnect();
    await warehouse.close();
  }
}

/**
 * Records the result in the compared version's catalog record (docs/lifecycle.md), which
 * `churnfeat version cutover` checks. It passes only when offline ran the same registry
 * version as the online state read: otherwise dbt computed other definitions.
 */
async function recordVersionParity(redis: Redis, result: ParityResult): Promise<void> {
  const version = result.registry.onlineVersion;
  if ((await readRecord(redis, result.keyPrefix, version)) === null) return;
  const passed = result.exitCode === 0 && result.registry.same;
  await recordParity(
    redis,
    result.keyPrefix,
    version,
    { passed, mismatches: result.totals.unexplained, sampleSize: result.sample.sampled, asOf: result.asOf, at: result.finishedAt },
    `parity ${userInfo().username}@${hostname()}`,
  );
}

/** One line per outcome, for logs and the demo. */
export function summarizeParity(result: ParityResult): string {
  const classes = MISMATCH_CLASSES.filter((c) => result.totals.byClass[c] > 0).map((c) => `${c} ${result.totals.byClass[c]}`);
  return `parity ${result.status.toUpperCase()} at as_of ${result.asOf}: ${result.sample.sampled} users x ${result.features.length} features, ${result.totals.mismatches} mismatches${classes.length ? ` (${classes.join(', ')})` : ''}, ${result.totals.unexplained} unexplained (threshold ${result.threshold}); report ${result.reports.html}`;
}
