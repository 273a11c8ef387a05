import { describe, expect, it } from 'vitest';
import { loadFeatureRegistry } from '../../../sidecar/src/features/index.ts';
import { DEDUP_TILE_S, decodeDedupBucket, dedupBucketField, dedupMember, FeatureReader, FeatureWriter, loadFunctionLibrary, userDedupKey } from '../../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../../sidecar/src/windows/index.ts';
import { testRedis } from '../../helpers/redis.ts';
import { ALLOWED_LATENESS_MS, DEDUP_MARGIN_MS, type EventSpec, HOUR, type PositionedRecord, rawEvent, sourceOf, testPrefix, writeDirect } from '../../helpers/reference.ts';

const registry = loadFeatureRegistry('dbt_project');
const operators = new WindowOperators(registry);

async function store(pruneAboveFields = 256) {
  const redis = testRedis();
  const prefix = testPrefix(redis, 'dd');
  await loadFunctionLibrary(redis, registry, prefix);
  const writer = new FeatureWriter(redis, operators, { prefix, allowedLatenessMs: ALLOWED_LATENESS_MS, dedupMarginMs: DEDUP_MARGIN_MS, pruneAboveFields });
  const reader = new FeatureReader(redis, registry, prefix);
  // the keys the writer writes: its registry version's keyspace
  return { redis, prefix: writer.keyspace, writer, reader };
}

function record(spec: EventSpec, offset: number): PositionedRecord {
  return { source: sourceOf(spec.eventType), value: rawEvent(spec), partition: 0, offset };
}

describe('the dedup horizon', () => {
  it('keeps a source duplicate out even when another source of the same user is a day ahead (consumer lag differs per topic)', async () => {
    const { writer, reader } = await store();
    const t = Math.floor(Date.now() / HOUR) * HOUR - 3 * 24 * HOUR;
    const error: EventSpec = { eventId: 'err-1', userId: 'u1', eventType: 'playback_error', eventTs: t - 1_000, ingestMs: t };
    const topicOf = (source: string) => `lagging.${source}`;
    // The client partition lags: its first copy is applied, then the billing partition
    // (consumed a day and more ahead) writes for the same user, then the client's re-sent copy arrives.
    const verdicts = [
      ...(await writeDirect(writer, operators, [[record(error, 0)]], topicOf)),
      ...(await writeDirect(writer, operators, [[record({ eventId: 'pay-1', userId: 'u1', eventType: 'payment_failed', eventTs: t + 26 * HOUR, ingestMs: t + 26 * HOUR }, 0)]], topicOf)),
      ...(await writeDirect(writer, operators, [[record({ ...error, ingestMs: t + 60_000 }, 1)]], topicOf)),
    ];
    expect(verdicts).toEqual(['applied', 'applied', 'duplicate']);
    const read = await reader.read('u1', t + 61_000);
    expect(read.features.errors_last_1h?.value).toBe(1);
  });

  it('keeps out a re-sent copy of an event from a device whose clock runs ahead, though its event_ms (clamped to ingest_ts) falls in another dedup tile', async () => {
    const { writer, reader } = await store();
    const t = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    const topicOf = (source: string) => `ahead.${source}`;
    // event_ts 20 minutes ahead of the edge: event_ms = ingest_ts, which differs per copy
    const first: EventSpec = { eventId: 'ahead-1', userId: 'u3', eventType: 'playback_error', eventTs: t + 20 * 60_000, ingestMs: t };
    const verdicts = [
      ...(await writeDirect(writer, operators, [[record(first, 0)]], topicOf)),
      ...(await writeDirect(writer, operators, [[record({ ...first, ingestMs: t + 16 * 60_000 }, 1)]], topicOf)),
    ];
    expect(verdicts).toEqual(['applied', 'duplicate']);
    expect((await reader.read('u3', t + 17 * 60_000)).features.errors_last_1h?.value).toBe(1);
  });

  it('keeps out a second record with the same event_id whose event_ts falls in another 15-minute tile (the offline dedup keeps the first by event_id alone)', async () => {
    const { writer, reader } = await store();
    const t = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    const topicOf = (source: string) => `retimed.${source}`;
    // the producer re-sent the event with a corrected event_ts, 20 minutes earlier (another dedup tile)
    const first: EventSpec = { eventId: 'retimed-1', userId: 'u4', eventType: 'playback_error', eventTs: t, ingestMs: t };
    const verdicts = [
      ...(await writeDirect(writer, operators, [[record(first, 0)]], topicOf)),
      ...(await writeDirect(writer, operators, [[record({ ...first, eventTs: t - 20 * 60_000, ingestMs: t + 60_000 }, 1)]], topicOf)),
    ];
    expect(verdicts).toEqual(['applied', 'duplicate']);
    expect((await reader.read('u4', t + 2 * 60_000)).features.errors_last_1h?.value).toBe(1);
  });

  it("drops an entry only once every later timely copy must be too late (the user's ingest clock in that source moved past the end of the entry's tile + lateness + margin)", async () => {
    const { writer, redis, prefix } = await store();
    const t = Math.floor(Date.now() / HOUR) * HOUR - 3 * 24 * HOUR;
    const tileMs = DEDUP_TILE_S * 1_000;
    const topicOf = (source: string) => `horizon.${source}`;
    const first: EventSpec = { eventId: 'e-1', userId: 'u2', eventType: 'playback_error', eventTs: t, ingestMs: t };
    // entries go when their bucket is written: the later events share e-1's bucket
    const sameBucket = (prefix: string): string => {
      for (let n = 0; ; n++) if (dedupBucketField(dedupMember(`${prefix}-${n}`)) === dedupBucketField(dedupMember('e-1'))) return `${prefix}-${n}`;
    };
    const later = (ms: number, offset: number) => record({ eventId: sameBucket(`later-${offset}`), userId: 'u2', eventType: 'playback_error', eventTs: ms, ingestMs: ms }, offset);
    const members = async (): Promise<string[]> => (await redis.hvalsBuffer(userDedupKey(prefix, 'u2', 'client'))).flatMap(decodeDedupBucket);
    const firstMember = dedupMember('e-1').toString('hex');
    await writeDirect(writer, operators, [[record(first, 0)]], topicOf);
    const horizon = ALLOWED_LATENESS_MS + DEDUP_MARGIN_MS;
    // The partition's ingest clock reaches event time + horizon: the entry stays.
    await writeDirect(writer, operators, [[later(t + horizon, 1)]], topicOf);
    expect(await members()).toHaveLength(2);
    // Up to the end of its tile + horizon the entry stays (its tile still holds times a timely copy could carry).
    await writeDirect(writer, operators, [[later(t + horizon + tileMs - 1_000, 2)]], topicOf);
    expect(await members()).toContain(firstMember);
    // Once the clock passes the end of e-1's tile + horizon, the entry goes when its bucket is next written;
    // a copy of e-1 ingested no earlier than the margin before that clock is necessarily too late.
    await writeDirect(writer, operators, [[later(t + horizon + tileMs, 3)]], topicOf);
    expect(await members()).not.toContain(firstMember);
    expect(await members()).toHaveLength(3);
    const copyIngest = t + horizon + tileMs - DEDUP_MARGIN_MS;
    const verdicts = await writeDirect(writer, operators, [[record({ ...first, ingestMs: copyIngest }, 4)]], topicOf);
    expect(verdicts).toEqual(['too_late']);
  });
});

describe('an ingest clock far ahead', () => {
  it('does not let one record stamped days in the future prune the dedup sets and tiles of the other users in its batch', async () => {
    const { writer, reader } = await store(16);
    const t = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
    const topicOf = (source: string) => `future.${source}`;
    const heartbeats = Array.from({ length: 20 }, (_, i) =>
      record({ eventId: `hb-${i}`, userId: 'ua', eventType: 'playback_heartbeat', eventTs: t - i * 15 * 60_000, ingestMs: t, attributes: { watched_seconds: 30 } }, i),
    );
    const error: EventSpec = { eventId: 'err-a', userId: 'ua', eventType: 'playback_error', eventTs: t, ingestMs: t };
    const future = Date.now() + 10 * 24 * HOUR;
    const verdicts = [
      ...(await writeDirect(writer, operators, [[...heartbeats, record(error, 20)]], topicOf)),
      // an edge server with a clock ten days ahead stamps one record in the same partition
      ...(await writeDirect(
        writer,
        operators,
        [
          [
            record({ eventId: 'from-the-future', userId: 'ub', eventType: 'playback_error', eventTs: future, ingestMs: future }, 21),
            record({ eventId: 'err-a2', userId: 'ua', eventType: 'playback_error', eventTs: t + 1_000, ingestMs: t + 1_000 }, 22),
          ],
        ],
        topicOf,
      )),
      ...(await writeDirect(writer, operators, [[record({ ...error, ingestMs: t + 60_000 }, 23)]], topicOf)),
    ];
    expect(verdicts.slice(21)).toEqual(['applied', 'applied', 'duplicate']);
    const read = await reader.read('ua', t + 2 * 60_000);
    expect(read.features.watch_time_last_24h?.value).toBe(600);
    expect(read.features.errors_last_10m?.value).toBe(2);
  });
});

describe('the memory cost of the dedup horizon', () => {
  it('is measured per entry with MEMORY USAGE for 100, 500 and 1000 entries of one user', async () => {
    const { writer, redis, prefix } = await store();
    const t = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR;
    const rows: string[] = [];
    const perEntry = new Map<number, number>();
    let written = 0;
    for (const n of [100, 128, 129, 500, 1000, 5000]) {
      const batch: PositionedRecord[] = [];
      for (; written < n; written++) {
        batch.push(
          record(
            {
              eventId: `${written.toString(16)}-${'0'.repeat(24)}`,
              userId: 'mem',
              eventType: 'playback_heartbeat',
              // one event every 10 s: 90 per 15-minute tile
              eventTs: t + written * 10_000,
              ingestMs: t + written * 10_000,
              attributes: { watched_seconds: 30 },
            },
            written,
          ),
        );
      }
      for (let i = 0; i < batch.length; i += 500) await writeDirect(writer, operators, [batch.slice(i, i + 500)], (s) => `mem.${s}`);
      const key = userDedupKey(prefix, 'mem', 'client');
      expect((await redis.hvalsBuffer(key)).flatMap(decodeDedupBucket)).toHaveLength(n);
      const bytes = Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
      const encoding = String(await redis.call('OBJECT', 'ENCODING', key));
      perEntry.set(n, bytes / n);
      rows.push(`${String(n).padStart(5)} entries: ${String(bytes).padStart(7)} bytes (${(bytes / n).toFixed(1)} B/entry, ${encoding})`);
    }
    console.info(`dedup hash of one user and source (Redis ${(await redis.info('server')).match(/redis_version:(\S+)/)?.[1]}):\n  ${rows.join('\n  ')}`);
    // 10-byte entries (8-byte member, 2-byte stamp) packed in 16 buckets (hashtable encoding: a
    // bucket's value is longer than 64 bytes); store protocol 2's ZSET took ~30 B/entry as a
    // listpack and ~100 B/entry as a skiplist
    expect(perEntry.get(100)).toBeLessThan(24);
    expect(perEntry.get(1000)).toBeLessThan(13);
  });
});
