/**
 * The compile step: validates the feature definitions of the dbt project's YAML meta and
 * writes the registry artifact (feature_registry.json and macros/generated/churnfeat_registry.sql
 * in the dbt project) that dbt, the sidecar, serving, canary, parity and loadgen read.
 *   npx tsx sidecar/src/cli/compile-features.ts [dbt_project] [--check] [--print]
 * --check writes nothing and exits 1 when the artifact is stale; --print writes the JSON to
 * stdout instead. Exits 2 naming the file, the feature and the field when a definition is invalid.
 */
import { FeatureDefinitionError } from '../errors.ts';
import { compileRegistry, loadFeatureRegistry, renderRegistryJson, StaleRegistryError, writeRegistryArtifact } from '../features/index.ts';

const args = process.argv.slice(2);
const project = args.find((arg) => !arg.startsWith('--')) ?? 'dbt_project';
try {
  if (args.includes('--check')) {
    const registry = loadFeatureRegistry(project);
    process.stdout.write(`registry ${registry.version} of ${project} is up to date (${registry.features.length} features)\n`);
  } else if (args.includes('--print')) {
    process.stdout.write(renderRegistryJson(compileRegistry(project)));
  } else {
    const { json, macro, artifact } = writeRegistryArtifact(project);
    process.stdout.write(`${artifact.features.length} features compiled to ${json} and ${macro} (registry ${artifact.version})\n`);
  }
} catch (error) {
  if (error instanceof FeatureDefinitionError) {
    process.stderr.write(`invalid feature definition: ${error.message}\n`);
    process.exit(2);
  }
  if (error instanceof StaleRegistryError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  throw error;
}
