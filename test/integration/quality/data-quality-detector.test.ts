import type { Producer } from 'kafkajs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { dataQualityTopic, type Detection } from '../../../sidecar/src/quality/index.ts';
import { startSidecar } from '../../helpers/consumers.ts';
import { createTestTopics, kafkaClient, readTopic, testProducer } from '../../helpers/kafka.ts';
import { rawEvent } from '../../helpers/reference.ts';
import { testNamespace, type TestNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const WEEK = 7 * 24 * HOUR;

/** Deletes the namespace's data-quality topic when the test ends (createTestTopics knows only the pipeline's topics). */
function dropQualityTopicAfter(ns: TestNamespace): void {
  onTestFinished(async () => {
    const admin = kafkaClient('test-cleanup-quality').admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [dataQualityTopic(ns.options.topicNamespace)] }).catch(() => undefined);
    await admin.disconnect();
  });
}

/** Sends `perMinute` events of each type for each minute of [fromMs, fromMs + minutes), in event-time order. */
async function sendMinutes(producer: Producer, topic: string, fromMs: number, minutes: number, perMinute: (eventType: string, minute: number) => number): Promise<number> {
  let sent = 0;
  for (let m = 0; m < minutes; m += 1) {
    const messages = [];
    for (const eventType of ['playback_start', 'search']) {
      const n = perMinute(eventType, m);
      for (let i = 0; i < n; i += 1) {
        const eventMs = fromMs + m * MINUTE + Math.floor((i * MINUTE) / n);
        const userId = `dq-user-${i % 50}`;
        const value = rawEvent({
          eventId: `${eventType}-${eventMs}-${i}`,
          userId,
          eventType,
          eventTs: eventMs,
          ingestMs: eventMs + 500,
          attributes: eventType === 'playback_start' ? { content_id: 't-1', platform: 'ios' } : { platform: 'ios' },
        });
        messages.push({ key: userId, value });
      }
    }
    sent += messages.length;
    await producer.send({ topic, acks: -1, messages });
  }
  return sent;
}

describe('the data-quality detector in the sidecar', () => {
  it('writes a cold-start record without history, then a drop of playback_start to 30% as a firing record on the data-quality topic and in the metrics', async () => {
    const ns = testNamespace();
    // One partition: the detector's clock is the minimum over its inputs, and this test produces a backlog.
    await createTestTopics(ns, { client: 1 });
    dropQualityTopicAfter(ns);
    const sidecar = await startSidecar(ns);
    const producer = await testProducer(ns.id);
    const topic = ns.topics.sources.client;

    // Last week: two full hours of steady traffic are the history of the same hours this week.
    const lastWeek = Math.floor((Date.now() - WEEK - 4 * HOUR) / HOUR) * HOUR;
    let sent = await sendMinutes(producer, topic, lastWeek, 120, () => 40);
    // This week, the same hour: 30 normal minutes, playback_start at 30% for 15, then normal again.
    const thisWeek = lastWeek + WEEK;
    sent += await sendMinutes(producer, topic, thisWeek, 60, (type, m) => (type === 'playback_start' && m >= 30 && m < 45 ? 12 : 40));

    await waitFor('the sidecar to consume every record', async () => (await sidecar.metrics.totals()).consumed >= sent, { timeoutMs: 120_000 });
    const records = await readTopic(dataQualityTopic(ns.options.topicNamespace), (rs) => rs.some((r) => r.value?.toString().includes('"firing"')));
    const detections = records.map((r) => JSON.parse((r.value as Buffer).toString()) as Detection);

    const cold = detections.filter((d) => d.kind === 'cold_start');
    expect(cold.map((d) => `${d.where.series}/${d.where.event_type}/${d.where.platform}`)).toEqual(expect.arrayContaining(['volume/playback_start/*', 'volume/playback_start/ios', 'volume/search/*']));
    expect(cold.every((d) => Date.parse(d.window.start) < thisWeek)).toBe(true);

    const firing = detections.filter((d) => d.state === 'firing');
    expect(firing.length).toBeGreaterThan(0);
    for (const d of firing) {
      expect(d).toMatchObject({ kind: 'drop', where: { series: 'volume', source: 'client', event_type: 'playback_start' } });
      // The minute judged: within five minutes of the drop (the clock, detected_at, is further on in a backlog).
      expect(Date.parse(d.window.end)).toBeGreaterThan(thisWeek + 30 * MINUTE);
      expect(Date.parse(d.window.end)).toBeLessThanOrEqual(thisWeek + 35 * MINUTE);
      expect(Date.parse(d.detected_at)).toBeGreaterThanOrEqual(Date.parse(d.window.end));
      expect(d.ratio).toBeLessThan(0.5);
      expect(d.baseline?.weeks).toBe(1);
    }
    expect(records.find((r) => r.value?.toString().includes('"firing"'))?.key?.toString()).toMatch(/^volume\|client\|playback_start\|/);

    const metrics = await sidecar.metrics.registry.getMetricsAsJSON();
    const detected = metrics.find((m) => m.name === 'churnfeat_anomaly_detections_total')?.values ?? [];
    expect(detected).toContainEqual(expect.objectContaining({ labels: { kind: 'drop', source: 'client', event_type: 'playback_start', severity: 'critical' } }));
    const errors = metrics.find((m) => m.name === 'churnfeat_quality_detector_errors_total')?.values ?? [];
    expect(errors.every((v) => v.value === 0)).toBe(true);
    // The detector sits beside the verdicts: every record still has one.
    const totals = await sidecar.metrics.totals();
    expect(totals.applied + totals.irrelevant + totals.duplicate).toBe(sent);
  });

  it('never stalls the pipeline: a failing detector is a metric while every record is still applied', async () => {
    const ns = testNamespace();
    await createTestTopics(ns, { client: 1 });
    dropQualityTopicAfter(ns);
    const sidecar = await startSidecar(ns);
    const monitor = sidecar.quality;
    expect(monitor).not.toBeNull();
    (monitor as NonNullable<typeof monitor>).detector.observe = () => {
      throw new Error('detector bug');
    };
    const producer = await testProducer(ns.id);
    const sent = await sendMinutes(producer, ns.topics.sources.client, Date.now() - 10 * MINUTE, 5, () => 10);
    await waitFor('the sidecar to consume every record', async () => (await sidecar.metrics.totals()).consumed >= sent);
    const totals = await sidecar.metrics.totals();
    expect(totals.applied + totals.irrelevant).toBe(sent);
    const errors = (await sidecar.metrics.registry.getSingleMetric('churnfeat_quality_detector_errors_total')?.get())?.values ?? [];
    expect(errors.find((v) => v.labels.stage === 'observe')?.value).toBeGreaterThan(0);
  });
});
