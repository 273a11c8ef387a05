import { describe, expect, it } from 'vitest';
import { buildUserState, featureRowsOf, WorkloadTopics, type FeatureRow } from '../../../sidecar/src/bootstrap/index.ts';
import { parseEvent } from '../../../sidecar/src/events/index.ts';
import { generateWorkload } from '../../../sidecar/src/loadgen/workload.ts';
import { applyCall, DEDUP_ENTRY_BYTES, decodeHead, readState, type ModelState, type StoreRecord } from '../../../sidecar/src/store/index.ts';
import { bootstrapSetting } from '../../helpers/bootstrap.ts';

const HOUR = 3_600_000;
const { registry, operators, allowedLatenessMs, writer, policy } = bootstrapSetting();

/** The records that reach the apply function online (batch-processor.ts), with offsets per source topic. */
function storeRecords(seed: number, skewedShare?: number): StoreRecord[] {
  const end = 1_760_000_000_000;
  const workload = generateWorkload({
    seed,
    users: 16,
    eventsPerUser: 80,
    startMs: end - 30 * HOUR,
    endMs: end,
    lateShare: 0.1,
    veryLateShare: 0.03,
    duplicateShare: 0.1,
    ...(skewedShare === undefined ? {} : { skewedShare }),
  });
  return [...new WorkloadTopics(operators, { topicOf: (source) => `t.${source}`, allowedLatenessMs }).records(workload)];
}

const rowsOf = (record: StoreRecord): FeatureRow[] => featureRowsOf(registry.features, record);

/** Streams records into model states (one apply call per user and source per batch of `batch`), as the sidecar does. */
function stream(states: Map<string, ModelState>, records: readonly StoreRecord[], batchSize = 20): Map<string, number> {
  const verdicts = new Map<string, number>();
  for (let at = 0; at < records.length; at += batchSize) {
    const batch = records.slice(at, at + batchSize);
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
    let heads = 0;
    for (const user of users) {
      const state = buildUserState(before.filter((r) => r.event.userId === user).flatMap(rowsOf), registry.features, policy);
      // the read head the loader writes answers every instant of its range as the hash does
      if (state.head !== null) {
        const { fromMs, untilMs, fields } = decodeHead(state.head);
        for (const asOf of [fromMs, Math.min(untilMs, fromMs + 5 * 60_000), Math.min(untilMs, fromMs + 14 * 60_000)]) {
          expect(readState(registry.features, fields, asOf, true), `${user} head at ${asOf}`).toEqual(readState(registry.features, state.fields, asOf));
        }
        heads += 1;
      }
      booted.set(user, { fields: state.fields, dedup: new Map() });
      for (const [source, buckets] of state.dedup) booted.set(`${user}/${source}`, { fields: state.fields, dedup: buckets });
    }
    // a group reset re-delivers records below the cut: each is a replay of an applied offset
    // (the seeded s: fields), not a duplicate (the seeded dedup entries) nor a new event
    const lastBeforeCut = [...new Map(before.map((r) => [`${r.event.userId}/${r.event.source}`, r])).values()];
    expect(heads).toBeGreaterThan(users.length / 2);
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

  it.each([7, 2024])('writes the dedup buckets streaming writes, byte for byte, with device clocks ahead and behind (seed %i)', (seed) => {
    // every 8th device runs 1-10 minutes ahead (event_ms clamped to ingest, the entry filed by event_ts);
    // the others send from behind (network delays, late events). Streamed one record per call, so
    // each prune bound is the record's own (a batch's call prunes at its newest record's clock)
    const records = storeRecords(seed, 0.125);
    expect(records.some((r) => r.event.eventMs === r.event.ingestMs && Date.parse(r.event.eventTs) > r.event.ingestMs)).toBe(true);
    const reference = new Map<string, ModelState>();
    stream(reference, records, 1);
    const hex = (buckets: Map<string, Buffer> | undefined): Record<string, string> => Object.fromEntries([...(buckets ?? new Map<string, Buffer>())].map(([b, packed]) => [b, packed.toString('hex')]));
    let compared = 0;
    for (const user of new Set(records.map((r) => r.event.userId))) {
      const mine = records.filter((r) => r.event.userId === user);
      const state = buildUserState(mine.flatMap(rowsOf), registry.features, policy);
      for (const source of new Set(mine.map((r) => r.event.source))) {
        const want = reference.get(`${user}/${source}`)?.dedup;
        expect(hex(state.dedup.get(source)), `${user}/${source}`).toEqual(hex(want));
        compared += [...(want?.values() ?? [])].reduce((n, packed) => n + packed.length / DEDUP_ENTRY_BYTES, 0);
      }
    }
    expect(compared).toBeGreaterThan(100);
  });

  it('a copy sent after the seam by a device whose clock runs a day ahead is a duplicate, as in streaming', () => {
    const start = 1_760_000_000_000;
    const user = 'u-ahead';
    let offset = 0;
    const record = (eventMs: number, ingestMs: number, eventId: string): StoreRecord => {
      const value = Buffer.from(
        JSON.stringify({
          event_id: eventId,
          user_id: user,
          device_id: 'dev-ahead',
          event_type: 'ticket_created',
          event_ts: new Date(eventMs).toISOString(),
          ingest_ts: new Date(ingestMs).toISOString(),
          attributes: { ticket_id: eventId, category: 'billing' },
        }),
      );
      const parsed = parseEvent('support', value);
      if (!parsed.ok) throw new Error(JSON.stringify(parsed));
      offset += 1;
      return { event: parsed.event, topic: 't.support', partition: 0, offset: String(offset), ops: operators.opsFor(parsed.event) };
    };
    // a ticket from a device 30 h ahead (event_ms is clamped to ingest), then the user's later tickets
    // move the source's clock 27 h on: past the dedup horizon of event_ms, not of event_ts
    const ahead = record(start + 30 * HOUR, start, 'e-ahead');
    const before = [ahead, record(start + 10 * HOUR, start + 10 * HOUR, 'e-1'), record(start + 27 * HOUR, start + 27 * HOUR, 'e-2')];
    // the edge re-sends the ticket 28 h after its first copy: still ahead, so not late
    const copy = record(start + 30 * HOUR, start + 28 * HOUR, 'e-ahead');
    expect(copy.ops.length).toBeGreaterThan(0);

    const reference = new Map<string, ModelState>();
    stream(reference, before);
    expect(stream(reference, [copy]).get('duplicate')).toBe(1);

    const state = buildUserState(before.flatMap(rowsOf), registry.features, policy);
    const booted = new Map<string, ModelState>([[user, { fields: state.fields, dedup: new Map() }]]);
    for (const [source, buckets] of state.dedup) booted.set(`${user}/${source}`, { fields: state.fields, dedup: buckets });
    expect(stream(booted, [copy]).get('duplicate')).toBe(1);
    const asOf = start + 28 * HOUR;
    expect(readState(registry.features, booted.get(user)?.fields ?? new Map(), asOf).features).toEqual(readState(registry.features, reference.get(user)?.fields ?? new Map(), asOf).features);
  });
});
