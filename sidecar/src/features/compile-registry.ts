import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, sep } from 'node:path';
import { Ajv } from 'ajv';
import yaml from 'js-yaml';
import { FeatureDefinitionError } from '../errors.ts';
import { EVENT_TYPES, SOURCES, type Source } from '../events/index.ts';
import { compileFeature, errorField, errorProblem, FEATURE_NAME, valueAt } from './compile-feature.ts';
import { parseDuration } from './duration.ts';
import type { CompiledFeature, FeatureRegistry, RegistryPolicies } from './feature-definition.ts';
import { SEMANTICS_VERSION } from './semantics-version.ts';

const require = createRequire(import.meta.url);
const policiesSchema = require('../../../contracts/features/feature-policies.schema.json') as object;
const validatePolicies = new Ajv({ allErrors: false, strict: false, verbose: true }).compile<{ allowed_lateness: string; dedup_margin: string; max_tiles_per_window: number }>(policiesSchema);

/** A block exactly as written in the YAML, where it was written: what dbt compares against. */
export interface WrittenBlock {
  file: string;
  model: string;
  meta: unknown;
}

/** A feature of the artifact: the compiled feature plus the key dbt rebuilds it by. */
export interface RegistryFeature extends CompiledFeature {
  /**
   * Hash of what the feature's offline rows depend on (source, filter, aggregation,
   * granularity, version, allowed lateness): dbt's incremental models rebuild the feature in
   * full when it changes. Derived from the content the registry version hashes.
   */
  definitionHash: string;
}

/** A feature declared by a dbt unit test (`overrides.vars.features_override`), compiled alike. */
export interface UnitTestFeature {
  name: string;
  /** The block as written in the unit test. */
  definition: unknown;
  feature: RegistryFeature;
}

/**
 * The registry artifact: what `churnfeat compile` writes and both runtimes read. The runtime
 * part is a FeatureRegistry; `inputs` are the blocks as written, so that dbt (which cannot run
 * the compiler) can tell that the YAML changed since the artifact was compiled.
 */
export interface RegistryArtifact extends FeatureRegistry {
  semanticsVersion: string;
  features: readonly RegistryFeature[];
  /** The event types of each source, read from contracts/events/. */
  sources: Readonly<Record<Source, readonly string[]>>;
  unitTestFeatures: readonly UnitTestFeature[];
  inputs: { policies: WrittenBlock; definitions: Readonly<Record<string, WrittenBlock>> };
}

/** Every dbt YAML file under `<dbtProjectDir>/models`, in name order. */
function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...yamlFiles(path));
    else if (/\.ya?ml$/.test(entry)) out.push(path);
  }
  return out;
}

interface MetaHolder {
  meta?: Record<string, unknown>;
  config?: { meta?: Record<string, unknown> };
}

/** `config.meta.<key>` (dbt 1.10+), else the older `meta.<key>`. */
function metaOf(holder: MetaHolder, key: string): unknown {
  return holder.config?.meta?.[key] ?? holder.meta?.[key];
}

interface YamlDoc {
  models?: Array<MetaHolder & { name?: string; columns?: Array<MetaHolder & { name?: unknown }> }>;
  unit_tests?: Array<{ name?: string; model?: string; overrides?: { vars?: { features_override?: unknown } } }>;
}

/** Canonical JSON: object keys sorted, so a hash does not depend on key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function hash16(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}

/** The registry version id: the normalized content (without file paths) and SEMANTICS_VERSION. */
export function registryVersion(content: { semanticsVersion: string; policies: RegistryPolicies; sources: RegistryArtifact['sources']; features: readonly CompiledFeature[] }): string {
  return hash16({ ...content, features: content.features.map(({ file: _file, ...rest }) => rest) });
}

function definitionHash(feature: CompiledFeature, policies: RegistryPolicies): string {
  const { source, eventTypes, where, aggregation, attribute, scale, granularityMs, version } = feature;
  return hash16({ source, eventTypes, where, aggregation, attribute, scale, granularityMs, version, allowedLatenessMs: policies.allowedLatenessMs });
}

function compilePolicies(block: WrittenBlock): RegistryPolicies {
  const fail = (field: string, problem: string): never => {
    throw new FeatureDefinitionError(block.file, '(policies)', `feature_policies.${field}`, problem);
  };
  if (!validatePolicies(block.meta)) {
    const error = validatePolicies.errors?.[0];
    const field = errorField(error);
    const problem = errorProblem(error, valueAt(block.meta, error?.instancePath ?? ''));
    return fail(field, error?.keyword === 'pattern' ? `not a duration (${JSON.stringify(valueAt(block.meta, error.instancePath))}); use <n>s, <n>m, <n>h or <n>d` : problem);
  }
  const allowedLatenessMs = parseDuration(block.meta.allowed_lateness) ?? fail('allowed_lateness', 'not a duration');
  const dedupMarginMs = parseDuration(block.meta.dedup_margin) ?? fail('dedup_margin', 'not a duration');
  return { allowedLatenessMs, dedupMarginMs, dedupHorizonMs: allowedLatenessMs + dedupMarginMs, maxTilesPerWindow: block.meta.max_tiles_per_window };
}

/**
 * The one compiler: reads every feature block (column `config.meta.feature`) and the policies
 * block (model `config.meta.feature_policies`) of the dbt project's YAML, validates them
 * against contracts/features and the semantic rules, and normalizes them into the registry
 * artifact. Throws FeatureDefinitionError naming file, feature and field.
 */
export function compileRegistry(dbtProjectDir: string): RegistryArtifact {
  const written: Array<WrittenBlock & { name: string }> = [];
  const tests: Array<WrittenBlock & { name: string }> = [];
  const policyBlocks: WrittenBlock[] = [];
  const seen = new Map<string, string>();
  for (const path of yamlFiles(join(dbtProjectDir, 'models'))) {
    const file = relative(dbtProjectDir, path).split(sep).join('/');
    let doc: YamlDoc | undefined;
    try {
      doc = yaml.load(readFileSync(path, 'utf8')) as YamlDoc | undefined;
    } catch (error) {
      throw new FeatureDefinitionError(file, '-', '-', `YAML does not parse: ${(error as Error).message}`);
    }
    for (const model of Array.isArray(doc?.models) ? doc.models : []) {
      const modelName = String(model.name ?? '');
      const policies = metaOf(model, 'feature_policies');
      if (policies !== undefined) {
        if (policyBlocks.length > 0) throw new FeatureDefinitionError(file, '(policies)', 'feature_policies', `already declared in ${policyBlocks[0]?.file}`);
        policyBlocks.push({ file, model: modelName, meta: policies });
      }
      for (const column of model.columns ?? []) {
        const meta = metaOf(column, 'feature');
        if (meta === undefined) continue;
        const name = String(column.name ?? '');
        if (!FEATURE_NAME.test(name)) throw new FeatureDefinitionError(file, name, 'name', 'feature names are snake_case: ^[a-z][a-z0-9_]*$');
        const previous = seen.get(name);
        if (previous) throw new FeatureDefinitionError(file, name, 'name', `already declared in ${previous}`);
        seen.set(name, file);
        written.push({ name, file, model: modelName, meta });
      }
    }
    for (const test of Array.isArray(doc?.unit_tests) ? doc.unit_tests : []) {
      const override = test.overrides?.vars?.features_override;
      if (override === undefined || override === null) continue;
      for (const [name, meta] of Object.entries(override as Record<string, unknown>)) tests.push({ name, file, model: String(test.model ?? ''), meta });
    }
  }
  const policyBlock = policyBlocks[0];
  if (!policyBlock)
    throw new FeatureDefinitionError('models/', '(policies)', 'feature_policies', 'no model declares config.meta.feature_policies (allowed_lateness, dedup_margin, max_tiles_per_window)');
  const policies = compilePolicies(policyBlock);
  const compile = (block: WrittenBlock & { name: string }): RegistryFeature => {
    const feature = compileFeature(block.file, block.model, block.name, block.meta, policies.maxTilesPerWindow);
    return { ...feature, definitionHash: definitionHash(feature, policies) };
  };
  const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const features = written.map(compile).sort(byName);
  const unitTestFeatures: UnitTestFeature[] = [];
  for (const block of tests) {
    if (unitTestFeatures.some((u) => u.name === block.name && canonicalJson(u.definition) === canonicalJson(block.meta))) continue;
    unitTestFeatures.push({ name: block.name, definition: block.meta, feature: compile(block) });
  }
  unitTestFeatures.sort((a, b) => byName(a, b) || (canonicalJson(a.definition) < canonicalJson(b.definition) ? -1 : 1));
  const sources = Object.fromEntries(SOURCES.map((source) => [source, [...EVENT_TYPES[source]]])) as unknown as RegistryArtifact['sources'];
  const content = { semanticsVersion: SEMANTICS_VERSION, policies, sources, features };
  const definitions = Object.fromEntries([...written].sort(byName).map(({ name, ...block }) => [name, block]));
  return { version: registryVersion(content), ...content, unitTestFeatures, inputs: { policies: policyBlock, definitions } };
}
