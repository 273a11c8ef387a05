import { Ajv } from 'ajv';
import { ChurnfeatError } from '../errors.ts';

/** Every option of the serving HTTP service, validated once at start-up. */
export interface ServeOptions {
  /** Redis URL. Default: redis://127.0.0.1:16379 (env CHURNFEAT_REDIS_URL). */
  redisUrl: string;
  /** Prefix of every Redis key; must match the sidecar's. Default: cf (env CHURNFEAT_KEY_PREFIX). */
  keyPrefix: string;
  /** dbt project holding the feature definitions. Default: dbt_project (env CHURNFEAT_DBT_PROJECT). */
  dbtProjectDir: string;
  /** Listen address. Default: 127.0.0.1 (env CHURNFEAT_SERVE_HOST). */
  host: string;
  /** Listen port. Default: 18090 (env CHURNFEAT_SERVE_PORT). */
  port: number;
  /** Largest batch accepted by POST /v1/features:batch. Default: 500 (env CHURNFEAT_SERVE_MAX_BATCH). */
  maxBatch: number;
  /** How often the watermark hash is re-read. Default: 500 ms. */
  watermarkRefreshMs: number;
  /** /readyz fails when a partition watermark is older than this; 0 disables. Default: 600000 (env CHURNFEAT_SERVE_READY_MAX_WATERMARK_AGE_MS). */
  readyMaxWatermarkAgeMs: number;
  /** A Redis command that takes longer fails (503). Default: 500 ms (env CHURNFEAT_SERVE_REDIS_TIMEOUT_MS). */
  redisCommandTimeoutMs: number;
  /** pino log level. Default: info (env CHURNFEAT_LOG_LEVEL). */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

export const DEFAULT_SERVE_OPTIONS = {
  redisUrl: 'redis://127.0.0.1:16379',
  keyPrefix: 'cf',
  dbtProjectDir: 'dbt_project',
  host: '127.0.0.1',
  port: 18090,
  maxBatch: 500,
  watermarkRefreshMs: 500,
  readyMaxWatermarkAgeMs: 600_000,
  redisCommandTimeoutMs: 500,
  logLevel: 'info',
} satisfies ServeOptions;

const schema = {
  type: 'object',
  additionalProperties: false,
  required: Object.keys(DEFAULT_SERVE_OPTIONS),
  properties: {
    redisUrl: { type: 'string', pattern: '^rediss?://' },
    keyPrefix: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,32}$' },
    dbtProjectDir: { type: 'string', minLength: 1 },
    host: { type: 'string', minLength: 1 },
    port: { type: 'integer', minimum: 0, maximum: 65535 },
    maxBatch: { type: 'integer', minimum: 1, maximum: 10_000 },
    watermarkRefreshMs: { type: 'integer', minimum: 50, maximum: 60_000 },
    readyMaxWatermarkAgeMs: { type: 'integer', minimum: 0 },
    redisCommandTimeoutMs: { type: 'integer', minimum: 1 },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
  },
} as const;

const validate = new Ajv({ allErrors: false }).compile(schema);

/** Merges overrides onto the defaults and validates; a bad option fails naming the option. */
export function resolveServeOptions(overrides: Partial<ServeOptions> = {}): ServeOptions {
  const options = { ...DEFAULT_SERVE_OPTIONS, ...overrides };
  if (!validate(options)) {
    const error = validate.errors?.[0];
    const option = error?.instancePath.replace(/^\//, '') || String(error?.params && Object.values(error.params)[0]);
    throw new ChurnfeatError('invalid_config', `invalid option "${option}": ${error?.message}`);
  }
  return options as ServeOptions;
}

/** Reads overrides from CHURNFEAT_* environment variables. */
export function serveOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<ServeOptions> {
  const out: Partial<ServeOptions> = {};
  const int = (name: string): number | undefined => (env[name] === undefined || env[name] === '' ? undefined : Number(env[name]));
  if (env.CHURNFEAT_REDIS_URL) out.redisUrl = env.CHURNFEAT_REDIS_URL;
  if (env.CHURNFEAT_KEY_PREFIX) out.keyPrefix = env.CHURNFEAT_KEY_PREFIX;
  if (env.CHURNFEAT_DBT_PROJECT) out.dbtProjectDir = env.CHURNFEAT_DBT_PROJECT;
  if (env.CHURNFEAT_SERVE_HOST) out.host = env.CHURNFEAT_SERVE_HOST;
  if (env.CHURNFEAT_LOG_LEVEL) out.logLevel = env.CHURNFEAT_LOG_LEVEL as ServeOptions['logLevel'];
  const numeric: Array<[keyof ServeOptions, string]> = [
    ['port', 'CHURNFEAT_SERVE_PORT'],
    ['maxBatch', 'CHURNFEAT_SERVE_MAX_BATCH'],
    ['readyMaxWatermarkAgeMs', 'CHURNFEAT_SERVE_READY_MAX_WATERMARK_AGE_MS'],
    ['redisCommandTimeoutMs', 'CHURNFEAT_SERVE_REDIS_TIMEOUT_MS'],
  ];
  for (const [option, name] of numeric) {
    const value = int(name);
    if (value !== undefined) (out as Record<string, unknown>)[option] = value;
  }
  return out;
}
