import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AnySchemaObject } from 'ajv';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, parseEvent, SOURCES, type Source } from '../../../sidecar/src/events/index.ts';
import { generateWorkload } from '../../../sidecar/src/loadgen/index.ts';
import { checkContractEvolution, loadContractManifest, type ContractManifest } from '../../../sidecar/src/quality/index.ts';
import { validEvent } from '../../helpers/events.ts';

const DIR = 'contracts/events';
const load = (file: string): AnySchemaObject => JSON.parse(readFileSync(join(DIR, file), 'utf8')) as AnySchemaObject;

/** Events every version of a contract should keep accepting: one fixture per event type, and a realistic workload. */
const CORPUS: Record<Source, unknown[]> = (() => {
  const out = { client: [], billing: [], support: [] } as Record<Source, unknown[]>;
  for (const source of SOURCES) for (const type of EVENT_TYPES[source]) out[source].push(validEvent(source, type));
  const workload = generateWorkload({ seed: 5, users: 200, eventsPerUser: 10, startMs: Date.parse('2026-01-05T00:00:00Z'), endMs: Date.parse('2026-01-06T00:00:00Z') });
  for (const r of workload) if (r.kind === 'valid') out[r.source].push(JSON.parse(r.value.toString()));
  return out;
})();

/** The live client schema with one change applied (a candidate next version). */
function clientWith(change: (schema: any) => void): AnySchemaObject {
  const schema = structuredClone(load('client.schema.json')) as any;
  change(schema);
  return schema;
}

function twoVersions(next: AnySchemaObject, flags: { breaking?: boolean; migration?: string } = {}): { manifest: ContractManifest; loadSchema: (file: string) => AnySchemaObject } {
  const manifest = loadContractManifest(DIR);
  manifest.client = [
    { version: 1, schema: 'versions/client.v1.schema.json' },
    { version: 2, schema: 'client.schema.json', ...flags },
  ];
  return { manifest, loadSchema: (file) => (file === 'versions/client.v1.schema.json' ? load('client.schema.json') : file === 'client.schema.json' ? next : load(file)) };
}

describe('event contract versions', () => {
  it('the listed versions evolve compatibly (what CI checks)', () => {
    expect(CORPUS.client.length).toBeGreaterThan(100);
    expect(checkContractEvolution(loadContractManifest(DIR), load, CORPUS)).toEqual([]);
  });

  it('the parser accepts every event every listed version accepts', () => {
    const manifest = loadContractManifest(DIR);
    for (const source of SOURCES) {
      for (const v of manifest[source]) {
        const problems = checkContractEvolution({ ...manifest, [source]: [v, manifest[source].at(-1)] } as ContractManifest, load, CORPUS);
        expect(
          problems.filter((p) => p.startsWith(source) && !p.includes('ascending')),
          `${source} v${v.version}`,
        ).toEqual([]);
      }
      for (const e of CORPUS[source]) expect(parseEvent(source, Buffer.from(JSON.stringify(e))).ok).toBe(true);
    }
  });

  it('flags a version that drops an event type or requires a new attribute, unless it is marked breaking with a migration note', () => {
    const dropsError = clientWith((s) => {
      s.allOf[1].properties.event_type.enum = s.allOf[1].properties.event_type.enum.filter((t: string) => t !== 'playback_error');
    });
    const requiresTitle = clientWith((s) => {
      s.allOf[2].then.properties.attributes.required = ['content_id', 'title_language'];
      s.allOf[2].then.properties.attributes.properties.title_language = { type: 'string' };
    });
    const adds = clientWith((s) => {
      s.allOf[1].properties.event_type.enum.push('download_start');
    });
    const check = (next: AnySchemaObject, flags?: { breaking?: boolean; migration?: string }) => {
      const { manifest, loadSchema } = twoVersions(next, flags);
      return checkContractEvolution(manifest, loadSchema, CORPUS);
    };
    expect(check(dropsError)).toEqual([expect.stringContaining('client v1 -> v2: drops event type(s) playback_error'), expect.stringMatching(/^client v1 -> v2: rejects \d+ corpus event\(s\)/)]);
    expect(check(requiresTitle)).toEqual([expect.stringMatching(/^client v1 -> v2: rejects \d+ corpus event\(s\) the previous version accepted/)]);
    expect(check(adds)).toEqual([]);
    expect(check(requiresTitle, { breaking: true, migration: 'clients send title_language from 9.0; older builds are dead-lettered' })).toEqual([]);
    expect(check(requiresTitle, { breaking: true })).toEqual(['client v2: breaking without a migration note']);
  });

  it('insists that the last version is the live file and that versions ascend', () => {
    const manifest = loadContractManifest(DIR);
    manifest.billing = [
      { version: 2, schema: 'billing.schema.json' },
      { version: 1, schema: 'support.schema.json' },
    ];
    expect(checkContractEvolution(manifest, load, CORPUS)).toEqual(
      expect.arrayContaining([expect.stringContaining('billing: the last version (1) must be billing.schema.json'), expect.stringContaining('billing: version 1 listed after 2')]),
    );
  });
});
