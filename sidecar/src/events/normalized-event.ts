import type { Source } from './sources.ts';

/** A record that passed every `invalid` check, in the sidecar's own field names. */
export interface NormalizedEvent {
  /** The source topic the record came from. */
  source: Source;
  /** `event_id` as sent, or `null` when the producer omitted it. */
  eventId: string | null;
  /** `event_id`, or the `fp:` fingerprint when there is none (see `eventKeyOf`). */
  eventKey: string;
  userId: string;
  deviceId: string;
  eventType: string;
  /** `event_ts` exactly as sent (RFC 3339 with a zone). */
  eventTs: string;
  /** `ingest_ts` exactly as sent (RFC 3339 with a zone). */
  ingestTs: string;
  /** Event time in epoch ms: `min(event_ts, ingest_ts)`, so devices ahead are clamped. */
  eventMs: number;
  /** `ingest_ts` in epoch ms. */
  ingestMs: number;
  /** The event's attributes (a plain object free of forbidden keys). */
  attributes: Readonly<Record<string, unknown>>;
}
