import { parseArgs } from 'node:util';
import { Ajv, type ValidateFunction } from 'ajv';
import { ChurnfeatError } from '../errors.ts';

/** How an option's text (from an env variable or a flag) becomes its value. */
export type OptionKind = 'string' | 'integer' | 'boolean' | 'list';

/**
 * One option of a service: what it means, its default (written here and nowhere else),
 * the env variables that set it (the first one set wins), and the ajv schema of its value.
 * The command-line flag is the option's name in kebab case unless `flag` says otherwise.
 */
export interface OptionSpec<T> {
  readonly kind: OptionKind;
  readonly description: string;
  readonly default: T;
  readonly env?: readonly string[];
  readonly schema: Readonly<Record<string, unknown>>;
  readonly flag?: string;
  /** Placeholder for the value in --help, e.g. URL. Default: by kind. */
  readonly placeholder?: string;
}

/** A service's options: name -> spec. Each service builds its table from {@link COMMON_OPTIONS} plus its own. */
export type OptionTable = Readonly<Record<string, OptionSpec<unknown>>>;

/** The options object a table describes. */
export type OptionsOf<T extends OptionTable> = { -readonly [K in keyof T]: T[K]['default'] };

/** A bad command line (unknown flag, missing value): the CLI prints the message and the usage, exits 2. */
export class UsageError extends ChurnfeatError {
  constructor(message: string) {
    super('invalid_config', message);
    this.name = 'UsageError';
  }
}

/** Typed constructor of a spec (infers T from the default). */
export function defineOption<T>(spec: OptionSpec<T>): OptionSpec<T> {
  return spec;
}

/** Shared ajv schema pieces. */
export const SCHEMAS = {
  hostPort: { type: 'string', pattern: '^[^:]+:[0-9]+$' },
  brokers: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[^:]+:[0-9]+$' } },
  redisUrl: { type: 'string', pattern: '^rediss?://' },
  keyPrefix: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,32}$' },
  topicNamespace: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,100}$' },
  nonEmpty: { type: 'string', minLength: 1 },
  port: { type: 'integer', minimum: 0, maximum: 65535 },
  nonNegativeInteger: { type: 'integer', minimum: 0 },
  boolean: { type: 'boolean' },
  httpUrlOrEmpty: { type: 'string', pattern: '^(https?://.+)?$' },
  payloadBytes: { type: 'integer', minimum: 1024, maximum: 10_485_760 },
  logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
} as const;

/** The sidecar's consumer group: the one set, else `churnfeat-sidecar-<registry version>` (each version consumes the topics on its own). */
export function sidecarGroupFor(groupId: string, registryVersion: string): string {
  return groupId === '' ? `churnfeat-sidecar-${registryVersion}` : groupId;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Options several services share: each default and env name is written once, here. */
export const COMMON_OPTIONS = {
  brokers: defineOption<string[]>({
    kind: 'list',
    description: 'Kafka bootstrap servers, comma-separated',
    default: ['127.0.0.1:19092'],
    env: ['CHURNFEAT_KAFKA_BROKERS'],
    schema: SCHEMAS.brokers,
    placeholder: 'HOST:PORT,...',
  }),
  redisUrl: defineOption<string>({
    kind: 'string',
    description: 'Redis URL',
    default: 'redis://127.0.0.1:16379',
    env: ['CHURNFEAT_REDIS_URL'],
    schema: SCHEMAS.redisUrl,
    placeholder: 'URL',
  }),
  keyPrefix: defineOption<string>({
    kind: 'string',
    description: 'prefix of every Redis key; the same for the sidecar and its readers',
    default: 'cf',
    env: ['CHURNFEAT_KEY_PREFIX'],
    schema: SCHEMAS.keyPrefix,
  }),
  topicNamespace: defineOption<string>({
    kind: 'string',
    description: 'topic names: <namespace>.<source>.events, <namespace>.dead-letter, <namespace>.late-events',
    default: 'churnfeat',
    env: ['CHURNFEAT_TOPIC_NAMESPACE'],
    schema: SCHEMAS.topicNamespace,
  }),
  dbtProjectDir: defineOption<string>({
    kind: 'string',
    description: 'dbt project holding the feature definitions',
    default: 'dbt_project',
    env: ['CHURNFEAT_DBT_PROJECT'],
    schema: SCHEMAS.nonEmpty,
    placeholder: 'DIR',
  }),
  sidecarGroupId: defineOption<string>({
    kind: 'string',
    description: "the sidecar's consumer group; '' = churnfeat-sidecar-<registry version>, one group per version, so versions run side by side (docs/lifecycle.md)",
    default: '',
    env: ['CHURNFEAT_GROUP_ID'],
    schema: { type: 'string' },
  }),
  maxPayloadBytes: defineOption<number>({
    kind: 'integer',
    description: 'payloads above this size are dead-lettered; the same for the sidecar and the lake writer',
    default: 65_536,
    env: ['CHURNFEAT_MAX_PAYLOAD_BYTES'],
    schema: SCHEMAS.payloadBytes,
  }),
  metadataMaxAgeMs: defineOption<number>({
    kind: 'integer',
    description: 'how often a consumer refreshes topic metadata, ms: partitions added to a source topic are consumed (from their earliest offset) within this',
    default: 30_000,
    env: ['CHURNFEAT_KAFKA_METADATA_MAX_AGE_MS'],
    schema: { type: 'integer', minimum: 1_000, maximum: 3_600_000 },
  }),
  fromBeginning: defineOption<boolean>({
    kind: 'boolean',
    description: 'start from the earliest offset when the group has none',
    default: true,
    schema: SCHEMAS.boolean,
  }),
  lakeUri: defineOption<string>({
    kind: 'string',
    description: 'lake root: a folder, or s3://bucket/prefix',
    default: '.cache/lake',
    env: ['CHURNFEAT_LAKE_URI', 'CHURNFEAT_LAKE_ROOT'],
    schema: SCHEMAS.nonEmpty,
    flag: 'lake',
    placeholder: 'DIR|s3://BUCKET/PREFIX',
  }),
  s3Endpoint: defineOption<string>({
    kind: 'string',
    description: "endpoint of an S3-compatible service for s3:// lakes (a local stand-in); '' for AWS",
    default: '',
    env: ['CHURNFEAT_S3_ENDPOINT'],
    schema: SCHEMAS.httpUrlOrEmpty,
    placeholder: 'URL',
  }),
  logLevel: defineOption<LogLevel>({
    kind: 'string',
    description: 'pino log level',
    default: 'info',
    env: ['CHURNFEAT_LOG_LEVEL'],
    schema: SCHEMAS.logLevel,
    placeholder: 'LEVEL',
  }),
  metricsHost: defineOption<string>({
    kind: 'string',
    description: 'bind address of the /metrics listeners (pods: 0.0.0.0, to be scraped from outside)',
    default: '127.0.0.1',
    env: ['CHURNFEAT_METRICS_HOST'],
    schema: SCHEMAS.nonEmpty,
    placeholder: 'ADDR',
  }),
  duckdbPath: defineOption<string>({
    kind: 'string',
    description: 'the DuckDB warehouse file dbt builds into',
    default: '.cache/warehouse/churnfeat.duckdb',
    env: ['CHURNFEAT_DUCKDB_PATH'],
    schema: SCHEMAS.nonEmpty,
    placeholder: 'FILE',
  }),
} as const satisfies OptionTable;

/** How a Kafka client authenticates: no SASL, SCRAM (user + password), or AWS MSK IAM (OAUTHBEARER tokens). */
export type KafkaSaslMechanism = '' | 'scram-sha-256' | 'scram-sha-512' | 'aws';

/**
 * Redis connection security and topology, shared by every table that has a `redisUrl`: TLS
 * comes from a `rediss://` URL, the user and password from the URL's userinfo (Redis ACL
 * users), a private CA from this file; Sentinels or a Cluster from the topology options.
 */
export const REDIS_SECURITY_OPTIONS = {
  redisTlsCa: defineOption<string>({
    kind: 'string',
    description: "PEM file of the CA that signed Redis's certificate (rediss:// URLs); '' = the system CAs",
    default: '',
    env: ['CHURNFEAT_REDIS_TLS_CA'],
    schema: { type: 'string' },
    placeholder: 'FILE',
  }),
  // Topology (docs/high-availability.md): one node (the URL), a Sentinel group, or a Cluster.
  redisSentinels: defineOption<string[]>({
    kind: 'list',
    description: "Sentinels (host:port, comma-separated) that name the primary; the URL then gives only the credentials and TLS; '' = connect to the URL's node",
    default: [],
    env: ['CHURNFEAT_REDIS_SENTINELS'],
    schema: { type: 'array', items: SCHEMAS.hostPort },
  }),
  redisSentinelName: defineOption<string>({
    kind: 'string',
    description: 'the master name the Sentinels monitor',
    default: 'churnfeat',
    env: ['CHURNFEAT_REDIS_SENTINEL_NAME'],
    schema: SCHEMAS.nonEmpty,
  }),
  redisCluster: defineOption<boolean>({
    kind: 'boolean',
    description: "Redis Cluster: the URL's node is the seed, every master is found from it",
    default: false,
    env: ['CHURNFEAT_REDIS_CLUSTER'],
    schema: SCHEMAS.boolean,
  }),
  redisReadFrom: defineOption<'primary' | 'replica'>({
    kind: 'string',
    description: 'where read-only calls (FCALL_RO) go with Sentinels or a Cluster: primary, or replica (falls back to the primary when no replica answers)',
    default: 'primary',
    env: ['CHURNFEAT_REDIS_READ_FROM'],
    schema: { enum: ['primary', 'replica'] },
  }),
} as const satisfies OptionTable;

/** The online store's rows, in the order `--help` lists them: its URL, its security and topology, the key prefix. */
export const REDIS_STORE_OPTIONS = {
  redisUrl: COMMON_OPTIONS.redisUrl,
  ...REDIS_SECURITY_OPTIONS,
  keyPrefix: COMMON_OPTIONS.keyPrefix,
} as const satisfies OptionTable;

/** Kafka connection security, shared by every table that has `brokers` (docs/security.md). */
export const KAFKA_SECURITY_OPTIONS = {
  kafkaTls: defineOption<boolean>({
    kind: 'boolean',
    description: 'TLS to the brokers (implied by --kafka-tls-ca and by --kafka-sasl-mechanism aws)',
    default: false,
    env: ['CHURNFEAT_KAFKA_TLS'],
    schema: SCHEMAS.boolean,
  }),
  kafkaTlsCa: defineOption<string>({
    kind: 'string',
    description: "PEM file of the CA that signed the brokers' certificates; '' = the system CAs",
    default: '',
    env: ['CHURNFEAT_KAFKA_TLS_CA'],
    schema: { type: 'string' },
    placeholder: 'FILE',
  }),
  kafkaSaslMechanism: defineOption<KafkaSaslMechanism>({
    kind: 'string',
    description: "SASL: '' (none), scram-sha-256, scram-sha-512, or aws (MSK IAM, credentials from the AWS default chain)",
    default: '',
    env: ['CHURNFEAT_KAFKA_SASL_MECHANISM'],
    schema: { enum: ['', 'scram-sha-256', 'scram-sha-512', 'aws'] },
    placeholder: 'MECHANISM',
  }),
  kafkaSaslUsername: defineOption<string>({
    kind: 'string',
    description: 'SCRAM user name',
    default: '',
    env: ['CHURNFEAT_KAFKA_SASL_USERNAME'],
    schema: { type: 'string' },
    placeholder: 'USER',
  }),
  kafkaSaslPassword: defineOption<string>({
    kind: 'string',
    description: 'SCRAM password (prefer the env variable: a flag shows in the process list)',
    default: '',
    env: ['CHURNFEAT_KAFKA_SASL_PASSWORD'],
    schema: { type: 'string' },
    placeholder: 'PASSWORD',
  }),
  awsRegion: defineOption<string>({
    kind: 'string',
    description: "AWS region of the MSK cluster (--kafka-sasl-mechanism aws); '' = AWS_REGION",
    default: '',
    env: ['CHURNFEAT_AWS_REGION', 'AWS_REGION'],
    schema: { type: 'string' },
    placeholder: 'REGION',
  }),
} as const satisfies OptionTable;

/** A fresh copy of a table's defaults (arrays copied, so callers may mutate them). */
export function defaultsOf<T extends OptionTable>(table: T): OptionsOf<T> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table)) out[name] = structuredClone(spec.default);
  return out as OptionsOf<T>;
}

function parseText(spec: OptionSpec<unknown>, text: string): unknown {
  switch (spec.kind) {
    case 'integer':
      // Not a number stays as text or NaN, so the schema check names the option.
      return text.trim() === '' ? text : Number(text);
    case 'boolean':
      if (/^(true|1|yes)$/i.test(text)) return true;
      if (/^(false|0|no)$/i.test(text)) return false;
      return text;
    case 'list':
      return text
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part.length > 0);
    default:
      return text;
  }
}

/** Overrides read from a table's env variables; an unset or empty variable leaves the default. */
export function readEnvOptions<T extends OptionTable>(table: T, env: NodeJS.ProcessEnv = process.env): Partial<OptionsOf<T>> {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(table)) {
    const variable = spec.env?.find((candidate) => env[candidate] !== undefined && env[candidate] !== '');
    if (variable !== undefined) out[name] = parseText(spec, env[variable] as string);
  }
  return out as Partial<OptionsOf<T>>;
}

/** The flag of an option: `--` plus its kebab-case name unless the spec names one. */
export function flagOf(name: string, spec: OptionSpec<unknown>): string {
  return spec.flag ?? name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * Overrides from command-line flags (one per option; booleans also take `--no-<flag>`).
 * `extra` declares a command's own flags (e.g. `--once`); they come back in `flags`.
 * Throws {@link UsageError} on an unknown flag, a missing value or a stray argument.
 */
export function readArgOptions<T extends OptionTable>(
  table: T,
  argv: readonly string[],
  extra: Record<string, { type: 'string' | 'boolean' }> = {},
): { options: Partial<OptionsOf<T>>; flags: Record<string, string | boolean | undefined> } {
  const byFlag = new Map<string, [string, OptionSpec<unknown>]>();
  const config: Record<string, { type: 'string' | 'boolean' }> = { ...extra };
  for (const [name, spec] of Object.entries(table)) {
    const flag = flagOf(name, spec);
    byFlag.set(flag, [name, spec]);
    config[flag] = { type: spec.kind === 'boolean' ? 'boolean' : 'string' };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options: config, strict: true, allowPositionals: false, allowNegative: true }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const options: Record<string, unknown> = {};
  const flags: Record<string, string | boolean | undefined> = {};
  for (const [flag, value] of Object.entries(values)) {
    const entry = byFlag.get(flag);
    if (entry === undefined) flags[flag] = value;
    else options[entry[0]] = typeof value === 'boolean' ? value : parseText(entry[1], value as string);
  }
  return { options: options as Partial<OptionsOf<T>>, flags };
}

const validators = new WeakMap<OptionTable, ValidateFunction>();

function validatorOf(table: OptionTable): ValidateFunction {
  let validate = validators.get(table);
  if (validate === undefined) {
    const properties = Object.fromEntries(Object.entries(table).map(([name, spec]) => [name, spec.schema]));
    validate = new Ajv({ allErrors: false }).compile({ type: 'object', additionalProperties: false, required: Object.keys(table), properties });
    validators.set(table, validate);
  }
  return validate;
}

/**
 * Merges overrides onto the table's defaults and validates the result once. A bad option
 * throws `invalid_config` naming the option, with its env variable and flag.
 */
export function resolveTable<T extends OptionTable>(table: T, overrides: Partial<OptionsOf<T>> = {}): OptionsOf<T> {
  const options: Record<string, unknown> = { ...defaultsOf(table) };
  for (const [name, value] of Object.entries(overrides)) if (value !== undefined) options[name] = value;
  const validate = validatorOf(table);
  if (!validate(options)) {
    const error = validate.errors?.[0];
    const name = error?.instancePath.split('/')[1] || String((error?.params && Object.values(error.params)[0]) ?? '?');
    const spec = table[name];
    const where = spec ? ` (${[...(spec.env ?? []).map((e) => `env ${e}`), `flag --${flagOf(name, spec)}`].join(', ')})` : '';
    throw new ChurnfeatError('invalid_config', `invalid option "${name}": ${error?.message ?? 'invalid'}${where}`);
  }
  return options as OptionsOf<T>;
}

/** Options from defaults < env < flags, validated: what every service command starts with. */
export function loadOptions<T extends OptionTable>(table: T, argv: readonly string[] = [], env: NodeJS.ProcessEnv = process.env): OptionsOf<T> {
  const { options, flags } = readArgOptions(table, argv);
  const stray = Object.keys(flags);
  if (stray.length > 0) throw new UsageError(`unknown option --${stray[0]}`);
  return resolveTable(table, { ...readEnvOptions(table, env), ...options });
}

function shown(value: unknown): string {
  if (Array.isArray(value)) return value.join(',');
  if (value === '') return "''";
  return String(value);
}

/** `--help` lines for a table: flag, env variables, default, meaning. */
export function describeOptions(table: OptionTable): string {
  const rows = Object.entries(table).map(([name, spec]) => {
    const flag = flagOf(name, spec);
    const left = spec.kind === 'boolean' ? `--${flag} | --no-${flag}` : `--${flag} ${spec.placeholder ?? (spec.kind === 'integer' ? 'N' : spec.kind === 'list' ? 'A,B' : 'VALUE')}`;
    const env = spec.env?.length ? `env ${spec.env.join(' or ')}; ` : '';
    return { left, right: `${spec.description} (${env}default ${shown(spec.default)})` };
  });
  const width = Math.min(40, Math.max(...rows.map((r) => r.left.length)) + 2);
  return rows.map((r) => `  ${r.left.padEnd(width)}${r.left.length + 2 > width ? `\n  ${' '.repeat(width)}` : ''}${r.right}`).join('\n');
}
