/** Event fixtures: raw events as producers send them, and normalized events as the windows see them. */
import type { NormalizedEvent, Source } from '../../sidecar/src/events/index.ts';

/** A raw event as a producer sends it (before JSON encoding). */
export type RawEventFixture = Record<string, unknown> & { attributes: Record<string, unknown> };

/** Attributes that satisfy each event type's required attributes. */
export const VALID_ATTRIBUTES: Readonly<Record<Source, Readonly<Record<string, Record<string, unknown>>>>> = {
  client: {
    playback_start: { content_id: 'title-42', position_seconds: 0 },
    playback_error: { error_code: 'E_DRM_401', content_id: 'title-42' },
    search: { query: 'nature documentaries' },
    add_to_watchlist: { content_id: 'title-7' },
    cancel_flow_view: { step: 2 },
    plan_change_view: {},
    playback_heartbeat: { watched_seconds: 30, session_id: 's-1' },
  },
  billing: {
    payment_failed: { amount: 12.99, currency: 'EUR', decline_code: 'insufficient_funds' },
    payment_retried: { amount: 12.99, currency: 'EUR', attempt: 2 },
    payment_succeeded: { amount: 0, currency: 'USD' },
  },
  support: {
    ticket_created: { ticket_id: 'T-100', channel: 'chat' },
    ticket_resolved: { ticket_id: 'T-100' },
    sentiment_score: { ticket_id: 'T-100', score: -0.75 },
  },
};

/** Default event and ingest times of {@link validEvent}: the device is one second behind. */
export const EVENT_TS = '2024-03-01T10:00:00.000Z';
export const INGEST_TS = '2024-03-01T10:00:01.000Z';

/** A valid event of `source`/`eventType` with `overrides` merged over the top level. */
export function validEvent(source: Source, eventType: string, overrides: Record<string, unknown> = {}): RawEventFixture {
  const attributes = VALID_ATTRIBUTES[source][eventType];
  if (attributes === undefined) throw new Error(`no fixture for ${source}/${eventType}`);
  return {
    event_id: `evt-${source}-${eventType}`,
    user_id: 'user_123',
    device_id: 'device-abc',
    event_type: eventType,
    event_ts: EVENT_TS,
    ingest_ts: INGEST_TS,
    attributes: structuredClone(attributes),
    ...overrides,
  };
}

/** The UTF-8 bytes of a value's JSON text, as a Kafka record value. */
export function bytesOf(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** `validEvent` encoded as a Kafka record value. */
export function validBytes(source: Source, eventType: string, overrides: Record<string, unknown> = {}): Buffer {
  return bytesOf(validEvent(source, eventType, overrides));
}

let next = 0;

/** A normalized event with sensible defaults; `eventMs` defaults to `ingestMs`. */
export function event(partial: Partial<NormalizedEvent> & { eventType: string }): NormalizedEvent {
  next += 1;
  const ingestMs = partial.ingestMs ?? partial.eventMs ?? 1_700_000_000_000;
  const eventMs = partial.eventMs ?? ingestMs;
  return {
    source: partial.source ?? 'client',
    eventId: partial.eventId ?? `e${next}`,
    eventKey: partial.eventKey ?? partial.eventId ?? `e${next}`,
    userId: partial.userId ?? 'u1',
    deviceId: partial.deviceId ?? 'd1',
    eventType: partial.eventType,
    eventTs: new Date(eventMs).toISOString(),
    ingestTs: new Date(ingestMs).toISOString(),
    eventMs,
    ingestMs,
    attributes: partial.attributes ?? {},
  };
}
