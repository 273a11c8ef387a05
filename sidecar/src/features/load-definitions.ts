import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createRequire } from 'node:module';
import { Ajv } from 'ajv';
import yaml from 'js-yaml';
import { FeatureDefinitionError } from '../errors.ts';
import { EVENT_TYPES, type Source } from '../events/index.ts';
import { parseDuration } from './duration.ts';
import type { CompiledFeature, FeatureMeta, FeatureRegistry } from './feature-definition.ts';

const require = createRequire(import.meta.url);
const metaSchema = require('../../../contracts/features/feature-definition.schema.json') as object;
const validateMeta = new Ajv({ allErrors: false, strict: false }).compile<FeatureMeta>(metaSchema);

const FEATURE_NAME = /^[a-z][a-z0-9_]*$/;

/** Finds every dbt YAML file under `<dbtProjectDir>/models`. */
function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...yamlFiles(path));
    else if (/\.ya?ml$/.test(entry)) out.push(path);
  }
  return out;
}

interface RawColumn {
  name?: unknown;
  meta?: { feature?: unknown };
  config?: { meta?: { feature?: unknown } };
}

/**
 * Reads the feature definitions from the dbt project's YAML (column `config.meta.feature`,
 * or the older `meta.feature`), validates each against contracts/features and the semantic
 * rules, and compiles them. Throws FeatureDefinitionError naming file, feature and field.
 */
export function loadFeatureRegistry(dbtProjectDir: string): FeatureRegistry {
  const features: CompiledFeature[] = [];
  const seen = new Map<string, string>();
  for (const path of yamlFiles(join(dbtProjectDir, 'models'))) {
    const file = relative(dbtProjectDir, path);
    let doc: unknown;
    try {
      doc = yaml.load(readFileSync(path, 'utf8'));
    } catch (error) {
      throw new FeatureDefinitionError(file, '-', '-', `YAML does not parse: ${(error as Error).message}`);
    }
    const models = (doc as { models?: unknown })?.models;
    if (!Array.isArray(models)) continue;
    for (const model of models as Array<{ name?: string; columns?: RawColumn[] }>) {
      for (const column of model.columns ?? []) {
        const meta = column.config?.meta?.feature ?? column.meta?.feature;
        if (meta === undefined) continue;
        const name = String(column.name ?? '');
        if (!FEATURE_NAME.test(name)) {
          throw new FeatureDefinitionError(file, name, 'name', 'feature names are snake_case: ^[a-z][a-z0-9_]*$');
        }
        const previous = seen.get(name);
        if (previous) throw new FeatureDefinitionError(file, name, 'name', `already declared in ${previous}`);
        seen.set(name, file);
        features.push(compileFeature(file, String(model.name ?? ''), name, meta));
      }
    }
  }
  features.sort((a, b) => a.name.localeCompare(b.name));
  const fingerprint = createHash('sha256').update(JSON.stringify(features.map(({ file: _f, ...rest }) => rest))).digest('hex').slice(0, 16);
  return { fingerprint, features };
}

/** Validates one meta block and turns it into a CompiledFeature. */
export function compileFeature(file: string, model: string, name: string, meta: unknown): CompiledFeature {
  if (!validateMeta(meta)) {
    const err = validateMeta.errors?.[0];
    const field = [err?.instancePath.replace(/^\//, '').replaceAll('/', '.'), err?.params && 'missingProperty' in err.params ? err.params.missingProperty : undefined, err?.params && 'additionalProperty' in err.params ? err.params.additionalProperty : undefined]
      .filter((part) => part !== undefined && part !== '')
      .join('.');
    throw new FeatureDefinitionError(file, name, field || '(block)', err?.message ?? 'invalid');
  }
  const fail = (field: string, problem: string): never => {
    throw new FeatureDefinitionError(file, name, field, problem);
  };
  const windowMs = parseDuration(meta.window) ?? fail('window', 'not a duration');
  const granularityMs = parseDuration(meta.granularity) ?? fail('granularity', 'not a duration');
  const freshnessSloMs = parseDuration(meta.freshness_slo) ?? fail('freshness_slo', 'not a duration');
  if (windowMs % granularityMs !== 0) fail('window', `must be a multiple of granularity (${meta.granularity})`);
  if (windowMs / granularityMs > 2_000) fail('granularity', 'more than 2000 tiles per window; choose a coarser granularity');
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
