/**
 * Validates the feature definitions in the dbt project and prints the compiled registry
 * (the JSON artifact the other tools read).
 *   npx tsx sidecar/src/cli/compile-features.ts [dbt_project] [--out file.json]
 * Exits 2 naming the file, the feature and the field when a definition is invalid.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { FeatureDefinitionError } from '../errors.ts';
import { loadFeatureRegistry } from '../features/index.ts';

const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
const out = outIndex >= 0 ? args[outIndex + 1] : undefined;
const project = args.find((arg, i) => !arg.startsWith('--') && i !== outIndex + 1) ?? 'dbt_project';
try {
  const registry = loadFeatureRegistry(project);
  const json = `${JSON.stringify(registry, null, 2)}\n`;
  if (out) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, json);
    process.stdout.write(`${registry.features.length} features compiled to ${out} (registry ${registry.fingerprint})\n`);
  } else {
    process.stdout.write(json);
  }
} catch (error) {
  if (error instanceof FeatureDefinitionError) {
    process.stderr.write(`invalid feature definition: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
