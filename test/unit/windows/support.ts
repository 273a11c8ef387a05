import type { NormalizedEvent, Source } from '../../../sidecar/src/events/index.ts';
import type { CompiledFeature } from '../../../sidecar/src/features/index.ts';

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

/** A compiled feature built by hand, for aggregations the project does not use yet. */
export function feature(partial: Partial<CompiledFeature> & { name: string; aggregation: CompiledFeature['aggregation'] }): CompiledFeature {
  return {
    id: partial.id ?? partial.name.slice(0, 6),
    source: 'client' as Source,
    eventTypes: ['playback_start'],
    where: [],
    attribute: null,
    scale: 0,
    windowMs: 3_600_000,
    granularityMs: 300_000,
    freshnessSloMs: 120_000,
    owner: null,
    version: 1,
    file: 'models/test.yml',
    model: 'test',
    ...partial,
  };
}
