import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FeatureDefinitionError } from '../../../sidecar/src/errors.ts';
import { compileRegistry, SEMANTICS_VERSION } from '../../../sidecar/src/features/index.ts';

const MARTS = 'models/marts/_marts__models.yml';

interface Column {
  name: string;
  config?: { meta?: { feature?: Record<string, any> } };
}

/** A copy of the dbt project's models in a temp dir that disappears with the test. */
function projectCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'churnfeat-defs-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join('dbt_project', 'models'), join(dir, 'models'), { recursive: true });
  return dir;
}

/** Rewrites one feature block of the marts YAML in `dir`. */
function breakFeature(dir: string, feature: string, change: (meta: Record<string, any>) => void): void {
  const path = join(dir, MARTS);
  const doc = yaml.load(readFileSync(path, 'utf8')) as { models: Array<{ columns: Column[] }> };
  const column = doc.models.flatMap((m) => m.columns).find((c) => c.name === feature);
  const meta = column?.config?.meta?.feature;
  if (!meta) throw new Error(`no feature ${feature} in ${MARTS}`);
  change(meta);
  writeFileSync(path, yaml.dump(doc));
}

function loadError(dir: string): FeatureDefinitionError {
  try {
    compileRegistry(dir);
  } catch (error) {
    expect(error).toBeInstanceOf(FeatureDefinitionError);
    return error as FeatureDefinitionError;
  }
  throw new Error('the broken definition loaded without an error');
}

function expectNamed(error: FeatureDefinitionError, file: string, feature: string, field: string, problem: RegExp): void {
  expect({ file: error.file, feature: error.feature, field: error.field }).toEqual({ file, feature, field });
  expect(error.code).toBe('invalid_feature_definition');
  expect(error.message).toContain(file);
  expect(error.message).toContain(`"${feature}"`);
  expect(error.message).toContain(`"${field}"`);
  expect(error.message).toMatch(problem);
}

describe('compiling the feature definitions of the dbt project', () => {
  it('compiles the seven features of the project with windows, tiles and sources in milliseconds', () => {
    const registry = compileRegistry('dbt_project');
    expect(registry.features.map((f) => f.name)).toEqual([
      'cancel_page_views_last_30m',
      'distinct_titles_last_7d',
      'errors_last_10m',
      'errors_last_1h',
      'payment_failures_last_7d',
      'support_tickets_last_30d',
      'watch_time_last_24h',
    ]);
    const watch = registry.features.find((f) => f.name === 'watch_time_last_24h');
    expect(watch).toMatchObject({
      source: 'client',
      aggregation: 'sum',
      attribute: 'watched_seconds',
      scale: 0,
      windowMs: 86_400_000,
      granularityMs: 900_000,
      file: MARTS,
      model: 'fct_user_features',
    });
    for (const feature of registry.features) {
      expect(feature.windowMs % feature.granularityMs).toBe(0);
      expect(feature.id).toMatch(/^[0-9a-f]{6}$/);
    }
    expect(new Set(registry.features.map((f) => f.id)).size).toBe(registry.features.length);
  });

  it('gives the same version id for the same definitions wherever the project lives, and another one when a definition changes', () => {
    const original = compileRegistry('dbt_project');
    expect(original.version).toMatch(/^[0-9a-f]{16}$/);
    expect(original.semanticsVersion).toBe(SEMANTICS_VERSION);
    const dir = projectCopy();
    expect(compileRegistry(dir).version).toBe(original.version);
    breakFeature(dir, 'errors_last_10m', (meta) => {
      meta.window = '20m';
    });
    const changed = compileRegistry(dir);
    expect(changed.version).not.toBe(original.version);
    // The dbt rebuild key of a feature moves only with what its offline rows depend on.
    const hashOf = (r: typeof original, name: string) => r.features.find((f) => f.name === name)?.definitionHash;
    expect(hashOf(changed, 'errors_last_10m')).toBe(hashOf(original, 'errors_last_10m'));
    expect(hashOf(changed, 'errors_last_1h')).toBe(hashOf(original, 'errors_last_1h'));
  });

  it('compiles the policies once, from the feature_policies block, and changes the version and every rebuild key with the lateness', () => {
    const original = compileRegistry('dbt_project');
    expect(original.policies).toEqual({ allowedLatenessMs: 86_400_000, dedupMarginMs: 3_600_000, dedupHorizonMs: 90_000_000, maxTilesPerWindow: 2000 });
    const dir = projectCopy();
    const path = join(dir, MARTS);
    writeFileSync(path, readFileSync(path, 'utf8').replace('allowed_lateness: 24h', 'allowed_lateness: 20h'));
    const changed = compileRegistry(dir);
    expect(changed.policies.allowedLatenessMs).toBe(20 * 3_600_000);
    expect(changed.version).not.toBe(original.version);
    for (const feature of changed.features) expect(feature.definitionHash).not.toBe(original.features.find((f) => f.name === feature.name)?.definitionHash);
  });

  it('fails on a bad or missing policies block, naming the file and the policy', () => {
    const dir = projectCopy();
    const path = join(dir, MARTS);
    writeFileSync(path, readFileSync(path, 'utf8').replace('allowed_lateness: 24h', 'allowed_lateness: 1 day'));
    expectNamed(loadError(dir), MARTS, '(policies)', 'feature_policies.allowed_lateness', /not a duration/);
    writeFileSync(path, readFileSync(path, 'utf8').replace('feature_policies:', 'other_policies:'));
    expect(loadError(dir).message).toMatch(/no model declares config\.meta\.feature_policies/);
  });

  it('takes the event types of every source from contracts/events', () => {
    const registry = compileRegistry('dbt_project');
    expect(registry.sources.billing).toEqual(['payment_failed', 'payment_retried', 'payment_succeeded']);
    expect(Object.keys(registry.sources)).toEqual(['client', 'billing', 'support']);
  });

  it('compiles the features of the dbt unit tests (overrides.vars.features_override) with the same rules', () => {
    const registry = compileRegistry('dbt_project');
    const errors = registry.unitTestFeatures.find((u) => u.name === 'errors_10m');
    expect(errors?.feature).toMatchObject({ aggregation: 'count', windowMs: 600_000, granularityMs: 60_000, file: 'models/intermediate/_intermediate__models.yml' });
    expect(registry.features.map((f) => f.name)).not.toContain('errors_10m');
    const dir = projectCopy();
    const path = join(dir, 'models/intermediate/_intermediate__models.yml');
    writeFileSync(
      path,
      readFileSync(path, 'utf8').replace(
        'errors_10m:\n            {entity: user_id, source: client, filter: {event_types: [playback_error]}, aggregation: {function: count}, window: 10m, granularity: 1m',
        'errors_10m:\n            {entity: user_id, source: client, filter: {event_types: [playback_error]}, aggregation: {function: count}, window: 10m, granularity: 3m',
      ),
    );
    expectNamed(loadError(dir), 'models/intermediate/_intermediate__models.yml', 'errors_10m', 'window', /multiple of granularity/);
  });

  it('fails on an unknown aggregation, naming file, feature and field', () => {
    const dir = projectCopy();
    breakFeature(dir, 'errors_last_1h', (meta) => {
      meta.aggregation.function = 'median';
    });
    expectNamed(loadError(dir), MARTS, 'errors_last_1h', 'aggregation.function', /unknown aggregation "median"; must be one of count, sum/);
  });

  it('fails on a window that is not a multiple of the granularity, naming the window', () => {
    const dir = projectCopy();
    breakFeature(dir, 'cancel_page_views_last_30m', (meta) => {
      meta.granularity = '7m';
    });
    expectNamed(loadError(dir), MARTS, 'cancel_page_views_last_30m', 'window', /multiple of granularity \(7m\)/);
  });

  it('fails on an event type the source does not have, naming filter.event_types', () => {
    const dir = projectCopy();
    breakFeature(dir, 'payment_failures_last_7d', (meta) => {
      meta.filter.event_types = ['payment_failed', 'playback_error'];
    });
    expectNamed(loadError(dir), MARTS, 'payment_failures_last_7d', 'filter.event_types', /"playback_error" is not an event type of source billing/);
  });

  it('fails on a sum without an attribute, naming aggregation.attribute', () => {
    const dir = projectCopy();
    breakFeature(dir, 'watch_time_last_24h', (meta) => {
      delete meta.aggregation.attribute;
    });
    expectNamed(loadError(dir), MARTS, 'watch_time_last_24h', 'aggregation.attribute', /is required for sum/);
  });

  it('fails on a feature name declared twice, naming both files', () => {
    const dir = projectCopy();
    const doc = {
      version: 2,
      models: [
        {
          name: 'fct_more',
          columns: [
            {
              name: 'errors_last_10m',
              config: {
                meta: {
                  feature: {
                    entity: 'user_id',
                    source: 'client',
                    filter: { event_types: ['playback_error'] },
                    aggregation: { function: 'count' },
                    window: '10m',
                    granularity: '1m',
                    freshness_slo: '2m',
                  },
                },
              },
            },
          ],
        },
      ],
    };
    writeFileSync(join(dir, 'models/marts/_more__models.yml'), yaml.dump(doc));
    const error = loadError(dir);
    // Files are read in name order: the second declaration is the one reported.
    expectNamed(error, 'models/marts/_more__models.yml', 'errors_last_10m', 'name', /already declared in models\/marts\/_marts__models\.yml/);
  });

  it('fails on the other semantic rules: count with an attribute, scale outside sum, too many tiles, a bad name, unknown keys', () => {
    const cases: Array<[string, (meta: Record<string, any>) => void, string, RegExp]> = [
      ['errors_last_10m', (m) => (m.aggregation.attribute = 'error_code'), 'aggregation.attribute', /count takes no attribute/],
      ['distinct_titles_last_7d', (m) => (m.aggregation.scale = 2), 'aggregation.scale', /only sum takes a scale/],
      ['support_tickets_last_30d', (m) => (m.granularity = '1m'), 'granularity', /more than 2000 tiles/],
      ['errors_last_1h', (m) => (m.window = '1 hour'), 'window', /not a duration \("1 hour"\)/],
      ['errors_last_1h', (m) => (m.windows = '1h'), 'windows', /unknown field/],
      ['errors_last_1h', (m) => (m.filter.where = [{ attribute: 'error_code', op: 'in' }]), 'filter.where.0.values', /is required/],
      ['errors_last_1h', (m) => (m.filter.where = [{ attribute: 'error_code', op: 'gt', value: 'E1' }]), 'filter.where.0.value', /must be a number/],
      ['watch_time_last_24h', (m) => (m.aggregation.scale = 9), 'aggregation.scale', /an integer from 0 to 6/],
      ['errors_last_1h', (m) => (m.source = 'crm'), 'source', /must be one of client, billing, support/],
    ];
    for (const [feature, change, field, problem] of cases) {
      const dir = projectCopy();
      breakFeature(dir, feature, change);
      expectNamed(loadError(dir), MARTS, feature, field, problem);
    }
    const dir = projectCopy();
    const path = join(dir, MARTS);
    writeFileSync(path, readFileSync(path, 'utf8').replace('- name: errors_last_10m', '- name: Errors-Last-10m'));
    expectNamed(loadError(dir), MARTS, 'Errors-Last-10m', 'name', /snake_case/);
  });

  it('fails on YAML that does not parse, naming the file', () => {
    const dir = projectCopy();
    writeFileSync(join(dir, 'models/marts/_broken.yml'), 'models: [\n  - name: x\n');
    const error = loadError(dir);
    expect(error.file).toBe('models/marts/_broken.yml');
    expect(error.message).toMatch(/YAML does not parse/);
  });
});
