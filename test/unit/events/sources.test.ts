import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, INVALID_REASONS, isInvalidReason, isKnownEventType, isSource, SOURCE_SCHEMAS, SOURCES } from '../../../sidecar/src/events/index.ts';
import { VALID_ATTRIBUTES } from '../../helpers/events.ts';

describe('sources and event types', () => {
  it('lists the three source topics', () => {
    expect(SOURCES).toEqual(['client', 'billing', 'support']);
    expect(isSource('billing')).toBe(true);
    expect(isSource('payments')).toBe(false);
    expect(isSource(undefined)).toBe(false);
  });

  it('reads each source event types from its schema in contracts/events', () => {
    expect(EVENT_TYPES).toEqual({
      client: ['playback_start', 'playback_error', 'search', 'add_to_watchlist', 'cancel_flow_view', 'plan_change_view', 'playback_heartbeat'],
      billing: ['payment_failed', 'payment_retried', 'payment_succeeded'],
      support: ['ticket_created', 'ticket_resolved', 'sentiment_score'],
    });
    for (const source of SOURCES) {
      expect(Object.isFrozen(EVENT_TYPES[source])).toBe(true);
      expect(Object.keys(VALID_ATTRIBUTES[source]).sort()).toEqual([...EVENT_TYPES[source]].sort());
    }
  });

  it('knows an event type only for its own source', () => {
    expect(isKnownEventType('client', 'playback_start')).toBe(true);
    expect(isKnownEventType('billing', 'playback_start')).toBe(false);
    expect(isKnownEventType('support', 'sentiment_score')).toBe(true);
    expect(isKnownEventType('client', '')).toBe(false);
  });

  it('keeps every source schema a draft-07 schema that references the shared envelope', () => {
    for (const source of SOURCES) {
      const schema = SOURCE_SCHEMAS[source];
      expect(schema['$schema']).toBe('http://json-schema.org/draft-07/schema#');
      expect(schema['$id']).toBe(`${source}.schema.json`);
      expect(schema['allOf']).toContainEqual({ $ref: 'envelope.schema.json' });
    }
  });

  it('closes the list of invalid reasons', () => {
    expect(INVALID_REASONS).toHaveLength(10);
    expect(new Set(INVALID_REASONS).size).toBe(INVALID_REASONS.length);
    expect(isInvalidReason('too_deep')).toBe(true);
    expect(isInvalidReason('too_late')).toBe(false);
  });
});
