import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Source } from '../../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import type { RecordVerdict } from '../../../sidecar/src/metrics/index.ts';
import { FeatureReader, FeatureWriter, loadFunctionLibrary } from '../../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../../sidecar/src/windows/index.ts';
import { testRedis } from '../../helpers/redis.ts';
import {
  ALLOWED_LATENESS_MS,
  DEDUP_MARGIN_MS,
  diffReads,
  type EventSpec,
  HOUR,
  onlineReads,
  type PositionedRecord,
  rawEvent,
  referencePipeline,
  referenceReads,
  sourceOf,
  testPrefix,
  writeDirect,
} from '../../helpers/reference.ts';

const registry = loadFeatureRegistry('dbt_project');
const operators = new WindowOperators(registry);
const MINUTE = 60_000;
const USERS = ['u1', 'u2', 'u3'];
/** Ingest times of one run stay within this span: the documented precondition of the dedup horizon (ingest clocks disagree by at most the margin). */
const INGEST_SPAN_MS = 45 * MINUTE;
const TYPES = ['playback_error', 'cancel_flow_view', 'playback_heartbeat', 'playback_start', 'payment_failed', 'ticket_created', 'search', 'ticket_resolved'];

interface GeneratedEvent {
  spec: EventSpec;
  /** Delays (ms after the first copy's ingest) of the re-sent copies. */
  copies: number[];
}

/** One event and its re-sent copies; every copy has the same event time (see the note on clock-ahead copies). */
const eventArb = (base: number, index: number): fc.Arbitrary<GeneratedEvent> =>
  fc
    .record({
      userId: fc.constantFrom(...USERS),
      eventType: fc.constantFrom(...TYPES),
      ingest: fc.integer({ min: 0, max: INGEST_SPAN_MS - 10 * MINUTE }),
      clock: fc.oneof(
        { arbitrary: fc.constant(0), weight: 2 },
        { arbitrary: fc.integer({ min: 0, max: 15 * MINUTE }), weight: 4 },
        { arbitrary: fc.integer({ min: 0, max: ALLOWED_LATENESS_MS }), weight: 3 },
        { arbitrary: fc.constant(ALLOWED_LATENESS_MS), weight: 1 },
        // a device clock running ahead: event time is clamped to ingest_ts
        { arbitrary: fc.integer({ min: -10 * MINUTE, max: -1 }), weight: 1 },
      ),
      idless: fc.boolean(),
      watched: fc.oneof(fc.integer({ min: 0, max: 60 }), fc.constantFrom(0.5, 12.25, 59.5)),
      title: fc.constantFrom('t1', 't2', 't3', 't4'),
      copies: fc.array(fc.integer({ min: 0, max: 10 * MINUTE }), { maxLength: 2 }),
    })
    .map((g) => {
      const ingestMs = base + g.ingest;
      const source = sourceOf(g.eventType);
      const attributes: Record<string, unknown> = g.eventType === 'playback_heartbeat' ? { watched_seconds: g.watched } : g.eventType === 'playback_start' ? { content_id: g.title } : {};
      const spec: EventSpec = {
        eventId: g.idless && source === 'client' ? null : `ev-${index}`,
        userId: g.userId,
        deviceId: g.idless ? `tv-${g.userId}` : `dev-${g.userId}`,
        eventType: g.eventType,
        eventTs: ingestMs - g.clock,
        ingestMs,
        ...(Object.keys(attributes).length > 0 ? { attributes } : {}),
      };
      // A copy of a clock-ahead event re-sent later would get another event time (min(event_ts,
      // ingest_ts)); such copies are exact re-deliveries here and get a test of their own below.
      return { spec, copies: g.clock < 0 ? g.copies.map(() => 0) : g.copies };
    });

const scenarioArb = fc
  .integer({ min: 4, max: 40 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => eventArb(0, i))))
  .chain((events) => {
    const records = events.flatMap((e) => [e.spec, ...e.copies.map((delay) => ({ ...e.spec, ingestMs: e.spec.ingestMs + delay }))]);
    const indexes = records.map((_, i) => i);
    const permutation = fc.record({
      order: fc.shuffledSubarray(indexes, { minLength: indexes.length, maxLength: indexes.length }),
      cuts: fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, records.length - 1) }), { maxLength: 6 }),
    });
    return fc.record({
      records: fc.constant(records),
      permutations: fc.tuple(permutation, permutation, permutation),
      asOfDelay: fc.integer({ min: 0, max: 3 * HOUR }),
      replay: fc.tuple(fc.nat(), fc.nat()),
    });
  });

function split<T>(items: readonly T[], cuts: readonly number[]): T[][] {
  const sorted = [...new Set(cuts)].filter((c) => c > 0 && c < items.length).sort((a, b) => a - b);
  const out: T[][] = [];
  let start = 0;
  for (const cut of [...sorted, items.length]) {
    out.push(items.slice(start, cut));
    start = cut;
  }
  return out.filter((batch) => batch.length > 0);
}

function countVerdicts(verdicts: readonly RecordVerdict[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of verdicts) out[v] = (out[v] ?? 0) + 1;
  return out;
}

describe('order independence of the online store', () => {
  it('gives identical reads for any permutation and batch split of the same events with duplicates and lateness within the policy, equal to the reference evaluator', async () => {
    const redis = testRedis();
    const base = Math.floor(Date.now() / HOUR) * HOUR - 2 * 24 * HOUR;
    await loadFunctionLibrary(redis, registry, 'perm');
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(scenarioArb, async ({ records: specs, permutations, asOfDelay, replay }) => {
        runs += 1;
        const shifted = specs.map((spec) => ({
          ...spec,
          eventTs: (spec.eventTs as number) + base,
          ingestMs: spec.ingestMs + base,
        }));
        const values = shifted.map((spec) => ({ source: sourceOf(spec.eventType) as Source, value: rawEvent(spec) }));
        const asOf = Math.max(...shifted.map((s) => s.ingestMs)) + asOfDelay;

        // The oracle: ingest order, first copy wins.
        const canonical = values
          .map((v, i) => ({ ...v, ingest: shifted[i]?.ingestMs as number }))
          .sort((a, b) => a.ingest - b.ingest)
          .map((v, offset): PositionedRecord => ({ source: v.source, value: v.value, partition: 0, offset }));
        const reference = referencePipeline(operators, canonical);
        const expected = referenceReads(registry, reference.applied, USERS, asOf);

        const answers = [];
        for (const [k, { order, cuts }] of permutations.entries()) {
          const prefix = testPrefix(redis, 'perm');
          const writer = new FeatureWriter(redis, operators, { prefix, allowedLatenessMs: ALLOWED_LATENESS_MS, dedupMarginMs: DEDUP_MARGIN_MS, pruneAboveFields: k === 1 ? 16 : 256 });
          const ordered = order.map((i, offset): PositionedRecord => ({ ...(values[i] as { source: Source; value: Buffer }), partition: 0, offset }));
          const batches = split(ordered, cuts);
          const topicOf = (source: Source) => `${prefix}.${source}`;
          const verdicts = await writeDirect(writer, operators, batches, topicOf);
          expect(countVerdicts(verdicts)).toEqual(countVerdicts(reference.verdicts));
          if (k === 2) {
            // A re-delivery of any run of batches (a crash before the commit) is skipped whole.
            const from = replay[0] % batches.length;
            const to = from + (replay[1] % (batches.length - from)) + 1;
            const again = await writeDirect(writer, operators, batches.slice(from, to), topicOf);
            for (const verdict of again) expect(['replayed', 'invalid', 'irrelevant', 'too_late']).toContain(verdict);
          }
          const online = await onlineReads(new FeatureReader(redis, registry, prefix), USERS, asOf);
          expect(diffReads(expected, online, ['reference', `permutation ${k}`])).toEqual([]);
          answers.push(online);
        }
        expect(diffReads(answers[0] as Map<string, never>, answers[1] as Map<string, never>)).toEqual([]);
        expect(diffReads(answers[0] as Map<string, never>, answers[2] as Map<string, never>)).toEqual([]);
      }),
      { numRuns: 15, seed: Number(process.env.CHURNFEAT_FC_SEED ?? Date.now() % 2 ** 31) },
    );
    expect(runs).toBeGreaterThanOrEqual(15);
  });

  it('keeps the first copy in Kafka order when a re-sent copy from a device clock running ahead gets another event time (deterministic per Kafka order, not per permutation)', async () => {
    const redis = testRedis();
    await loadFunctionLibrary(redis, registry, 'perm');
    const t = Math.floor(Date.now() / HOUR) * HOUR - 5 * HOUR + 3 * MINUTE;
    // event_ts 5 minutes ahead of both copies' ingest_ts: event time = each copy's own ingest_ts
    const copy = (ingestMs: number) => ({ source: 'client' as Source, value: rawEvent({ eventId: 'ahead-1', userId: 'u1', eventType: 'cancel_flow_view', eventTs: t + 5 * MINUTE, ingestMs }) });
    const early = copy(t);
    const late = copy(t + 2 * MINUTE);
    const latest: number[] = [];
    for (const order of [
      [early, late],
      [late, early],
    ]) {
      const prefix = testPrefix(redis, 'ahead');
      const writer = new FeatureWriter(redis, operators, { prefix, allowedLatenessMs: ALLOWED_LATENESS_MS, dedupMarginMs: DEDUP_MARGIN_MS, pruneAboveFields: 256 });
      const records = order.map((r, offset): PositionedRecord => ({ ...r, partition: 0, offset }));
      expect(await writeDirect(writer, operators, [records], (s) => `${prefix}.${s}`)).toEqual(['applied', 'duplicate']);
      const asOf = t + 10 * MINUTE;
      const online = await onlineReads(new FeatureReader(redis, registry, prefix), ['u1'], asOf);
      expect(diffReads(referenceReads(registry, referencePipeline(operators, records).applied, ['u1'], asOf), online)).toEqual([]);
      latest.push(online.get('u1')?.cancel_page_views_last_30m?.latest_event_ms as number);
    }
    expect(latest).toEqual([t, t + 2 * MINUTE]);
  });
});
