/**
 * The synthetic "active user" of the benchmark: events over the last 7 days (30 for
 * support) that touch all seven features, shaped like an engaged subscriber. The figures
 * per user (memory, read cost) depend on this shape, so it is printed with the results.
 */
import type { NormalizedEvent, Source } from '../../sidecar/src/events/index.ts';
import { prng } from '../../sidecar/src/loadgen/workload.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const PROFILE_DESCRIPTION = [
  '6 playback_start over the last 7 days (distinct titles from a 20K catalog)',
  '2 viewing sessions in the last 24 h, 45 min each, one playback_heartbeat every 5 min (18 heartbeats)',
  '40% of users: 1-3 playback_error in the last hour',
  '10% of users: 1 cancel_flow_view in the last 30 min',
  '10% of users: 1 payment_failed in the last 7 days',
  '10% of users: 1 ticket_created in the last 30 days',
  "recently active users (--active-share): the second session ends 0-3 min before the load instead of 1-23 h, within the read head's reach",
];

/**
 * Whether bench user `index` is one of the recently active `share` of the population: a hash
 * of the index (not the profile's generator, so the other users' events stay as they were).
 */
export function isRecentlyActive(index: number, share: number): boolean {
  if (share <= 0) return false;
  let h = Math.imul(index ^ 0x5bd1e995, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) / 4_294_967_296 < share;
}

/** Bench user ids: "b" + zero-padded index, so any index maps to a stored user. */
export function benchUserId(index: number): string {
  return `b${String(index).padStart(8, '0')}`;
}

function event(userId: string, source: Source, eventType: string, eventMs: number, seq: number, attributes: Record<string, unknown>): NormalizedEvent {
  const ts = new Date(eventMs).toISOString();
  const ingestMs = eventMs + 500;
  return {
    source,
    eventId: `${userId}-${seq}`,
    eventKey: `${userId}-${seq}`,
    userId,
    deviceId: 'bench-device',
    eventType,
    eventTs: ts,
    ingestTs: new Date(ingestMs).toISOString(),
    eventMs,
    ingestMs,
    attributes,
  };
}

/**
 * The events of one bench user, in event-time order, relative to `nowMs`. A recently active
 * user (`active`) has the same events but its second session ends 0-3 minutes before `nowMs`,
 * so a read in the next ~15 minutes is answered by the read head (HEAD_HORIZON_MS).
 */
export function userEvents(index: number, nowMs: number, active = false): NormalizedEvent[] {
  const rand = prng(index * 2_654_435_761);
  const user = benchUserId(index);
  const out: NormalizedEvent[] = [];
  let seq = 0;
  const add = (source: Source, type: string, at: number, attributes: Record<string, unknown>): void => {
    out.push(event(user, source, type, Math.floor(at), seq++, attributes));
  };
  for (let i = 0; i < 6; i++) add('client', 'playback_start', nowMs - rand() * 7 * DAY, { content_id: `title-${Math.floor(rand() * 20_000)}` });
  for (let session = 0; session < 2; session++) {
    const idle = rand() * 22 * HOUR;
    // a session is 40 min from its first heartbeat to its last
    const start = active && session === 1 ? nowMs - 40 * MINUTE - (idle / (22 * HOUR)) * 3 * MINUTE : nowMs - 60 * MINUTE - idle;
    for (let beat = 0; beat < 9; beat++) add('client', 'playback_heartbeat', start + beat * 5 * MINUTE, { watched_seconds: 300 });
  }
  if (rand() < 0.4) {
    const errors = 1 + Math.floor(rand() * 3);
    for (let i = 0; i < errors; i++) add('client', 'playback_error', nowMs - rand() * HOUR, { error_code: 'E42' });
  }
  if (rand() < 0.1) add('client', 'cancel_flow_view', nowMs - rand() * 30 * MINUTE, {});
  if (rand() < 0.1) add('billing', 'payment_failed', nowMs - rand() * 7 * DAY, { amount: 9.99, currency: 'EUR' });
  if (rand() < 0.1) add('support', 'ticket_created', nowMs - rand() * 30 * DAY, { ticket_id: `t-${index}` });
  return out.sort((a, b) => a.eventMs - b.eventMs);
}
