import { Ajv } from 'ajv';
import { ChurnfeatError } from '../errors.ts';

/** Every option of the lake writer, validated once at start-up. */
export interface LakeWriterOptions {
  /** Kafka bootstrap servers. Default: 127.0.0.1:19092 (env CHURNFEAT_KAFKA_BROKERS, comma-separated). */
  brokers: string[];
  /** Topic namespace, as the sidecar's (`<namespace>.<source>.events`). Default: churnfeat (env CHURNFEAT_TOPIC_NAMESPACE). */
  topicNamespace: string;
  /** The lake writer's own consumer group. Default: churnfeat-lake-writer (env CHURNFEAT_LAKE_GROUP_ID). */
  groupId: string;
  /** Kafka client id. Default: churnfeat-lake-writer. */
  clientId: string;
  /** Lake root: a folder, or s3://bucket/prefix. Default: .cache/lake (env CHURNFEAT_LAKE_URI, else CHURNFEAT_LAKE_ROOT). */
  lakeUri: string;
  /** Endpoint of an S3-compatible service for s3:// lakes (a local stand-in); '' for AWS. Default: '' (env CHURNFEAT_S3_ENDPOINT). */
  s3Endpoint: string;
  /** Flush a partition's buffer once it holds this many records. Default: 50000 (env CHURNFEAT_LAKE_FLUSH_RECORDS). */
  flushRecords: number;
  /** Flush a partition's buffer once its oldest record waited this long. Default: 60000 (env CHURNFEAT_LAKE_FLUSH_INTERVAL_MS). */
  flushIntervalMs: number;
  /** Payloads above this size are dead letters; must equal the sidecar's maxPayloadBytes. Default: 65536. */
  maxPayloadBytes: number;
  /** Start from the earliest offset when the group has none. Default: true. */
  fromBeginning: boolean;
  /** Consumer session timeout: how long a dead writer holds its partitions. Default: 30000 (env CHURNFEAT_LAKE_SESSION_TIMEOUT_MS). */
  sessionTimeoutMs: number;
}

export const DEFAULT_LAKE_WRITER_OPTIONS = {
  brokers: ['127.0.0.1:19092'],
  topicNamespace: 'churnfeat',
  groupId: 'churnfeat-lake-writer',
  clientId: 'churnfeat-lake-writer',
  lakeUri: '.cache/lake',
  s3Endpoint: '',
  flushRecords: 50_000,
  flushIntervalMs: 60_000,
  maxPayloadBytes: 65_536,
  fromBeginning: true,
  sessionTimeoutMs: 30_000,
} satisfies LakeWriterOptions;

const schema = {
  type: 'object',
  additionalProperties: false,
  required: Object.keys(DEFAULT_LAKE_WRITER_OPTIONS),
  properties: {
    brokers: { type: 'array', minItems: 1, items: { type: 'string', pattern: '^[^:]+:[0-9]+$' } },
    topicNamespace: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,100}$' },
    groupId: { type: 'string', minLength: 1 },
    clientId: { type: 'string', minLength: 1 },
    lakeUri: { type: 'string', minLength: 1 },
    s3Endpoint: { type: 'string', pattern: '^(https?://.+)?$' },
    flushRecords: { type: 'integer', minimum: 1, maximum: 5_000_000 },
    flushIntervalMs: { type: 'integer', minimum: 100 },
    maxPayloadBytes: { type: 'integer', minimum: 1024, maximum: 10_485_760 },
    fromBeginning: { type: 'boolean' },
    sessionTimeoutMs: { type: 'integer', minimum: 6_000, maximum: 300_000 },
  },
} as const;

const validate = new Ajv({ allErrors: false }).compile(schema);

/** Merges overrides onto the defaults and validates; a bad option fails naming the option. */
export function resolveLakeWriterOptions(overrides: Partial<LakeWriterOptions> = {}): LakeWriterOptions {
  const options = { ...DEFAULT_LAKE_WRITER_OPTIONS, ...overrides };
  if (!validate(options)) {
    const error = validate.errors?.[0];
    const option = error?.instancePath.replace(/^\//, '') || String(error?.params && Object.values(error.params)[0]);
    throw new ChurnfeatError('invalid_config', `invalid lake writer option "${option}": ${error?.message}`);
  }
  return options as LakeWriterOptions;
}

/** Reads overrides from CHURNFEAT_* environment variables. */
export function lakeWriterOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<LakeWriterOptions> {
  const out: Partial<LakeWriterOptions> = {};
  const int = (name: string): number | undefined => (env[name] === undefined || env[name] === '' ? undefined : Number(env[name]));
  if (env.CHURNFEAT_KAFKA_BROKERS) out.brokers = env.CHURNFEAT_KAFKA_BROKERS.split(',').map((s) => s.trim());
  if (env.CHURNFEAT_TOPIC_NAMESPACE) out.topicNamespace = env.CHURNFEAT_TOPIC_NAMESPACE;
  if (env.CHURNFEAT_LAKE_GROUP_ID) out.groupId = env.CHURNFEAT_LAKE_GROUP_ID;
  const lake = env.CHURNFEAT_LAKE_URI || env.CHURNFEAT_LAKE_ROOT;
  if (lake) out.lakeUri = lake;
  if (env.CHURNFEAT_S3_ENDPOINT !== undefined) out.s3Endpoint = env.CHURNFEAT_S3_ENDPOINT;
  const records = int('CHURNFEAT_LAKE_FLUSH_RECORDS');
  if (records !== undefined) out.flushRecords = records;
  const interval = int('CHURNFEAT_LAKE_FLUSH_INTERVAL_MS');
  if (interval !== undefined) out.flushIntervalMs = interval;
  const maxBytes = int('CHURNFEAT_MAX_PAYLOAD_BYTES');
  if (maxBytes !== undefined) out.maxPayloadBytes = maxBytes;
  const session = int('CHURNFEAT_LAKE_SESSION_TIMEOUT_MS');
  if (session !== undefined) out.sessionTimeoutMs = session;
  return out;
}
