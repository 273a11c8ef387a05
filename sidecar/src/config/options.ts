import { Ajv } from 'ajv';
import { ChurnfeatError } from '../errors.ts';

/**
 * Every option of the sidecar, validated once at start-up. The allowed lateness and the dedup
 * margin are not options: they are policies of the feature registry (FeatureRegistry.policies).
 */
export interface SidecarOptions {
  /** Kafka bootstrap servers. Default: 127.0.0.1:19092 (env CHURNFEAT_KAFKA_BROKERS, comma-separated). */
  brokers: string[];
  /** Redis URL. Default: redis://127.0.0.1:16379 (env CHURNFEAT_REDIS_URL). */
  redisUrl: string;
  /** dbt project holding the feature definitions. Default: dbt_project (env CHURNFEAT_DBT_PROJECT). */
  dbtProjectDir: string;
  /** Prefix of every Redis key. Default: cf (env CHURNFEAT_KEY_PREFIX). */
  keyPrefix: string;
  /** Topic names: `<namespace>.<source>.events`, `<namespace>.dead-letter`, `<namespace>.late-events`. Default: churnfeat (env CHURNFEAT_TOPIC_NAMESPACE). */
  topicNamespace: string;
  /** Consumer group of the sidecar. Default: churnfeat-sidecar (env CHURNFEAT_GROUP_ID). */
  groupId: string;
  /** Kafka client id. Default: churnfeat-sidecar. */
  clientId: string;
  /** Payloads above this size are dead-lettered. Default: 65536. */
  maxPayloadBytes: number;
  /** Prune a user's stale tiles once the state hash has more fields than this. Default: 256. */
  pruneAboveFields: number;
  /** Partitions processed in parallel by one sidecar. Default: 4. */
  partitionsConsumedConcurrently: number;
  /** Port of the Prometheus /metrics endpoint; 0 disables it. Default: 0 (env CHURNFEAT_METRICS_PORT). */
  metricsPort: number;
  /** Start from the earliest offset when the group has none. Default: true. */
  fromBeginning: boolean;
}

export const DEFAULT_OPTIONS = {
  brokers: ['127.0.0.1:19092'],
  redisUrl: 'redis://127.0.0.1:16379',
  dbtProjectDir: 'dbt_project',
  keyPrefix: 'cf',
  topicNamespace: 'churnfeat',
  groupId: 'churnfeat-sidecar',
  clientId: 'churnfeat-sidecar',
  maxPayloadBytes: 65_536,
  pruneAboveFields: 256,
  partitionsConsumedConcurrently: 4,
  metricsPort: 0,
  fromBeginning: true,
} satisfies SidecarOptions;

const schema = {
  type: 'object',
  additionalProperties: false,
  required: Object.keys(DEFAULT_OPTIONS),
  properties: {
    brokers: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[^:]+:[0-9]+$' } },
    redisUrl: { type: 'string', pattern: '^rediss?://' },
    dbtProjectDir: { type: 'string', minLength: 1 },
    keyPrefix: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,32}$' },
    topicNamespace: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,100}$' },
    groupId: { type: 'string', minLength: 1 },
    clientId: { type: 'string', minLength: 1 },
    maxPayloadBytes: { type: 'integer', minimum: 1024, maximum: 10_485_760 },
    pruneAboveFields: { type: 'integer', minimum: 16 },
    partitionsConsumedConcurrently: { type: 'integer', minimum: 1, maximum: 64 },
    metricsPort: { type: 'integer', minimum: 0, maximum: 65535 },
    fromBeginning: { type: 'boolean' },
  },
} as const;

const validate = new Ajv({ allErrors: false }).compile(schema);

/** Merges overrides onto the defaults and validates; a bad option fails naming the option. */
export function resolveOptions(overrides: Partial<SidecarOptions> = {}): SidecarOptions {
  const options = { ...DEFAULT_OPTIONS, ...overrides };
  if (!validate(options)) {
    const error = validate.errors?.[0];
    const option = error?.instancePath.replace(/^\//, '') || String(error?.params && Object.values(error.params)[0]);
    throw new ChurnfeatError('invalid_config', `invalid option "${option}": ${error?.message}`);
  }
  return options as SidecarOptions;
}

/** Reads overrides from CHURNFEAT_* environment variables. */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<SidecarOptions> {
  const out: Partial<SidecarOptions> = {};
  const int = (name: string): number | undefined => (env[name] === undefined ? undefined : Number(env[name]));
  if (env.CHURNFEAT_KAFKA_BROKERS) out.brokers = env.CHURNFEAT_KAFKA_BROKERS.split(',').map((s) => s.trim());
  if (env.CHURNFEAT_REDIS_URL) out.redisUrl = env.CHURNFEAT_REDIS_URL;
  if (env.CHURNFEAT_DBT_PROJECT) out.dbtProjectDir = env.CHURNFEAT_DBT_PROJECT;
  if (env.CHURNFEAT_KEY_PREFIX) out.keyPrefix = env.CHURNFEAT_KEY_PREFIX;
  if (env.CHURNFEAT_TOPIC_NAMESPACE) out.topicNamespace = env.CHURNFEAT_TOPIC_NAMESPACE;
  if (env.CHURNFEAT_GROUP_ID) out.groupId = env.CHURNFEAT_GROUP_ID;
  const metricsPort = int('CHURNFEAT_METRICS_PORT');
  if (metricsPort !== undefined) out.metricsPort = metricsPort;
  return out;
}
