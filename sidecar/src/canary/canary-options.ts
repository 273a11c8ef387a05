import { Ajv } from 'ajv';
import { ChurnfeatError } from '../errors.ts';

/** Every option of the canary process, validated once at start-up. */
export interface CanaryProcessOptions {
  /** Kafka bootstrap servers. Default: 127.0.0.1:19092 (env CHURNFEAT_KAFKA_BROKERS, comma-separated). */
  brokers: string[];
  /** Topic namespace, as the sidecar's. Default: churnfeat (env CHURNFEAT_TOPIC_NAMESPACE). */
  topicNamespace: string;
  /** Redis URL (read path). Default: redis://127.0.0.1:16379 (env CHURNFEAT_REDIS_URL). */
  redisUrl: string;
  /** Redis key prefix, as the sidecar's. Default: cf (env CHURNFEAT_KEY_PREFIX). */
  keyPrefix: string;
  /** dbt project holding the feature definitions. Default: dbt_project (env CHURNFEAT_DBT_PROJECT). */
  dbtProjectDir: string;
  /** "redis" reads through the TypeScript client; an http(s) URL reads through the serving HTTP service. Default: redis (env CHURNFEAT_CANARY_READ_VIA). */
  readVia: string;
  /** Time between probe rounds. Default: 15000 ms (env CHURNFEAT_CANARY_INTERVAL_MS). */
  intervalMs: number;
  /** A probe not readable after this long is a timeout. Default: 300000 ms (env CHURNFEAT_CANARY_TIMEOUT_MS). */
  timeoutMs: number;
  /** Poll period while probes are pending. Default: 200 ms. */
  pollIntervalMs: number;
  /** Port of /metrics; 0 disables. Default: 18091 (env CHURNFEAT_CANARY_METRICS_PORT). */
  metricsPort: number;
}

export const DEFAULT_CANARY_OPTIONS = {
  brokers: ['127.0.0.1:19092'],
  topicNamespace: 'churnfeat',
  redisUrl: 'redis://127.0.0.1:16379',
  keyPrefix: 'cf',
  dbtProjectDir: 'dbt_project',
  readVia: 'redis',
  intervalMs: 15_000,
  timeoutMs: 300_000,
  pollIntervalMs: 200,
  metricsPort: 18091,
} satisfies CanaryProcessOptions;

const schema = {
  type: 'object',
  additionalProperties: false,
  required: Object.keys(DEFAULT_CANARY_OPTIONS),
  properties: {
    brokers: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[^:]+:[0-9]+$' } },
    topicNamespace: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,100}$' },
    redisUrl: { type: 'string', pattern: '^rediss?://' },
    keyPrefix: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,32}$' },
    dbtProjectDir: { type: 'string', minLength: 1 },
    readVia: { type: 'string', pattern: '^(redis|https?://.+)$' },
    intervalMs: { type: 'integer', minimum: 1_000 },
    timeoutMs: { type: 'integer', minimum: 1_000 },
    pollIntervalMs: { type: 'integer', minimum: 10 },
    metricsPort: { type: 'integer', minimum: 0, maximum: 65535 },
  },
} as const;

const validate = new Ajv({ allErrors: false }).compile(schema);

/** Merges overrides onto the defaults and validates; a bad option fails naming the option. */
export function resolveCanaryOptions(overrides: Partial<CanaryProcessOptions> = {}): CanaryProcessOptions {
  const options = { ...DEFAULT_CANARY_OPTIONS, ...overrides };
  if (!validate(options)) {
    const error = validate.errors?.[0];
    const option = error?.instancePath.replace(/^\//, '') || String(error?.params && Object.values(error.params)[0]);
    throw new ChurnfeatError('invalid_config', `invalid option "${option}": ${error?.message}`);
  }
  return options as CanaryProcessOptions;
}

/** Reads overrides from CHURNFEAT_* environment variables. */
export function canaryOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<CanaryProcessOptions> {
  const out: Partial<CanaryProcessOptions> = {};
  const int = (name: string): number | undefined => (env[name] === undefined || env[name] === '' ? undefined : Number(env[name]));
  if (env.CHURNFEAT_KAFKA_BROKERS) out.brokers = env.CHURNFEAT_KAFKA_BROKERS.split(',').map((s) => s.trim());
  if (env.CHURNFEAT_TOPIC_NAMESPACE) out.topicNamespace = env.CHURNFEAT_TOPIC_NAMESPACE;
  if (env.CHURNFEAT_REDIS_URL) out.redisUrl = env.CHURNFEAT_REDIS_URL;
  if (env.CHURNFEAT_KEY_PREFIX) out.keyPrefix = env.CHURNFEAT_KEY_PREFIX;
  if (env.CHURNFEAT_DBT_PROJECT) out.dbtProjectDir = env.CHURNFEAT_DBT_PROJECT;
  if (env.CHURNFEAT_CANARY_READ_VIA) out.readVia = env.CHURNFEAT_CANARY_READ_VIA;
  const interval = int('CHURNFEAT_CANARY_INTERVAL_MS');
  if (interval !== undefined) out.intervalMs = interval;
  const timeout = int('CHURNFEAT_CANARY_TIMEOUT_MS');
  if (timeout !== undefined) out.timeoutMs = timeout;
  const port = int('CHURNFEAT_CANARY_METRICS_PORT');
  if (port !== undefined) out.metricsPort = port;
  return out;
}
