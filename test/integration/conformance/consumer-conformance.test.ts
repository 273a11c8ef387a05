/**
 * Consumer conformance: cases every consumer of the project must pass against the real
 * broker (issue "Nothing stops, nothing is lost"). Each case names the defect it guards.
 * One describe per consumer, here and in sidecar-conformance.test.ts and
 * lake-writer-conformance.test.ts, so one consumer's group runs alone:
 *   npx vitest run --project integration -t "consumer conformance: sidecar"
 *   npx vitest run --project integration -t "consumer conformance: lake writer"
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SOURCES } from '../../../sidecar/src/events/index.ts';
import { LocalLakeStorage, readAllManifests } from '../../../sidecar/src/lake/index.ts';
import { generateWorkload } from '../../../sidecar/src/loadgen/workload.ts';
import { FeatureReader } from '../../../sidecar/src/store/index.ts';
import { duckQuery } from '../../helpers/dbt.ts';
import { createTestTopics, produceWorkload, readTopic, testAdmin, testProducer, topicSize } from '../../helpers/kafka.ts';
import { highWatermarks, lakeViolations, landedOffsets, waitUntilLanded } from '../../helpers/lake.ts';
import { testRedis } from '../../helpers/redis.ts';
import { HOUR, rawEvent } from '../../helpers/reference.ts';
import { conformanceRegistry as registry, startLakeWriter, startSidecar, tempDir } from '../../helpers/consumers.ts';
import { testNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

/** Just under the broker's default message.max.bytes (1,048,588) once the batch framing is added. */
const NEAR_LIMIT_BYTES = 1_048_400;

/** A payload of exactly `bytes` bytes that parses as JSON but is far above the sidecar's payload limit. */
function hugeInvalid(bytes: number): Buffer {
  const head = '{"user_id":"cf-huge","event_type":"playback_error","blob":"';
  const tail = '"}';
  return Buffer.from(head + 'x'.repeat(bytes - head.length - tail.length) + tail);
}

describe('consumer conformance: lake writer', () => {
  it('the lake writer lands a partition that holds many fetches worth of records (defect: it stalled after the first ~1 MB fetch)', async () => {
    const ns = testNamespace();
    await createTestTopics(ns, { client: 1, billing: 1, support: 1 });
    const end = Math.floor(Date.now() / HOUR) * HOUR - 27 * HOUR;
    const workload = generateWorkload({ seed: 31, users: 600, eventsPerUser: 30, startMs: end - 3 * HOUR, endMs: end, invalidShare: 0.01 });
    await produceWorkload(ns, workload);
    const admin = await testAdmin();
    const highs = await highWatermarks(
      admin,
      SOURCES.map((s) => ns.topics.sources[s]),
    );
    const clientBytes = workload.filter((r) => r.source === 'client').reduce((n, r) => n + r.value.length, 0);
    expect(clientBytes).toBeGreaterThan(3 * 1024 * 1024);

    const root = tempDir('churnfeat-conformance-lake-');
    const writer = await startLakeWriter(ns, root);
    await waitUntilLanded(new LocalLakeStorage(root), highs, 90_000);
    await writer.stop();

    const landed = await landedOffsets(root);
    expect(lakeViolations(landed, highs)).toEqual([]);
    expect(landed.length).toBe(workload.length);
    const manifests = await readAllManifests(new LocalLakeStorage(root));
    expect(manifests.reduce((n, m) => n + m.records, 0)).toBe(workload.length);
  });
});

describe('consumer conformance: sidecar', () => {
  it('one invalid record just under the broker size limit is dead-lettered as a reference, landed whole in the lake, and consumption goes on (defect: the dead-letter send crashed the consumer for good)', async () => {
    const ns = testNamespace();
    await createTestTopics(ns, { client: 1, deadLetter: 1 });
    const producer = await testProducer(ns.id);
    const topic = ns.topics.sources.client;
    const base = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    const huge = hugeInvalid(NEAR_LIMIT_BYTES);
    const valid = (i: number) => ({ key: 'cf-ok', value: rawEvent({ eventId: `ok-${i}`, userId: 'cf-ok', eventType: 'playback_error', eventTs: base + i * 1_000, ingestMs: base + i * 1_000 }) });
    await producer.send({ topic, acks: -1, messages: [valid(1)] });
    const [meta] = await producer.send({ topic, acks: -1, messages: [{ key: 'cf-huge', value: huge }] });
    await producer.send({ topic, acks: -1, messages: [valid(2), valid(3)] });

    const sidecar = await startSidecar(ns);
    const root = tempDir('churnfeat-conformance-huge-');
    const writer = await startLakeWriter(ns, root, { flushRecords: 10 });
    await waitFor('the sidecar to consume all four records', async () => (await sidecar.metrics.totals()).consumed >= 4, { timeoutMs: 60_000 });
    const totals = await sidecar.metrics.totals();
    expect(totals).toMatchObject({ consumed: 4, invalid: 1, applied: 3 });
    expect(sidecar.health().running).toBe(true);
    const read = await new FeatureReader(testRedis(), registry, ns.options.keyPrefix).read('cf-ok', base + 4_000);
    expect(read.features.errors_last_1h?.value).toBe(3);

    const [letter] = await readTopic(ns.topics.deadLetter, (records) => records.length >= 1);
    expect(letter?.headers['churnfeat.value_truncated']).toBe('true');
    expect(letter?.headers['churnfeat.original_bytes']).toBe(String(NEAR_LIMIT_BYTES));
    expect(letter?.headers['churnfeat.source.offset']).toBe(meta?.baseOffset);
    expect(letter?.value?.equals(huge.subarray(0, letter.value.length))).toBe(true);

    // The whole original is in the lake's dead-letter rows, at the offset the reference names.
    await waitUntilLanded(new LocalLakeStorage(root), await highWatermarks(await testAdmin(), [topic]), 60_000);
    await writer.stop();
    const rows = await duckQuery(`select kafka_offset, payload_b64 from read_parquet('${join(root, 'dead_letter', '**', '*.parquet')}', hive_partitioning = false)`);
    expect(rows.length).toBe(1);
    expect(String(rows[0]?.kafka_offset)).toBe(meta?.baseOffset);
    expect(Buffer.from(String(rows[0]?.payload_b64), 'base64').equals(huge)).toBe(true);
  });

  it('a backlog of thousands of bad records and too-late events of one key is side-lettered in bounded sends (defect: one oversized send stopped the consumer)', async () => {
    const ns = testNamespace();
    await createTestTopics(ns, { client: 1, deadLetter: 1, late: 1 });
    const producer = await testProducer(ns.id);
    const topic = ns.topics.sources.client;
    const now = Date.now();
    const invalid = Array.from({ length: 2_600 }, (_, i) => ({ key: 'cf-tv-1', value: Buffer.from(JSON.stringify({ user_id: 'cf-tv-1', event_type: 'teleport', n: i, pad: 'p'.repeat(360) })) }));
    expect(invalid[0]?.value.length).toBeGreaterThan(400);
    const tooLate = Array.from({ length: 2_600 }, (_, i) => ({
      key: 'cf-tv-1',
      value: rawEvent({ eventId: `late-${i}`, userId: 'cf-tv-1', eventType: 'playback_heartbeat', eventTs: now - 30 * HOUR + i, ingestMs: now }),
    }));
    for (let i = 0; i < invalid.length; i += 500) await producer.send({ topic, acks: -1, messages: invalid.slice(i, i + 500) });
    for (let i = 0; i < tooLate.length; i += 500) await producer.send({ topic, acks: -1, messages: tooLate.slice(i, i + 500) });
    await producer.send({
      topic,
      acks: -1,
      messages: [{ key: 'cf-ok', value: rawEvent({ eventId: 'after', userId: 'cf-ok', eventType: 'playback_error', eventTs: now - 60_000, ingestMs: now - 60_000 }) }],
    });
    const total = invalid.length + tooLate.length + 1;

    const sidecar = await startSidecar(ns);
    await waitFor('the sidecar to consume the backlog', async () => (await sidecar.metrics.totals()).consumed >= total, { timeoutMs: 90_000 });
    expect(await sidecar.metrics.totals()).toMatchObject({ consumed: total, invalid: invalid.length, too_late: tooLate.length, applied: 1 });
    expect(sidecar.health().running).toBe(true);
    expect(await topicSize(ns.topics.deadLetter)).toBe(invalid.length);
    expect(await topicSize(ns.topics.late)).toBe(tooLate.length);
  });
});
