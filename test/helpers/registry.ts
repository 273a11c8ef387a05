/**
 * The fixture registry: a small dbt project (test/fixtures/registry) with one feature per
 * aggregation, compiled by the project's compiler. Unit tests run on it, not on the
 * production YAML, so a feature change in dbt_project does not break them.
 */
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Source } from '../../sidecar/src/events/index.ts';
import { loadFeatureRegistry, writeRegistryArtifact, type CompiledFeature, type FeatureRegistry, type RegistryArtifact } from '../../sidecar/src/features/index.ts';

/** The fixture dbt project (models/ and its compiled artifact). */
export const FIXTURE_REGISTRY_DIR = 'test/fixtures/registry';

let loaded: RegistryArtifact | undefined;

/** The fixture registry artifact, proven fresh against its YAML (loaded once per test file). */
export function fixtureRegistry(): RegistryArtifact {
  loaded ??= loadFeatureRegistry(FIXTURE_REGISTRY_DIR);
  return loaded;
}

/** A feature of the fixture registry by name (throws on an unknown name). */
export function fixtureFeature(name: string): RegistryArtifact['features'][number] {
  const found = fixtureRegistry().features.find((f) => f.name === name);
  if (!found) throw new Error(`the fixture registry has no feature ${name}`);
  return found;
}

/** A compiled feature built by hand, for aggregations the project does not use yet. */
export function feature(partial: Partial<CompiledFeature> & { name: string; aggregation: CompiledFeature['aggregation'] }): CompiledFeature {
  return {
    id: partial.id ?? partial.name.slice(0, 6),
    source: 'client' as Source,
    eventTypes: ['playback_start'],
    where: [],
    attribute: null,
    scale: 0,
    windowMs: 3_600_000,
    granularityMs: 300_000,
    freshnessSloMs: 120_000,
    owner: null,
    version: 1,
    file: 'models/test.yml',
    model: 'test',
    ...partial,
  };
}

/**
 * A new registry version: a copy of the dbt project `from` under `into` with one feature's
 * window changed in its YAML (`window: <old>` -> `window: <window>`), compiled there
 * (`churnfeat compile`). Returns the copy's folder and its registry.
 */
export function registryWithWindow(from: string, into: string, featureName: string, window: string): { projectDir: string; registry: FeatureRegistry } {
  const projectDir = join(into, 'dbt_project');
  cpSync(from, projectDir, { recursive: true, filter: (src) => !/[/\\](target|logs|dbt_packages)$/.test(src) });
  const file = join(projectDir, 'models', 'marts', '_marts__models.yml');
  const text = readFileSync(file, 'utf8');
  const block = text.indexOf(`- name: ${featureName}\n`);
  const at = /window: [0-9]+[smhd]/.exec(text.slice(block));
  if (block < 0 || at === null) throw new Error(`${file} declares no window for ${featureName}`);
  const start = block + at.index;
  writeFileSync(file, `${text.slice(0, start)}window: ${window}${text.slice(start + at[0].length)}`);
  writeRegistryArtifact(projectDir);
  return { projectDir, registry: loadFeatureRegistry(projectDir) };
}

/** A second registry version: a copy of the fixture project under `dir` with errors_last_10m counting over 15 minutes, compiled. */
export function compileFixtureV2(dir: string): FeatureRegistry {
  return registryWithWindow(FIXTURE_REGISTRY_DIR, dir, 'errors_last_10m', '15m').registry;
}
