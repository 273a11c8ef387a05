import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, eventKeyOf, parseEvent, SOURCES, type EventKeyInput, type ParseResult } from '../../../sidecar/src/events/index.ts';
import { bytesOf, EVENT_TS, INGEST_TS, validBytes, validEvent } from '../../helpers/events.ts';

const EVENT_MS = Date.parse(EVENT_TS);
const INGEST_MS = Date.parse(INGEST_TS);

function expectInvalid(result: ParseResult, reason: string, detail?: string | RegExp): void {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.reason).toBe(reason);
  if (typeof detail === 'string') expect(result.detail).toBe(detail);
  else if (detail !== undefined) expect(result.detail).toMatch(detail);
}

function expectOk(result: ParseResult) {
  if (!result.ok) throw new Error(`expected ok, got ${result.reason}: ${result.detail}`);
  return result.event;
}

describe('parseEvent accepts valid events', () => {
  for (const source of SOURCES) {
    for (const eventType of EVENT_TYPES[source]) {
      it(`normalizes a valid ${source} ${eventType} event`, () => {
        const raw = validEvent(source, eventType);
        const event = expectOk(parseEvent(source, bytesOf(raw)));
        expect(event).toEqual({
          source,
          eventId: `evt-${source}-${eventType}`,
          eventKey: `evt-${source}-${eventType}`,
          userId: 'user_123',
          deviceId: 'device-abc',
          eventType,
          eventTs: EVENT_TS,
          ingestTs: INGEST_TS,
          eventMs: EVENT_MS,
          ingestMs: INGEST_MS,
          attributes: raw.attributes,
        });
      });
    }
  }

  it('accepts a plain Uint8Array as well as a Buffer', () => {
    const bytes = new Uint8Array(validBytes('client', 'search'));
    expect(parseEvent('client', bytes).ok).toBe(true);
  });

  it('clamps an event time later than the ingest time to the ingest time', () => {
    const raw = validEvent('client', 'search', { event_ts: '2024-03-01T10:05:00Z' });
    const event = expectOk(parseEvent('client', bytesOf(raw)));
    expect(event.eventMs).toBe(INGEST_MS);
    expect(event.ingestMs).toBe(INGEST_MS);
    // The string is kept as sent; only the instant is clamped.
    expect(event.eventTs).toBe('2024-03-01T10:05:00Z');
  });

  it('keeps an event time earlier than the ingest time', () => {
    const raw = validEvent('client', 'search', { event_ts: '2024-02-28T23:00:00Z' });
    expect(expectOk(parseEvent('client', bytesOf(raw))).eventMs).toBe(Date.parse('2024-02-28T23:00:00Z'));
  });

  it('reads zone offsets and truncates digits past the millisecond', () => {
    const raw = validEvent('client', 'search', {
      event_ts: '2024-03-01T11:59:59.987654+02:00',
      ingest_ts: '2024-03-01t10:00:00z',
    });
    const event = expectOk(parseEvent('client', bytesOf(raw)));
    expect(event.eventMs).toBe(Date.parse('2024-03-01T09:59:59.987Z'));
    expect(event.ingestMs).toBe(Date.parse('2024-03-01T10:00:00Z'));
  });

  it('fingerprints an event from an older TV client that has no event_id', () => {
    const raw = validEvent('client', 'playback_heartbeat');
    delete raw['event_id'];
    const event = expectOk(parseEvent('client', bytesOf(raw)));
    expect(event.eventId).toBeNull();
    expect(event.eventKey).toMatch(/^fp:[0-9a-f]{64}$/);
    expect(event.eventKey).toBe(eventKeyOf(raw as unknown as EventKeyInput));
  });

  it('gives the same fingerprint to the same id-less event sent with its attributes in another order', () => {
    const first = bytesOf({ user_id: 'u', device_id: 'd', event_type: 'search', event_ts: EVENT_TS, ingest_ts: INGEST_TS, attributes: { query: 'q', page: 1 } });
    // A redelivery through another edge: different ingest_ts, attribute order swapped.
    const second = bytesOf({ attributes: { page: 1, query: 'q' }, ingest_ts: '2024-03-01T10:00:09Z', event_ts: EVENT_TS, event_type: 'search', device_id: 'd', user_id: 'u' });
    expect(expectOk(parseEvent('client', first)).eventKey).toBe(expectOk(parseEvent('client', second)).eventKey);
  });

  it('allows unknown top-level properties and unknown extra attributes', () => {
    const raw = validEvent('billing', 'payment_failed', { schema_version: 3, trace: { id: 'x' } });
    raw.attributes['processor'] = 'acme';
    const event = expectOk(parseEvent('billing', bytesOf(raw)));
    expect(event.attributes).toEqual({ amount: 12.99, currency: 'EUR', decline_code: 'insufficient_funds', processor: 'acme' });
  });

  it('accepts an integer error_code as well as a string one', () => {
    expect(parseEvent('client', validBytes('client', 'playback_error', { attributes: { error_code: 401 } })).ok).toBe(true);
  });

  it('accepts the boundary values of watched_seconds, amount and score', () => {
    for (const watched_seconds of [0, 3600, 0.5]) {
      expect(parseEvent('client', validBytes('client', 'playback_heartbeat', { attributes: { watched_seconds } })).ok).toBe(true);
    }
    expect(parseEvent('billing', validBytes('billing', 'payment_failed', { attributes: { amount: 0, currency: 'JPY' } })).ok).toBe(true);
    for (const score of [-1, 0, 1]) {
      expect(parseEvent('support', validBytes('support', 'sentiment_score', { attributes: { ticket_id: 'T', score } })).ok).toBe(true);
    }
  });

  it('accepts nesting of exactly maxDepth levels', () => {
    // Levels: the event (1) > attributes (2) > the value of a (3) > ... > the value of f (8).
    const nested = { a: { b: { c: { d: { e: { f: {} } } } } } };
    const raw = validEvent('client', 'search', { attributes: { query: 'q', ...nested } });
    expect(parseEvent('client', bytesOf(raw)).ok).toBe(true);
  });
});

describe('parseEvent rejects each kind of invalid record with its reason code', () => {
  it('reports an empty buffer, a null value and an undefined value as empty_payload', () => {
    expectInvalid(parseEvent('client', Buffer.alloc(0)), 'empty_payload');
    expectInvalid(parseEvent('client', null), 'empty_payload');
    expectInvalid(parseEvent('client', undefined), 'empty_payload');
  });

  it('reports a payload over 64 KiB as payload_too_large before decoding it', () => {
    // Not even valid UTF-8: size is judged on the raw bytes first.
    const bytes = Buffer.alloc(65_537, 0xff);
    expectInvalid(parseEvent('client', bytes), 'payload_too_large', '65537 bytes exceeds the limit of 65536');
    expectInvalid(parseEvent('client', validBytes('client', 'search'), { maxBytes: 100 }), 'payload_too_large');
  });

  it('reports bytes that are not UTF-8 as invalid_utf8', () => {
    const text = JSON.stringify(validEvent('client', 'search', { attributes: { query: 'XX' } }));
    const bytes = Buffer.from(text, 'utf8');
    const at = bytes.indexOf('XX');
    bytes[at] = 0xc3;
    bytes[at + 1] = 0x28;
    expectInvalid(parseEvent('client', bytes), 'invalid_utf8');
  });

  it('reports text that is not JSON as malformed_json', () => {
    expectInvalid(parseEvent('client', Buffer.from('{"user_id": }')), 'malformed_json');
  });

  it('reports a JSON array at the top level as not_an_object', () => {
    expectInvalid(parseEvent('client', Buffer.from('[]')), 'not_an_object', 'top-level JSON value is an array, not an object');
  });

  it('reports nesting deeper than maxDepth as too_deep and names where', () => {
    // One level more than the accepted case above: g's value is level 9.
    const nested = { a: { b: { c: { d: { e: { f: { g: {} } } } } } } };
    const raw = validEvent('client', 'search', { attributes: { query: 'q', ...nested } });
    expectInvalid(parseEvent('client', bytesOf(raw)), 'too_deep', 'nesting deeper than 8 levels at /attributes/a/b/c/d/e/f/g');
    expectInvalid(parseEvent('client', validBytes('client', 'search'), { maxDepth: 1 }), 'too_deep', 'nesting deeper than 1 levels at /attributes');
  });

  it('reports a key named constructor inside attributes as forbidden_key', () => {
    const text = JSON.stringify(validEvent('client', 'search')).replace('"query"', '"constructor"');
    expectInvalid(parseEvent('client', Buffer.from(text)), 'forbidden_key', 'forbidden key at /attributes/constructor');
  });

  it('reports an event type the source does not have as unknown_event_type', () => {
    expectInvalid(parseEvent('client', validBytes('client', 'search', { event_type: 'payment_failed' })), 'unknown_event_type', 'unknown event_type "payment_failed" for source client');
    const long = 'x'.repeat(500);
    const result = parseEvent('support', validBytes('support', 'ticket_created', { event_type: long }));
    expectInvalid(result, 'unknown_event_type', `unknown event_type "${'x'.repeat(100)}" for source support`);
  });

  it('reports a watched_seconds above 3600 as schema_violation with ajv first error', () => {
    expectInvalid(parseEvent('client', validBytes('client', 'playback_heartbeat', { attributes: { watched_seconds: 3601 } })), 'schema_violation', '/attributes/watched_seconds must be <= 3600');
  });

  it('reports an event_ts without a zone as invalid_timestamp', () => {
    expectInvalid(parseEvent('client', validBytes('client', 'search', { event_ts: '2024-03-01T10:00:00' })), 'invalid_timestamp', '/event_ts must match format "date-time"');
  });
});

describe('parseEvent schema rules', () => {
  const cases: Array<[string, Buffer, string]> = [
    ['a missing user_id', bytesOf({ ...validEvent('client', 'search'), user_id: undefined }), "must have required property 'user_id'"],
    ['a user_id with braces (it goes inside Redis hash tags)', validBytes('client', 'search', { user_id: 'u{1}' }), '/user_id must match pattern "^[A-Za-z0-9_.-]{1,64}$"'],
    ['a user_id of 65 characters', validBytes('client', 'search', { user_id: 'u'.repeat(65) }), '/user_id must match pattern "^[A-Za-z0-9_.-]{1,64}$"'],
    ['a user_id ending in a newline', validBytes('client', 'search', { user_id: 'u1\n' }), '/user_id must match pattern "^[A-Za-z0-9_.-]{1,64}$"'],
    ['an empty device_id', validBytes('client', 'search', { device_id: '' }), '/device_id must NOT have fewer than 1 characters'],
    ['an empty event_id', validBytes('client', 'search', { event_id: '' }), '/event_id must NOT have fewer than 1 characters'],
    ['an event_id of 129 characters', validBytes('client', 'search', { event_id: 'e'.repeat(129) }), '/event_id must NOT have more than 128 characters'],
    ['a null event_id', validBytes('client', 'search', { event_id: null }), '/event_id must be string'],
    ['a numeric event_type', validBytes('client', 'search', { event_type: 7 }), '/event_type must be string'],
    ['attributes given as an array', validBytes('client', 'search', { attributes: [] }), '/attributes must be object'],
    ['a missing attributes object', bytesOf({ ...validEvent('client', 'search'), attributes: undefined }), "must have required property 'attributes'"],
    ['playback_start without content_id', validBytes('client', 'playback_start', { attributes: {} }), "/attributes must have required property 'content_id'"],
    ['a numeric content_id', validBytes('client', 'playback_start', { attributes: { content_id: 42 } }), '/attributes/content_id must be string'],
    ['a fractional error_code', validBytes('client', 'playback_error', { attributes: { error_code: 1.5 } }), '/attributes/error_code must be string,integer'],
    ['a negative watched_seconds', validBytes('client', 'playback_heartbeat', { attributes: { watched_seconds: -1 } }), '/attributes/watched_seconds must be >= 0'],
    ['a watched_seconds sent as a string', validBytes('client', 'playback_heartbeat', { attributes: { watched_seconds: '30' } }), '/attributes/watched_seconds must be number'],
    ['a negative amount', validBytes('billing', 'payment_succeeded', { attributes: { amount: -0.01, currency: 'EUR' } }), '/attributes/amount must be >= 0'],
    ['a lower-case currency', validBytes('billing', 'payment_retried', { attributes: { amount: 1, currency: 'eur' } }), '/attributes/currency must match pattern "^[A-Z]{3}$"'],
    ['a payment without currency', validBytes('billing', 'payment_failed', { attributes: { amount: 1 } }), "/attributes must have required property 'currency'"],
    ['a ticket event without ticket_id', validBytes('support', 'ticket_resolved', { attributes: {} }), "/attributes must have required property 'ticket_id'"],
    ['a sentiment score above 1', validBytes('support', 'sentiment_score', { attributes: { ticket_id: 'T', score: 1.01 } }), '/attributes/score must be <= 1'],
    ['a sentiment_score without score', validBytes('support', 'sentiment_score', { attributes: { ticket_id: 'T' } }), "/attributes must have required property 'score'"],
  ];
  const sourceOf = (bytes: Buffer) => JSON.parse(bytes.toString()).event_type as string;
  for (const [what, bytes, detail] of cases) {
    it(`rejects ${what} as schema_violation`, () => {
      const eventType = sourceOf(bytes);
      const source = SOURCES.find((s) => EVENT_TYPES[s].includes(eventType)) ?? 'client';
      expectInvalid(parseEvent(source, bytes), 'schema_violation', detail);
    });
  }
});

describe('parseEvent timestamp rules', () => {
  const bad: Array<[string, string, string]> = [
    ['a date-time without a zone', '2024-03-01T10:00:00', 'must match format'],
    ['a date only', '2024-03-01', 'must match format'],
    ['epoch milliseconds as a string', '1709287200000', 'must match format'],
    ['an offset without minutes', '2024-03-01T10:00:00+05', 'is not an RFC 3339 date-time'],
    ['an offset without a colon', '2024-03-01T10:00:00+0530', 'is not an RFC 3339 date-time'],
    ['a space between date and time', '2024-03-01 10:00:00Z', 'must match format'],
    ['February 30th', '2024-02-30T10:00:00Z', 'is not an RFC 3339 date-time'],
    ['February 29th of a common year', '2023-02-29T10:00:00Z', 'is not an RFC 3339 date-time'],
    ['hour 24', '2024-03-01T24:00:00Z', 'is not an RFC 3339 date-time'],
    ['a leap second', '2016-12-31T23:59:60Z', 'is not an RFC 3339 date-time'],
  ];
  for (const [what, value, detail] of bad) {
    it(`rejects ${what} as invalid_timestamp`, () => {
      expectInvalid(parseEvent('client', validBytes('client', 'search', { event_ts: value })), 'invalid_timestamp', new RegExp(`^/event_ts ${detail}`));
      expectInvalid(parseEvent('client', validBytes('client', 'search', { ingest_ts: value })), 'invalid_timestamp', new RegExp(`^/ingest_ts ${detail}`));
    });
  }

  it('reports a timestamp that is not a string as schema_violation', () => {
    expectInvalid(parseEvent('client', validBytes('client', 'search', { event_ts: 1709287200000 })), 'schema_violation', '/event_ts must be string');
  });
});
