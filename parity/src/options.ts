import { resolve } from 'node:path';
import type { DbtOptions } from './dbt.ts';
import type { SnowflakeWarehouseOptions, Warehouse } from './warehouse/index.ts';

/** Every option of a parity run. */
export interface ParityOptions {
  /** The point in time compared (epoch ms). Default: now. */
  asOfMs: number | null;
  /** Users to sample. Default: 500. */
  users: number;
  /** Activity strata the sample is spread over. Default: 4 (rare, light, regular, active). */
  strata: number;
  /** Seed of the draw within each stratum. Default: as_of in minutes. */
  seed: number | null;
  /** Unexplained mismatches tolerated before the run fails. Default: 0. */
  threshold: number;
  /** Folder for report.json and report.html. Default: reports/parity. */
  outDir: string;
  /** Default: redis://127.0.0.1:16379 (env CHURNFEAT_REDIS_URL). */
  redisUrl: string;
  /** The online store's key prefix. Default: cf (env CHURNFEAT_KEY_PREFIX). */
  keyPrefix: string;
  /** Topic namespace (lake manifests and committed offsets are per topic). Default: churnfeat (env CHURNFEAT_TOPIC_NAMESPACE). */
  topicNamespace: string;
  /**
   * The sidecar's consumer group: its committed offsets, fetched before the reads, also
   * bound the offline events, so lost online state cannot hide. null: applied offsets only.
   * Default: brokers from CHURNFEAT_KAFKA_BROKERS (127.0.0.1:19092), group churnfeat-sidecar (env CHURNFEAT_GROUP_ID).
   */
  kafka: { brokers: string[]; groupId: string } | null;
  /** The lake (folder or s3://), to check its manifests cover what online applied. null: not checked. Default: null. */
  lake: { uri: string; s3Endpoint: string | null } | null;
  /** Default: DuckDB at .cache/warehouse/churnfeat.duckdb (env CHURNFEAT_DUCKDB_PATH). */
  warehouse: { kind: 'duckdb'; path: string } | { kind: 'snowflake'; connection: SnowflakeWarehouseOptions };
  /** How dbt is run to compile (and optionally build) the offline SQL. */
  dbt: DbtOptions;
  /** Run `dbt build --select +int_feature_events` first. Default: false (the nightly DAG builds). */
  dbtBuild: boolean;
  /** Compiled offline SQL (output of `parity/src/cli.ts compile-sql`) instead of running dbt compile. Default: null. */
  offlineSqlFile: string | null;
  /** The sidecar's allowed lateness when known (CHURNFEAT_ALLOWED_LATENESS_MS of its deployment); null: inferred per mismatch. Default: null. */
  onlineAllowedLatenessMs: number | null;
  /** Mismatches listed in the reports (all are counted). Default: 1000. */
  maxMismatchesListed: number;
  /** Tests and embedders may supply the warehouse connection themselves. */
  openWarehouse?: () => Promise<Warehouse>;
}

/** Defaults, with CHURNFEAT_* environment overrides. */
export function defaultParityOptions(env: NodeJS.ProcessEnv = process.env): ParityOptions {
  const duckdbPath = env.CHURNFEAT_DUCKDB_PATH ?? '.cache/warehouse/churnfeat.duckdb';
  const lakeRoot = env.CHURNFEAT_LAKE_ROOT ?? '.cache/lake';
  return {
    asOfMs: null,
    users: 500,
    strata: 4,
    seed: null,
    threshold: 0,
    outDir: 'reports/parity',
    redisUrl: env.CHURNFEAT_REDIS_URL ?? 'redis://127.0.0.1:16379',
    keyPrefix: env.CHURNFEAT_KEY_PREFIX ?? 'cf',
    topicNamespace: env.CHURNFEAT_TOPIC_NAMESPACE ?? 'churnfeat',
    kafka: { brokers: (env.CHURNFEAT_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',').map((b) => b.trim()), groupId: env.CHURNFEAT_GROUP_ID ?? 'churnfeat-sidecar' },
    lake: null,
    warehouse: { kind: 'duckdb', path: duckdbPath },
    dbt: {
      bin: env.CHURNFEAT_DBT_BIN ?? '.venv/dbt/bin/dbt',
      projectDir: 'dbt_project',
      profilesDir: 'dbt_project',
      target: env.CHURNFEAT_DBT_TARGET ?? null,
      // dbt runs in its project folder: hand it absolute paths.
      env: { CHURNFEAT_DUCKDB_PATH: resolve(duckdbPath), CHURNFEAT_LAKE_ROOT: resolve(lakeRoot) },
      vars: { lake_root: resolve(lakeRoot) },
    },
    dbtBuild: false,
    offlineSqlFile: null,
    onlineAllowedLatenessMs: null,
    maxMismatchesListed: 1_000,
  };
}

/** Checks the options a person sets; a bad one fails naming it. */
export function validateParityOptions(options: ParityOptions): void {
  const fail = (option: string, problem: string): never => {
    throw new Error(`invalid parity option "${option}": ${problem}`);
  };
  if (options.asOfMs !== null && !Number.isSafeInteger(options.asOfMs)) fail('asOfMs', 'must be epoch milliseconds');
  if (!Number.isInteger(options.users) || options.users < 1) fail('users', 'must be a positive integer');
  if (!Number.isInteger(options.strata) || options.strata < 1 || options.strata > 20) fail('strata', 'must be an integer from 1 to 20');
  if (!Number.isInteger(options.threshold) || options.threshold < 0) fail('threshold', 'must be a non-negative integer');
  if (!/^[A-Za-z0-9_.-]{1,32}$/.test(options.keyPrefix)) fail('keyPrefix', 'must match ^[A-Za-z0-9_.-]{1,32}$');
  if (!/^rediss?:\/\//.test(options.redisUrl)) fail('redisUrl', 'must start with redis:// or rediss://');
}
