import { COMMON_OPTIONS, REDIS_STORE_OPTIONS, defaultsOf, defineOption, readEnvOptions, resolveTable, SCHEMAS, type OptionsOf } from '../config/index.ts';

/** Every option of the serving HTTP service (defaults, env variables, schema), validated once at start-up. */
export const SERVE_OPTIONS = {
  ...REDIS_STORE_OPTIONS,
  dbtProjectDir: COMMON_OPTIONS.dbtProjectDir,
  host: defineOption<string>({ kind: 'string', description: 'listen address', default: '127.0.0.1', env: ['CHURNFEAT_SERVE_HOST'], schema: SCHEMAS.nonEmpty, placeholder: 'ADDR' }),
  port: defineOption<number>({ kind: 'integer', description: 'listen port', default: 18_090, env: ['CHURNFEAT_SERVE_PORT'], schema: SCHEMAS.port }),
  maxBatch: defineOption<number>({
    kind: 'integer',
    description: 'largest batch accepted by POST /v1/features:batch',
    default: 500,
    env: ['CHURNFEAT_SERVE_MAX_BATCH'],
    schema: { type: 'integer', minimum: 1, maximum: 10_000 },
  }),
  watermarkRefreshMs: defineOption<number>({
    kind: 'integer',
    description: 'how often the watermark hash is re-read, ms',
    default: 500,
    schema: { type: 'integer', minimum: 50, maximum: 60_000 },
  }),
  aliasCacheMs: defineOption<number>({
    kind: 'integer',
    description: 'how long the active version (the alias, docs/lifecycle.md) is reused before it is read again, ms; after a cutover answers move within this',
    default: 1_000,
    env: ['CHURNFEAT_SERVE_ALIAS_CACHE_MS'],
    schema: { type: 'integer', minimum: 0, maximum: 60_000 },
  }),
  readyMaxWatermarkAgeMs: defineOption<number>({
    kind: 'integer',
    description: '/readyz fails when a partition watermark is older than this, ms; 0 disables',
    default: 600_000,
    env: ['CHURNFEAT_SERVE_READY_MAX_WATERMARK_AGE_MS'],
    schema: SCHEMAS.nonNegativeInteger,
  }),
  redisCommandTimeoutMs: defineOption<number>({
    kind: 'integer',
    description: 'a Redis command that takes longer fails (503), ms',
    default: 500,
    env: ['CHURNFEAT_SERVE_REDIS_TIMEOUT_MS'],
    schema: { type: 'integer', minimum: 1 },
  }),
  adminToken: defineOption<string>({
    kind: 'string',
    description: "bearer token of the admin (writing) routes under /admin; '' turns them off (404). At least 16 printable characters",
    default: '',
    env: ['CHURNFEAT_ADMIN_TOKEN'],
    schema: { type: 'string', pattern: '^([!-~]{16,})?$' },
    placeholder: 'TOKEN',
  }),
  opsScrapeUrls: defineOption<string[]>({
    kind: 'list',
    description: 'the /metrics URLs the operations page (GET /ops) reads: sidecar, lake writer, canary',
    default: [],
    env: ['CHURNFEAT_OPS_SCRAPE_URLS'],
    schema: { type: 'array', items: { type: 'string', pattern: '^https?://.+' } },
    placeholder: 'URL,...',
  }),
  opsReportsDir: defineOption<string>({
    kind: 'string',
    description: "folder of the parity reports the operations page lists and links (served read-only under /ops/reports/); '' none",
    default: 'reports',
    env: ['CHURNFEAT_OPS_REPORTS_DIR'],
    schema: { type: 'string' },
    placeholder: 'DIR',
  }),
  logLevel: COMMON_OPTIONS.logLevel,
} as const;

/** Every option of the serving HTTP service; see {@link SERVE_OPTIONS}. */
export type ServeOptions = OptionsOf<typeof SERVE_OPTIONS>;

export const DEFAULT_SERVE_OPTIONS: Readonly<ServeOptions> = defaultsOf(SERVE_OPTIONS);

/** Merges overrides onto the defaults and validates; a bad option fails naming the option. */
export function resolveServeOptions(overrides: Partial<ServeOptions> = {}): ServeOptions {
  return resolveTable(SERVE_OPTIONS, overrides);
}

/** Reads overrides from CHURNFEAT_* environment variables. */
export function serveOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<ServeOptions> {
  return readEnvOptions(SERVE_OPTIONS, env);
}
