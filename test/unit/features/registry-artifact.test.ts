import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FeatureDefinitionError } from '../../../sidecar/src/errors.ts';
import {
  compileRegistry,
  loadFeatureRegistry,
  REGISTRY_JSON,
  REGISTRY_MACRO,
  registryVersion,
  renderRegistryMacro,
  StaleRegistryError,
  writeRegistryArtifact,
} from '../../../sidecar/src/features/index.ts';
import { FIXTURE_REGISTRY_DIR, fixtureRegistry } from '../../helpers/registry.ts';

const MARTS = 'models/marts/_marts__models.yml';

/** A copy of the fixture dbt project's models and registry artifact, removed with the test. */
function projectCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'churnfeat-artifact-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(FIXTURE_REGISTRY_DIR, 'models'), join(dir, 'models'), { recursive: true });
  cpSync(join(FIXTURE_REGISTRY_DIR, REGISTRY_JSON), join(dir, REGISTRY_JSON));
  cpSync(join(FIXTURE_REGISTRY_DIR, REGISTRY_MACRO), join(dir, REGISTRY_MACRO));
  return dir;
}

function edit(path: string, from: string, to: string): void {
  const text = readFileSync(path, 'utf8');
  expect(text).toContain(from);
  writeFileSync(path, text.replace(from, to));
}

function staleError(dir: string): StaleRegistryError {
  try {
    loadFeatureRegistry(dir);
  } catch (error) {
    expect(error).toBeInstanceOf(StaleRegistryError);
    return error as StaleRegistryError;
  }
  throw new Error('the stale artifact loaded without an error');
}

describe('the registry artifact', () => {
  it('of the production dbt project is committed up to date: its YAML compiles to exactly the artifact in both files', () => {
    const registry = loadFeatureRegistry('dbt_project');
    expect(registry.version).toBe(compileRegistry('dbt_project').version);
    expect(registry.features).toHaveLength(7);
    expect(registry.policies.allowedLatenessMs).toBe(86_400_000);
  });

  it("of the unit tests' fixture project is committed up to date, with one feature per aggregation on every source", () => {
    const registry = fixtureRegistry();
    expect(registry.version).toBe(compileRegistry(FIXTURE_REGISTRY_DIR).version);
    expect(new Set(registry.features.map((f) => f.aggregation))).toEqual(new Set(['count', 'sum', 'count_distinct', 'last', 'min', 'max']));
    expect(new Set(registry.features.map((f) => f.source))).toEqual(new Set(['client', 'billing', 'support']));
    expect(registry.features.some((f) => f.where.length > 0 && f.scale > 0)).toBe(true);
  });

  it('fails the load when a feature was edited in the YAML without recompiling, naming the feature and the command', () => {
    const dir = projectCopy();
    expect(loadFeatureRegistry(dir).version).toBe(fixtureRegistry().version);
    edit(join(dir, MARTS), 'window: 10m', 'window: 20m');
    const error = staleError(dir);
    expect(error.code).toBe('stale_feature_registry');
    expect(error.message).toMatch(/errors_last_10m changed/);
    expect(error.message).toContain('churnfeat compile');
    expect(error.message).toContain('make compile');
    writeRegistryArtifact(dir);
    expect(loadFeatureRegistry(dir).features.find((f) => f.name === 'errors_last_10m')?.windowMs).toBe(20 * 60_000);
  });

  it('fails the load when a policy changed, or a feature was added, without recompiling', () => {
    const dir = projectCopy();
    edit(join(dir, MARTS), 'allowed_lateness: 24h', 'allowed_lateness: 12h');
    expect(staleError(dir).message).toMatch(/feature_policies changed/);
    writeRegistryArtifact(dir);
    edit(join(dir, MARTS), '      - name: errors_last_1h\n', '      - name: errors_last_2h\n');
    expect(staleError(dir).message).toMatch(/errors_last_2h added, errors_last_1h removed/);
  });

  it('fails the load when the artifact is missing, edited by hand, or its dbt macro disagrees with the JSON', () => {
    const dir = projectCopy();
    const json = join(dir, REGISTRY_JSON);
    edit(json, '"allowedLatenessMs": 86400000', '"allowedLatenessMs": 3600000');
    expect(staleError(dir).message).toMatch(/feature_policies changed/);
    writeRegistryArtifact(dir);
    edit(join(dir, REGISTRY_MACRO), '"allowedLatenessMs":86400000', '"allowedLatenessMs":3600000');
    expect(staleError(dir).message).toContain(`${REGISTRY_MACRO} does not hold the content of ${REGISTRY_JSON}`);
    rmSync(json);
    expect(staleError(dir).message).toContain(`${REGISTRY_JSON} does not exist`);
  });

  it('still reports a broken definition as a definition error naming file, feature and field', () => {
    const dir = projectCopy();
    edit(join(dir, MARTS), 'window: 10m', 'window: 10 minutes');
    expect(() => loadFeatureRegistry(dir)).toThrow(FeatureDefinitionError);
    expect(() => loadFeatureRegistry(dir)).toThrow(/_marts__models\.yml: feature "errors_last_10m", field "window": not a duration/);
  });

  it('changes its version id with the semantics version, so Redis function names change with the protocol', () => {
    const registry = compileRegistry(FIXTURE_REGISTRY_DIR);
    const content = { semanticsVersion: registry.semanticsVersion, policies: registry.policies, sources: registry.sources, features: registry.features };
    expect(registryVersion(content)).toBe(registry.version);
    expect(registryVersion({ ...content, semanticsVersion: registry.semanticsVersion + 1 })).not.toBe(registry.version);
    // File paths are not part of the identity: moving a block to another YAML file keeps it.
    expect(registryVersion({ ...content, features: content.features.map((f) => ({ ...f, file: 'models/other.yml' })) })).toBe(registry.version);
  });

  it('renders a dbt macro whose JSON cannot end its raw block early', () => {
    const registry = compileRegistry(FIXTURE_REGISTRY_DIR);
    const tricky = { ...registry, features: registry.features.map((f, i) => (i === 0 ? { ...f, owner: 'a {% endraw %} b' } : f)) };
    const macro = renderRegistryMacro(tricky);
    expect(macro.match(/\{% endraw %\}/g)).toHaveLength(1);
    const json = /\{% raw %\}(.*)\{% endraw %\}/.exec(macro)?.[1] ?? '';
    expect(JSON.parse(json).features[0].owner).toBe('a {% endraw %} b');
  });
});
