import { describe, expect, it } from 'vitest';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { FeatureReader } from '../../../sidecar/src/store/index.ts';
import { startSidecar } from '../../helpers/consumers.ts';
import { createTestTopics, readTopic, testProducer, topicSize } from '../../helpers/kafka.ts';
import { testRedis } from '../../helpers/redis.ts';
import { ALLOWED_LATENESS_MS, type EventSpec, HOUR, rawEvent, sourceOf } from '../../helpers/reference.ts';
import { testNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const registry = loadFeatureRegistry('dbt_project');
const MINUTE = 60_000;

describe('late and too-late events', () => {
  it('applies an event within the allowed lateness to every window that still holds it, and sends one beyond it to the late-events topic with its reason, unapplied', async () => {
    const ns = testNamespace();
    await createTestTopics(ns);
    const sidecar = await startSidecar(ns);
    const producer = await testProducer(ns.id);

    // T sits 7 minutes into a 15-minute tile, so T - 24 h is the oldest tile of the 24 h window at T.
    const T = Math.floor(Date.now() / HOUR) * HOUR - 3 * HOUR + 7 * MINUTE;
    const u = 'late-user';
    const timely: Array<[string, EventSpec]> = [
      ['error 30 min late', { eventId: 'err-30m', userId: u, eventType: 'playback_error', eventTs: T - 30 * MINUTE, ingestMs: T }],
      ['error on time', { eventId: 'err-now', userId: u, eventType: 'playback_error', eventTs: T - 2_000, ingestMs: T - 1_000 }],
      ['heartbeat 23 h late', { eventId: 'hb-23h', userId: u, eventType: 'playback_heartbeat', eventTs: T - 23 * HOUR, ingestMs: T, attributes: { watched_seconds: 40 } }],
      ['heartbeat exactly 24 h late', { eventId: 'hb-24h', userId: u, eventType: 'playback_heartbeat', eventTs: T - ALLOWED_LATENESS_MS, ingestMs: T, attributes: { watched_seconds: 7 } }],
      ['payment failure 23 h 59 min late', { eventId: 'pay-ok', userId: u, eventType: 'payment_failed', eventTs: T - 24 * HOUR + MINUTE, ingestMs: T }],
      // a device clock 5 minutes ahead: event time is clamped to ingest_ts, so it is never "from the future"
      ['cancel view from a clock ahead', { eventId: 'cancel-ahead', userId: u, eventType: 'cancel_flow_view', eventTs: T + 5 * MINUTE, ingestMs: T }],
    ];
    const tooLate: Array<[string, EventSpec]> = [
      ['heartbeat 24 h + 1 ms late', { eventId: 'hb-late', userId: u, eventType: 'playback_heartbeat', eventTs: T - ALLOWED_LATENESS_MS - 1, ingestMs: T, attributes: { watched_seconds: 1000 } }],
      ['payment failure 25 h late', { eventId: 'pay-late', userId: u, eventType: 'payment_failed', eventTs: T - 25 * HOUR, ingestMs: T }],
      ['id-less ticket 3 days late', { userId: u, deviceId: 'tv-1', eventType: 'ticket_created', eventTs: T - 72 * HOUR, ingestMs: T, attributes: { ticket_id: 'T-9' } }],
    ];
    const all = [...timely, ...tooLate];
    const sent = new Map<string, { name: string; value: Buffer }>();
    for (const [name, spec] of all) {
      const value = rawEvent(spec);
      const [meta] = await producer.send({ topic: ns.topics.sources[sourceOf(spec.eventType)], acks: -1, messages: [{ key: u, value }] });
      sent.set(`${ns.topics.sources[sourceOf(spec.eventType)]}:${meta?.partition}:${meta?.baseOffset}`, { name, value });
    }

    await waitFor('the sidecar to consume every record', async () => (await sidecar.metrics.totals()).consumed >= all.length);
    const totals = await sidecar.metrics.totals();
    // Kafka delivers at least once: a rebalance between a batch's store write and its commit (seen
    // once on the 3-broker cluster) delivers its records again. A timely one is then `replayed`
    // (its offset is applied already) and a too-late one is judged too late again; nothing is
    // applied twice, which the reads below check.
    const redelivered = totals.consumed - all.length;
    const tooLateAgain = totals.too_late - tooLate.length;
    expect(tooLateAgain).toBeGreaterThanOrEqual(0);
    expect(totals).toEqual({
      consumed: all.length + redelivered,
      applied: timely.length,
      duplicate: 0,
      replayed: redelivered - tooLateAgain,
      deleted: 0,
      too_late: tooLate.length + tooLateAgain,
      invalid: 0,
      irrelevant: 0,
    });

    // The late-events topic is at least once too (docs/streaming-correctness.md): one record per
    // too-late judgment, each pointing at its source record; distinct by that origin, one per too-late record.
    expect(await topicSize(ns.topics.late)).toBe(tooLate.length + tooLateAgain);
    const late = await readTopic(ns.topics.late, (records) => records.length >= tooLate.length + tooLateAgain);
    const names = late.map((record) => {
      const origin = sent.get(`${record.headers['churnfeat.source.topic']}:${record.headers['churnfeat.source.partition']}:${record.headers['churnfeat.source.offset']}`);
      expect(origin, 'a late record points at the record it copies').toBeDefined();
      expect(record.value?.equals(origin?.value as Buffer)).toBe(true);
      expect(record.key?.toString()).toBe(u);
      expect(record.headers['churnfeat.reason']).toBe('too_late');
      const spec = tooLate.find(([name]) => name === origin?.name)?.[1] as EventSpec;
      expect(Number(record.headers['churnfeat.lateness_ms'])).toBe(spec.ingestMs - (spec.eventTs as number));
      return origin?.name;
    });
    expect([...new Set(names)].sort()).toEqual(tooLate.map(([name]) => name).sort());

    const reader = new FeatureReader(testRedis(), registry, ns.options.keyPrefix);
    const at = (asOf: number) => reader.read(u, asOf).then((r) => Object.fromEntries(Object.entries(r.features).map(([k, v]) => [k, v.value])));
    expect(await at(T + MINUTE)).toEqual({
      errors_last_10m: 1, // the 30-minute-late error is outside 10 minutes
      errors_last_1h: 2,
      cancel_page_views_last_30m: 1,
      watch_time_last_24h: 47, // 23 h and exactly 24 h late both count; 24 h + 1 ms does not
      payment_failures_last_7d: 1,
      support_tickets_last_30d: 0,
      distinct_titles_last_7d: 0,
    });
    // the exactly-24-h-late heartbeat sits in the oldest tile and leaves the window at the next tile boundary
    expect((await at(T + 8 * MINUTE)).watch_time_last_24h).toBe(40);
  });
});
