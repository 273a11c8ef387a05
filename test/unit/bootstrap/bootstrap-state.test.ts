import { describe, expect, it } from 'vitest';
import { buildUserState, featureRowsOf, type FeatureRow } from '../../../sidecar/src/bootstrap/index.ts';
import { parseEvent, type Source } from '../../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { generateWorkload } from '../../../sidecar/src/loadgen/workload.ts';
import { applyCall, FeatureWriter, readState, type ModelState, type StoreRecord } from '../../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../../sidecar/src/windows/index.ts';

const HOUR = 3_600_000;
const registry = loadFeatureRegistry('dbt_project');
const operators = new WindowOperators(registry);
const { allowedLatenessMs, dedupMarginMs } = registry.policies;
const writer = new FeatureWriter(null as never, operators, { prefix: 't', allowedLatenessMs, dedupMarginMs, pruneAboveFields: 1_000_000 });
const policy = { allowedLatenessMs, dedupMarginMs, oldestTile: (id: string, clock: number) => operators.tileBounds(clock).find((b) => b.featureId === id)?.oldestTile ?? 0 };

/** The records that reach the apply function online (batch-processor.ts), with offsets per source topic. */
function storeRecords(seed: number): StoreRecord[] {
  const end = 1_760_000_000_000;
  const workload = generateWorkload({ seed, users: 12, eventsPerUser: 80, startMs: end - 30 * HOUR, endMs: end, lateShare: 0.1, veryLateShare: 0.03, duplicateShare: 0.1 });
  const offsets = new Map<Source, number>();
  const out: StoreRecord[] = [];
  for (const record of workload.sort((a, b) => a.ingestMs - b.ingestMs)) {
    const offset = offsets.get(record.source) ?? 0;
    offsets.set(record.source, offset + 1);
    const parsed = parseEvent(record.source, record.value);
    if (!parsed.ok || !operators.isRelevant(parsed.event) || parsed.event.ingestMs - parsed.event.eventMs > allowedLatenessMs) continue;
    const ops = operators.opsFor(parsed.event);
    if (ops.length > 0) out.push({ event: parsed.event, topic: `t.${record.source}`, partition: 0, offset: String(offset), ops });
  }
  return out;
}

const rowsOf = (record: StoreRecord): FeatureRow[] => featureRowsOf(registry.features, record);

/** Streams records into model states (one apply call per user and source per batch of 20), as the sidecar does. */
function stream(states: Map<string, ModelState>, records: readonly StoreRecord[]): Map<string, number> {
  const verdicts = new Map<string, number>();
  for (let at = 0; at < records.length; at += 20) {
    const batch = records.slice(at, at + 20);
    for (const { userId, source, call } of writer.applyCalls(batch)) {
      const fields = states.get(userId)?.fields ?? new Map<string, string>();
      const key = `${userId}/${source}`;
      const state = states.get(key) ?? { fields, dedup: new Map<string, Buffer>() };
      states.set(key, state);
      states.set(userId, { fields, dedup: new Map() });
      for (const v of applyCall({ fields, dedup: state.dedup }, call, registry.features)) verdicts.set(v, (verdicts.get(v) ?? 0) + 1);
    }
  }
  return verdicts;
}

describe('bootstrap state from the warehouse rows', () => {
  it.each([7, 2024, 99])('bootstrap up to the cut plus streaming from it reads the same as streaming everything (seed %i)', (seed) => {
    const records = storeRecords(seed);
    const cutAt = Math.floor(records.length * 0.6);
    const before = records.slice(0, cutAt);
    // duplicates across the seam: copies of events before the cut arrive after it
    const resent = before.slice(-40, -20).map((r, i) => ({ ...r, offset: String(1_000_000 + i) }));
    const after = [...records.slice(cutAt), ...resent];

    const reference = new Map<string, ModelState>();
    stream(reference, [...before, ...after]);

    const booted = new Map<string, ModelState>();
    const users = [...new Set(before.map((r) => r.event.userId))];
    for (const user of users) {
      const state = buildUserState(before.filter((r) => r.event.userId === user).flatMap(rowsOf), registry.features, policy);
      booted.set(user, { fields: state.fields, dedup: new Map() });
      for (const [source, buckets] of state.dedup) booted.set(`${user}/${source}`, { fields: state.fields, dedup: buckets });
    }
    // a group reset re-delivers records below the cut: each is a replay of an applied offset
    // (the seeded s: fields), not a duplicate (the seeded dedup entries) nor a new event
    const lastBeforeCut = [...new Map(before.map((r) => [`${r.event.userId}/${r.event.source}`, r])).values()];
    const redelivered = stream(booted, lastBeforeCut);
    expect(redelivered.get('replayed')).toBe(lastBeforeCut.length);
    const verdicts = stream(booted, after);
    expect(verdicts.get('duplicate') ?? 0).toBeGreaterThanOrEqual(resent.length);

    const maxIngest = Math.max(...records.map((r) => r.event.ingestMs));
    let compared = 0;
    for (const user of new Set(records.map((r) => r.event.userId))) {
      for (const asOf of [maxIngest, maxIngest + 5 * 60_000, maxIngest + 2 * HOUR, maxIngest + 20 * HOUR]) {
        const want = readState(registry.features, reference.get(user)?.fields ?? new Map(), asOf);
        const got = readState(registry.features, booted.get(user)?.fields ?? new Map(), asOf);
        expect(got.features, `${user} at ${asOf}`).toEqual(want.features);
        expect(got.sources, `${user} at ${asOf}`).toEqual(want.sources);
        compared += 1;
      }
    }
    expect(compared).toBeGreaterThan(20);
  });

  it('drops the records of a deleted user from before the deletion', () => {
    const records = storeRecords(5);
    const user = records[0]?.event.userId as string;
    const mine = records.filter((r) => r.event.userId === user);
    const state = buildUserState(mine.flatMap(rowsOf), registry.features, policy, Math.max(...mine.map((r) => r.event.eventMs)) + 1);
    expect(state.fields.size).toBe(0);
    expect(state.applied).toBe(0);
  });
});
