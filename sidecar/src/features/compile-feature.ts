import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Ajv, type ErrorObject } from 'ajv';
import { FeatureDefinitionError } from '../errors.ts';
import { EVENT_TYPES, type Source } from '../events/index.ts';
import { parseDuration } from './duration.ts';
import type { CompiledFeature, FeatureMeta } from './feature-definition.ts';

const require = createRequire(import.meta.url);
const metaSchema = require('../../../contracts/features/feature-definition.schema.json') as object;
const validateMeta = new Ajv({ allErrors: false, strict: false, verbose: true }).compile<FeatureMeta>(metaSchema);

/** Feature names are column names in dbt and keys in the read answer. */
export const FEATURE_NAME = /^[a-z][a-z0-9_]*$/;

const DURATION_FIELDS = new Set(['window', 'granularity', 'freshness_slo']);

/** The dotted field an ajv error is about, e.g. `filter.where.0.op` or `aggregation.attribute`. */
export function errorField(error: ErrorObject | undefined): string {
  if (!error) return '(block)';
  const params = error.params as { missingProperty?: string; additionalProperty?: string };
  const parts = [error.instancePath.replace(/^\//, '').replaceAll('/', '.'), params.missingProperty, params.additionalProperty];
  return parts.filter((part) => part !== undefined && part !== '').join('.') || '(block)';
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** One sentence for an ajv error, in the words of the definition (not of JSON Schema). */
export function errorProblem(error: ErrorObject | undefined, value: unknown, context: { function?: unknown } = {}): string {
  if (!error) return 'invalid';
  const field = errorField(error);
  const schema = error.parentSchema as { type?: string; minimum?: number; maximum?: number } | undefined;
  switch (error.keyword) {
    case 'required':
      return field === 'aggregation.attribute' && typeof context.function === 'string' ? `is required for ${context.function}` : 'is required';
    case 'additionalProperties':
      return 'unknown field';
    case 'enum': {
      const allowed = (error.params as { allowedValues: unknown[] }).allowedValues.join(', ');
      return field === 'aggregation.function' ? `unknown aggregation "${String(value)}"; must be one of ${allowed}` : `must be one of ${allowed} (got ${JSON.stringify(value)})`;
    }
    case 'const':
      return `must be ${String((error.params as { allowedValue: unknown }).allowedValue)}`;
    case 'pattern':
      return DURATION_FIELDS.has(field) ? `not a duration (${JSON.stringify(value)}); use <n>s, <n>m, <n>h or <n>d` : `must match ${(error.params as { pattern: string }).pattern}`;
    case 'type': {
      const types = ([] as string[]).concat((error.params as { type: string | string[] }).type);
      return `must be ${types.length === 1 ? article(types[0] as string) : `a ${types.slice(0, -1).join(', ')} or ${types.at(-1)}`}`;
    }
    case 'minimum':
    case 'maximum':
      return schema?.minimum !== undefined && schema.maximum !== undefined
        ? `must be an integer from ${schema.minimum} to ${schema.maximum}`
        : `must be ${schema?.type === 'integer' ? 'an integer ' : ''}${error.keyword === 'minimum' ? '>=' : '<='} ${String((error.params as { limit: number }).limit)}`;
    case 'minItems':
      return 'must be a non-empty list';
    case 'uniqueItems':
      return 'must not repeat an item';
    default:
      return error.message ?? 'invalid';
  }
}

/** The value at an ajv instance path (`/filter/where/0/op`). */
export function valueAt(root: unknown, instancePath: string): unknown {
  let value = root;
  for (const key of instancePath.split('/').slice(1)) value = (value as Record<string, unknown> | undefined)?.[key];
  return value;
}

/**
 * Validates one `config.meta.feature` block and turns it into a CompiledFeature. Errors name
 * the file, the feature and the field. `maxTilesPerWindow` is the registry's policy; hand-built
 * fixtures that omit it get no tile limit.
 */
export function compileFeature(file: string, model: string, name: string, meta: unknown, maxTilesPerWindow?: number): CompiledFeature {
  const fail = (field: string, problem: string): never => {
    throw new FeatureDefinitionError(file, name, field, problem);
  };
  if (!FEATURE_NAME.test(name)) fail('name', 'feature names are snake_case: ^[a-z][a-z0-9_]*$');
  if (!validateMeta(meta)) {
    const error = validateMeta.errors?.[0];
    const fn = (meta as { aggregation?: { function?: unknown } } | null)?.aggregation?.function;
    return fail(errorField(error), errorProblem(error, valueAt(meta, error?.instancePath ?? ''), { function: fn }));
  }
  const windowMs = parseDuration(meta.window) ?? fail('window', 'not a duration');
  const granularityMs = parseDuration(meta.granularity) ?? fail('granularity', 'not a duration');
  const freshnessSloMs = parseDuration(meta.freshness_slo) ?? fail('freshness_slo', 'not a duration');
  if (windowMs % granularityMs !== 0) fail('window', `must be a multiple of granularity (${meta.granularity})`);
  if (maxTilesPerWindow !== undefined && windowMs / granularityMs > maxTilesPerWindow) {
    fail('granularity', `more than ${maxTilesPerWindow} tiles per window; choose a coarser granularity`);
  }
  const known = EVENT_TYPES[meta.source as Source];
  for (const type of meta.filter.event_types) {
    if (!known.includes(type)) fail('filter.event_types', `"${type}" is not an event type of source ${meta.source}`);
  }
  const fn = meta.aggregation.function;
  if (fn === 'count' && meta.aggregation.attribute !== undefined) fail('aggregation.attribute', 'count takes no attribute');
  if (fn !== 'sum' && meta.aggregation.scale !== undefined) fail('aggregation.scale', 'only sum takes a scale');
  const version = meta.version ?? 1;
  return {
    name,
    id: createHash('sha1').update(`${name}@${version}`).digest('hex').slice(0, 6),
    source: meta.source,
    eventTypes: [...meta.filter.event_types],
    where: meta.filter.where ?? [],
    aggregation: fn,
    attribute: meta.aggregation.attribute ?? null,
    scale: meta.aggregation.scale ?? 0,
    windowMs,
    granularityMs,
    freshnessSloMs,
    owner: meta.owner ?? null,
    version,
    file,
    model,
  };
}
