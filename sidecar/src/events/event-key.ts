import * as crypto from 'node:crypto';

// A string holding a quote, backslash, control character or surrogate goes through
// JSON.stringify (which escapes lone surrogates and keeps pairs); any other is quoted as is.
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be escaped
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

// One-shot crypto.hash (Node >= 20.12) avoids a Hash object per event.
const sha256Hex: (text: string) => string = typeof crypto.hash === 'function' ? (text) => crypto.hash('sha256', text, 'hex') : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * Canonical JSON of a JSON value: object keys sorted recursively by UTF-16 code unit order
 * (the default `Array.prototype.sort`), arrays kept in order, no whitespace, strings and
 * numbers exactly as `JSON.stringify` prints them (so `1.0` and `1` are the same number and
 * a lone surrogate prints as `\ud800`).
 *
 * Values JSON cannot hold follow `JSON.stringify`: `undefined`, functions and symbols are
 * dropped from objects and become `null` in arrays (and at the top level); non-finite
 * numbers become `null`; `toJSON` is honoured. The input must be acyclic.
 */
export function canonicalJson(value: unknown): string {
  return write(value) ?? 'null';
}

/** `undefined` means "no JSON representation" (the caller drops or nulls it). */
function write(value: unknown): string | undefined {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : '"' + value + '"';
    case 'number':
      // Number#toString is the same algorithm JSON.stringify uses for finite numbers.
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    case 'bigint':
      // Same failure as JSON.stringify: a bigint has no JSON form.
      throw new TypeError('canonicalJson: BigInt value cannot be serialized');
    default:
      return undefined;
  }
  const toJson = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJson === 'function') return write(toJson.call(value));
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += write(value[i]) ?? 'null';
    }
    return out + ']';
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const item = write(obj[key]);
    if (item === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += (NEEDS_ESCAPE.test(key) ? JSON.stringify(key) : '"' + key + '"') + ':' + item;
  }
  return out + '}';
}

/** The fields the event key is computed from (the raw event's own names). */
export interface EventKeyInput {
  event_id?: string | null | undefined;
  user_id: string;
  device_id: string;
  event_type: string;
  event_ts: string;
  attributes: unknown;
}

/**
 * The event key (docs/feature-semantics.md, section 1): `event_id` when present and
 * non-empty; otherwise `fp:` + hex SHA-256 of the canonical JSON of
 * `[user_id, device_id, event_type, event_ts, attributes]`. `event_ts` is taken as the
 * string sent, not the parsed instant, so the key never depends on date parsing.
 */
export function eventKeyOf(e: EventKeyInput): string {
  if (typeof e.event_id === 'string' && e.event_id.length > 0) return e.event_id;
  const canonical = canonicalJson([e.user_id, e.device_id, e.event_type, e.event_ts, e.attributes]);
  return 'fp:' + sha256Hex(canonical);
}
