/**
 * Every listed version of each source's event schema (contracts/events/versions.json), each
 * compiled once into its own ajv validator (versions share `$id`s, so one Ajv instance per
 * version). The parser validates an event against the newest version first and, when that
 * rejects it, against the older listed versions, newest to oldest: after a breaking version,
 * events of an older listed version still validate against their own schema. The first
 * version that accepts it wins. Events carry no version field (the envelope has none), so the
 * versions are tried in order rather than chosen (docs/data-quality.md, "Schema versions").
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type AnySchemaObject, type ValidateFunction } from 'ajv';
import addFormatsPlugin, { type FormatsPlugin } from 'ajv-formats';
import { ENVELOPE_SCHEMA } from './schemas.ts';
import { SOURCES, type Source } from './source-names.ts';

/** One listed version of a source's event schema, as versions.json lists it. */
export interface ListedVersion {
  version: number;
  /** File in the contracts folder, relative to it. */
  schema: string;
  /** This version rejects events the previous one accepted; needs `migration`. */
  breaking?: boolean;
  /** What producers and consumers must do across a breaking version. */
  migration?: string;
  note?: string;
}

/** One compiled version: its number, validator and event types. */
export interface CompiledVersion {
  version: number;
  validate: ValidateFunction;
  eventTypes: ReadonlySet<string>;
}

/** The compiled versions of every source, newest first (the order the parser tries them in). */
export type EventContracts = Readonly<Record<Source, readonly CompiledVersion[]>>;

/** The repository's contracts/events folder (copied beside the compiled modules by the build). */
export const DEFAULT_CONTRACTS_DIR = fileURLToPath(new URL('../../../contracts/events/', import.meta.url));

// ajv-formats is CommonJS with `exports.default`; Node's ESM loader hands back
// `module.exports` (the plugin itself), while its typings describe the namespace.
const addFormats = ((addFormatsPlugin as unknown as { default?: unknown }).default ?? addFormatsPlugin) as FormatsPlugin;

/** Compiles one event schema with the parser's settings, in an Ajv instance of its own. */
export function compileEventSchema(schema: AnySchemaObject): ValidateFunction {
  const ajv = new Ajv({
    allErrors: false,
    strict: true,
    // error_code is `["string", "integer"]`.
    allowUnionTypes: true,
    coerceTypes: false,
    useDefaults: false,
    removeAdditional: false,
  });
  // 'fast' (one regex) rather than 'full': parseRfc3339Ms checks the calendar afterwards,
  // and full mode costs about a microsecond per event.
  addFormats(ajv, { mode: 'fast', formats: ['date-time'], keywords: false });
  ajv.addSchema(ENVELOPE_SCHEMA);
  return ajv.compile(schema);
}

/** The `event_type` enum values a source schema declares (in its `allOf` branches). */
export function schemaEventTypes(schema: AnySchemaObject): string[] {
  const branches = (schema['allOf'] ?? []) as Array<{ properties?: { event_type?: { enum?: unknown } } }>;
  return branches.flatMap((b) => (Array.isArray(b.properties?.event_type?.enum) ? (b.properties.event_type.enum as unknown[]).filter((t): t is string => typeof t === 'string') : []));
}

/** Compiles every listed version (`manifest`, oldest first as versions.json lists them); `loadSchema` reads a file of the folder. */
export function compileEventContracts(manifest: Readonly<Record<Source, readonly ListedVersion[]>>, loadSchema: (file: string) => AnySchemaObject): EventContracts {
  const out = {} as Record<Source, CompiledVersion[]>;
  for (const source of SOURCES) {
    const listed = manifest[source] ?? [];
    if (listed.length === 0) throw new Error(`contracts: no version of the ${source} schema is listed in versions.json`);
    out[source] = [...listed].reverse().map((v) => {
      const schema = loadSchema(v.schema);
      return { version: v.version, validate: compileEventSchema(schema), eventTypes: new Set(schemaEventTypes(schema)) };
    });
  }
  return out;
}

/** Reads versions.json of a contracts folder. */
export function readVersionManifest(dir: string = DEFAULT_CONTRACTS_DIR): Record<Source, ListedVersion[]> {
  const raw = JSON.parse(readFileSync(`${dir.replace(/\/?$/, '/')}versions.json`, 'utf8')) as Record<string, unknown>;
  const out = {} as Record<Source, ListedVersion[]>;
  for (const source of SOURCES) out[source] = (raw[source] ?? []) as ListedVersion[];
  return out;
}

/** The compiled contracts of a folder (default: the repository's). A broken contract throws: start-up fails. */
export function loadEventContracts(dir: string = DEFAULT_CONTRACTS_DIR): EventContracts {
  const folder = dir.replace(/\/?$/, '/');
  return compileEventContracts(readVersionManifest(folder), (file) => JSON.parse(readFileSync(`${folder}${file}`, 'utf8')) as AnySchemaObject);
}
