import { execa } from 'execa';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { Sidecar } from '../../../sidecar/src/pipeline/index.ts';
import { dataQualityTopic, readTopicToEnd, replayAuditTopic, replayDeadLetters, type ReplayOptions } from '../../../sidecar/src/quality/index.ts';
import { FeatureReader } from '../../../sidecar/src/store/index.ts';
import { churnfeatArgs } from '../../helpers/cli.ts';
import { createTestTopics, kafkaClient, sendOne, testProducer } from '../../helpers/kafka.ts';
import { testRedis } from '../../helpers/redis.ts';
import { rawEvent } from '../../helpers/reference.ts';
import { BROKERS, testNamespace, type TestNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const registry = loadFeatureRegistry('dbt_project');
const MINUTE = 60_000;

function dropExtraTopicsAfter(ns: TestNamespace): void {
  onTestFinished(async () => {
    const admin = kafkaClient('test-cleanup-dead-letters').admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [dataQualityTopic(ns.options.topicNamespace), replayAuditTopic(ns.options.topicNamespace)] }).catch(() => undefined);
    await admin.disconnect();
  });
}

async function startSidecar(ns: TestNamespace, maxPayloadBytes: number): Promise<Sidecar> {
  const sidecar = new Sidecar({ ...ns.options, maxPayloadBytes }, registry);
  await sidecar.start();
  onTestFinished(() => sidecar.stop());
  return sidecar;
}

describe('dead-letter inspect and replay', () => {
  it('inspects counts and original bytes, replays the fixed ones once (audited), skips a second replay, and a forced one is applied once by the dedup', async () => {
    const ns = testNamespace();
    await createTestTopics(ns);
    dropExtraTopicsAfter(ns);
    const producer = await testProducer(ns.id);
    const now = Date.now();
    const user = 'dl-user';
    // Two playback errors padded over the 1 KiB limit the first sidecar runs with (the "bug"), and one truly broken record.
    const padded = (id: string, at: number) =>
      rawEvent({ eventId: id, userId: user, eventType: 'playback_error', eventTs: at, ingestMs: at + 1_000, attributes: { error_code: 'E42', app_build: 'x'.repeat(1_500) } });
    const big = [padded('err-big-1', now - 3 * MINUTE), padded('err-big-2', now - 2 * MINUTE)];
    const broken = Buffer.from('{"user_id": "dl-user", "event_type": ');
    const client = ns.topics.sources.client;
    const sent = [...big.map((value) => ({ value })), { value: broken }];
    for (const { value } of sent) await sendOne(producer, client, user, value);

    const first = await startSidecar(ns, 1_024);
    await waitFor('the first sidecar to dead-letter all three', async () => (await first.metrics.totals()).invalid >= 3);
    await first.stop();

    // inspect, through the compiled CLI
    const env = { ...process.env, CHURNFEAT_KAFKA_BROKERS: BROKERS.join(','), CHURNFEAT_TOPIC_NAMESPACE: ns.options.topicNamespace };
    const inspected = await execa('node', churnfeatArgs('dead-letters', 'inspect', '--samples', '5'), { env, reject: false });
    expect(inspected.exitCode, inspected.stderr).toBe(0);
    const report = JSON.parse(inspected.stdout);
    expect(report.total).toBe(3);
    expect(report.byReason).toEqual({ payload_too_large: 2, malformed_json: 1 });
    expect(report.bySourceTopic).toEqual({ [client]: 3 });
    const originals = report.samples.map((s: { value_base64: string }) => Buffer.from(s.value_base64, 'base64'));
    for (const value of [...big, broken]) expect(originals.some((o: Buffer) => o.equals(value))).toBe(true);

    // The fix: the limit goes back to the default; a new sidecar of the same group goes on.
    const fixed = await startSidecar(ns, 65_536);
    const replay = (overrides: Partial<ReplayOptions> = {}) =>
      replayDeadLetters(kafkaClient(`${ns.id}-replay`), {
        topics: ns.topics,
        auditTopic: replayAuditTopic(ns.options.topicNamespace),
        filter: { reasons: ['payload_too_large', 'malformed_json'] },
        maxPayloadBytes: 65_536,
        force: false,
        dryRun: false,
        operator: 'test',
        note: 'limit raised back to 64 KiB',
        ...overrides,
      });

    const once = await replay();
    expect(once.selected).toBe(3);
    expect(once.replayed.map((r) => r.to.topic)).toEqual([client, client]);
    expect(once.stillInvalid).toEqual([expect.objectContaining({ reason: 'malformed_json' })]);
    await waitFor('the replayed errors to be applied', async () => (await fixed.metrics.totals()).applied >= 2);

    // A second run skips what the audit says was replayed; a forced one sends again, and the dedup drops it.
    const again = await replay();
    expect(again.replayed).toEqual([]);
    expect(again.alreadyReplayed.sort()).toEqual(once.replayed.map((r) => r.id).sort());
    const forced = await replay({ force: true });
    expect(forced.replayed).toHaveLength(2);
    await waitFor('the forced copies to be judged', async () => (await fixed.metrics.totals()).duplicate >= 2);
    const totals = await fixed.metrics.totals();
    expect(totals.applied).toBe(2);
    expect(totals.duplicate).toBe(2);

    const features = await new FeatureReader(testRedis(), registry, ns.options.keyPrefix).read(user, Date.now());
    expect(features.features.errors_last_1h?.value).toBe(2);

    // Audit: one record per replayed dead letter (first run and forced run), one per run that sent something.
    const audit = await readTopicToEnd(kafkaClient(`${ns.id}-audit`), replayAuditTopic(ns.options.topicNamespace));
    const perLetter = audit.filter((r) => r.key?.toString().startsWith('dead-letter:')).map((r) => JSON.parse((r.value as Buffer).toString()));
    expect(perLetter).toHaveLength(4);
    expect(perLetter.filter((a) => a.forced)).toHaveLength(2);
    expect(perLetter[0]).toMatchObject({ operator: 'test', note: 'limit raised back to 64 KiB', original: { topic: client, reason: 'payload_too_large' }, replayed_to: { topic: client } });
    expect(audit.filter((r) => r.key?.toString().startsWith('run:'))).toHaveLength(2);
  });

  it('refuses a replay without a selection, with the usage (exit 2)', async () => {
    const result = await execa('node', churnfeatArgs('dead-letters', 'replay'), { reject: false, env: { ...process.env, CHURNFEAT_KAFKA_BROKERS: BROKERS.join(',') } });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('replay needs a selection');
    expect(result.stderr).toContain('usage: churnfeat dead-letters');
  });
});
