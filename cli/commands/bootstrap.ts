/**
 * `churnfeat bootstrap`: loads a registry version's online state from the warehouse tiles,
 * cut at exact Kafka offsets, into the version's own keyspace, then commits the version's
 * consumer group to the cut (docs/bootstrap.md). Resumable: run it again after a kill.
 * `--cut-only` records the cut before the dbt run; `--rebuild` starts over after a Redis loss.
 */
import { resolve } from 'node:path';
import { logLevel } from 'kafkajs';
import { SingleBar } from 'cli-progress';
import { BOOTSTRAP_OPTIONS, defaultVersionGroup, formatUserShard, parseUserShard, runBootstrap, type BootstrapPlan } from '../../sidecar/src/bootstrap/index.ts';
import { createKafkaClient, createRedisClient, defineOption, loadOptions, pickKafkaConnection, SCHEMAS } from '../../sidecar/src/config/index.ts';
import { loadFeatureRegistry } from '../../sidecar/src/features/index.ts';
import { lakeStorageFromUri } from '../../sidecar/src/lake/index.ts';
import { dbtBuildFeatureEvents, PARITY_OPTIONS } from '../../parity/src/index.ts';
import { EXIT, say, tableUsage, type Command } from '../command.ts';

export const BOOTSTRAP_CLI_OPTIONS = {
  ...BOOTSTRAP_OPTIONS,
  dbtBuild: defineOption<boolean>({
    kind: 'boolean',
    description: 'after taking a new cut, build the warehouse (dbt run --select +int_feature_events over --lake into --duckdb-path), then load',
    default: false,
    schema: SCHEMAS.boolean,
  }),
  dbtBin: PARITY_OPTIONS.dbtBin,
  dbtTarget: PARITY_OPTIONS.dbtTarget,
} as const;

function describePlan(plan: BootstrapPlan): string {
  const cut = plan.cut.map((c) => `${c.topic}[${c.partition}]<${c.offset}`).join(' ');
  const shard = plan.shard.count === 1 ? '' : `shard ${formatUserShard(plan.shard)}: `;
  return `${shard}version ${plan.version} -> keyspace ${plan.keyspace}:*, group ${plan.groupId}; cut ${plan.cutRecorded ? '(recorded) ' : ''}${cut}; users ${plan.users} (${plan.usersLoaded} loaded already); at most ${plan.maxKeys} keys`;
}

export const command: Command = {
  usage: () =>
    tableUsage(
      'bootstrap [options]',
      "Loads a registry version's state from the warehouse into its own keyspace, cut at exact per-partition offsets, and commits its sidecar's group to the cut.",
      BOOTSTRAP_CLI_OPTIONS,
      "Order: bootstrap --cut-only, dbt run --select +int_feature_events, bootstrap (or all three: --dbt-build); then start the version's sidecar. Sharded: after the cut and dbt, run bootstrap --users 1/N ... --users N/N side by side. Exit 1: refused (active version, its sidecar running) or failed: run again to resume.\n",
    ),
  async run(argv) {
    const options = loadOptions(BOOTSTRAP_CLI_OPTIONS, argv);
    const shard = parseUserShard(options.users);
    const registry = loadFeatureRegistry(options.dbtProjectDir);
    const version = options.version || registry.version;
    const groupId = options.group || defaultVersionGroup(version);
    const redis = createRedisClient(options, { maxRetriesPerRequest: 3 });
    const kafka = createKafkaClient(pickKafkaConnection(options), { clientId: `churnfeat-bootstrap-${version}`, logLevel: logLevel.ERROR, retry: { retries: 5 } });
    const admin = kafka.admin();
    const storage = lakeStorageFromUri(options.lakeUri, { endpoint: options.s3Endpoint || undefined });
    const bar =
      options.progress && !options.dryRun ? new SingleBar({ format: 'bootstrap |{bar}| {value}/{total} users | {rate} users/s | ETA {eta_formatted}', stream: process.stderr, etaBuffer: 20 }) : null;
    const started = Date.now();
    try {
      await admin.connect();
      const result = await runBootstrap({
        redis,
        admin,
        storage,
        registry,
        keyPrefix: options.keyPrefix,
        version,
        topicNamespace: options.topicNamespace,
        groupId,
        duckdbPath: options.duckdbPath,
        table: options.warehouseTable,
        batchUsers: options.batchUsers,
        shard,
        dryRun: options.dryRun,
        rebuild: options.rebuild,
        cutOnly: options.cutOnly,
        afterCut: options.dbtBuild
          ? () =>
              dbtBuildFeatureEvents({
                bin: options.dbtBin,
                projectDir: options.dbtProjectDir,
                profilesDir: options.dbtProjectDir,
                target: options.dbtTarget === '' ? null : options.dbtTarget,
                // dbt runs in its project folder: hand it absolute paths
                env: { CHURNFEAT_DUCKDB_PATH: resolve(options.duckdbPath), CHURNFEAT_LAKE_ROOT: resolve(options.lakeUri) },
                vars: { lake_root: resolve(options.lakeUri) },
              })
          : undefined,
        onStart: (plan) => {
          say('bootstrap', describePlan(plan));
          bar?.start(plan.users, plan.usersLoaded, { rate: '0' });
        },
        onProgress: (loaded) => bar?.update(loaded, { rate: String(Math.round((loaded * 1000) / Math.max(1, Date.now() - started))) }),
      });
      bar?.stop();
      if (result.state === 'planned' || options.cutOnly) say('bootstrap', `${options.dryRun ? 'dry run: ' : 'cut recorded: '}${describePlan(result.plan)}`);
      else if (result.pendingShards.length > 0)
        say(
          'bootstrap',
          `shard ${formatUserShard(shard)} of ${version} complete: ${result.usersLoaded} users; the version's bootstrap completes when shard(s) ${result.pendingShards.join(', ')} of ${shard.count} are`,
        );
      else if (result.state === 'complete' && result.elapsedMs >= 0)
        say(
          'bootstrap',
          `${version} complete${shard.count > 1 ? ` (the last shard to finish: ${formatUserShard(shard)})` : ''}: ${result.usersLoaded} users (${result.applied} events counted, ${result.duplicates} duplicates dropped) in ${(result.elapsedMs / 1000).toFixed(1)} s; group ${groupId} committed to the cut`,
        );
      process.stdout.write(
        `${JSON.stringify({ version, shard: formatUserShard(shard), state: result.state, pending_shards: result.pendingShards, users_loaded: result.usersLoaded, applied: result.applied, duplicates: result.duplicates, elapsed_ms: result.elapsedMs, cut: result.plan.cut })}\n`,
      );
      return EXIT.ok;
    } catch (error) {
      bar?.stop();
      throw error;
    } finally {
      await admin.disconnect().catch(() => undefined);
      redis.disconnect();
      (storage as { close?: () => void }).close?.();
    }
  },
};
