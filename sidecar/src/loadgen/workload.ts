import type { Source } from '../events/index.ts';

/** A small, fast, seedable PRNG (mulberry32): the same seed gives the same workload. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One record to produce: the topic's source, the key (user_id) and the exact bytes. */
export interface WorkloadRecord {
  source: Source;
  key: string;
  value: Buffer;
  /** Server receive time (the event's ingest_ts), or the send time for invalid payloads. */
  ingestMs: number;
  kind: 'valid' | 'duplicate' | 'invalid';
}

export interface WorkloadOptions {
  seed: number;
  users: number;
  /** Events per user on average over the whole span. */
  eventsPerUser: number;
  startMs: number;
  endMs: number;
  /** Share of events that arrive 5-30 minutes late. Default 0.025. */
  lateShare?: number;
  /** Share that arrive 1-26 hours late (some beyond the 24 h allowed lateness). Default 0.003. */
  veryLateShare?: number;
  /** Share of events sent twice. Default 0.01. */
  duplicateShare?: number;
  /** Share of invalid payloads. Default 0.005. */
  invalidShare?: number;
  /** Share of users on TV devices without event_id. Default 0.1. */
  idlessShare?: number;
  /** Share of devices whose clock runs 1-10 minutes ahead. Default 0.02. */
  skewedShare?: number;
  /** Pad events to about this many bytes with an app_build attribute. Default 0 (no padding). */
  padToBytes?: number;
  /** Extra attributes on every event (tests add fixture fields). */
  extraAttributes?: (rand: () => number, eventType: string) => Record<string, unknown>;
}

const CLIENT_MIX: Array<[string, number]> = [
  ['playback_heartbeat', 0.62],
  ['playback_start', 0.12],
  ['search', 0.08],
  ['add_to_watchlist', 0.04],
  ['playback_error', 0.08],
  ['cancel_flow_view', 0.03],
  ['plan_change_view', 0.03],
];
/** The billing and support event-type mix of both generators (this one and event-stream.ts). */
export const BILLING_MIX: Array<[string, number]> = [
  ['payment_succeeded', 0.6],
  ['payment_failed', 0.25],
  ['payment_retried', 0.15],
];
export const SUPPORT_MIX: Array<[string, number]> = [
  ['ticket_created', 0.45],
  ['ticket_resolved', 0.35],
  ['sentiment_score', 0.2],
];

/** Draws one name from a weighted mix (weights sum to 1). */
export function pick(rand: () => number, mix: Array<[string, number]>): string {
  let r = rand();
  for (const [name, weight] of mix) {
    r -= weight;
    if (r <= 0) return name;
  }
  return (mix[mix.length - 1] as [string, number])[0];
}

/** `length` lowercase hex digits. */
export function hex(rand: () => number, length: number): string {
  let out = '';
  while (out.length < length)
    out += Math.floor(rand() * 0x100000000)
      .toString(16)
      .padStart(8, '0');
  return out.slice(0, length);
}

/** A version-4-shaped UUID drawn from `rand`. */
export function uuid(rand: () => number): string {
  const h = hex(rand, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function attributesFor(rand: () => number, type: string): Record<string, unknown> {
  switch (type) {
    case 'playback_start':
      return { content_id: `title-${Math.floor(rand() * 400)}`, app_version: '7.1.0' };
    case 'playback_error':
      return { error_code: ['E1001', 'E2002', 'E3003', 'DRM_401'][Math.floor(rand() * 4)] as string, content_id: `title-${Math.floor(rand() * 400)}` };
    case 'playback_heartbeat':
      return { watched_seconds: 30 + Math.floor(rand() * 31), session_id: hex(rand, 12) };
    case 'search':
      return { query_length: 1 + Math.floor(rand() * 20) };
    case 'add_to_watchlist':
      return { content_id: `title-${Math.floor(rand() * 400)}` };
    case 'payment_failed':
    case 'payment_retried':
    case 'payment_succeeded':
      return { amount: [9.99, 15.49, 22.99][Math.floor(rand() * 3)] as number, currency: 'USD' };
    case 'ticket_created':
    case 'ticket_resolved':
      return { ticket_id: `T-${hex(rand, 8)}` };
    case 'sentiment_score':
      return { ticket_id: `T-${hex(rand, 8)}`, score: Math.round((rand() * 2 - 1) * 100) / 100 };
    default:
      return {};
  }
}

const INVALID_PAYLOADS: Array<(rand: () => number) => Buffer> = [
  () => Buffer.from('{"user_id": "u1", "event_type": '),
  () => Buffer.from(JSON.stringify({ user_id: 'u-bad', device_id: 'd', event_type: 'teleport', event_ts: new Date(0).toISOString(), ingest_ts: new Date(0).toISOString(), attributes: {} })),
  () => Buffer.from([0xc3, 0x28, 0x7b, 0x7d]),
  () => Buffer.from('{"__proto__": {"polluted": true}}'),
  () => Buffer.from(JSON.stringify({ user_id: 'u-bad', device_id: 'd', event_type: 'search', event_ts: 'yesterday', ingest_ts: 'today', attributes: {} })),
];

/**
 * A deterministic workload: events of every type for `users` users between startMs and
 * endMs, with late, very late, duplicated, id-less, clock-skewed and invalid records,
 * returned in ingest order (the order producers send them).
 */
export function generateWorkload(options: WorkloadOptions): WorkloadRecord[] {
  const rand = prng(options.seed);
  const lateShare = options.lateShare ?? 0.025;
  const veryLateShare = options.veryLateShare ?? 0.003;
  const duplicateShare = options.duplicateShare ?? 0.01;
  const invalidShare = options.invalidShare ?? 0.005;
  const idlessShare = options.idlessShare ?? 0.1;
  const skewedShare = options.skewedShare ?? 0.02;
  const total = options.users * options.eventsPerUser;
  const span = options.endMs - options.startMs;
  const out: WorkloadRecord[] = [];
  for (let n = 0; n < total; n++) {
    const userIndex = Math.floor(rand() ** 1.6 * options.users);
    const userId = `u${String(userIndex).padStart(7, '0')}`;
    if (rand() < invalidShare) {
      const make = INVALID_PAYLOADS[Math.floor(rand() * INVALID_PAYLOADS.length)] as (r: () => number) => Buffer;
      out.push({ source: 'client', key: userId, value: make(rand), ingestMs: options.startMs + Math.floor(rand() * span), kind: 'invalid' });
      continue;
    }
    const r = rand();
    const source: Source = r < 0.9 ? 'client' : r < 0.96 ? 'billing' : 'support';
    const type = pick(rand, source === 'client' ? CLIENT_MIX : source === 'billing' ? BILLING_MIX : SUPPORT_MIX);
    const trueMs = options.startMs + Math.floor(rand() * span);
    const l = rand();
    const delay = l < veryLateShare ? 3_600_000 + Math.floor(rand() * 25 * 3_600_000) : l < veryLateShare + lateShare ? 300_000 + Math.floor(rand() * 1_500_000) : 100 + Math.floor(rand() * 2_000);
    const ingestMs = trueMs + delay;
    const skewed = userIndex % Math.max(1, Math.round(1 / skewedShare)) === 7;
    const deviceMs = skewed ? trueMs + 60_000 + (userIndex % 10) * 60_000 : trueMs;
    const idless = source === 'client' && userIndex % Math.max(1, Math.round(1 / idlessShare)) === 3;
    const attributes = { ...attributesFor(rand, type), ...(options.extraAttributes?.(rand, type) ?? {}) };
    const event: Record<string, unknown> = {
      ...(idless ? {} : { event_id: uuid(rand) }),
      user_id: userId,
      device_id: `${idless ? 'tv' : 'dev'}-${userIndex}-${userIndex % 3}`,
      event_type: type,
      event_ts: new Date(deviceMs).toISOString(),
      ingest_ts: new Date(ingestMs).toISOString(),
      attributes,
    };
    if (options.padToBytes) {
      const size = Buffer.byteLength(JSON.stringify(event));
      if (size < options.padToBytes) attributes.app_build = 'x'.repeat(options.padToBytes - size - 14);
    }
    out.push({ source, key: userId, value: Buffer.from(JSON.stringify(event)), ingestMs, kind: 'valid' });
    if (rand() < duplicateShare) {
      const resendMs = ingestMs + 1_000 + Math.floor(rand() * 120_000);
      const copy = { ...event, ingest_ts: new Date(resendMs).toISOString() };
      out.push({ source, key: userId, value: Buffer.from(JSON.stringify(copy)), ingestMs: resendMs, kind: 'duplicate' });
    }
  }
  return out.sort((a, b) => a.ingestMs - b.ingestMs);
}
