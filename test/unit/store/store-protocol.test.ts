import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FeatureRegistry } from '../../../sidecar/src/features/index.ts';
import {
  APPLY_ARGS,
  APPLY_EVENT_ARGS,
  decodeLast,
  decodeSourceState,
  decodeVerdicts,
  encodeApplyArgs,
  encodeLast,
  encodeOp,
  encodeSourceState,
  FIELD_PREFIX,
  fieldName,
  functionNames,
  LUA_TEMPLATE,
  OP,
  parseDistinctFeatureId,
  parseTileField,
  renderFunctionLibrary,
  renderLuaProtocol,
  STORE_PROTOCOL_VERSION,
} from '../../../sidecar/src/store/index.ts';
import { compileRegistry, SEMANTICS_VERSION } from '../../../sidecar/src/features/index.ts';
import { feature } from '../../helpers/registry.ts';

/** A fixed registry: the rendered library then depends only on the protocol and the template. */
const FIXTURE: FeatureRegistry = {
  version: 'fixture0000000000',
  policies: { allowedLatenessMs: 86_400_000, dedupMarginMs: 3_600_000, dedupHorizonMs: 90_000_000, maxTilesPerWindow: 2_000 },
  features: [
    feature({ id: 'cnt', name: 'errors_last_1h', aggregation: 'count', eventTypes: ['playback_error'] }),
    feature({ id: 'sum', name: 'watch_last_1h', aggregation: 'sum', attribute: 'watched_seconds', scale: 2 }),
    feature({ id: 'dst', name: 'titles_last_1h', aggregation: 'count_distinct', attribute: 'content_id' }),
    feature({ id: 'mn', name: 'min_watch', aggregation: 'min', attribute: 'watched_seconds' }),
    feature({ id: 'mx', name: 'max_watch', aggregation: 'max', attribute: 'watched_seconds' }),
    feature({ id: 'ls', name: 'last_title', aggregation: 'last', attribute: 'content_id' }),
  ],
};

/**
 * sha256 of the library rendered for FIXTURE, per store protocol version. A change to the Lua
 * or to the protocol module changes the hash: bump STORE_PROTOCOL_VERSION (which renames the
 * functions, so pods of the old and new protocol do not replace each other's functions in a
 * rolling deploy) and add the new version's hash here. Never edit an existing entry.
 */
const PINNED_LUA_SHA256: Readonly<Record<number, string>> = {
  1: '8805a05f7e5636cf7f19be89427826234809e1691c03f4c24d87c8cce0d6d76d',
  2: '18d8ccfdc24d22a4e8c1d00e94cf1b9afe3e108c649ab0d36dc25948fb0aa249',
  3: 'a3a24d7d56eeecc11d81dfea3208866ed3126dec782ce90ed554c8dfc2b86ade',
  4: 'a235b982e8537307f46b387fffbe9441f182cff3823d37f0225c5327c7217ecd',
  5: '3a8184c184dd486a88ae05c5c892fdeb299a4260e571ad9b9001b777c7736186',
  6: 'fcbe8fd06eb1afd8f364cac96e2dd7ce974cac30079c160e1848c895107595c5',
  7: '2c0a7f3404e86ee3e64384ecf9e86e679e5c3136525d74bc8ee343c237d35dcb',
  8: '9d51efeed4285b3f6fa03544fa6d7d8633b94ff9d64fd80224dbe3409254e813',
  9: '5aa1c812a41a8fcb2c3e4e99beef4dc174aab99848b336ee689967bd75c4de1d',
};

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('the store protocol', () => {
  it('pins the rendered Lua to STORE_PROTOCOL_VERSION, so the Lua cannot change without a new version', () => {
    const actual = sha256(renderFunctionLibrary(FIXTURE));
    const pinned = PINNED_LUA_SHA256[STORE_PROTOCOL_VERSION];
    expect(
      actual,
      `the rendered Lua changed (sha256 ${actual}) but STORE_PROTOCOL_VERSION is still ${STORE_PROTOCOL_VERSION}: ` +
        'bump STORE_PROTOCOL_VERSION in sidecar/src/store/store-protocol.ts and pin the new hash in PINNED_LUA_SHA256',
    ).toBe(pinned);
    expect(new Set(Object.values(PINNED_LUA_SHA256)).size).toBe(Object.keys(PINNED_LUA_SHA256).length);
  });

  it('names the library and both functions after the one registry version id, which hashes the store protocol version', () => {
    expect(functionNames('abc123')).toEqual({ library: 'churnfeat_abc123', apply: 'cf_apply_abc123', read: 'cf_read_abc123', fields: 'cf_fields_abc123' });
    expect(SEMANTICS_VERSION).toContain(`s${STORE_PROTOCOL_VERSION}`);
    expect(compileRegistry('dbt_project').semanticsVersion).toBe(SEMANTICS_VERSION);
    const source = renderFunctionLibrary(FIXTURE);
    const fixture = functionNames(FIXTURE.version);
    expect(source.startsWith(`#!lua name=${fixture.library}\n`)).toBe(true);
    expect(source).toContain(`local APPLY_FUNCTION = '${fixture.apply}'`);
    expect(source).toContain(`local READ_FUNCTION = '${fixture.read}'`);
    for (const f of FIXTURE.features) expect(source).toContain(`{ id = '${f.id}', name = '${f.name}', fn = '${f.aggregation}', g = ${f.granularityMs}, w = ${f.windowMs}, scale = ${f.scale} }`);
  });

  it('writes the Lua template only against rendered constants: every UPPER_CASE name it uses is rendered, every rendered constant is used, and it spells no protocol letter itself', () => {
    const rendered = renderFunctionLibrary(FIXTURE).slice(0, -LUA_TEMPLATE.length);
    const defined = new Set([...rendered.matchAll(/^local ([A-Z][A-Z0-9_]+) = /gm)].map((m) => m[1]));
    const code = LUA_TEMPLATE.replace(/--\[\[[\s\S]*?\]\]/g, '').replace(/--[^\n]*/g, '');
    const used = new Set([...code.replace(/'[^']*'/g, "''").matchAll(/\b([A-Z][A-Z0-9_]{2,})\b/g)].map((m) => m[1]));
    expect([...used].filter((name) => !defined.has(name))).toEqual([]);
    expect([...defined].filter((name) => !used.has(name as string))).toEqual([]);
    // quoted single letters would be op codes, field kinds or verdicts written by hand
    // (the one allowed is the conversion letter of a format built with `..`)
    expect(code.match(/(?<!\.\. )'[A-Za-z]'/g)).toBeNull();
    expect(code).not.toMatch(/args\[\d|keys\[\d/);
  });

  it('gives every field kind its own first character, which is how the read tells them apart', () => {
    const prefixes = Object.values(FIELD_PREFIX);
    expect(prefixes.every((p) => p.length === 1)).toBe(true);
    expect(new Set(prefixes).size).toBe(prefixes.length);
    expect(new Set(Object.values(OP)).size).toBe(Object.values(OP).length);
    expect(renderLuaProtocol()).toContain(`store protocol version ${STORE_PROTOCOL_VERSION}`);
  });

  it('encodes each window op as the (op, field, value) triple of the apply function', () => {
    expect(encodeOp({ kind: 'add', featureId: 'f1', tile: 42, amount: 1250 })).toEqual(['c', 't:f1:42', '1250']);
    expect(encodeOp({ kind: 'min', featureId: 'f1', tile: 42, value: '1.5' })).toEqual(['n', 't:f1:42', '1.5']);
    expect(encodeOp({ kind: 'max', featureId: 'f1', tile: 42, value: '-3' })).toEqual(['x', 't:f1:42', '-3']);
    expect(encodeOp({ kind: 'distinct', featureId: 'f1', tile: 7, value: 'a:b' })).toEqual(['d', 'd:f1:a:b', '7']);
    expect(encodeOp({ kind: 'last', featureId: 'f1', eventMs: 1700000000000, eventKey: 'k|1', value: 'v|2' })).toEqual(['l', 'l:f1', '1700000000000|3|k|1v|2']);
    expect(encodeOp({ kind: 'latest', featureId: 'f1', eventMs: 1700000000000 })).toEqual(['e', 'e:f1', '1700000000000']);
  });

  it('decodes what it encodes: field names, last candidates (key length in bytes) and source positions', () => {
    expect(parseTileField('t:f1:42')).toEqual({ featureId: 'f1', tile: 42 });
    expect(parseTileField('t:f1:x')).toBeNull();
    expect(parseDistinctFeatureId('d:f1:a:b')).toBe('f1');
    expect(fieldName('e:f1')).toBe('f1');
    expect(fieldName('s:billing')).toBe('billing');
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 45 }), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'grapheme' }), (ms, key, value) => {
        expect(decodeLast(encodeLast(ms, key, value))).toEqual({ eventMs: ms, eventKey: key, value });
      }),
    );
    expect(encodeLast(1, 'é', 'x')).toBe('1|2|éx');
    expect(decodeSourceState(encodeSourceState('ab12cd34:3', 17, 1700000000000))).toEqual({ partitionKey: 'ab12cd34:3', partition: 3, offset: 17, appliedIngestMs: 1700000000000 });
    expect(decodeVerdicts('adr')).toEqual(['applied', 'duplicate', 'replayed']);
    expect(() => decodeVerdicts('z')).toThrow(/unknown verdict/);
  });

  it('lays out the apply arguments in the documented order: header, then per event its fields and op triples', () => {
    const args = encodeApplyArgs({
      stateTtlMs: 100,
      dedupTtlMs: 50,
      dedupPruneBeforeS: 9,
      pruneBounds: [
        { featureId: 'f1', oldestTile: 3 },
        { featureId: 'f2', oldestTile: 0 },
      ],
      pruneAboveFields: 256,
      events: [{ source: 'client', partitionKey: 'ab:1', offset: '12', dedupMember: Buffer.from('01234567'), dedupScoreS: 1700000000, ingestMs: 1700000000123, ops: [['c', 't:f1:5', '1']] }],
    });
    expect(APPLY_ARGS).toHaveLength(7);
    expect(APPLY_EVENT_ARGS).toHaveLength(7);
    expect(args).toEqual(['100/50', 9, 'f1=3,f2=0', 256, 1, '', '', 's:client', 'ab:1', '12', Buffer.from('01234567'), 1700000000, 1700000000123, 1, 'c', 't:f1:5', '1']);
  });
});
