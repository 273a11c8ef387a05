import { describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../../sidecar/src/events/index.ts';
import { applyCall, dedupMember, encodeOp, explainState, partitionKey, readState, runningField, tileField, type ModelState } from '../../../sidecar/src/store/index.ts';
import { evaluateFeature, featureOps, inWindow } from '../../../sidecar/src/windows/index.ts';
import { event } from '../../helpers/events.ts';
import { fixtureRegistry } from '../../helpers/registry.ts';

const registry = fixtureRegistry();
const features = registry.features;
const H = 3_600_000;
const T0 = Date.parse('2026-03-02T00:00:00Z');

/** Applies events one call each, as the sidecar would (offsets 0.. in partition 3 of each source's topic). */
function stateOf(events: readonly NormalizedEvent[]): Record<string, string> {
  const state: ModelState = { fields: new Map(), dedup: new Map() };
  events.forEach((e, offset) => {
    const ops = features.flatMap((f) => featureOps(f, e)).map(encodeOp);
    applyCall(
      state,
      {
        stateTtlMs: 1,
        dedupTtlMs: 1,
        dedupPruneBeforeS: 0,
        pruneBounds: [],
        pruneAboveFields: 1_000_000,
        events: [
          {
            source: e.source,
            partitionKey: partitionKey(`t.${e.source}`, 3),
            offset: String(offset),
            dedupMember: dedupMember(e.eventKey),
            dedupScoreS: Math.floor(e.eventMs / 1000),
            ingestMs: e.ingestMs,
            ops,
          },
        ],
      },
      features,
    );
  });
  return Object.fromEntries(state.fields);
}

function explain(fields: Record<string, string>, asOfMs: number) {
  const served = readState(features, new Map(Object.entries(fields)), asOfMs);
  return explainState({ userId: 'u1', registryVersion: registry.version, features, fields, served, watermarks: new Map([['client:3', asOfMs - 1000]]) });
}

// a week of playback and heartbeats (one an hour), payments, sentiment: every aggregation, long windows
const events: NormalizedEvent[] = [];
for (let h = 0; h < 24 * 9; h++) {
  const at = T0 + h * H + 60_000;
  events.push(event({ eventType: 'playback_start', eventMs: at, attributes: { content_id: `title-${h % 5}` } }));
  events.push(event({ eventType: 'playback_heartbeat', eventMs: at + 1, attributes: { watched_seconds: 30.5 } }));
  if (h % 7 === 0) events.push(event({ source: 'billing', eventType: 'payment_retried', eventMs: at + 2, attributes: { amount: 12.99, currency: 'EUR' } }));
  if (h % 11 === 0) events.push(event({ source: 'support', eventType: 'sentiment_score', eventMs: at + 3, attributes: { score: (h % 9) / 10 - 0.4 } }));
  if (h % 3 === 0) events.push(event({ eventType: 'playback_error', eventMs: at + 4, attributes: { error_code: 'E1' } }));
}

describe('the explanation of a user state', () => {
  // after the last event: the store keeps a distinct value's newest tile and the newest last
  // candidate only, so reads are point-in-time from the newest applied event on (as served)
  const asOfMs = T0 + 9 * 24 * H + 30 * 60_000;
  const fields = stateOf(events);
  const answer = explain(fields, asOfMs);

  it('recomputes every served value from its tiles, equal to the read and to the executable spec', () => {
    expect(answer.consistent).toBe(true);
    for (const f of answer.features) {
      const feature = features.find((x) => x.name === f.feature)!;
      expect(f.consistent, f.discrepancy).toBe(true);
      expect(f.recomputed).toEqual(evaluateFeature(feature, events, asOfMs).value);
      expect(f.served).toEqual(f.recomputed);
    }
  });

  it('lists the window and exactly its stored tiles, in order, with their start and value', () => {
    const f = answer.features.find((x) => x.feature === 'watch_time_last_24h')!;
    expect(f.window.to_ms).toBe(asOfMs);
    expect(f.window.tile_hi - f.window.tile_lo).toBe(24 * 4);
    expect(f.window.from_ms).toBe(f.window.tile_lo * 900_000);
    expect(f.tiles.every((t) => t.index >= f.window.tile_lo && t.index <= f.window.tile_hi)).toBe(true);
    expect(f.tiles.map((t) => t.index)).toEqual([...f.tiles.map((t) => t.index)].sort((a, b) => a - b));
    // one heartbeat an hour: a tile per hour of the window, each holding one heartbeat's fixed-point seconds
    const feature = features.find((x) => x.name === f.feature)!;
    expect(f.tiles.length).toBe(events.filter((e) => e.eventType === 'playback_heartbeat' && inWindow(e.eventMs, asOfMs, feature.windowMs, feature.granularityMs)).length);
    for (const t of f.tiles) expect(t.value).toBe(Number(t.stored) / 10 ** feature.scale);
    expect(f.tiles.reduce((total, t) => total + t.value, 0)).toBeCloseTo(f.recomputed as number, 9);
    expect(f.tiles[0]!.start).toBe(new Date(f.tiles[0]!.start_ms).toISOString());
  });

  it('shows the running total path with its edge tiles when the read takes it', () => {
    const f = answer.features.find((x) => x.feature === 'payment_failures_last_7d' || x.feature === 'eur_retried_amount_last_7d')!;
    expect(f.running?.path).toBe('running');
    expect(f.running!.below.length).toBeGreaterThan(0);
    expect(f.running!.below.every((t) => t.index >= f.running!.base && t.index < f.window.tile_lo)).toBe(true);
    expect(f.running!.value_from_running).toBeCloseTo(f.recomputed as number, 9);
  });

  it('names the distinct values, the last candidate and the applied offsets with their watermark', () => {
    const distinct = answer.features.find((x) => x.feature === 'distinct_titles_last_7d')!;
    expect(distinct.distinct_values!.map((d) => d.value).sort()).toEqual(['title-0', 'title-1', 'title-2', 'title-3', 'title-4']);
    const last = answer.features.find((x) => x.feature === 'last_title_last_7d')!;
    expect(last.last_candidate).toMatchObject({ in_window: true, value: last.served });
    const client = answer.sources.find((s) => s.source === 'client')!;
    expect(client).toMatchObject({ partition: 3, watermark_ms: asOfMs - 1000, partition_key: partitionKey('t.client', 3) });
    expect(client.offset).toBe(
      events
        .map((e, i) => [e, i] as const)
        .filter(([e]) => e.source === 'client')
        .at(-1)![1],
    );
    expect(answer.version).toBe(registry.version);
  });

  it('says so when a tile disagrees with the running total or the served value', () => {
    const f = features.find((x) => x.name === 'payment_failures_last_7d' || x.name === 'eur_retried_amount_last_7d')!;
    const tampered = { ...fields };
    const inWindow = answer.features.find((x) => x.feature === f.name)!.tiles.at(-1)!;
    tampered[tileField(f.id, inWindow.index)] = String(Number(inWindow.stored) + 1);
    const served = readState(features, new Map(Object.entries(fields)), asOfMs);
    const bad = explainState({ userId: 'u1', registryVersion: registry.version, features, fields: tampered, served, watermarks: new Map() });
    const explained = bad.features.find((x) => x.feature === f.name)!;
    expect(bad.consistent).toBe(false);
    expect(explained.consistent).toBe(false);
    expect(explained.discrepancy).toMatch(/running total gives .*window's tiles/);
    expect(tampered[runningField(f.id)]).toBe(fields[runningField(f.id)]);
  });

  it('explains an absent user as empty windows that match the empty read', () => {
    const empty = explain({}, asOfMs);
    expect(empty.present).toBe(false);
    expect(empty.consistent).toBe(true);
    expect(empty.sources).toEqual([]);
  });
});
