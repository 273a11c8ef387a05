import { COMMON_OPTIONS, KAFKA_SECURITY_OPTIONS, REDIS_STORE_OPTIONS, defineOption, SCHEMAS, type OptionsOf } from '../config/index.ts';
import { RAW_TOPIC_MAX_RECORD_LIFETIME_MS } from '../kafka/index.ts';
import { DEFAULT_COMPACTION_BUCKETS } from './lake-compaction.ts';

/** Margin of the tombstone beyond allowed lateness + the raw topics' longest record lifetime. */
export const TOMBSTONE_MARGIN_MS = 24 * 3_600_000;

/**
 * How long a deletion tombstone lives after the deletion: past the allowed lateness no record
 * from before the deletion is applied (too late), past the raw topics' record lifetime none can
 * be replayed from Kafka; a day of margin on top.
 */
export function tombstoneHorizonMs(allowedLatenessMs: number): number {
  return allowedLatenessMs + RAW_TOPIC_MAX_RECORD_LIFETIME_MS + TOMBSTONE_MARGIN_MS;
}

/** Every option of `churnfeat delete` (its subcommands take the ones they need). */
export const DELETION_OPTIONS = {
  brokers: COMMON_OPTIONS.brokers,
  ...KAFKA_SECURITY_OPTIONS,
  topicNamespace: COMMON_OPTIONS.topicNamespace,
  ...REDIS_STORE_OPTIONS,
  dbtProjectDir: COMMON_OPTIONS.dbtProjectDir,
  lakeUri: COMMON_OPTIONS.lakeUri,
  s3Endpoint: COMMON_OPTIONS.s3Endpoint,
  user: defineOption<string>({ kind: 'string', description: 'request: the user to erase', default: '', schema: { type: 'string' }, placeholder: 'USER_ID' }),
  requestId: defineOption<string>({ kind: 'string', description: 'request: the request id (idempotency key); status: one request', default: '', schema: { type: 'string' }, placeholder: 'ID' }),
  receivedAt: defineOption<string>({ kind: 'string', description: "request: when the request was received, RFC 3339; '' = now", default: '', schema: { type: 'string' }, placeholder: 'TIME' }),
  stores: defineOption<string[]>({
    kind: 'list',
    description: 'run/verify: the stores to erase or verify, in this order',
    default: ['online', 'lake', 'warehouse'],
    env: ['CHURNFEAT_DELETION_STORES'],
    schema: { type: 'array', minItems: 1, items: { enum: ['online', 'lake', 'warehouse'] } },
    placeholder: 'online,lake,warehouse',
  }),
  intake: defineOption<boolean>({ kind: 'boolean', description: 'run: first drain the deletion topic <namespace>.deletion-requests into the registry', default: true, schema: SCHEMAS.boolean }),
  intakeGroupId: defineOption<string>({
    kind: 'string',
    description: 'consumer group of the deletion topic',
    default: 'churnfeat-deletion-intake',
    env: ['CHURNFEAT_DELETION_GROUP_ID'],
    schema: SCHEMAS.nonEmpty,
  }),
  intakeTimeoutMs: defineOption<number>({
    kind: 'integer',
    description: 'run: give up draining the deletion topic after this long, ms',
    default: 120_000,
    schema: { type: 'integer', minimum: 1_000 },
  }),
  dbtScript: defineOption<string>({
    kind: 'string',
    description: 'the dbt wrapper the warehouse step runs (run-operation churnfeat_delete_users)',
    default: 'dbt_project/scripts/dbt.sh',
    env: ['CHURNFEAT_DELETION_DBT'],
    schema: SCHEMAS.nonEmpty,
    placeholder: 'PATH',
  }),
  dbtTarget: defineOption<string>({
    kind: 'string',
    description: "dbt target of the warehouse step; '' = the profile's default",
    default: '',
    env: ['CHURNFEAT_DBT_TARGET'],
    schema: { type: 'string' },
  }),
  prom: defineOption<boolean>({ kind: 'boolean', description: 'status: print the SLA gauges as Prometheus text (for a textfile collector)', default: false, schema: SCHEMAS.boolean }),
} as const;

export type DeletionOptions = OptionsOf<typeof DELETION_OPTIONS>;

/** The options of `churnfeat lake-compact` (docs/deletion.md, "Lake compaction"). */
export const LAKE_COMPACT_OPTIONS = {
  lakeUri: COMMON_OPTIONS.lakeUri,
  s3Endpoint: COMMON_OPTIONS.s3Endpoint,
  day: defineOption<string>({
    kind: 'string',
    description: 'the closed UTC date to compact, YYYY-MM-DD (before today)',
    default: '',
    env: ['CHURNFEAT_LAKE_COMPACT_DAY'],
    schema: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
    placeholder: 'YYYY-MM-DD',
  }),
  buckets: defineOption<number>({
    kind: 'integer',
    description: 'user-hash buckets of a day compacted for the first time (a compacted day keeps its count)',
    default: DEFAULT_COMPACTION_BUCKETS,
    env: ['CHURNFEAT_LAKE_COMPACT_BUCKETS'],
    schema: { type: 'integer', minimum: 1, maximum: 1_000_000 },
  }),
} as const;

export type LakeCompactOptions = OptionsOf<typeof LAKE_COMPACT_OPTIONS>;

/** The options of `churnfeat topics apply` (docs/deletion.md, "Kafka"). */
export const TOPICS_OPTIONS = {
  brokers: COMMON_OPTIONS.brokers,
  ...KAFKA_SECURITY_OPTIONS,
  topicNamespace: COMMON_OPTIONS.topicNamespace,
  dryRun: defineOption<boolean>({ kind: 'boolean', description: 'print what would change (the broker validates it) without altering anything', default: false, schema: SCHEMAS.boolean }),
} as const;

export type TopicsOptions = OptionsOf<typeof TOPICS_OPTIONS>;
