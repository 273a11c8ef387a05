import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type FeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { featureInput, inWindow, tileIndex, WindowOperators } from '../../../sidecar/src/windows/index.ts';
import { event } from '../../helpers/events.ts';
import { feature, fixtureRegistry } from '../../helpers/registry.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const registry = fixtureRegistry();
const operators = new WindowOperators(registry);
const byName = (name: string) => registry.features.find((f) => f.name === name) as (typeof registry.features)[number];
const T = Date.parse('2024-03-10T12:34:56.789Z');

describe('the window ops of an event (WindowOperators.opsFor)', () => {
  it('increments the tile of each count feature the event belongs to and raises its latest event time', () => {
    const e = event({ eventType: 'playback_error', eventMs: T, attributes: { error_code: 'E1' } });
    const short = byName('errors_last_10m');
    const long = byName('errors_last_1h');
    expect(operators.opsFor(e)).toEqual([
      { kind: 'add', featureId: short.id, tile: tileIndex(T, MINUTE), amount: 1 },
      { kind: 'latest', featureId: short.id, eventMs: T },
      { kind: 'add', featureId: long.id, tile: tileIndex(T, 5 * MINUTE), amount: 1 },
      { kind: 'latest', featureId: long.id, eventMs: T },
    ]);
  });

  it('adds the fixed-point value for sums, records the newest tile of a distinct value and the newest value of a last', () => {
    const watch = byName('watch_time_last_24h');
    expect(operators.opsFor(event({ eventType: 'playback_heartbeat', eventMs: T, attributes: { watched_seconds: 42.5 } }))).toEqual([
      { kind: 'add', featureId: watch.id, tile: tileIndex(T, 15 * MINUTE), amount: 43 },
      { kind: 'latest', featureId: watch.id, eventMs: T },
    ]);
    const titles = byName('distinct_titles_last_7d');
    const lastTitle = byName('last_title_last_7d');
    expect(operators.opsFor(event({ eventType: 'playback_start', eventMs: T, eventKey: 'k-7', attributes: { content_id: 'title-7' } }))).toEqual([
      { kind: 'distinct', featureId: titles.id, value: 'title-7', tile: tileIndex(T, HOUR) },
      { kind: 'latest', featureId: titles.id, eventMs: T },
      { kind: 'last', featureId: lastTitle.id, eventMs: T, eventKey: 'k-7', value: 'title-7' },
      { kind: 'latest', featureId: lastTitle.id, eventMs: T },
    ]);
  });

  it('writes min, max and last with ops that keep the extreme and the newest (event_ms, event key)', () => {
    const custom: FeatureRegistry = {
      version: 'test',
      policies: registry.policies,
      features: [
        feature({ id: 'mn', name: 'min_watch', aggregation: 'min', eventTypes: ['playback_heartbeat'], attribute: 'watched_seconds' }),
        feature({ id: 'mx', name: 'max_watch', aggregation: 'max', eventTypes: ['playback_heartbeat'], attribute: 'watched_seconds' }),
        feature({ id: 'ls', name: 'last_session', aggregation: 'last', eventTypes: ['playback_heartbeat'], attribute: 'session_id' }),
      ],
    };
    const ops = new WindowOperators(custom).opsFor(event({ eventType: 'playback_heartbeat', eventMs: T, eventKey: 'k-1', attributes: { watched_seconds: 12, session_id: 's-9' } }));
    const tile = tileIndex(T, 5 * MINUTE);
    expect(ops).toEqual([
      { kind: 'min', featureId: 'mn', tile, value: '12' },
      { kind: 'latest', featureId: 'mn', eventMs: T },
      { kind: 'max', featureId: 'mx', tile, value: '12' },
      { kind: 'latest', featureId: 'mx', eventMs: T },
      { kind: 'last', featureId: 'ls', eventMs: T, eventKey: 'k-1', value: 's-9' },
      { kind: 'latest', featureId: 'ls', eventMs: T },
    ]);
  });

  it('skips the features whose window at ingest time no longer holds the event, and is empty for events no feature reads', () => {
    // 30 minutes late: still in the last hour, no longer in the last 10 minutes
    const late = event({ eventType: 'playback_error', eventMs: T - 30 * MINUTE, ingestMs: T });
    const hour = byName('errors_last_1h').id;
    expect(operators.opsFor(late)).toEqual([
      { kind: 'add', featureId: hour, tile: tileIndex(T - 30 * MINUTE, 5 * MINUTE), amount: 1 },
      { kind: 'latest', featureId: hour, eventMs: T - 30 * MINUTE },
    ]);
    const search = event({ eventType: 'search', eventMs: T, attributes: { query_length: 3 } });
    expect(operators.isRelevant(search)).toBe(false);
    expect(operators.opsFor(search)).toEqual([]);
    expect(
      operators
        .candidates('client', 'playback_error')
        .map((f) => f.name)
        .sort(),
    ).toEqual(['errors_last_10m', 'errors_last_1h']);
  });

  it('never skips an event that a read at or after its ingest time would count (for every feature, tile and lateness)', () => {
    const types = [...new Set(registry.features.flatMap((f) => f.eventTypes.map((t) => `${f.source}/${t}`)))];
    fc.assert(
      fc.property(
        fc.constantFrom(...types),
        fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }),
        fc.integer({ min: 0, max: 31 * 24 * HOUR }),
        fc.integer({ min: 0, max: 40 * 24 * HOUR }),
        (key, ingestMs, lateness, readDelay) => {
          const [source, eventType] = key.split('/') as ['client' | 'billing' | 'support', string];
          const e = event({ source, eventType, ingestMs, eventMs: ingestMs - lateness, attributes: { watched_seconds: 30, content_id: 't1', amount: 1, currency: 'USD', ticket_id: 'T' } });
          const asOf = ingestMs + readDelay;
          const latest = new Set(operators.opsFor(e).flatMap((op) => (op.kind === 'latest' ? [op.featureId] : [])));
          for (const f of registry.features) {
            const counted = featureInput(f, e) !== null && inWindow(e.eventMs, asOf, f.windowMs, f.granularityMs);
            if (counted) expect(latest.has(f.id)).toBe(true);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('prunes, at time t, only tiles older than any window a read at t can see, and keeps state for the longest window + a tile + the lateness + 1 h', () => {
    expect(operators.tileBounds(T)).toEqual(registry.features.map((f) => ({ featureId: f.id, oldestTile: tileIndex(T, f.granularityMs) - f.windowMs / f.granularityMs })));
    expect(operators.tileBounds(0).every((b) => b.oldestTile === 0)).toBe(true);
    expect(operators.stateTtlMs(24 * HOUR)).toBe(30 * 24 * HOUR + 24 * HOUR + 24 * HOUR + HOUR);
  });
});
