import { COMMON_OPTIONS, KAFKA_SECURITY_OPTIONS, defaultsOf, defineOption, readEnvOptions, resolveTable, SCHEMAS, type OptionsOf } from '../config/index.ts';

/** Every option of the lake writer (defaults, env variables, schema), validated once at start-up. */
export const LAKE_WRITER_OPTIONS = {
  brokers: COMMON_OPTIONS.brokers,
  ...KAFKA_SECURITY_OPTIONS,
  topicNamespace: COMMON_OPTIONS.topicNamespace,
  groupId: defineOption<string>({
    kind: 'string',
    description: "the lake writer's own consumer group",
    default: 'churnfeat-lake-writer',
    env: ['CHURNFEAT_LAKE_GROUP_ID'],
    schema: SCHEMAS.nonEmpty,
  }),
  clientId: defineOption<string>({ kind: 'string', description: 'Kafka client id', default: 'churnfeat-lake-writer', schema: SCHEMAS.nonEmpty }),
  lakeUri: COMMON_OPTIONS.lakeUri,
  s3Endpoint: COMMON_OPTIONS.s3Endpoint,
  flushRecords: defineOption<number>({
    kind: 'integer',
    description: "flush a partition's buffer once it holds this many records",
    default: 50_000,
    env: ['CHURNFEAT_LAKE_FLUSH_RECORDS'],
    schema: { type: 'integer', minimum: 1, maximum: 5_000_000 },
  }),
  flushIntervalMs: defineOption<number>({
    kind: 'integer',
    description: "flush a partition's buffer once its oldest record waited this long, ms",
    default: 60_000,
    env: ['CHURNFEAT_LAKE_FLUSH_INTERVAL_MS'],
    schema: { type: 'integer', minimum: 100 },
  }),
  maxPayloadBytes: COMMON_OPTIONS.maxPayloadBytes,
  fromBeginning: COMMON_OPTIONS.fromBeginning,
  metadataMaxAgeMs: COMMON_OPTIONS.metadataMaxAgeMs,
  sessionTimeoutMs: defineOption<number>({
    kind: 'integer',
    description: 'consumer session timeout: how long a dead writer holds its partitions, ms',
    default: 30_000,
    env: ['CHURNFEAT_LAKE_SESSION_TIMEOUT_MS'],
    schema: { type: 'integer', minimum: 6_000, maximum: 300_000 },
  }),
  metricsPort: defineOption<number>({
    kind: 'integer',
    description: 'port of the Prometheus /metrics endpoint (lag, last progress, records landed); 0 disables it',
    default: 0,
    env: ['CHURNFEAT_LAKE_METRICS_PORT'],
    schema: SCHEMAS.port,
  }),
  progressIntervalMs: defineOption<number>({
    kind: 'integer',
    description: "how often the lag and last-progress gauges sample the group's committed offsets, ms",
    default: 5_000,
    env: ['CHURNFEAT_LAKE_PROGRESS_INTERVAL_MS'],
    schema: { type: 'integer', minimum: 100, maximum: 300_000 },
  }),
} as const;

/** Every option of the lake writer; see {@link LAKE_WRITER_OPTIONS}. */
export type LakeWriterOptions = OptionsOf<typeof LAKE_WRITER_OPTIONS>;

export const DEFAULT_LAKE_WRITER_OPTIONS: Readonly<LakeWriterOptions> = defaultsOf(LAKE_WRITER_OPTIONS);

/** Merges overrides onto the defaults and validates; a bad option fails naming the option. */
export function resolveLakeWriterOptions(overrides: Partial<LakeWriterOptions> = {}): LakeWriterOptions {
  return resolveTable(LAKE_WRITER_OPTIONS, overrides);
}

/** Reads overrides from CHURNFEAT_* environment variables. */
export function lakeWriterOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<LakeWriterOptions> {
  return readEnvOptions(LAKE_WRITER_OPTIONS, env);
}
