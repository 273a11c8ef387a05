import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Source } from '../../../sidecar/src/events/index.ts';
import { type CompiledFeature } from '../../../sidecar/src/features/index.ts';
import { evaluateFeature } from '../../../sidecar/src/windows/index.ts';
import { classifyMismatch, selectCopies, storeRead, type LakeEventRow } from '../../../parity/src/classify.ts';
import { fixtureRegistry } from '../../helpers/registry.ts';

const registry = fixtureRegistry();
const feature = (name: string): CompiledFeature => registry.features.find((f) => f.name === name) as CompiledFeature;
const HOUR = 3_600_000;
const T = Date.parse('2025-03-10T12:00:00Z');
const DAY = 24 * HOUR;

let offset = 0;
function row(partial: Partial<LakeEventRow> & { eventType: string; eventMs: number }): LakeEventRow {
  offset += 1;
  const source: Source = partial.source ?? (partial.eventType.startsWith('payment') ? 'billing' : partial.eventType.startsWith('ticket') ? 'support' : 'client');
  return {
    source,
    kafkaPartition: 0,
    kafkaOffset: offset,
    eventKey: `k${offset}`,
    eventId: `k${offset}`,
    userId: 'u1',
    deviceId: 'd1',
    attributes: '{}',
    eventTs: new Date(partial.eventMs).toISOString(),
    ingestTs: new Date(partial.ingestMs ?? partial.eventMs + 1_000).toISOString(),
    ingestMs: partial.eventMs + 1_000,
    ...partial,
  } as LakeEventRow;
}

const base = { asOfMs: T, allowedLatenessMs: DAY, offsetLimit: 1_000_000 };

describe('mismatch classification', () => {
  it('calls a mismatch unexplained when no policy difference reproduces the online value', async () => {
    const rows = [row({ eventType: 'payment_failed', eventMs: T - 2 * HOUR })];
    const f = feature('payment_failures_last_7d');
    const c = await classifyMismatch({
      ...base,
      appliedOffset: rows[0]!.kafkaOffset,
      feature: f,
      rows,
      offline: { value: 1, latestEventMs: T - 2 * HOUR },
      online: { value: 2, latestEventMs: T - 2 * HOUR },
    });
    expect(c.class).toBe('unexplained');
  });

  it('blames the too-late policy when the online store judged a timely event too late', async () => {
    const accepted = row({ eventType: 'payment_failed', eventMs: T - 3 * HOUR });
    const late = row({ eventType: 'payment_failed', eventMs: T - 22 * HOUR, ingestMs: T - HOUR });
    const input = {
      ...base,
      feature: feature('payment_failures_last_7d'),
      rows: [accepted, late],
      offline: { value: 2, latestEventMs: accepted.eventMs },
      online: { value: 1, latestEventMs: accepted.eventMs },
    };
    const c = await classifyMismatch({ ...input, appliedOffset: accepted.kafkaOffset });
    expect(c.class).toBe('too_late_policy');
    expect(c.explanation).toContain('allowed lateness');
    // With the sidecar's real setting given, only that setting may explain it.
    expect((await classifyMismatch({ ...input, appliedOffset: accepted.kafkaOffset, onlineAllowedLatenessMs: 20 * HOUR })).class).toBe('too_late_policy');
    expect((await classifyMismatch({ ...input, appliedOffset: accepted.kafkaOffset, onlineAllowedLatenessMs: DAY })).class).toBe('unexplained');
  });

  it('never explains an empty online state away as a lateness policy', async () => {
    const rows = [row({ eventType: 'payment_failed', eventMs: T - 3 * HOUR })];
    const c = await classifyMismatch({
      ...base,
      appliedOffset: null,
      feature: feature('payment_failures_last_7d'),
      rows,
      offline: { value: 1, latestEventMs: rows[0]!.eventMs },
      online: { value: 0, latestEventMs: null },
    });
    expect(c.class).toBe('unexplained');
  });

  it('blames the dedup horizon only when a batch in between could have expired the dedup entry', async () => {
    const first = row({ eventType: 'payment_failed', eventMs: T - 3 * HOUR, eventKey: 'same' });
    const copy = row({ eventType: 'payment_failed', eventMs: T - 3 * HOUR, ingestMs: T - HOUR, eventKey: 'same' });
    const input = {
      ...base,
      appliedOffset: copy.kafkaOffset,
      feature: feature('payment_failures_last_7d'),
      rows: [first, copy],
      offline: { value: 1, latestEventMs: first.eventMs },
      online: { value: 2, latestEventMs: first.eventMs },
    };
    expect((await classifyMismatch({ ...input, maxIngestBetween: async () => first.eventMs + DAY + 2 * HOUR })).class).toBe('dedup_horizon');
    expect((await classifyMismatch({ ...input, maxIngestBetween: async () => copy.ingestMs })).class).toBe('unexplained');
  });

  it('blames arrival after the snapshot when the online state holds events ingested after as_of', async () => {
    const early = row({ eventType: 'playback_error', eventMs: T - 20 * 60_000 });
    const arrived = row({ eventType: 'playback_error', eventMs: T - 5 * 60_000, ingestMs: T + 60_000 });
    const later = row({ eventType: 'playback_error', eventMs: T + 30_000, ingestMs: T + 31_000 });
    const f = feature('errors_last_1h');
    const input = { ...base, appliedOffset: later.kafkaOffset, feature: f, rows: [early, arrived, later], offline: { value: 1, latestEventMs: early.eventMs } };
    // The store sums as_of's own tile whole (the later error too) and its newest event
    // time is after as_of, so the read shows no latest event time.
    expect((await classifyMismatch({ ...input, online: { value: 3, latestEventMs: null } })).class).toBe('arrived_after_snapshot');
    expect((await classifyMismatch({ ...input, online: { value: 4, latestEventMs: null } })).class).toBe('unexplained');
  });

  it('reports a lake that has not landed the applied offsets as incomplete', async () => {
    const c = await classifyMismatch({
      ...base,
      appliedOffset: 40,
      offsetLimit: 40,
      lakeLandedThrough: 12,
      feature: feature('errors_last_1h'),
      rows: [],
      offline: { value: 0, latestEventMs: null },
      online: { value: 1, latestEventMs: T },
    });
    expect(c.class).toBe('lake_incomplete');
  });

  it('calls it unexplained when dbt itself disagrees with the reference semantics', async () => {
    const rows = [row({ eventType: 'payment_failed', eventMs: T - 2 * HOUR })];
    const c = await classifyMismatch({
      ...base,
      appliedOffset: rows[0]!.kafkaOffset,
      feature: feature('payment_failures_last_7d'),
      rows,
      offline: { value: 0, latestEventMs: null },
      online: { value: 1, latestEventMs: rows[0]!.eventMs },
    });
    expect(c.class).toBe('unexplained');
    expect(c.explanation).toContain('reference semantics');
  });

  it('counts only copies at or below the offset limit and drops too-late copies before dedup', () => {
    const tooLate = row({ eventType: 'payment_failed', eventMs: T - 30 * HOUR, ingestMs: T - HOUR + 1, eventKey: 'x' });
    const timely = row({ eventType: 'payment_failed', eventMs: T - 30 * HOUR, ingestMs: T - 29 * HOUR, eventKey: 'x' });
    const beyond = row({ eventType: 'payment_failed', eventMs: T - HOUR });
    const chosen = selectCopies([tooLate, timely, beyond], { maxLatenessMs: DAY, dedup: true, offsetLimit: timely.kafkaOffset, ingestCapMs: T });
    expect(chosen).toEqual([timely]);
  });
});

describe('the online store model', () => {
  const client = ['playback_start', 'playback_error', 'playback_heartbeat', 'cancel_flow_view', 'search'];
  const event = fc.record({
    type: fc.constantFrom(...client, 'payment_failed', 'ticket_created'),
    ageMs: fc.integer({ min: 0, max: 40 * DAY }),
    delayMs: fc.integer({ min: 0, max: 2 * HOUR }),
    title: fc.integer({ min: 0, max: 5 }),
    seconds: fc.integer({ min: 1, max: 60 }),
  });

  it('equals the reference semantics whenever nothing in the state is newer than as_of', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 40 }), (events) => {
        const rows = events.map((e) => {
          const eventMs = T - e.ageMs - e.delayMs;
          return row({ eventType: e.type, eventMs, ingestMs: eventMs + e.delayMs, attributes: JSON.stringify({ content_id: `t${e.title}`, watched_seconds: e.seconds }) });
        });
        for (const f of registry.features) {
          const normalized = rows.map((r) => ({
            source: r.source,
            eventId: r.eventId,
            eventKey: r.eventKey,
            userId: r.userId,
            deviceId: r.deviceId,
            eventType: r.eventType,
            eventTs: r.eventTs,
            ingestTs: r.ingestTs,
            eventMs: r.eventMs,
            ingestMs: r.ingestMs,
            attributes: JSON.parse(r.attributes) as Record<string, unknown>,
          }));
          expect(storeRead(f, normalized, T)).toEqual(evaluateFeature(f, normalized, T));
        }
      }),
      { numRuns: 200 },
    );
  });
});
