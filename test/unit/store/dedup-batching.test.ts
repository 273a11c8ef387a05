/**
 * The same records applied in different batchings (the store model, store-model.ts applyCall,
 * which the property test proves equal to the Redis function): how the consumer happened to cut
 * its batches changes the dedup hashes' bytes, never a verdict, a read or a live dedup entry.
 * docs/deletion.md ("Comparing two stores") says why; the deletion acceptance test compares
 * what this proves equal.
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { parseEvent, SOURCES, type Source } from '../../../sidecar/src/events/index.ts';
import { generateWorkload } from '../../../sidecar/src/loadgen/workload.ts';
import { applyCall, FeatureWriter, readState, sourceField, type ModelState, type StoreRecord, type StoreVerdict } from '../../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../../sidecar/src/windows/index.ts';
import { liveDedupHash } from '../../helpers/dedup.ts';
import { fixtureRegistry } from '../../helpers/registry.ts';

const HOUR = 3_600_000;
const registry = fixtureRegistry();
const operators = new WindowOperators(registry);
const { allowedLatenessMs, dedupMarginMs } = registry.policies;
// applyCalls builds the calls only; nothing reaches this client
const writer = new FeatureWriter({} as Redis, operators, { prefix: 'cf', allowedLatenessMs, dedupMarginMs, pruneAboveFields: 256 });

/** The records a batch processor hands the writer (valid, relevant, not too late), in ingest order, one partition per source. */
function storeRecords(seed: number): StoreRecord[] {
  const endMs = Date.parse('2026-06-01T00:00:00Z');
  const workload = generateWorkload({ seed, users: 30, eventsPerUser: 60, startMs: endMs - 3 * allowedLatenessMs, endMs, lateShare: 0.1, veryLateShare: 0.02, duplicateShare: 0.1, invalidShare: 0 });
  const offsets = new Map<Source, number>();
  const out: StoreRecord[] = [];
  for (const record of workload) {
    const offset = offsets.get(record.source) ?? 0;
    offsets.set(record.source, offset + 1);
    const parsed = parseEvent(record.source, record.value);
    if (!parsed.ok || !operators.isRelevant(parsed.event) || parsed.event.ingestMs - parsed.event.eventMs > allowedLatenessMs) continue;
    const ops = operators.opsFor(parsed.event);
    if (ops.length > 0) out.push({ event: parsed.event, topic: `t.${record.source}.events`, partition: 0, offset: String(offset), ops });
  }
  return out;
}

interface Store {
  fields: Map<string, Map<string, string>>;
  dedup: Map<string, Map<string, Buffer>>;
  verdicts: StoreVerdict[];
}

/** The records applied in batches of the given sizes (cycled), as the writer cuts each batch into (user, source) calls. */
function applyInBatches(records: readonly StoreRecord[], sizes: readonly number[]): Store {
  const store: Store = { fields: new Map(), dedup: new Map(), verdicts: [] };
  for (let at = 0, b = 0; at < records.length; b += 1) {
    const batch = records.slice(at, at + (sizes[b % sizes.length] as number));
    at += batch.length;
    const verdicts: StoreVerdict[] = [];
    for (const { userId, source, indexes, call } of writer.applyCalls(batch)) {
      const fields = store.fields.get(userId) ?? new Map<string, string>();
      store.fields.set(userId, fields);
      const dedup = store.dedup.get(`${userId}/${source}`) ?? new Map<string, Buffer>();
      store.dedup.set(`${userId}/${source}`, dedup);
      const state: ModelState = { fields, dedup };
      applyCall(state, call, registry.features).forEach((verdict, i) => (verdicts[indexes[i] as number] = verdict));
    }
    store.verdicts.push(...verdicts);
  }
  return store;
}

/** Each user and source's dedup buckets: the raw bytes, or the entries live at the prune bound of the user's clock. */
function buckets(store: Store, live: boolean): Record<string, Array<[string, string]>> {
  const out: Record<string, Array<[string, string]>> = {};
  for (const [key, dedup] of [...store.dedup].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const [user, source] = key.split('/') as [string, Source];
    const sourceState = store.fields.get(user)?.get(sourceField(source)) as string;
    out[key] = live ? liveDedupHash(dedup, sourceState, registry.policies) : [...dedup].map(([bucket, packed]) => [bucket, packed.toString('hex')]);
  }
  return out;
}

/** Every user's read at some times across the workload and after it. */
function reads(store: Store, times: readonly number[]): unknown[] {
  return [...store.fields.keys()].sort().flatMap((user) => times.map((t) => readState(registry.features, store.fields.get(user) as Map<string, string>, t)));
}

/** A copy of every record, arriving again at its user's last ingest time (if not too late by then): the later dedup verdicts. */
function copiesAtTheEnd(records: readonly StoreRecord[]): StoreRecord[] {
  const last = new Map<string, number>();
  for (const { event } of records) last.set(`${event.userId}/${event.source}`, Math.max(last.get(`${event.userId}/${event.source}`) ?? 0, event.ingestMs));
  const offsets = new Map<string, number>(SOURCES.map((s) => [s, 1_000_000]));
  return records.flatMap((record) => {
    const ingestMs = last.get(`${record.event.userId}/${record.event.source}`) as number;
    if (ingestMs - record.event.eventMs > allowedLatenessMs) return [];
    const offset = (offsets.get(record.event.source) as number) + 1;
    offsets.set(record.event.source, offset);
    return [{ ...record, event: { ...record.event, ingestMs }, offset: String(offset) }];
  });
}

describe('the dedup hashes under different batchings', () => {
  it('differ in bytes (a call prunes only the buckets it writes, by its own clock), while every verdict, every read, every later dedup verdict and every live entry is the same', () => {
    const records = storeRecords(14);
    expect(records.length).toBeGreaterThan(1_000);
    const end = Math.max(...records.map((r) => r.event.ingestMs));
    const times = [end - 2 * HOUR, end - 30 * 60_000, end, end + HOUR];
    const batchings = [[1], [7], [500], [1, 250, 3, 64], [records.length]];
    const stores = batchings.map((sizes) => applyInBatches(records, sizes));
    const [one, ...others] = stores as [Store, ...Store[]];
    expect(one.verdicts).toHaveLength(records.length);
    expect(new Set(one.verdicts)).toEqual(new Set(['applied', 'duplicate']));
    // the bytes depend on the batching (what the acceptance test saw): not every store has the same buckets
    expect(others.some((store) => JSON.stringify(buckets(store, false)) !== JSON.stringify(buckets(one, false)))).toBe(true);
    expect(Object.values(buckets(one, true)).flat().length).toBeGreaterThan(100);
    const copies = copiesAtTheEnd(records);
    expect(copies.length).toBeGreaterThan(100);
    for (const store of others) {
      expect(store.verdicts).toEqual(one.verdicts);
      expect(buckets(store, true)).toEqual(buckets(one, true));
      expect(reads(store, times)).toEqual(reads(one, times));
    }
    // a copy of every record within the horizon, on top of each store: every one a duplicate
    for (const store of stores) {
      const later: StoreVerdict[] = [];
      for (const { userId, source, indexes, call } of writer.applyCalls(copies)) {
        const state: ModelState = { fields: store.fields.get(userId) as Map<string, string>, dedup: store.dedup.get(`${userId}/${source}`) as Map<string, Buffer> };
        applyCall(state, call, registry.features).forEach((verdict, i) => (later[indexes[i] as number] = verdict));
      }
      expect(later.filter((v) => v !== 'duplicate')).toEqual([]);
    }
  });
});
