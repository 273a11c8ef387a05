import type { ErrorObject } from 'ajv';
import { loadEventContracts, type CompiledVersion, type EventContracts } from './contract-set.ts';
import { eventKeyOf } from './event-key.ts';
import type { NormalizedEvent } from './normalized-event.ts';
import type { InvalidReason } from './reason-codes.ts';
import type { Source } from './sources.ts';
import { parseRfc3339Ms } from './timestamp.ts';

/** Bounds on a payload checked before any schema work. */
export interface ParseLimits {
  /** Largest accepted payload in bytes, measured before decoding. Default 65536 (64 KiB). */
  maxBytes?: number;
  /** Deepest accepted nesting of objects and arrays; the top-level object is level 1. Default 8. */
  maxDepth?: number;
  /** The listed schema versions to validate with (contract-set.ts). Default: the repository's contracts/events. */
  contracts?: EventContracts;
}

/** The limits of docs/feature-semantics.md, section 1. */
export const DEFAULT_PARSE_LIMITS = { maxBytes: 65_536, maxDepth: 8 } as const satisfies Required<Omit<ParseLimits, 'contracts'>>;

/** The verdict of `parseEvent`: a normalized event, or why the record is invalid. */
export type ParseResult =
  | {
      ok: true;
      event: NormalizedEvent;
      /** Set when an older listed version accepted the event (the newest did not): which one. */
      olderSchemaVersion?: number;
    }
  | { ok: false; reason: InvalidReason; detail: string };

/** The raw event once the source schema accepted it. */
interface RawEvent {
  event_id?: string;
  user_id: string;
  device_id: string;
  event_type: string;
  event_ts: string;
  ingest_ts: string;
  attributes: Record<string, unknown>;
}

/** Every listed version of the repository's contracts, compiled once at module load (a broken contract fails start-up). */
const DEFAULT_CONTRACTS: EventContracts = loadEventContracts();

const MAX_DETAIL = 200;
// ignoreBOM keeps a leading U+FEFF in the text, so JSON.parse rejects it: producers must not
// send one (RFC 8259, section 8.1), and readers differ on skipping it.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Judge one Kafka record value from `source`: either a {@link NormalizedEvent} or the
 * {@link InvalidReason} it is dead-lettered with. Checks, in order (first failure wins):
 * empty, size (raw bytes), UTF-8, JSON syntax, top-level object, nesting depth and forbidden
 * keys (`__proto__`, `constructor`, `prototype` at any depth), known `event_type`, the
 * source schema, then the timestamps. Never throws and never mutates shared prototypes.
 */
export function parseEvent(source: Source, value: Buffer | Uint8Array | null | undefined, limits?: ParseLimits): ParseResult {
  try {
    return parseOrThrow(source, value, limits);
  } catch (err) {
    // Unreachable by design (each step in parseOrThrow guards its own failure); kept so a
    // bug here dead-letters one record instead of stopping the consumer.
    return invalid('schema_violation', `unexpected error while validating: ${messageOf(err)}`);
  }
}

function parseOrThrow(source: Source, value: Buffer | Uint8Array | null | undefined, limits: ParseLimits | undefined): ParseResult {
  if (value === null || value === undefined) return invalid('empty_payload', 'record value is null');
  if (!ArrayBuffer.isView(value)) {
    return invalid('malformed_json', `record value is not a byte buffer (got ${typeof value})`);
  }
  const size = value.byteLength;
  if (size === 0) return invalid('empty_payload', 'record value is empty');
  const maxBytes = limits?.maxBytes ?? DEFAULT_PARSE_LIMITS.maxBytes;
  if (size > maxBytes) return invalid('payload_too_large', `${size} bytes exceeds the limit of ${maxBytes}`);

  let text: string;
  try {
    text = decoder.decode(value);
  } catch {
    return invalid('invalid_utf8', 'record value is not valid UTF-8');
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return invalid('malformed_json', messageOf(err));
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    const kind = parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : `a ${typeof parsed}`;
    return invalid('not_an_object', `top-level JSON value is ${kind}, not an object`);
  }

  const maxDepth = limits?.maxDepth ?? DEFAULT_PARSE_LIMITS.maxDepth;
  walkFailPath.length = 0;
  walkSawNonFinite = false;
  const walked = walk(parsed, 1, maxDepth);
  if (walked === TOO_DEEP) {
    return invalid('too_deep', `nesting deeper than ${maxDepth} levels at ${pointer(walkFailPath.reverse())}`);
  }
  if (walked === FORBIDDEN) return invalid('forbidden_key', `forbidden key at ${pointer(walkFailPath.reverse())}`);

  const obj = parsed as Record<string, unknown>;
  const versions = (limits?.contracts ?? DEFAULT_CONTRACTS)[source];
  const newest = versions[0] as CompiledVersion;
  const eventType = obj['event_type'];
  if (typeof eventType === 'string' && !newest.eventTypes.has(eventType) && !versions.some((v) => v.eventTypes.has(eventType))) {
    return invalid('unknown_event_type', `unknown event_type ${JSON.stringify(eventType.slice(0, 100))} for source ${source}`);
  }

  // The newest version first, on its own: the hot path is one validator call, no allocation.
  let olderVersion: number | undefined;
  if (!newest.validate(obj)) {
    const older = olderAccepting(versions, obj);
    if (typeof older === 'number') olderVersion = older;
    else return rejectedEvent(older);
  }
  if (walkSawNonFinite) {
    // JSON.parse turns 1e400 into Infinity; it would poison a sum and print as null.
    return invalid('schema_violation', `${pointer(findNonFinite(obj, []) ?? [])} must be a finite number`);
  }

  const raw = obj as unknown as RawEvent;
  const eventMs = parseRfc3339Ms(raw.event_ts);
  if (Number.isNaN(eventMs)) return badTimestamp('event_ts', raw.event_ts);
  const ingestMs = parseRfc3339Ms(raw.ingest_ts);
  if (Number.isNaN(ingestMs)) return badTimestamp('ingest_ts', raw.ingest_ts);

  const result: Extract<ParseResult, { ok: true }> = {
    ok: true,
    event: {
      source,
      eventId: raw.event_id ?? null,
      eventKey: eventKeyOf(raw),
      userId: raw.user_id,
      deviceId: raw.device_id,
      eventType: raw.event_type,
      eventTs: raw.event_ts,
      ingestTs: raw.ingest_ts,
      eventMs: eventMs < ingestMs ? eventMs : ingestMs,
      ingestMs,
      attributes: raw.attributes,
    },
  };
  if (olderVersion !== undefined) result.olderSchemaVersion = olderVersion;
  return result;
}

const OK = 0;
const TOO_DEEP = 1;
const FORBIDDEN = 2;
// The walk reports through module state, not allocations: parseEvent is synchronous and
// this is the hot path. The failing path is collected only while unwinding from a failure.
const walkFailPath: string[] = [];
let walkSawNonFinite = false;

/**
 * One pass over the parsed value that stops at `maxDepth`: rejects nesting deeper than
 * `maxDepth` and the forbidden keys, and notes non-finite numbers for later. Recursion is
 * bounded by `maxDepth`, so hostile nesting cannot exhaust the stack.
 */
function walk(node: object, depth: number, maxDepth: number): number {
  if (depth > maxDepth) return TOO_DEEP;
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const child: unknown = node[i];
      if (typeof child === 'object') {
        if (child !== null) {
          const r = walk(child, depth + 1, maxDepth);
          if (r !== OK) {
            walkFailPath.push(String(i));
            return r;
          }
        }
      } else if (typeof child === 'number' && !Number.isFinite(child)) {
        walkSawNonFinite = true;
      }
    }
    return OK;
  }
  // for-in rather than Object.keys: three times faster here, and JSON.parse objects have
  // no enumerable inherited keys (an own "__proto__" key is enumerated like any other).
  for (const key in node) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') {
      walkFailPath.push(key);
      return FORBIDDEN;
    }
    const child: unknown = (node as Record<string, unknown>)[key];
    if (typeof child === 'object') {
      if (child !== null) {
        const r = walk(child, depth + 1, maxDepth);
        if (r !== OK) {
          walkFailPath.push(key);
          return r;
        }
      }
    } else if (typeof child === 'number' && !Number.isFinite(child)) {
      walkSawNonFinite = true;
    }
  }
  return OK;
}

/** Path (outermost first) to the first non-finite number; only called when the walk saw one. */
function findNonFinite(node: unknown, path: string[]): string[] | undefined {
  if (typeof node === 'number') return Number.isFinite(node) ? undefined : path;
  if (typeof node !== 'object' || node === null) return undefined;
  for (const key of Object.keys(node)) {
    const found = findNonFinite((node as Record<string, unknown>)[key], [...path, key]);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** JSON Pointer (RFC 6901) of a path given outermost key first; the root prints as `/`. */
function pointer(path: readonly string[]): string {
  if (path.length === 0) return '/';
  let out = '';
  for (const key of path) out += '/' + key.replace(/~/g, '~0').replace(/\//g, '~1');
  return clip(out);
}

function badTimestamp(field: string, value: string): ParseResult {
  return invalid('invalid_timestamp', `/${field} is not an RFC 3339 date-time: ${JSON.stringify(value.slice(0, 100))}`);
}

/**
 * After the newest version rejected `obj`: the first older listed version (newest to oldest)
 * that accepts it, or every version's first error, newest first, when none does.
 */
function olderAccepting(versions: readonly CompiledVersion[], obj: object): number | Array<{ version: number; error: ErrorObject | undefined }> {
  const rejected: Array<{ version: number; error: ErrorObject | undefined }> = [];
  for (const v of versions) {
    if (rejected.length > 0 && v.validate(obj)) return v.version;
    rejected.push({ version: v.version, error: v.validate.errors?.[0] });
  }
  return rejected;
}

/** The verdict of an event no listed version accepts. */
function rejectedEvent(rejected: ReadonlyArray<{ version: number; error: ErrorObject | undefined }>): ParseResult {
  const first = rejected[0]?.error;
  // A timestamp that is not an RFC 3339 date-time with a zone is the `timestamps` step of
  // docs/feature-semantics.md even when the schema's format check is what caught it.
  const onTimestamp = first !== undefined && first.keyword === 'format' && (first.instancePath === '/event_ts' || first.instancePath === '/ingest_ts');
  return invalid(onTimestamp ? 'invalid_timestamp' : 'schema_violation', describeRejection(rejected));
}

/** The detail of an event no version accepts: the one error, or which versions were tried and why each said no. */
function describeRejection(rejected: ReadonlyArray<{ version: number; error: ErrorObject | undefined }>): string {
  const why = (error: ErrorObject | undefined): string => (error === undefined ? 'does not match the schema' : describeAjvError(error));
  if (rejected.length === 1) return why(rejected[0]?.error);
  return `matches no listed version (tried ${rejected.map((r) => `v${r.version}`).join(', ')}): ${rejected.map((r) => `v${r.version}: ${why(r.error)}`).join('; ')}`;
}

/** ajv's error as `instancePath message`; an error on the whole event is the message alone. */
function describeAjvError(error: ErrorObject): string {
  const message = error.message ?? `fails ${error.keyword}`;
  return clip(error.instancePath === '' ? message : `${error.instancePath} ${message}`);
}

function invalid(reason: InvalidReason, detail: string): ParseResult {
  return { ok: false, reason, detail: clip(detail) };
}

function clip(text: string): string {
  return text.length <= MAX_DETAIL ? text : text.slice(0, MAX_DETAIL - 1) + '…';
}

function messageOf(err: unknown): string {
  try {
    return err instanceof Error ? err.message : String(err);
  } catch {
    return 'unprintable error';
  }
}
