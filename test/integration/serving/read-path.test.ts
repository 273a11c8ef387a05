import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { ensureTopics } from '../../../sidecar/src/kafka/index.ts';
import { Sidecar } from '../../../sidecar/src/pipeline/index.ts';
import { connectFeatureClient, type ConnectedFeatureClient, type UserFeatures } from '../../../sidecar/src/serving/index.ts';
import { kafkaClient } from '../../helpers/kafka.ts';
import { testNamespace, type TestNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const MINUTE = 60_000;
const registry = loadFeatureRegistry('dbt_project');

/** One client event as the ingestion edge would write it. */
function clientEvent(userId: string, eventType: 'playback_error' | 'playback_heartbeat', eventMs: number, ingestMs: number): { key: string; value: string } {
  const attributes = eventType === 'playback_error' ? { error_code: 'E1' } : { watched_seconds: 120 };
  return {
    key: userId,
    value: JSON.stringify({
      event_id: `e-${randomBytes(6).toString('hex')}`,
      user_id: userId,
      device_id: 'tv-1',
      event_type: eventType,
      event_ts: new Date(eventMs).toISOString(),
      ingest_ts: new Date(ingestMs).toISOString(),
      attributes,
    }),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One sidecar for the file (a consumer group join costs seconds); each test writes its own
 * users. The state shared across tests is the topics and the sidecar, never a user.
 */
describe('the read path over a running sidecar', () => {
  let ns: TestNamespace;
  let sidecar: Sidecar;
  let producer: Producer;
  let connected: ConnectedFeatureClient;
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    ns = testNamespace();
    // createTestTopics registers its cleanup with onTestFinished, which needs a running test; here the cleanup is afterAll's.
    const admin = kafkaClient(`${ns.id}-admin`).admin();
    await admin.connect();
    await ensureTopics(admin, ns.topics);
    cleanups.push(async () => {
      await admin.deleteTopics({ topics: [...Object.values(ns.topics.sources), ns.topics.deadLetter, ns.topics.late] }).catch(() => undefined);
      await admin.disconnect();
    });
    sidecar = new Sidecar(ns.options, registry);
    await sidecar.start();
    cleanups.push(() => sidecar.stop());
    producer = kafkaClient(`${ns.id}-producer`).producer();
    await producer.connect();
    cleanups.push(() => producer.disconnect());
    connected = await connectFeatureClient({ redisUrl: ns.options.redisUrl, prefix: ns.options.keyPrefix, registry, watermarkRefreshMs: 200 });
    cleanups.push(() => connected.close());
  });

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    const redis = new Redis(ns.options.redisUrl);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${ns.id}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  });

  async function send(events: Array<{ key: string; value: string }>): Promise<void> {
    await producer.send({ topic: ns.topics.sources.client, acks: -1, messages: events });
  }

  async function readUntil(userId: string, what: string, done: (answer: UserFeatures) => boolean): Promise<UserFeatures> {
    return waitFor(
      what,
      async () => {
        const answer = await connected.client.get(userId);
        return done(answer) ? answer : null;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
  }

  it('returns every feature with its value, latest event time, partition watermark, staleness and status present', async () => {
    const user = `u-${randomBytes(4).toString('hex')}`;
    const now = Date.now();
    const errorTimes = [now - 3 * MINUTE, now - 2 * MINUTE, now - 30_000];
    await send([...errorTimes.map((t) => clientEvent(user, 'playback_error', t, now)), clientEvent(user, 'playback_heartbeat', now - MINUTE, now)]);
    const answer = await readUntil(user, 'three errors readable', (a) => a.features.errors_last_10m?.value === 3 && a.status === 'present');

    expect(answer.user_id).toBe(user);
    expect(Math.abs(answer.as_of_ms - Date.now())).toBeLessThan(10_000);
    expect(answer.as_of).toBe(new Date(answer.as_of_ms).toISOString());
    const errors = answer.features.errors_last_10m;
    expect(errors?.latest_event_ms).toBe(errorTimes[2]);
    expect(errors?.latest_event_at).toBe(new Date(errorTimes[2] as number).toISOString());
    expect(errors?.status).toBe('present');
    expect(errors?.freshness_slo_ms).toBe(120_000);
    expect(errors?.staleness_ms).toBeGreaterThanOrEqual(0);
    expect(errors?.staleness_ms).toBeLessThan(120_000);
    expect(Date.parse(errors?.watermark_at as string)).toBeGreaterThanOrEqual(now - 5_000);
    expect(answer.features.watch_time_last_24h).toMatchObject({ value: 120, latest_event_ms: now - MINUTE, status: 'present' });
    // A source the user never wrote to: known zero, fresh as of the source's oldest partition watermark.
    expect(answer.features.payment_failures_last_7d).toMatchObject({ value: 0, latest_event_at: null, status: 'present' });
    expect(answer.features.payment_failures_last_7d?.watermark_at).not.toBeNull();
  });

  it('lets errors_last_10m decay to 0 eleven minutes after the last error, with no write in between (explicit as_of)', async () => {
    const user = `u-${randomBytes(4).toString('hex')}`;
    const now = Date.now();
    const lastError = now - 20_000;
    await send([clientEvent(user, 'playback_error', now - 50_000, now), clientEvent(user, 'playback_error', lastError, now)]);
    await readUntil(user, 'the errors readable', (a) => a.features.errors_last_10m?.value === 2);

    const nineLater = await connected.client.get(user, { asOfMs: lastError + 9 * MINUTE });
    expect(nineLater.as_of_ms).toBe(lastError + 9 * MINUTE);
    expect(nineLater.features.errors_last_10m).toMatchObject({ value: 2, latest_event_ms: lastError });

    const elevenLater = await connected.client.get(user, { asOfMs: lastError + 11 * MINUTE });
    expect(elevenLater.features.errors_last_10m).toMatchObject({ value: 0, latest_event_ms: null, latest_event_at: null });
    // The hour window still holds both errors, and the state was not touched by the reads.
    expect(elevenLater.features.errors_last_1h).toMatchObject({ value: 2, latest_event_ms: lastError });
    expect(elevenLater.status).not.toBe('missing');
    expect((await connected.client.get(user)).features.errors_last_10m?.value).toBe(2);
  });

  it("decays on the Redis server's clock when no as_of is given", async () => {
    // An error in the oldest tile a read now still counts leaves the window at the next
    // minute boundary. If the sidecar is so slow that the boundary passes before the error
    // is readable, try again in the next minute with a new user.
    for (let attempt = 1; ; attempt++) {
      if (Date.now() % MINUTE > 45_000) await sleep(MINUTE - (Date.now() % MINUTE) + 200);
      const user = `u-${randomBytes(4).toString('hex')}`;
      const now = Date.now();
      const tileNow = Math.floor(now / MINUTE);
      const errorMs = (tileNow - 10) * MINUTE + 1_000;
      await send([clientEvent(user, 'playback_error', errorMs, now)]);
      // errors_last_1h does not decay at this boundary: it says when the error is applied.
      await readUntil(user, 'the old error applied', (a) => a.features.errors_last_1h?.value === 1);
      const before = await connected.client.get(user);
      if (Math.floor(before.as_of_ms / MINUTE) !== tileNow && attempt < 3) continue;
      expect(Math.floor(before.as_of_ms / MINUTE)).toBe(tileNow);
      expect(Math.abs(before.as_of_ms - Date.now())).toBeLessThan(10_000);
      expect(before.features.errors_last_10m).toMatchObject({ value: 1, latest_event_ms: errorMs });

      await sleep((tileNow + 1) * MINUTE - Date.now() + 500);
      const after = await connected.client.get(user);
      expect(after.as_of_ms).toBeGreaterThanOrEqual((tileNow + 1) * MINUTE);
      expect(after.features.errors_last_10m).toMatchObject({ value: 0, latest_event_ms: null });
      expect(after.features.errors_last_1h).toMatchObject({ value: 1, latest_event_ms: errorMs });
      return;
    }
  }, 240_000);

  it('answers unknown users with defaults and status missing, never an error', async () => {
    const answer = await connected.client.get(`never-seen-${randomBytes(4).toString('hex')}`);
    expect(answer.status).toBe('missing');
    for (const feature of registry.features) {
      expect(answer.features[feature.name]).toMatchObject({ value: 0, status: 'missing', latest_event_at: null, latest_event_ms: null });
    }
  });

  it('reads a batch in one round trip, in request order, known and unknown users mixed', async () => {
    const users = [0, 1, 2].map(() => `u-${randomBytes(4).toString('hex')}`);
    const now = Date.now();
    await send(users.map((user, index) => clientEvent(user, 'playback_heartbeat', now - index * 1_000, now)));
    await readUntil(users[2] as string, 'the batch users readable', (a) => a.features.watch_time_last_24h?.value === 120);
    await waitFor('all three users', async () => (await connected.client.getMany(users)).every((a) => a.status === 'present'));
    const ids = [users[0], 'nobody-at-all', users[1], users[2], users[0]] as string[];
    const answers = await connected.client.getMany(ids);
    expect(answers.map((a) => a.user_id)).toEqual(ids);
    expect(answers.map((a) => a.status)).toEqual(['present', 'missing', 'present', 'present', 'present']);
    expect(answers[3]?.features.watch_time_last_24h?.latest_event_ms).toBe(now - 2_000);
  });
});
