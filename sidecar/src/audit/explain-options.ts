import { COMMON_OPTIONS, defineOption, REDIS_STORE_OPTIONS, SCHEMAS } from '../config/index.ts';

/** The options of `churnfeat explain <user>` (docs/data-quality.md, "Explain"). */
export const EXPLAIN_OPTIONS = {
  ...REDIS_STORE_OPTIONS,
  dbtProjectDir: COMMON_OPTIONS.dbtProjectDir,
  lakeUri: COMMON_OPTIONS.lakeUri,
  s3Endpoint: COMMON_OPTIONS.s3Endpoint,
  duckdbPath: COMMON_OPTIONS.duckdbPath,
  feature: defineOption<string>({
    kind: 'string',
    description: "only this feature (its name); '' for every feature",
    env: ['CHURNFEAT_EXPLAIN_FEATURE'],
    default: '',
    schema: { type: 'string', pattern: '^([a-z][a-z0-9_]*)?$' },
    placeholder: 'NAME',
  }),
  asOf: defineOption<string>({
    kind: 'string',
    description: "the instant explained: RFC 3339 with a zone, or epoch ms; '' for the Redis server clock",
    env: ['CHURNFEAT_EXPLAIN_AS_OF'],
    default: '',
    schema: { type: 'string', pattern: '^([0-9]{1,16}|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2}))?$' },
    placeholder: 'TIME',
  }),
  offline: defineOption<boolean>({
    kind: 'boolean',
    description: 'also the lake objects and rows behind each value, the offline value and the dbt tile rows',
    env: ['CHURNFEAT_EXPLAIN_OFFLINE'],
    default: false,
    schema: SCHEMAS.boolean,
  }),
  json: defineOption<boolean>({
    kind: 'boolean',
    description: 'print the whole explanation as JSON (default: a summary per feature)',
    env: ['CHURNFEAT_EXPLAIN_JSON'],
    default: false,
    schema: SCHEMAS.boolean,
  }),
} as const;
