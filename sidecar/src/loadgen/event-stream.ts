import type { Source } from '../events/index.ts';
import { BILLING_MIX, hex, pick, prng, SUPPORT_MIX, uuid, type WorkloadRecord } from './workload.ts';

/** How late a record arrives: the lateness class the generator drew for it. */
export type Arrival = 'on_time' | 'late' | 'very_late';

/** One record of an {@link EventStream}: a {@link WorkloadRecord} plus what the generator knows. */
export interface StreamRecord extends WorkloadRecord {
  /** Position in the stream, from 0; the same seed gives the same record at the same position. */
  seq: number;
  /** When the event really happened (before any device clock skew). Invalid payloads: the send time. */
  trueMs: number;
  arrival: Arrival;
}

/** Size of the generated events in bytes: exact, or drawn from [min, max] (mean about min + (max - min) / 3). */
export type EventSize = number | { min: number; max: number };

/** The shape of the stream. Every share is a probability per generated event. */
export interface EventStreamOptions {
  seed: number;
  /** Subscribers that send events. Default 100_000. */
  users?: number;
  /** Users that send far more than the rest (bots, shared accounts, test devices). Default 10. */
  hotUsers?: number;
  /** Share of events sent by the hot users. Default 0.02. */
  hotShare?: number;
  /** Exponent of the skew over the other users: index = floor(rand^skew * n); 1 is uniform. Default 1.6. */
  userSkew?: number;
  /** Share of events from each source. Default client 0.95, billing 0.03, support 0.02. */
  sourceShares?: Readonly<Record<Source, number>>;
  /** Delay of on-time events between the device and the ingestion edge, [min, max] ms. Default [50, 2000]. */
  onTimeDelayMs?: readonly [number, number];
  /** Share of events that arrive 5-30 minutes late (mobile offline). Default 0.025. */
  lateShare?: number;
  /** Share that arrive 1-26 hours late, some beyond the 24 h allowed lateness (TV buffering). Default 0.003. */
  veryLateShare?: number;
  /** Share of events sent a second time, a few records to a minute of records later. Default 0.01. */
  duplicateShare?: number;
  /** Records between an event and its duplicate, [min, max]. Default [10, 60_000]. */
  duplicateGapRecords?: readonly [number, number];
  /** Share of invalid payloads (dead-lettered). Default 0.002. */
  invalidShare?: number;
  /** Share of users on older TV clients that send no event_id. Default 0.1. */
  idlessShare?: number;
  /** Share of users whose device clock runs 1-10 minutes ahead. Default 0.02. */
  skewAheadShare?: number;
  /** Share of users whose device clock runs 10-120 seconds behind. Default 0.01. */
  skewBehindShare?: number;
  /** Event size in bytes. Default { min: 500, max: 2048 }. */
  size?: EventSize;
  /**
   * Share of plays (starts, heartbeats, errors) of one of the user's own few current titles;
   * the rest pick from the whole catalog (skewed to popular titles). Real viewers re-watch a
   * handful of series, which bounds the distinct-title features; 0 makes every play a catalog
   * draw (a worst case for the state of count_distinct features). Default 0.9.
   */
  ownTitleShare?: number;
}

/**
 * The event-type mix of a streaming service's clients: player heartbeats dominate. At the
 * seed's 1,728 events per daily active user this is ~50 plays started and ~40 errors a day.
 */
export const STREAM_CLIENT_MIX: ReadonlyArray<[string, number]> = [
  ['playback_heartbeat', 0.88],
  ['playback_start', 0.03],
  ['search', 0.035],
  ['add_to_watchlist', 0.01],
  ['playback_error', 0.025],
  ['cancel_flow_view', 0.005],
  ['plan_change_view', 0.015],
];

const DEFAULT_SOURCE_SHARES: Readonly<Record<Source, number>> = { client: 0.95, billing: 0.03, support: 0.02 };
const PLATFORMS = ['web', 'ios', 'android', 'tv'] as const;
const COUNTRIES = ['US', 'GB', 'DE', 'FR', 'BR', 'MX', 'IN', 'JP', 'CA', 'AU'];
const NETWORKS = ['wifi', 'ethernet', '4g', '5g'];
const CDNS = ['cf-edge-1', 'akam-eu-3', 'fastly-us-2', 'own-pop-7'];
const ERROR_CODES = ['E1001', 'E2002', 'E3003', 'DRM_401', 'NET_TIMEOUT', 'DECODER_5'];
const MINUTE = 60_000;
const HOUR = 3_600_000;

/** Invalid payloads of every reason the sidecar dead-letters; `ms` is the send time. */
const INVALID_PAYLOADS: ReadonlyArray<(rand: () => number, user: string, ms: number) => Buffer> = [
  (_r, user) => Buffer.from(`{"user_id": "${user}", "event_type": `),
  (_r, user, ms) => json({ user_id: user, device_id: 'd', event_type: 'teleport', event_ts: iso(ms), ingest_ts: iso(ms), attributes: {} }),
  () => Buffer.from([0xc3, 0x28, 0x7b, 0x7d]),
  () => Buffer.from('{"__proto__": {"polluted": true}}'),
  (_r, user) => json({ user_id: user, device_id: 'd', event_type: 'search', event_ts: 'yesterday', ingest_ts: 'today', attributes: {} }),
  (_r, user, ms) => json({ user_id: user, device_id: 'd', event_type: 'playback_heartbeat', event_ts: iso(ms), ingest_ts: iso(ms), attributes: { session_id: 's' } }),
  (_r, user, ms) => json({ user_id: user, device_id: 'd', event_type: 'search', event_ts: iso(ms), ingest_ts: iso(ms), attributes: { a: { b: { c: { d: { e: { f: { g: { h: 1 } } } } } } } } }),
  () => Buffer.from('[1,2,3]'),
  (rand, user, ms) => json({ user_id: user, device_id: 'd', event_type: 'search', event_ts: iso(ms), ingest_ts: iso(ms), attributes: { blob: hex(rand, 8).repeat(9_000) } }),
];

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Bytes of one A/B assignment `"exp_1234:treatment_b"`: the filler that brings events to their size. */
const AB_ENTRY_BYTES = '"exp_0000:treatment_b"'.length;

interface PendingDuplicate {
  dueSeq: number;
  source: Source;
  key: string;
  /** The original's JSON and its `"ingest_ts":"..."` member, replaced by the resend time. */
  text: string;
  ingestMember: string;
  trueMs: number;
  arrival: Arrival;
}

/**
 * An endless, deterministic stream of source records at a caller-given clock: call
 * `next(nowMs)` once per record, where `nowMs` is the ingest time (the server receive
 * time) of that record. The same seed gives the same sequence of users, event types,
 * attributes, delays, duplicates and invalid payloads whatever the clock; with the same
 * clock values (a virtual clock) it gives the same bytes.
 *
 * The mix, per record: a small share of invalid payloads; otherwise an event of one
 * source (client traffic dominates, heartbeats dominate the client mix) for a user drawn
 * from a skewed population with a few hot users; 2-3% of events 5-30 min late and a tail
 * 1-26 h late (beyond the 24 h allowed lateness for some); about 1% sent twice; no
 * event_id for the TV users; device clocks ahead or behind for a few users; every event
 * padded with realistic attributes to its drawn size.
 */
export class EventStream {
  private readonly rand: () => number;
  private readonly o: Required<EventStreamOptions>;
  private readonly pending: PendingDuplicate[] = [];
  private seq = 0;

  constructor(options: EventStreamOptions) {
    this.o = {
      users: 100_000,
      hotUsers: 10,
      hotShare: 0.02,
      userSkew: 1.6,
      sourceShares: DEFAULT_SOURCE_SHARES,
      onTimeDelayMs: [50, 2_000],
      lateShare: 0.025,
      veryLateShare: 0.003,
      duplicateShare: 0.01,
      duplicateGapRecords: [10, 60_000],
      invalidShare: 0.002,
      idlessShare: 0.1,
      skewAheadShare: 0.02,
      skewBehindShare: 0.01,
      size: { min: 500, max: 2_048 },
      ownTitleShare: 0.9,
      ...options,
    };
    validateOptions(this.o);
    this.rand = prng(options.seed);
  }

  /** Index (from 0) of the user a draw selects: the hot users first, then a skewed population. */
  private drawUser(): number {
    const { users, hotUsers, hotShare, userSkew } = this.o;
    const hot = Math.min(hotUsers, users);
    if (hot > 0 && this.rand() < hotShare) return Math.floor(this.rand() * hot);
    const rest = users - hot;
    return rest > 0 ? hot + Math.floor(this.rand() ** userSkew * rest) : Math.floor(this.rand() * users);
  }

  /** Whether user `index` belongs to the `share` of users with a given trait (stable per user). */
  private static hasTrait(index: number, share: number, salt: number): boolean {
    if (share <= 0) return false;
    const h = Math.imul((index + salt) ^ 0x5bd1e995, 0x9e3779b1) >>> 0;
    return h / 4294967296 < share;
  }

  /** The next record, received by the ingestion edge at `nowMs`. */
  next(nowMs: number): StreamRecord {
    const seq = this.seq++;
    const due = this.pending[0];
    if (due && due.dueSeq <= seq) {
      popHeap(this.pending);
      const copy = due.text.replace(due.ingestMember, `"ingest_ts":"${iso(nowMs)}"`);
      return { seq, source: due.source, key: due.key, value: Buffer.from(copy, 'latin1'), ingestMs: nowMs, kind: 'duplicate', trueMs: due.trueMs, arrival: due.arrival };
    }
    const rand = this.rand;
    const userIndex = this.drawUser();
    const userId = `u${String(userIndex).padStart(8, '0')}`;
    if (rand() < this.o.invalidShare) {
      const make = INVALID_PAYLOADS[Math.floor(rand() * INVALID_PAYLOADS.length)] as (typeof INVALID_PAYLOADS)[number];
      return { seq, source: 'client', key: userId, value: make(rand, userId, nowMs), ingestMs: nowMs, kind: 'invalid', trueMs: nowMs, arrival: 'on_time' };
    }
    const { client, billing } = this.o.sourceShares;
    const r = rand();
    const source: Source = r < client ? 'client' : r < client + billing ? 'billing' : 'support';
    const type = pick(rand, (source === 'client' ? STREAM_CLIENT_MIX : source === 'billing' ? BILLING_MIX : SUPPORT_MIX) as Array<[string, number]>);

    const l = rand();
    const [minDelay, maxDelay] = this.o.onTimeDelayMs;
    let arrival: Arrival = 'on_time';
    let delay: number;
    if (l < this.o.veryLateShare) {
      arrival = 'very_late';
      delay = HOUR + Math.floor(rand() * 25 * HOUR);
    } else if (l < this.o.veryLateShare + this.o.lateShare) {
      arrival = 'late';
      delay = 5 * MINUTE + Math.floor(rand() * 25 * MINUTE);
    } else {
      delay = minDelay + Math.floor(rand() * (maxDelay - minDelay));
    }
    const trueMs = nowMs - delay;
    const skew = EventStream.hasTrait(userIndex, this.o.skewAheadShare, 1)
      ? MINUTE + (userIndex % 10) * MINUTE
      : EventStream.hasTrait(userIndex, this.o.skewBehindShare, 2)
        ? -(10_000 + (userIndex % 12) * 10_000)
        : 0;
    const idless = source === 'client' && EventStream.hasTrait(userIndex, this.o.idlessShare, 3);
    const platform = idless ? 'tv' : (PLATFORMS[userIndex % 3] as string);
    // A device id that rotates now and then (app reinstall, reset): 1 draw in 50.
    const deviceSlot = rand() < 0.02 ? 1 + Math.floor(rand() * 3) : 0;
    const attributes: Record<string, unknown> = {
      ...typeAttributes(rand, type, userIndex, this.o.ownTitleShare),
      app_version: `${7 + (userIndex % 3)}.${userIndex % 10}.${Math.floor(rand() * 4)}`,
      platform,
      os_version: `${10 + (userIndex % 8)}.${userIndex % 4}`,
      country: COUNTRIES[userIndex % COUNTRIES.length] as string,
      network: NETWORKS[Math.floor(rand() * NETWORKS.length)] as string,
    };
    const event: Record<string, unknown> = {
      ...(idless ? {} : { event_id: uuid(rand) }),
      user_id: userId,
      device_id: `${platform}-${userIndex.toString(36)}-${deviceSlot}`,
      event_type: type,
      event_ts: iso(trueMs + skew),
      ingest_ts: iso(nowMs),
      schema_version: 3,
      attributes,
    };
    const value = padToSize(event, this.drawSize(), rand);
    if (rand() < this.o.duplicateShare) {
      const [minGap, maxGap] = this.o.duplicateGapRecords;
      pushHeap(this.pending, {
        dueSeq: seq + minGap + Math.floor(rand() * (maxGap - minGap + 1)),
        source,
        key: userId,
        text: value.toString('latin1'),
        ingestMember: `"ingest_ts":"${event.ingest_ts as string}"`,
        trueMs,
        arrival,
      });
    }
    return { seq, source, key: userId, value, ingestMs: nowMs, kind: 'valid', trueMs, arrival };
  }

  private drawSize(): number {
    const size = this.o.size;
    if (typeof size === 'number') return size;
    const u = this.rand();
    return Math.round(size.min + (size.max - size.min) * u * u);
  }
}

const CATALOG = 5_000;
const OWN_TITLES = 4;

/** The type-specific attributes the features and the schemas read, plus realistic context. */
function typeAttributes(rand: () => number, type: string, userIndex: number, ownTitleShare: number): Record<string, unknown> {
  // A user's own titles are a fixed function of the user: the same few series day after day.
  const title = (): string =>
    rand() < ownTitleShare ? `title-${(Math.imul(userIndex + 1, 2_654_435_761) >>> 0) % CATALOG}-${Math.floor(rand() * OWN_TITLES)}` : `title-${Math.floor(rand() ** 2 * CATALOG)}`;
  switch (type) {
    case 'playback_heartbeat':
      return {
        watched_seconds: 30 + Math.floor(rand() * 31),
        session_id: hex(rand, 16),
        content_id: title(),
        position_s: Math.floor(rand() * 7_200),
        bitrate_kbps: [1_800, 3_500, 6_000, 15_000][Math.floor(rand() * 4)] as number,
        cdn: CDNS[userIndex % CDNS.length] as string,
        dropped_frames: Math.floor(rand() * 5),
      };
    case 'playback_start':
      return { content_id: title(), session_id: hex(rand, 16), startup_ms: 300 + Math.floor(rand() * 4_000), cdn: CDNS[userIndex % CDNS.length] as string };
    case 'playback_error':
      return { error_code: ERROR_CODES[Math.floor(rand() * ERROR_CODES.length)] as string, content_id: title(), session_id: hex(rand, 16), fatal: rand() < 0.3 };
    case 'search':
      return { query_length: 1 + Math.floor(rand() * 20), results: Math.floor(rand() * 50) };
    case 'add_to_watchlist':
      return { content_id: title() };
    case 'cancel_flow_view':
      return { step: ['reasons', 'offer', 'confirm'][Math.floor(rand() * 3)] as string };
    case 'plan_change_view':
      return { from_plan: 'standard', to_plan: ['basic', 'premium'][Math.floor(rand() * 2)] as string };
    case 'payment_failed':
    case 'payment_retried':
    case 'payment_succeeded':
      return { amount: [9.99, 15.49, 22.99][Math.floor(rand() * 3)] as number, currency: 'USD', invoice_id: `in_${hex(rand, 12)}` };
    case 'ticket_created':
    case 'ticket_resolved':
      return { ticket_id: `T-${hex(rand, 8)}`, channel: ['chat', 'email', 'phone'][Math.floor(rand() * 3)] as string };
    case 'sentiment_score':
      return { ticket_id: `T-${hex(rand, 8)}`, score: Math.round((rand() * 2 - 1) * 100) / 100 };
    default:
      return {};
  }
}

/** Experiment names and build strings the filler is cut from: drawn once, so padding costs a slice. */
const AB_NAMES: readonly string[] = (() => {
  const rand = prng(0x5eed);
  // Array items, not object keys: an object keyed by experiment would give nearly every
  // event a shape of its own, which makes JSON.parse several times slower than for
  // events of a stable shape (see docs/capacity.md).
  return Array.from({ length: 4_096 }, (_, i) => `"exp_${String((i * 2_741) % 10_000).padStart(4, '0')}:${rand() < 0.5 ? 'treatment_b' : 'control_aaa'}"`);
})();
const BUILD_POOL: string = hex(prng(0xb1d), 131_072);

/**
 * Serializes `event` (whose last key must be `attributes`, an object with at least one key)
 * to exactly `target` bytes when it fits, by appending A/B-test assignments
 * (`attributes.ab`, a list) and a build string (`attributes.build`): filler with the shape of real
 * client context, so parsing costs what parsing real events costs. An event already larger
 * than `target`, or within 11 bytes of it, is returned as it is. Every string in the event
 * must be ASCII.
 */
export function padToSize(event: Record<string, unknown>, target: number, rand: () => number): Buffer {
  const bare = JSON.stringify(event);
  // Spliced in before the closing `}}` of attributes and event: `,"ab":[<entries>],"build":"<x>"`.
  const fixed = ',"ab":[],"build":""'.length;
  let room = target - bare.length - fixed;
  if (room < 0) {
    // Too little room for the A/B list: a build string alone, when even that fits.
    const buildOnly = target - bare.length - ',"build":""'.length;
    if (buildOnly < 0) return Buffer.from(bare, 'latin1');
    const at = Math.floor(rand() * (BUILD_POOL.length - buildOnly));
    return Buffer.from(`${bare.slice(0, -2)},"build":"${BUILD_POOL.slice(at, at + buildOnly)}"}}`, 'latin1');
  }
  const count = Math.max(0, Math.floor((room + 1) / (AB_ENTRY_BYTES + 1)));
  let ab = '';
  const first = Math.floor(rand() * AB_NAMES.length);
  for (let k = 0; k < count; k++) ab += (k > 0 ? ',' : '') + AB_NAMES[(first + k * 7) % AB_NAMES.length];
  room -= ab.length;
  const from = Math.floor(rand() * (BUILD_POOL.length - room));
  const text = `${bare.slice(0, -2)},"ab":[${ab}],"build":"${BUILD_POOL.slice(from, from + room)}"}}`;
  return Buffer.from(text, 'latin1');
}

function validateOptions(o: Required<EventStreamOptions>): void {
  const shares: Array<[string, number]> = [
    ['hotShare', o.hotShare],
    ['lateShare', o.lateShare],
    ['veryLateShare', o.veryLateShare],
    ['duplicateShare', o.duplicateShare],
    ['invalidShare', o.invalidShare],
    ['idlessShare', o.idlessShare],
    ['skewAheadShare', o.skewAheadShare],
    ['skewBehindShare', o.skewBehindShare],
    ['ownTitleShare', o.ownTitleShare],
  ];
  for (const [name, value] of shares) {
    if (!(value >= 0 && value <= 1)) throw new RangeError(`event stream option ${name} must be within [0, 1], got ${value}`);
  }
  if (o.lateShare + o.veryLateShare > 1) throw new RangeError('event stream options lateShare + veryLateShare must not exceed 1');
  if (!Number.isInteger(o.users) || o.users < 1) throw new RangeError(`event stream option users must be a positive integer, got ${o.users}`);
  if (!Number.isInteger(o.hotUsers) || o.hotUsers < 0) throw new RangeError(`event stream option hotUsers must be a non-negative integer, got ${o.hotUsers}`);
  const total = o.sourceShares.client + o.sourceShares.billing + o.sourceShares.support;
  if (Math.abs(total - 1) > 1e-9) throw new RangeError(`event stream option sourceShares must sum to 1, got ${total}`);
  const size = o.size;
  const [lo, hi] = typeof size === 'number' ? [size, size] : [size.min, size.max];
  if (!(lo >= 200 && hi >= lo && hi <= 65_536)) throw new RangeError(`event stream option size must be within [200, 65536] bytes with min <= max`);
  if (!(o.onTimeDelayMs[0] >= 0 && o.onTimeDelayMs[1] >= o.onTimeDelayMs[0])) throw new RangeError('event stream option onTimeDelayMs must be [min, max] with 0 <= min <= max');
  if (!(o.duplicateGapRecords[0] >= 1 && o.duplicateGapRecords[1] >= o.duplicateGapRecords[0])) throw new RangeError('event stream option duplicateGapRecords must be [min, max] with 1 <= min <= max');
}

// A binary min-heap on dueSeq (ties keep no particular order; dueSeq is unique enough for a load generator).
function pushHeap(heap: PendingDuplicate[], item: PendingDuplicate): void {
  heap.push(item);
  let i = heap.length - 1;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if ((heap[parent] as PendingDuplicate).dueSeq <= item.dueSeq) break;
    heap[i] = heap[parent] as PendingDuplicate;
    i = parent;
  }
  heap[i] = item;
}

function popHeap(heap: PendingDuplicate[]): void {
  const last = heap.pop();
  if (last === undefined || heap.length === 0) return;
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= heap.length) break;
    const right = left + 1;
    const child = right < heap.length && (heap[right] as PendingDuplicate).dueSeq < (heap[left] as PendingDuplicate).dueSeq ? right : left;
    if ((heap[child] as PendingDuplicate).dueSeq >= last.dueSeq) break;
    heap[i] = heap[child] as PendingDuplicate;
    i = child;
  }
  heap[i] = last;
}
