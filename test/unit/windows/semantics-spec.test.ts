import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../../sidecar/src/events/index.ts';
import { evaluateFeature, judgeRecords } from '../../../sidecar/src/windows/index.ts';
import { event } from '../../helpers/events.ts';
import { feature, fixtureRegistry } from '../../helpers/registry.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const T = Date.parse('2024-03-10T12:00:00Z');
const registry = fixtureRegistry();

const extra = [
  feature({ id: 'mn', name: 'min_watch', aggregation: 'min', eventTypes: ['playback_heartbeat'], attribute: 'watched_seconds' }),
  feature({ id: 'mx', name: 'max_watch', aggregation: 'max', eventTypes: ['playback_heartbeat'], attribute: 'watched_seconds' }),
  feature({ id: 'ls', name: 'last_session', aggregation: 'last', eventTypes: ['playback_heartbeat'], attribute: 'session_id' }),
  feature({ id: 'sm', name: 'watch_1dp', aggregation: 'sum', eventTypes: ['playback_heartbeat'], attribute: 'watched_seconds', scale: 1 }),
];
const features = [...registry.features, ...extra];

describe('the executable spec: evaluateFeature', () => {
  it('computes each aggregation over the events of the window, and empty-window values', () => {
    const hb = (ms: number, watched: number, session: string, key: string) =>
      event({ eventType: 'playback_heartbeat', eventMs: ms, eventKey: key, attributes: { watched_seconds: watched, session_id: session } });
    const events = [hb(T - 10 * MINUTE, 30, 's1', 'k1'), hb(T - 5 * MINUTE, 12.25, 's2', 'k3'), hb(T - 5 * MINUTE, 50, 's3', 'k2'), hb(T - 2 * HOUR, 99, 's0', 'k0'), hb(T + 1, 7, 's9', 'k9')];
    const at = (name: string) => evaluateFeature(features.find((f) => f.name === name) as (typeof features)[number], events, T);
    expect(at('min_watch')).toEqual({ value: 12.25, latestEventMs: T - 5 * MINUTE });
    expect(at('max_watch')).toEqual({ value: 50, latestEventMs: T - 5 * MINUTE });
    // equal event times: the larger event key wins
    expect(at('last_session')).toEqual({ value: 's2', latestEventMs: T - 5 * MINUTE });
    expect(at('watch_1dp')).toEqual({ value: 92.3, latestEventMs: T - 5 * MINUTE });
    expect(at('watch_time_last_24h')).toEqual({ value: 30 + 12 + 50 + 99, latestEventMs: T - 5 * MINUTE });
    for (const f of features) {
      const empty = evaluateFeature(f, [], T);
      expect(empty.latestEventMs).toBeNull();
      expect(empty.value).toBe(['count', 'sum', 'count_distinct'].includes(f.aggregation) ? 0 : null);
    }
  });

  it('gives the same value for any order of the same deduplicated events (every aggregation, ties in event time included)', () => {
    const eventArb = fc
      .record({
        type: fc.constantFrom('playback_error', 'playback_heartbeat', 'playback_start', 'cancel_flow_view', 'search'),
        offset: fc.oneof(fc.constantFrom(0, -MINUTE, -5 * MINUTE), fc.integer({ min: -8 * 24 * HOUR, max: HOUR })),
        key: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
        watched: fc.oneof(fc.integer({ min: 0, max: 60 }), fc.double({ min: 0, max: 60, noNaN: true })),
        title: fc.constantFrom('t1', 't2', 't3'),
        session: fc.string({ maxLength: 3 }),
      })
      .map((g): NormalizedEvent =>
        event({ eventType: g.type, eventMs: T + g.offset, eventKey: `${g.key}${g.offset}`, attributes: { watched_seconds: g.watched, content_id: g.title, session_id: g.session } }),
      );
    fc.assert(
      fc.property(
        // the evaluator's input is deduplicated: one event per event key
        fc
          .uniqueArray(eventArb, { maxLength: 40, selector: (e) => e.eventKey })
          .chain((events) => fc.tuple(fc.constant(events), fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }))),
        fc.integer({ min: -HOUR, max: 2 * HOUR }),
        ([events, shuffled], delta) => {
          for (const f of features) expect(evaluateFeature(f, shuffled, T + delta)).toEqual(evaluateFeature(f, events, T + delta));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('the executable spec: judgeRecords (the verdict order of §1)', () => {
  const raw = (fields: Record<string, unknown>) => Buffer.from(JSON.stringify({ user_id: 'u1', device_id: 'd1', attributes: { error_code: 'E1' }, ...fields }));
  const at = (ms: number) => new Date(ms).toISOString();
  const error = (id: string, eventMs: number, ingestMs: number) => ({
    source: 'client' as const,
    value: raw({ event_id: id, event_type: 'playback_error', event_ts: at(eventMs), ingest_ts: at(ingestMs) }),
  });

  it('judges invalid, irrelevant and too late before dedup, so a too-late copy never shadows a later timely one', () => {
    const { verdicts, applied } = judgeRecords(
      registry.features,
      [
        { source: 'client', value: Buffer.from('{') },
        { source: 'client', value: raw({ event_id: 's1', event_type: 'search', event_ts: at(T), ingest_ts: at(T), attributes: { query_length: 3 } }) },
        error('e1', T - 25 * HOUR, T),
        error('e1', T - 30 * MINUTE, T - 29 * MINUTE),
        error('e1', T - 30 * MINUTE, T),
        error('e2', T - 2 * HOUR, T),
      ],
      24 * HOUR,
    );
    // e2: two hours late, outside both error windows at ingest time: nothing left to count
    expect(verdicts).toEqual(['invalid', 'irrelevant', 'too_late', 'applied', 'duplicate', 'irrelevant']);
    expect(applied.map((e) => e.eventKey)).toEqual(['e1']);
  });

  it('orders last candidates with equal event times by the event key byte-wise in UTF-8, not by UTF-16 code units', () => {
    const last = feature({ id: 'ls', name: 'last_session', aggregation: 'last', eventTypes: ['playback_heartbeat'], attribute: 'session_id' });
    // U+FF5E sorts before U+1F600 in UTF-8 bytes (EF BD < F0 9F) but after it in UTF-16 (FF5E > D83D)
    const events = ['\u{ff5e}', '\u{1f600}'].map((key, i) => event({ eventType: 'playback_heartbeat', eventMs: T, eventKey: key, attributes: { session_id: `s${i}` } }));
    expect(evaluateFeature(last, events, T).value).toBe('s1');
  });
});
