import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { EVENT_TYPES, INVALID_REASONS, parseEvent, SOURCES, type InvalidReason, type ParseLimits, type ParseResult, type Source } from '../../../sidecar/src/events/index.ts';
import { bytesOf, validBytes, validEvent } from '../../helpers/events.ts';

// Taken before any payload is parsed; compared once every test in this file has run.
const prototypeKeysBefore = Reflect.ownKeys(Object.prototype);

/** Every result has one of the two documented shapes. */
function expectWellFormed(result: ParseResult): void {
  if (result.ok) {
    expect(SOURCES).toContain(result.event.source);
    expect(typeof result.event.eventKey).toBe('string');
    expect(result.event.eventKey.length).toBeGreaterThan(0);
    expect(Number.isFinite(result.event.eventMs)).toBe(true);
    expect(result.event.eventMs).toBeLessThanOrEqual(result.event.ingestMs);
    expect(Object.getPrototypeOf(result.event.attributes)).toBe(Object.prototype);
  } else {
    expect(INVALID_REASONS).toContain(result.reason);
    expect(typeof result.detail).toBe('string');
    expect(result.detail.length).toBeLessThanOrEqual(200);
  }
}

const anySource = fc.constantFrom(...SOURCES);
const sourceAndType = anySource.chain((source) => fc.constantFrom(...EVENT_TYPES[source]).map((eventType) => [source, eventType] as const));

describe('parseEvent under fuzzing never throws and always answers with a known shape', () => {
  it('answers any JSON text', () => {
    fc.assert(
      fc.property(anySource, fc.json(), (source, text) => {
        expectWellFormed(parseEvent(source, Buffer.from(text, 'utf8')));
      }),
      { numRuns: 1000 },
    );
  });

  it('answers any byte array', () => {
    fc.assert(
      fc.property(anySource, fc.uint8Array({ maxLength: 2048 }), (source, bytes) => {
        expectWellFormed(parseEvent(source, bytes));
      }),
      { numRuns: 1000 },
    );
  });

  it('answers any JSON value put in place of the attributes of a valid event, and keeps them as sent when accepted', () => {
    fc.assert(
      fc.property(sourceAndType, fc.jsonValue(), ([source, eventType], attributes) => {
        const bytes = bytesOf(validEvent(source, eventType, { attributes }));
        const result = parseEvent(source, bytes);
        expectWellFormed(result);
        if (result.ok) expect(result.event.attributes).toEqual(JSON.parse(bytes.toString()).attributes);
      }),
      { numRuns: 1000 },
    );
  });

  it('answers events whose every envelope field may be replaced by an arbitrary JSON value', () => {
    const maybe = <T>(valid: T) => fc.oneof({ weight: 3, arbitrary: fc.constant(valid) }, { weight: 1, arbitrary: fc.jsonValue() });
    const event = sourceAndType.chain(([source, eventType]) => {
      const v = validEvent(source, eventType);
      return fc
        .record(
          {
            event_id: maybe(v['event_id']),
            user_id: maybe(v['user_id']),
            device_id: maybe(v['device_id']),
            event_type: maybe(v['event_type']),
            event_ts: fc.oneof(
              maybe(v['event_ts']),
              fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
            ),
            ingest_ts: fc.oneof(
              maybe(v['ingest_ts']),
              fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
            ),
            attributes: maybe(v.attributes),
          },
          { requiredKeys: [] },
        )
        .map((raw) => [source, raw] as const);
    });
    fc.assert(
      fc.property(event, ([source, raw]) => {
        expectWellFormed(parseEvent(source, bytesOf(raw)));
      }),
      { numRuns: 2000 },
    );
  });

  it('answers valid events with random bytes overwritten', () => {
    const base = validBytes('client', 'playback_heartbeat');
    const edits = fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(edits, (changes) => {
        const bytes = Buffer.from(base);
        for (const [at, byte] of changes) bytes[at] = byte;
        expectWellFormed(parseEvent('client', bytes));
      }),
      { numRuns: 1000 },
    );
  });
});

type Expectation = { reason: InvalidReason | 'ok'; detail?: string | RegExp; source?: Source; limits?: ParseLimits };

const nest = (open: string, inner: string, close: string, levels: number) => open.repeat(levels) + inner + close.repeat(levels);
const event = (attributes: string, extra = '') =>
  `{"user_id":"u1","device_id":"d1","event_type":"search","event_ts":"2024-03-01T10:00:00Z","ingest_ts":"2024-03-01T10:00:01Z"${extra},"attributes":${attributes}}`;
const withBytes = (before: string, bytes: number[], after: string) => Buffer.concat([Buffer.from(before), Buffer.from(bytes), Buffer.from(after)]);

const HOSTILE: Array<[string, Buffer | Uint8Array | null | undefined, Expectation]> = [
  ['10 000 levels of nested objects', Buffer.from(nest('{"a":', '1', '}', 10_000)), { reason: 'too_deep', detail: 'nesting deeper than 8 levels at /a/a/a/a/a/a/a/a' }],
  ['10 000 levels of nested arrays inside attributes', Buffer.from(event(nest('[', '', ']', 10_000))), { reason: 'too_deep', detail: 'nesting deeper than 8 levels at /attributes/0/0/0/0/0/0/0' }],
  ['10 000 levels of nested arrays at the top', Buffer.from(nest('[', '', ']', 10_000)), { reason: 'not_an_object' }],
  ['100 000 levels of nesting under a raised size limit', Buffer.from(nest('{"a":', '1', '}', 100_000)), { reason: 'too_deep', limits: { maxBytes: 2 ** 21 } }],
  ['__proto__ at the top level', Buffer.from('{"__proto__":{"polluted":1}}'), { reason: 'forbidden_key', detail: 'forbidden key at /__proto__' }],
  [
    '__proto__ in the attributes of an otherwise valid event',
    Buffer.from(event('{"query":"q","__proto__":{"polluted":1}}')),
    { reason: 'forbidden_key', detail: 'forbidden key at /attributes/__proto__' },
  ],
  ['__proto__ inside an array', Buffer.from(event('{"query":"q","list":[1,{"__proto__":{"polluted":1}}]}')), { reason: 'forbidden_key', detail: 'forbidden key at /attributes/list/1/__proto__' }],
  ['constructor.prototype at the top level', Buffer.from('{"constructor":{"prototype":{"polluted":1}}}'), { reason: 'forbidden_key', detail: 'forbidden key at /constructor' }],
  [
    'constructor.prototype in the attributes',
    Buffer.from(event('{"query":"q","x":{"constructor":{"prototype":{"polluted":1}}}}')),
    { reason: 'forbidden_key', detail: 'forbidden key at /attributes/x/constructor' },
  ],
  ['a bare prototype key', Buffer.from(event('{"query":"q"}', ',"prototype":1')), { reason: 'forbidden_key', detail: 'forbidden key at /prototype' }],
  ['a forbidden key with JSON Pointer characters around it', Buffer.from(event('{"a/b~c":{"__proto__":1}}')), { reason: 'forbidden_key', detail: 'forbidden key at /attributes/a~1b~0c/__proto__' }],
  ['a 70 KB payload', bytesOf(validEvent('client', 'search', { attributes: { query: 'x'.repeat(70_000) } })), { reason: 'payload_too_large' }],
  ['the invalid UTF-8 bytes C3 28', withBytes(event('{"query":"'), [0xc3, 0x28], '"}'), { reason: 'invalid_utf8' }],
  ['a lone surrogate encoded as UTF-8 bytes ED A0 80', withBytes(event('{"query":"'), [0xed, 0xa0, 0x80], '"}'), { reason: 'invalid_utf8' }],
  ['an overlong encoding C0 AF', withBytes(event('{"query":"'), [0xc0, 0xaf], '"}'), { reason: 'invalid_utf8' }],
  ['a multibyte sequence cut at the end', withBytes(event('{"query":"q"}'), [0xe2, 0x82], ''), { reason: 'invalid_utf8' }],
  ['a UTF-8 byte order mark', withBytes('', [0xef, 0xbb, 0xbf], event('{"query":"q"}')), { reason: 'malformed_json' }],
  ['a raw NUL byte inside a string', withBytes(event('{"query":"'), [0x00], '"}'), { reason: 'malformed_json' }],
  ['an escaped NUL inside a string', Buffer.from(event('{"query":"a\\u0000b"}')), { reason: 'ok' }],
  // Decision: a lone surrogate written as a JSON escape is valid JSON and is kept as a string.
  ['an escaped lone surrogate', Buffer.from(event('{"query":"\\ud800"}')), { reason: 'ok' }],
  ['the NaN token', Buffer.from(event('{"query":"q","x":NaN}')), { reason: 'malformed_json' }],
  ['the Infinity token', Buffer.from(event('{"query":"q","x":Infinity}')), { reason: 'malformed_json' }],
  [
    '"NaN" as a watched_seconds string',
    Buffer.from(event('{"watched_seconds":"NaN"}').replace('search', 'playback_heartbeat')),
    { reason: 'schema_violation', detail: '/attributes/watched_seconds must be number' },
  ],
  ['"Infinity" as a free attribute', Buffer.from(event('{"query":"q","x":"Infinity"}')), { reason: 'ok' }],
  [
    '1e400 as watched_seconds',
    Buffer.from(event('{"watched_seconds":1e400}').replace('search', 'playback_heartbeat')),
    { reason: 'schema_violation', detail: '/attributes/watched_seconds must be number' },
  ],
  ['1e400 as a free attribute', Buffer.from(event('{"query":"q","position":1e400}')), { reason: 'schema_violation', detail: '/attributes/position must be a finite number' }],
  ['-1e400 in an array under an unknown top-level property', Buffer.from(event('{"query":"q"}', ',"extra":[0,-1e400]')), { reason: 'schema_violation', detail: '/extra/1 must be a finite number' }],
  ['1e-400, which underflows to 0', Buffer.from(event('{"watched_seconds":1e-400}').replace('search', 'playback_heartbeat')), { reason: 'ok' }],
  ['an empty buffer', Buffer.alloc(0), { reason: 'empty_payload' }],
  ['a null record value (a tombstone)', null, { reason: 'empty_payload' }],
  ['an undefined record value', undefined, { reason: 'empty_payload' }],
  ['whitespace only', Buffer.from(' \n\t '), { reason: 'malformed_json' }],
  ['the JSON text []', Buffer.from('[]'), { reason: 'not_an_object' }],
  ['the JSON text null', Buffer.from('null'), { reason: 'not_an_object', detail: 'top-level JSON value is null, not an object' }],
  ['a JSON number', Buffer.from('42'), { reason: 'not_an_object', detail: 'top-level JSON value is a number, not an object' }],
  ['a JSON string', Buffer.from('"{}"'), { reason: 'not_an_object' }],
  ['an empty object', Buffer.from('{}'), { reason: 'schema_violation', detail: "must have required property 'user_id'" }],
  ['a huge array of numbers', Buffer.from(event(`{"query":"q","list":[${'0,'.repeat(30_000)}0]}`)), { reason: 'ok' }],
  ['a huge array of empty objects', Buffer.from(event(`{"query":"q","list":[${'{},'.repeat(20_000)}{}]}`)), { reason: 'ok' }],
  ['a huge array just over the size limit', Buffer.from(event(`{"query":"q","list":[${'0,'.repeat(33_000)}0]}`)), { reason: 'payload_too_large' }],
  ['an object with 5 000 keys', Buffer.from(event(`{"query":"q",${Array.from({ length: 5000 }, (_, i) => `"k${i}":${i}`).join(',')}}`)), { reason: 'ok' }],
  // JSON.parse keeps the last of duplicate keys.
  [
    'a duplicated event_type whose last value is unknown',
    Buffer.from(event('{"query":"q"}', ',"event_type":"nope"')),
    { reason: 'unknown_event_type', detail: 'unknown event_type "nope" for source client' },
  ],
  ['an event_type of the wrong source', Buffer.from(event('{"query":"q"}').replace('search', 'payment_failed')), { reason: 'unknown_event_type' }],
  [
    'an event_type holding 10 000 characters',
    Buffer.from(event('{"query":"q"}').replace('search', 'z'.repeat(10_000))),
    { reason: 'unknown_event_type', detail: `unknown event_type "${'z'.repeat(100)}" for source client` },
  ],
  ['an event_type named __proto__', Buffer.from(event('{"query":"q"}').replace('search', '__proto__')), { reason: 'unknown_event_type' }],
  ['a timestamp with a leap second', Buffer.from(event('{"query":"q"}').replace('2024-03-01T10:00:00Z', '2016-12-31T23:59:60Z')), { reason: 'invalid_timestamp' }],
  ['a year-10000 timestamp', Buffer.from(event('{"query":"q"}').replace('2024-03-01T10:00:01Z', '10000-01-01T00:00:00Z')), { reason: 'invalid_timestamp' }],
];

describe('parseEvent on a hostile corpus', () => {
  for (const [what, value, expected] of HOSTILE) {
    const verb = expected.reason === 'ok' ? 'accepts' : `rejects as ${expected.reason}`;
    it(`${verb} ${what}`, () => {
      const result = parseEvent(expected.source ?? 'client', value, expected.limits);
      expectWellFormed(result);
      if (expected.reason === 'ok') {
        if (!result.ok) throw new Error(`expected ok, got ${result.reason}: ${result.detail}`);
        return;
      }
      expect(result.ok ? 'ok' : result.reason).toBe(expected.reason);
      if (!result.ok && typeof expected.detail === 'string') expect(result.detail).toBe(expected.detail);
    });
  }

  it('keeps an escaped lone surrogate as a one-unit string with a stable fingerprint', () => {
    const text = event('{"query":"\\ud800"}');
    const first = parseEvent('client', Buffer.from(text));
    const second = parseEvent('client', Buffer.from(text.replace('"query"', '"page":1,"query"')));
    if (!first.ok || !second.ok) throw new Error('expected both accepted');
    expect(first.event.attributes['query']).toBe('\ud800');
    expect(first.event.eventKey).toMatch(/^fp:/);
    // A different lone surrogate is a different key: canonical JSON escapes them, never replaces them.
    const other = parseEvent('client', Buffer.from(event('{"query":"\\udc00"}')));
    if (!other.ok) throw new Error('expected accepted');
    expect(other.event.eventKey).not.toBe(first.event.eventKey);
    expect(second.event.eventKey).not.toBe(first.event.eventKey);
  });

  it('answers a value that is not a byte buffer instead of throwing', () => {
    const result = parseEvent('client', event('{}') as unknown as Buffer);
    expect(result).toMatchObject({ ok: false, reason: 'malformed_json' });
  });

  it('produces every reason code somewhere in the corpus', () => {
    const seen = new Set(HOSTILE.map(([, , e]) => e.reason));
    for (const reason of INVALID_REASONS) expect(seen, reason).toContain(reason);
  });
});

describe('prototype safety', () => {
  const checkUntouched = () => {
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Reflect.ownKeys(Object.prototype)).toEqual(prototypeKeysBefore);
    expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  };

  it('leaves Object.prototype untouched after every hostile and fuzzed payload', checkUntouched);
  afterAll(checkUntouched);
});
