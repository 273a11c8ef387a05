import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, eventKeyOf, type EventKeyInput } from '../../../sidecar/src/events/index.ts';

/** A deep copy whose objects list their keys in reverse order (own keys, `__proto__` included). */
function reverseKeyOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeyOrder);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).reverse()) {
    Object.defineProperty(out, key, {
      value: reverseKeyOrder((value as Record<string, unknown>)[key]),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

const base: EventKeyInput = {
  user_id: 'u1',
  device_id: 'd1',
  event_type: 'search',
  event_ts: '2024-03-01T10:00:00Z',
  attributes: { b: [2, { d: 4, c: 3 }], a: 1 },
};

describe('canonicalJson', () => {
  it('sorts object keys recursively, keeps array order and prints no whitespace', () => {
    expect(canonicalJson({ b: 1, a: [3, { z: null, y: true }, 'x'], c: { e: {}, d: [] } })).toBe('{"a":[3,{"y":true,"z":null},"x"],"b":1,"c":{"d":[],"e":{}}}');
  });

  it('orders keys by UTF-16 code units, not by locale or numeric value', () => {
    const keys = ['b', 'a', 'B', '10', '9', 'é', '\uffff', '😀', ''];
    const value = Object.fromEntries(keys.map((k) => [k, 0]));
    // '😀' is the surrogate pair D83D DE00, which sorts below U+FFFF.
    expect(canonicalJson(value)).toBe('{"":0,"10":0,"9":0,"B":0,"a":0,"b":0,"é":0,"😀":0,"\uffff":0}');
  });

  it('prints numbers and strings exactly as JSON.stringify does', () => {
    const value = [1.0, -0, 0.1, 1e21, 1e-7, 123456789012345680000, 'quote " backslash \\ tab \t', '\ud800', '\u2028'];
    expect(canonicalJson(value)).toBe(JSON.stringify(value));
    expect(canonicalJson('\ud800')).toBe('"\\ud800"');
  });

  it('maps values JSON cannot hold the way JSON.stringify does', () => {
    expect(canonicalJson([undefined, Infinity, Number.NaN, () => 1])).toBe('[null,null,null,null]');
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson(undefined)).toBe('null');
    expect(canonicalJson({ when: new Date(0) })).toBe('{"when":"1970-01-01T00:00:00.000Z"}');
    expect(() => canonicalJson(1n)).toThrow(TypeError);
  });

  it('ignores key order and is a fixed point of parse-then-print on any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const canonical = canonicalJson(value);
        expect(canonicalJson(reverseKeyOrder(value))).toBe(canonical);
        expect(canonicalJson(JSON.parse(canonical))).toBe(canonical);
      }),
      { numRuns: 500 },
    );
  });
});

describe('eventKeyOf', () => {
  it('uses event_id when it is present and non-empty', () => {
    expect(eventKeyOf({ ...base, event_id: 'evt-1' })).toBe('evt-1');
  });

  it('fingerprints an event without event_id as fp: plus the SHA-256 of its canonical JSON', () => {
    const canonical = '["u1","d1","search","2024-03-01T10:00:00Z",{"a":1,"b":[2,{"c":3,"d":4}]}]';
    const expected = 'fp:' + createHash('sha256').update(canonical, 'utf8').digest('hex');
    expect(eventKeyOf(base)).toBe(expected);
    expect(eventKeyOf(base)).toMatch(/^fp:[0-9a-f]{64}$/);
    expect(eventKeyOf({ ...base, event_id: '' })).toBe(expected);
    expect(eventKeyOf({ ...base, event_id: null })).toBe(expected);
    expect(eventKeyOf({ ...base, event_id: undefined })).toBe(expected);
  });

  it('gives the same key when only the order of attribute keys differs', () => {
    const reordered = { ...base, attributes: { a: 1, b: [2, { c: 3, d: 4 }] } };
    expect(eventKeyOf(reordered)).toBe(eventKeyOf(base));
  });

  it('gives different keys when attributes or any fingerprinted field differ', () => {
    const keys = new Set([
      eventKeyOf(base),
      eventKeyOf({ ...base, attributes: { a: 2, b: [2, { c: 3, d: 4 }] } }),
      eventKeyOf({ ...base, attributes: { a: 1, b: [{ c: 3, d: 4 }, 2] } }),
      eventKeyOf({ ...base, attributes: { a: '1', b: [2, { c: 3, d: 4 }] } }),
      eventKeyOf({ ...base, user_id: 'u2' }),
      eventKeyOf({ ...base, device_id: 'd2' }),
      eventKeyOf({ ...base, event_type: 'add_to_watchlist' }),
      // The same instant spelled differently is a different fingerprint: event_ts is hashed as sent.
      eventKeyOf({ ...base, event_ts: '2024-03-01T10:00:00.000Z' }),
    ]);
    expect(keys.size).toBe(8);
  });

  it('does not let field boundaries blur: moving text between fields changes the key', () => {
    expect(eventKeyOf({ ...base, user_id: 'u1d', device_id: '1' })).not.toBe(eventKeyOf({ ...base, user_id: 'u1', device_id: 'd1' }));
  });
});
