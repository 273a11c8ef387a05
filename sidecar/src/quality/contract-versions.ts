import type { AnySchemaObject, ValidateFunction } from 'ajv';
import { compileEventSchema, readVersionManifest, schemaEventTypes, SOURCES, type ListedVersion, type Source } from '../events/index.ts';

/** One listed version of a source's event schema (contracts/events/versions.json). */
export type ContractVersion = ListedVersion;

export type ContractManifest = Record<Source, ContractVersion[]>;

/** Reads the versions manifest of a contracts/events folder. */
export function loadContractManifest(dir = 'contracts/events'): ContractManifest {
  return readVersionManifest(dir);
}

/**
 * Problems with the evolution of the event contracts: for each source, versions ascending
 * and unique, the last one the live file `<source>.schema.json`, every schema compiling
 * under the parser's ajv settings, and each version accepting what the previous accepted
 * unless it says `breaking` with a `migration` note: no event type dropped, and every
 * event of the corpus the previous version accepts accepted by the next. Empty = fine.
 */
export function checkContractEvolution(manifest: ContractManifest, loadSchema: (file: string) => AnySchemaObject, corpus: Readonly<Record<Source, readonly unknown[]>>): string[] {
  const problems: string[] = [];
  for (const source of SOURCES) {
    const versions = manifest[source];
    if (versions.length === 0) {
      problems.push(`${source}: no version listed`);
      continue;
    }
    const last = versions[versions.length - 1] as ContractVersion;
    if (last.schema !== `${source}.schema.json`) problems.push(`${source}: the last version (${last.version}) must be ${source}.schema.json, the file the sidecar validates with, not ${last.schema}`);
    const compiled: Array<{ v: ContractVersion; schema: AnySchemaObject; validate: ValidateFunction } | null> = versions.map((v) => {
      try {
        const schema = loadSchema(v.schema);
        return { v, schema, validate: compileEventSchema(schema) };
      } catch (error) {
        problems.push(`${source} v${v.version} (${v.schema}): does not compile: ${(error as Error).message}`);
        return null;
      }
    });
    versions.forEach((v, i) => {
      const previous = versions[i - 1];
      if (previous && v.version <= previous.version) problems.push(`${source}: version ${v.version} listed after ${previous.version} (ascending, unique)`);
      if (v.breaking && !(v.migration ?? '').trim()) problems.push(`${source} v${v.version}: breaking without a migration note`);
    });
    for (let i = 1; i < compiled.length; i += 1) {
      const before = compiled[i - 1];
      const after = compiled[i];
      if (!before || !after || after.v.breaking) continue;
      const label = `${source} v${before.v.version} -> v${after.v.version}`;
      const kept = new Set(schemaEventTypes(after.schema));
      const dropped = schemaEventTypes(before.schema).filter((t) => !kept.has(t));
      if (dropped.length > 0) problems.push(`${label}: drops event type(s) ${dropped.join(', ')} (mark the version breaking, with a migration note)`);
      const rejected = corpus[source].filter((e) => before.validate(e) && !after.validate(e));
      if (rejected.length > 0) {
        const why = after.validate(rejected[0]) ? '' : (after.validate.errors?.[0]?.message ?? '');
        problems.push(
          `${label}: rejects ${rejected.length} corpus event(s) the previous version accepted (first: ${JSON.stringify(rejected[0]).slice(0, 200)}: ${why}); mark it breaking, with a migration note`,
        );
      }
    }
  }
  return problems;
}
