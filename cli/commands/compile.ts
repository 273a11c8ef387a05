/**
 * `churnfeat compile`: validates the feature definitions of the dbt project's YAML meta and
 * writes the one registry artifact (feature_registry.json and
 * macros/generated/churnfeat_registry.sql in the dbt project) that dbt, the sidecar, serving,
 * canary, parity and loadgen read.
 */
import { FeatureDefinitionError } from '../../sidecar/src/errors.ts';
import { compileRegistry, loadFeatureRegistry, renderRegistryJson, StaleRegistryError, writeRegistryArtifact } from '../../sidecar/src/features/index.ts';
import { UsageError } from '../../sidecar/src/config/index.ts';
import { EXIT, type Command } from '../command.ts';

const USAGE = `usage: churnfeat compile [DBT_PROJECT] [--check | --print]

Validates the feature definitions in the dbt project's YAML meta (default: dbt_project) and
writes the registry artifact. --check writes nothing and exits 1 when the artifact is stale;
--print writes the JSON to stdout instead. Exits 2 naming the file, the feature and the field
when a definition is invalid.
`;

export const command: Command = {
  usage: () => USAGE,
  async run(argv) {
    const unknown = argv.filter((arg) => arg.startsWith('-') && arg !== '--check' && arg !== '--print');
    const projects = argv.filter((arg) => !arg.startsWith('-'));
    if (unknown.length > 0) throw new UsageError(`unknown option ${unknown[0]}`);
    if (projects.length > 1) throw new UsageError(`one dbt project at most, got ${projects.join(' ')}`);
    if (argv.includes('--check') && argv.includes('--print')) throw new UsageError('--check and --print exclude each other');
    const project = projects[0] ?? 'dbt_project';
    try {
      if (argv.includes('--check')) {
        const registry = loadFeatureRegistry(project);
        process.stdout.write(`registry ${registry.version} of ${project} is up to date (${registry.features.length} features)\n`);
      } else if (argv.includes('--print')) {
        process.stdout.write(renderRegistryJson(compileRegistry(project)));
      } else {
        const { json, macro, artifact } = writeRegistryArtifact(project);
        process.stdout.write(`${artifact.features.length} features compiled to ${json} and ${macro} (registry ${artifact.version})\n`);
      }
      return EXIT.ok;
    } catch (error) {
      if (error instanceof FeatureDefinitionError) {
        process.stderr.write(`invalid feature definition: ${error.message}\n`);
        return EXIT.usage;
      }
      if (error instanceof StaleRegistryError) {
        process.stderr.write(`${error.message}\n`);
        return EXIT.failed;
      }
      throw error;
    }
  },
};
