import { COMMON_OPTIONS, KAFKA_SECURITY_OPTIONS, REDIS_STORE_OPTIONS, defineOption, SCHEMAS } from '../config/index.ts';

/** The options of `churnfeat bootstrap` (docs/bootstrap.md). */
export const BOOTSTRAP_OPTIONS = {
  brokers: COMMON_OPTIONS.brokers,
  ...KAFKA_SECURITY_OPTIONS,
  ...REDIS_STORE_OPTIONS,
  topicNamespace: COMMON_OPTIONS.topicNamespace,
  dbtProjectDir: COMMON_OPTIONS.dbtProjectDir,
  lakeUri: COMMON_OPTIONS.lakeUri,
  s3Endpoint: COMMON_OPTIONS.s3Endpoint,
  duckdbPath: COMMON_OPTIONS.duckdbPath,
  version: defineOption<string>({
    kind: 'string',
    description: "registry version to load ('' = the version id of the registry in --dbt-project-dir)",
    default: '',
    env: ['CHURNFEAT_BOOTSTRAP_VERSION'],
    schema: { type: 'string', pattern: '^[A-Za-z0-9_.-]{0,64}$' },
  }),
  group: defineOption<string>({
    kind: 'string',
    description: "consumer group of the version's sidecar, committed to the cut ('' = churnfeat-sidecar-<version>)",
    default: '',
    env: ['CHURNFEAT_BOOTSTRAP_GROUP'],
    schema: { type: 'string' },
  }),
  warehouseTable: defineOption<string>({
    kind: 'string',
    description: "the warehouse relation of dbt's int_feature_events",
    default: 'int_feature_events',
    env: ['CHURNFEAT_BOOTSTRAP_TABLE'],
    schema: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_.]*$' },
  }),
  batchUsers: defineOption<number>({
    kind: 'integer',
    description: 'users per pipelined batch (one checkpoint each)',
    default: 500,
    env: ['CHURNFEAT_BOOTSTRAP_BATCH_USERS'],
    schema: { type: 'integer', minimum: 1, maximum: 100_000 },
  }),
  users: defineOption<string>({
    kind: 'string',
    description: 'load only shard k of n of the user space (by a hash of the user id), so n loaders run side by side; the version is complete when all n are (docs/bootstrap.md)',
    default: '1/1',
    env: ['CHURNFEAT_BOOTSTRAP_USERS'],
    schema: { type: 'string', pattern: '^[0-9]{1,5}/[0-9]{1,5}$' },
    placeholder: 'K/N',
  }),
  dryRun: defineOption<boolean>({ kind: 'boolean', description: 'print the plan (cut, users, keys), write nothing', default: false, schema: SCHEMAS.boolean }),
  cutOnly: defineOption<boolean>({ kind: 'boolean', description: 'only take the cut from the lake manifests and record it (run dbt after this, then load)', default: false, schema: SCHEMAS.boolean }),
  rebuild: defineOption<boolean>({
    kind: 'boolean',
    description: "start again from a new cut: delete the version's keys and bootstrap record first (after a Redis loss); allowed on the active version",
    default: false,
    schema: SCHEMAS.boolean,
  }),
  progress: defineOption<boolean>({ kind: 'boolean', description: 'draw a progress bar (users, rate, ETA) on stderr', default: true, env: ['CHURNFEAT_PROGRESS'], schema: SCHEMAS.boolean }),
} as const;
