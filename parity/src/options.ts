import { resolve } from 'node:path';
import {
  COMMON_OPTIONS,
  KAFKA_SECURITY_OPTIONS,
  pickKafkaConnection,
  REDIS_STORE_OPTIONS,
  type KafkaConnection,
  defineOption,
  readEnvOptions,
  resolveTable,
  SCHEMAS,
  type OptionsOf,
} from '../../sidecar/src/config/index.ts';
import type { DbtOptions } from './dbt.ts';
import type { SnowflakeWarehouseOptions, Warehouse } from './warehouse/index.ts';

/** Every option of a parity run. */
export interface ParityOptions {
  /** The point in time compared (epoch ms). Default: now. */
  asOfMs: number | null;
  /** Users to sample. */
  users: number;
  /** Activity strata the sample is spread over (rare, light, regular, active...). */
  strata: number;
  /** Seed of the draw within each stratum; null: as_of in minutes. */
  seed: number | null;
  /** Unexplained mismatches tolerated before the run fails. */
  threshold: number;
  /** Folder for report.json and report.html. */
  outDir: string;
  redisUrl: string;
  /** PEM file of the CA of Redis's certificate (rediss:// URLs); '' = the system CAs. */
  redisTlsCa: string;
  /** The online store's key prefix. */
  keyPrefix: string;
  /** The registry version whose online state is compared; '' = the active one (the alias). The result is recorded in its catalog record. */
  version: string;
  /** Topic namespace (lake manifests and committed offsets are per topic). */
  topicNamespace: string;
  /**
   * The sidecar's consumer group: its committed offsets, fetched before the reads, also
   * bound the offline events, so lost online state cannot hide. null: applied offsets only.
   */
  kafka: (KafkaConnection & { groupId: string }) | null;
  /** The lake (folder or s3://), to check its manifests cover what online applied. null: not checked. */
  lake: { uri: string; s3Endpoint: string | null } | null;
  warehouse: { kind: 'duckdb'; path: string } | { kind: 'snowflake'; connection: SnowflakeWarehouseOptions };
  /** How dbt is run to compile (and optionally build) the offline SQL. */
  dbt: DbtOptions;
  /** Run `dbt build --select +int_feature_events` first (the nightly DAG builds). */
  dbtBuild: boolean;
  /** Compiled offline SQL (output of `churnfeat parity compile-sql`) instead of running dbt compile; null: dbt compile. */
  offlineSqlFile: string | null;
  /** The sidecar's allowed lateness when known (CHURNFEAT_ALLOWED_LATENESS_MS of its deployment); null: inferred per mismatch. */
  onlineAllowedLatenessMs: number | null;
  /** Mismatches listed in the reports (all are counted). */
  maxMismatchesListed: number;
  /** Tests and embedders may supply the warehouse connection themselves. */
  openWarehouse?: () => Promise<Warehouse>;
}

const nullableInteger = { type: ['integer', 'null'] } as const;

/**
 * The settable options of a parity run (flags, env variables, defaults): the flat view of
 * {@link ParityOptions} that `churnfeat parity --help` lists; {@link parityOptionsFrom} builds the run's options.
 */
export const PARITY_OPTIONS = {
  asOf: defineOption<string>({
    kind: 'string',
    description: "the point in time compared: epoch ms or an ISO time; '' = now",
    default: '',
    schema: { type: 'string' },
    placeholder: 'MS|ISO',
  }),
  users: defineOption<number>({ kind: 'integer', description: 'users to sample', default: 500, schema: { type: 'integer', minimum: 1 } }),
  strata: defineOption<number>({
    kind: 'integer',
    description: 'activity strata the sample is spread over',
    default: 4,
    schema: { type: 'integer', minimum: 1, maximum: 20 },
  }),
  seed: defineOption<number | null>({ kind: 'integer', description: 'seed of the draw within each stratum (null: as_of in minutes)', default: null, schema: nullableInteger }),
  threshold: defineOption<number>({
    kind: 'integer',
    description: 'unexplained mismatches tolerated before the run fails',
    default: 0,
    schema: SCHEMAS.nonNegativeInteger,
  }),
  outDir: defineOption<string>({ kind: 'string', description: 'folder for report.json and report.html', default: 'reports/parity', schema: SCHEMAS.nonEmpty, flag: 'out', placeholder: 'DIR' }),
  ...REDIS_STORE_OPTIONS,
  version: defineOption<string>({
    kind: 'string',
    description: "the registry version whose online state is compared; '' = the active one. The result (passed/failed) is recorded in its catalog record, which `churnfeat version cutover` checks",
    default: '',
    env: ['CHURNFEAT_PARITY_VERSION'],
    schema: { type: 'string', pattern: '^[A-Za-z0-9_.-]{0,64}$' },
    placeholder: 'VERSION',
  }),
  topicNamespace: COMMON_OPTIONS.topicNamespace,
  brokers: COMMON_OPTIONS.brokers,
  ...KAFKA_SECURITY_OPTIONS,
  sidecarGroup: COMMON_OPTIONS.sidecarGroupId,
  committedOffsets: defineOption<boolean>({
    kind: 'boolean',
    description: "bound the offline events by the sidecar group's committed offsets (--no-committed-offsets: applied offsets only)",
    default: true,
    schema: SCHEMAS.boolean,
  }),
  lake: defineOption<string>({
    kind: 'string',
    description: "the lake (folder or s3://) whose manifests must cover what online applied; '' = not checked",
    default: '',
    schema: { type: 'string' },
    placeholder: 'DIR|s3://BUCKET/PREFIX',
  }),
  s3Endpoint: COMMON_OPTIONS.s3Endpoint,
  warehouse: defineOption<'duckdb' | 'snowflake'>({
    kind: 'string',
    description: 'duckdb, or snowflake (SNOWFLAKE_ACCOUNT, _USER, _PASSWORD, _DATABASE, _SCHEMA, _WAREHOUSE, _ROLE, _ACCESS_URL)',
    default: 'duckdb',
    schema: { enum: ['duckdb', 'snowflake'] },
    placeholder: 'duckdb|snowflake',
  }),
  duckdbPath: COMMON_OPTIONS.duckdbPath,
  // The version's own project: `parity --version V` passes only when dbt ran V's definitions.
  dbtProjectDir: COMMON_OPTIONS.dbtProjectDir,
  lakeRoot: { ...COMMON_OPTIONS.lakeUri, description: 'the local lake dbt reads (var lake_root)', env: ['CHURNFEAT_LAKE_ROOT'], flag: 'lake-root', placeholder: 'DIR' },
  dbtBin: defineOption<string>({ kind: 'string', description: 'dbt executable', default: '.venv/dbt/bin/dbt', env: ['CHURNFEAT_DBT_BIN'], schema: SCHEMAS.nonEmpty, placeholder: 'FILE' }),
  dbtTarget: defineOption<string>({ kind: 'string', description: "dbt profile target; '' = the profile's default", default: '', env: ['CHURNFEAT_DBT_TARGET'], schema: { type: 'string' } }),
  dbtBuild: defineOption<boolean>({ kind: 'boolean', description: 'run dbt build --select +int_feature_events first', default: false, schema: SCHEMAS.boolean }),
  offlineSql: defineOption<string>({
    kind: 'string',
    description: "compiled offline SQL (churnfeat parity compile-sql) instead of dbt compile; '' = dbt compile",
    default: '',
    schema: { type: 'string' },
    placeholder: 'FILE',
  }),
  onlineAllowedLatenessMs: defineOption<number | null>({
    kind: 'integer',
    description: "the sidecar's allowed lateness when known (null: inferred per mismatch)",
    default: null,
    schema: nullableInteger,
  }),
  maxMismatchesListed: defineOption<number>({ kind: 'integer', description: 'mismatches listed in the reports (all are counted)', default: 1_000, schema: SCHEMAS.nonNegativeInteger }),
} as const;

/** The flat, settable view of a parity run's options. */
export type ParityFlatOptions = OptionsOf<typeof PARITY_OPTIONS>;

function asOfMs(text: string): number | null {
  if (text === '') return null;
  if (/^\d+$/.test(text)) return Number(text);
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new Error(`invalid option "asOf": not epoch milliseconds or an ISO time: ${text} (flag --as-of)`);
  return ms;
}

function snowflakeFromEnv(env: NodeJS.ProcessEnv): SnowflakeWarehouseOptions {
  const need = (name: string): string => {
    const value = env[name];
    if (!value) throw new Error(`--warehouse snowflake needs ${name}`);
    return value;
  };
  return {
    account: need('SNOWFLAKE_ACCOUNT'),
    username: need('SNOWFLAKE_USER'),
    database: need('SNOWFLAKE_DATABASE'),
    schema: need('SNOWFLAKE_SCHEMA'),
    ...(env.SNOWFLAKE_PASSWORD ? { password: env.SNOWFLAKE_PASSWORD } : {}),
    ...(env.SNOWFLAKE_WAREHOUSE ? { warehouse: env.SNOWFLAKE_WAREHOUSE } : {}),
    ...(env.SNOWFLAKE_ROLE ? { role: env.SNOWFLAKE_ROLE } : {}),
    ...(env.SNOWFLAKE_ACCESS_URL ? { accessUrl: env.SNOWFLAKE_ACCESS_URL } : {}),
  };
}

/** Builds a run's options from the flat ones (validated first); the Snowflake connection comes from SNOWFLAKE_*. */
export function parityOptionsFrom(overrides: Partial<ParityFlatOptions> = {}, env: NodeJS.ProcessEnv = process.env): ParityOptions {
  const flat = resolveTable(PARITY_OPTIONS, overrides);
  const dbtVars: Record<string, unknown> = { lake_root: resolve(flat.lakeRoot) };
  return {
    asOfMs: asOfMs(flat.asOf),
    users: flat.users,
    strata: flat.strata,
    seed: flat.seed,
    threshold: flat.threshold,
    outDir: flat.outDir,
    redisUrl: flat.redisUrl,
    redisTlsCa: flat.redisTlsCa,
    keyPrefix: flat.keyPrefix,
    version: flat.version,
    topicNamespace: flat.topicNamespace,
    kafka: flat.committedOffsets ? { ...pickKafkaConnection(flat), groupId: flat.sidecarGroup } : null,
    lake: flat.lake === '' ? null : { uri: flat.lake, s3Endpoint: flat.s3Endpoint === '' ? null : flat.s3Endpoint },
    warehouse: flat.warehouse === 'snowflake' ? { kind: 'snowflake', connection: snowflakeFromEnv(env) } : { kind: 'duckdb', path: flat.duckdbPath },
    dbt: {
      bin: flat.dbtBin,
      projectDir: flat.dbtProjectDir,
      profilesDir: flat.dbtProjectDir,
      target: flat.dbtTarget === '' ? null : flat.dbtTarget,
      // dbt runs in its project folder: hand it absolute paths.
      env: { CHURNFEAT_DUCKDB_PATH: resolve(flat.duckdbPath), CHURNFEAT_LAKE_ROOT: resolve(flat.lakeRoot) },
      vars: dbtVars,
    },
    dbtBuild: flat.dbtBuild,
    offlineSqlFile: flat.offlineSql === '' ? null : flat.offlineSql,
    onlineAllowedLatenessMs: flat.onlineAllowedLatenessMs,
    maxMismatchesListed: flat.maxMismatchesListed,
  };
}

/** Defaults, with CHURNFEAT_* environment overrides (see {@link PARITY_OPTIONS}). */
export function defaultParityOptions(env: NodeJS.ProcessEnv = process.env): ParityOptions {
  return parityOptionsFrom(readEnvOptions(PARITY_OPTIONS, env), env);
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
