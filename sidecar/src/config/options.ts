import { COMMON_OPTIONS, KAFKA_SECURITY_OPTIONS, REDIS_STORE_OPTIONS, SCHEMAS, defaultsOf, defineOption, readEnvOptions, resolveTable, type OptionsOf } from './option-table.ts';

/**
 * Every option of the sidecar (defaults, env variables, schema), validated once at start-up.
 * The allowed lateness and the dedup margin are not options: they are policies of the
 * feature registry (FeatureRegistry.policies), set once for both runtimes.
 */
export const SIDECAR_OPTIONS = {
  brokers: COMMON_OPTIONS.brokers,
  ...KAFKA_SECURITY_OPTIONS,
  ...REDIS_STORE_OPTIONS,
  dbtProjectDir: COMMON_OPTIONS.dbtProjectDir,
  topicNamespace: COMMON_OPTIONS.topicNamespace,
  groupId: COMMON_OPTIONS.sidecarGroupId,
  clientId: defineOption<string>({ kind: 'string', description: 'Kafka client id', default: 'churnfeat-sidecar', schema: SCHEMAS.nonEmpty }),
  maxPayloadBytes: COMMON_OPTIONS.maxPayloadBytes,
  pruneAboveFields: defineOption<number>({
    kind: 'integer',
    description: "prune a user's stale tiles once the state hash has more fields than this",
    default: 256,
    schema: { type: 'integer', minimum: 16 },
  }),
  redisMaxCallsPerPipeline: defineOption<number>({
    kind: 'integer',
    description: "most apply calls (one per user and source) in one Redis pipeline; a batch's calls go in pipelines of this many, one after the other, so reads are served between them",
    default: 64,
    env: ['CHURNFEAT_REDIS_MAX_CALLS_PER_PIPELINE'],
    schema: { type: 'integer', minimum: 1, maximum: 100_000 },
  }),
  partitionsConsumedConcurrently: defineOption<number>({
    kind: 'integer',
    description: 'partitions processed in parallel by one sidecar',
    default: 4,
    schema: { type: 'integer', minimum: 1, maximum: 64 },
  }),
  metricsPort: defineOption<number>({
    kind: 'integer',
    description: 'port of the Prometheus /metrics endpoint; 0 disables it',
    default: 0,
    env: ['CHURNFEAT_METRICS_PORT'],
    schema: SCHEMAS.port,
  }),
  fromBeginning: COMMON_OPTIONS.fromBeginning,
  metadataMaxAgeMs: COMMON_OPTIONS.metadataMaxAgeMs,
  redisWaitReplicas: defineOption<number>({
    kind: 'integer',
    description: "after each batch's writes, WAIT until this many replicas have them before committing the Kafka offsets; 0 = no WAIT",
    default: 0,
    env: ['CHURNFEAT_REDIS_WAIT_REPLICAS'],
    schema: { type: 'integer', minimum: 0, maximum: 16 },
  }),
  redisWaitTimeoutMs: defineOption<number>({
    kind: 'integer',
    description: 'how long one WAIT blocks (ms); when fewer replicas answered, the batch is written again and WAIT repeated, never committed',
    default: 1_000,
    env: ['CHURNFEAT_REDIS_WAIT_TIMEOUT_MS'],
    schema: { type: 'integer', minimum: 1, maximum: 60_000 },
  }),
  redisWriteTimeoutMs: defineOption<number>({
    kind: 'integer',
    description:
      'a Redis call of the write path that takes longer fails and is retried (with heartbeats: the group keeps the partitions), ms; at least the WAIT timeout + 1 s. Without it a partitioned link hangs the batch silently',
    default: 5_000,
    env: ['CHURNFEAT_REDIS_WRITE_TIMEOUT_MS'],
    schema: { type: 'integer', minimum: 100, maximum: 600_000 },
  }),
  dedup: defineOption<'redis' | 'local'>({
    kind: 'string',
    description:
      "who decides duplicates: 'redis' (the apply function, per user dedup hashes in Redis) or 'local' (the sidecar's own index per owned partition, rebuilt from a changelog topic per source; Redis keeps no dedup state; docs/capacity.md#dedup-redis-or-the-sidecar)",
    default: 'redis',
    env: ['CHURNFEAT_DEDUP'],
    schema: { enum: ['redis', 'local'] },
  }),
  qualityDetector: defineOption<boolean>({
    kind: 'boolean',
    description: 'run the volume anomaly detector beside the pipeline (records on <namespace>.data-quality, metrics; docs/data-quality.md)',
    default: true,
    schema: SCHEMAS.boolean,
  }),
} as const;

/** Every option of the sidecar; see {@link SIDECAR_OPTIONS} for each one's meaning and default. */
export type SidecarOptions = OptionsOf<typeof SIDECAR_OPTIONS>;

export const DEFAULT_OPTIONS: Readonly<SidecarOptions> = defaultsOf(SIDECAR_OPTIONS);

/** Merges overrides onto the defaults and validates; a bad option fails naming the option. */
export function resolveOptions(overrides: Partial<SidecarOptions> = {}): SidecarOptions {
  return resolveTable(SIDECAR_OPTIONS, overrides);
}

/** Reads overrides from CHURNFEAT_* environment variables. */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<SidecarOptions> {
  return readEnvOptions(SIDECAR_OPTIONS, env);
}
