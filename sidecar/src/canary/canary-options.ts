import { COMMON_OPTIONS, KAFKA_SECURITY_OPTIONS, REDIS_STORE_OPTIONS, defaultsOf, defineOption, readEnvOptions, resolveTable, SCHEMAS, type OptionsOf } from '../config/index.ts';

/** Every option of the canary process (defaults, env variables, schema), validated once at start-up. */
export const CANARY_OPTIONS = {
  brokers: COMMON_OPTIONS.brokers,
  ...KAFKA_SECURITY_OPTIONS,
  topicNamespace: COMMON_OPTIONS.topicNamespace,
  metadataMaxAgeMs: COMMON_OPTIONS.metadataMaxAgeMs,
  ...REDIS_STORE_OPTIONS,
  redisUrl: { ...COMMON_OPTIONS.redisUrl, description: 'Redis URL (read path)' },
  dbtProjectDir: COMMON_OPTIONS.dbtProjectDir,
  readVia: defineOption<string>({
    kind: 'string',
    description: '"redis" reads through the TypeScript client; an http(s) URL reads through the serving HTTP service',
    default: 'redis',
    env: ['CHURNFEAT_CANARY_READ_VIA'],
    schema: { type: 'string', pattern: '^(redis|https?://.+)$' },
    placeholder: 'redis|URL',
  }),
  intervalMs: defineOption<number>({
    kind: 'integer',
    description: 'time between probe rounds, ms',
    default: 15_000,
    env: ['CHURNFEAT_CANARY_INTERVAL_MS'],
    schema: { type: 'integer', minimum: 1_000 },
  }),
  timeoutMs: defineOption<number>({
    kind: 'integer',
    description: 'a probe not readable after this long is a timeout, ms',
    default: 300_000,
    env: ['CHURNFEAT_CANARY_TIMEOUT_MS'],
    schema: { type: 'integer', minimum: 1_000 },
  }),
  pollIntervalMs: defineOption<number>({
    kind: 'integer',
    description: 'poll period while probes are pending, ms',
    default: 200,
    schema: { type: 'integer', minimum: 10 },
  }),
  metricsPort: defineOption<number>({
    kind: 'integer',
    description: 'port of /metrics; 0 disables it',
    default: 18_091,
    env: ['CHURNFEAT_CANARY_METRICS_PORT'],
    schema: SCHEMAS.port,
  }),
} as const;

/** Every option of the canary process; see {@link CANARY_OPTIONS}. */
export type CanaryProcessOptions = OptionsOf<typeof CANARY_OPTIONS>;

export const DEFAULT_CANARY_OPTIONS: Readonly<CanaryProcessOptions> = defaultsOf(CANARY_OPTIONS);

/** Merges overrides onto the defaults and validates; a bad option fails naming the option. */
export function resolveCanaryOptions(overrides: Partial<CanaryProcessOptions> = {}): CanaryProcessOptions {
  return resolveTable(CANARY_OPTIONS, overrides);
}

/** Reads overrides from CHURNFEAT_* environment variables. */
export function canaryOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<CanaryProcessOptions> {
  return readEnvOptions(CANARY_OPTIONS, env);
}
