/**
 * The parser accepts every listed schema version (events/contract-set.ts) on the real stack:
 * with a breaking client v2, a playback error of v1 is applied, and one valid in no version
 * is dead-lettered with a reason naming the versions tried.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadEventContracts } from '../../../sidecar/src/events/index.ts';
import { Sidecar } from '../../../sidecar/src/pipeline/index.ts';
import { FeatureReader } from '../../../sidecar/src/store/index.ts';
import { conformanceRegistry as registry } from '../../helpers/consumers.ts';
import { writeVersionedContracts } from '../../helpers/contracts.ts';
import { createTestTopics, readTopic, sendOne, testProducer } from '../../helpers/kafka.ts';
import { testRedis } from '../../helpers/redis.ts';
import { rawEvent } from '../../helpers/reference.ts';
import { testNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

describe('listed schema versions', () => {
  it('applies an event of an older listed version after a breaking one, and dead-letters an event valid in no version with the versions tried', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'churnfeat-contracts-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const contracts = loadEventContracts(writeVersionedContracts(dir));
    const ns = testNamespace();
    await createTestTopics(ns);
    const producer = await testProducer(ns.id);
    const user = 'versions-user';
    const now = Date.now();
    const error = (id: string, attributes: Record<string, unknown>) => rawEvent({ eventId: id, userId: user, eventType: 'playback_error', eventTs: now - 60_000, ingestMs: now - 59_000, attributes });
    await sendOne(producer, ns.topics.sources.client, user, error('v1-error', { code: 'E_OLD' }));
    await sendOne(producer, ns.topics.sources.client, user, error('v2-error', { error_code: 'E_NEW' }));
    const invalid = error('no-version', { reason: 'neither code nor error_code' });
    await sendOne(producer, ns.topics.sources.client, user, invalid);

    const sidecar = new Sidecar(ns.options, registry, { contracts });
    await sidecar.start();
    onTestFinished(() => sidecar.stop());
    await waitFor('the sidecar to judge all three', async () => {
      const totals = await sidecar.metrics.totals();
      return totals.applied + totals.invalid >= 3;
    });
    const totals = await sidecar.metrics.totals();
    expect([totals.applied, totals.invalid]).toEqual([2, 1]);
    // which version it took: what says when v1 can be dropped from the list
    const older = await sidecar.metrics.registry.getSingleMetric('churnfeat_older_schema_version_records_total')?.get();
    expect(older?.values.map((v) => [v.labels, v.value])).toEqual([[{ source: 'client', version: '1' }, 1]]);

    const redis = testRedis();
    onTestFinished(() => redis.quit().then(() => undefined));
    const read = await new FeatureReader(redis, registry, ns.options.keyPrefix).read(user);
    expect(read.features.errors_last_10m?.value).toBe(2);

    const [letter] = await readTopic(ns.topics.deadLetter, (records) => records.length >= 1);
    expect(letter?.value?.equals(invalid)).toBe(true);
    expect(letter?.headers['churnfeat.reason']).toBe('schema_violation');
    expect(letter?.headers['churnfeat.detail']).toMatch(/^matches no listed version \(tried v2, v1\): v2: .*error_code.*; v1: .*code/);
  });
});
