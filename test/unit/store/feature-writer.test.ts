import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  APPLY_ARGS,
  APPLY_EVENT_ARGS,
  APPLY_KEYS,
  encodePruneSpec,
  FeatureWriter,
  functionNames,
  partitionKey,
  tombstoneKey,
  userDedupKey,
  userHeadKey,
  userStateKey,
  versionPrefix,
  type StoreRecord,
} from '../../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../../sidecar/src/windows/index.ts';
import { event } from '../../helpers/events.ts';
import { fixtureRegistry } from '../../helpers/registry.ts';

const HOUR = 3_600_000;
const registry = fixtureRegistry();
const operators = new WindowOperators(registry);
/** The registry version's keyspace: state and dedup keys live there, the tombstone under the base prefix. */
/** Where ARGV starts in a pipelined FCALL: 'FCALL', the function, the key count, the keys. */
const ARGV = 3 + APPLY_KEYS.length;
const V = versionPrefix('cf', registry.version);

/**
 * A Redis stand-in that records the pipelined calls and answers "applied" for every event, or,
 * for a user in `tombstones` and a call that has not seen its tombstone, the tombstone reply.
 */
function recordingRedis(tombstones: ReadonlyMap<string, number> = new Map()): { redis: Redis; calls: Array<Array<string | number>> } {
  const calls: Array<Array<string | number>> = [];
  let answered = 0;
  const pipeline = {
    call(...args: Array<string | number>) {
      calls.push(args);
      return pipeline;
    },
    async exec() {
      const round = calls.slice(answered);
      answered = calls.length;
      return round.map((args) => {
        const user = /\{(.+)\}/.exec(String(args[3]))?.[1] as string;
        const tomb = tombstones.get(user);
        // 'FCALL', the function, the key count, the keys (APPLY_KEYS), then ARGV (APPLY_ARGS)
        if (tomb !== undefined && args[ARGV + APPLY_ARGS.indexOf('tomb_seen')] !== String(tomb)) return [null, `T${tomb}`];
        return [null, 'a'.repeat(Number(args[ARGV + APPLY_ARGS.indexOf('n_events')]))];
      });
    },
  };
  return { redis: { pipeline: () => pipeline } as unknown as Redis, calls };
}

function record(userId: string, source: 'client' | 'billing', ingestMs: number, offset: number): StoreRecord {
  const e = event({ userId, source, eventType: source === 'client' ? 'playback_error' : 'payment_failed', ingestMs, attributes: { error_code: 'E1', amount: 1, currency: 'USD' } });
  return { event: e, topic: `t.${source}.events`, partition: 2, offset: String(offset), ops: operators.opsFor(e) };
}

describe('the feature writer', () => {
  it('makes one call per user and source, on keys of that user only, with the records in Kafka order', async () => {
    const { redis, calls } = recordingRedis();
    const writer = new FeatureWriter(redis, operators, { prefix: 'cf', allowedLatenessMs: 24 * HOUR, dedupMarginMs: HOUR, pruneAboveFields: 256 });
    const t = Date.parse('2024-05-01T00:00:00Z');
    const verdicts = await writer.write([record('u1', 'client', t, 10), record('u2', 'client', t, 11), record('u1', 'client', t + 1, 12), record('u1', 'billing', t, 5)]);
    expect(verdicts).toEqual(['applied', 'applied', 'applied', 'applied']);
    const fn = functionNames(registry.version).apply;
    expect(calls.map((c) => c.slice(0, 7))).toEqual([
      ['FCALL', fn, 4, userStateKey(V, 'u1'), userDedupKey(V, 'u1', 'client'), tombstoneKey('cf', 'u1'), userHeadKey(V, 'u1')],
      ['FCALL', fn, 4, userStateKey(V, 'u2'), userDedupKey(V, 'u2', 'client'), tombstoneKey('cf', 'u2'), userHeadKey(V, 'u2')],
      ['FCALL', fn, 4, userStateKey(V, 'u1'), userDedupKey(V, 'u1', 'billing'), tombstoneKey('cf', 'u1'), userHeadKey(V, 'u1')],
    ]);
    const first = calls[0] as Array<string | number>;
    expect(first[11]).toBe(2);
    expect(first[12]).toBe('');
    // skip_dedup: '' (the store deduplicates)
    expect(first[13]).toBe('');
    // per event: source field, partition key, offset, ...
    expect(first.slice(14, 17)).toEqual(['s:client', partitionKey('t.client.events', 2), '10']);
    expect(first).toContain('12');
  });

  it("drops a tombstoned user's records from before the deletion as 'deleted' and applies the later ones in a second call that names the tombstone", async () => {
    const t = Date.parse('2024-05-01T00:00:00Z');
    const { redis, calls } = recordingRedis(new Map([['u1', t]]));
    const writer = new FeatureWriter(redis, operators, { prefix: 'cf', allowedLatenessMs: 24 * HOUR, dedupMarginMs: HOUR, pruneAboveFields: 256 });
    const verdicts = await writer.write([record('u1', 'client', t - 1, 1), record('u2', 'client', t - 1, 2), record('u1', 'client', t, 3), record('u1', 'client', t - 5_000, 4)]);
    expect(verdicts).toEqual(['deleted', 'applied', 'applied', 'deleted']);
    expect(calls).toHaveLength(3);
    const again = calls[2] as Array<string | number>;
    expect(again.slice(3, 7)).toEqual([userStateKey(V, 'u1'), userDedupKey(V, 'u1', 'client'), tombstoneKey('cf', 'u1'), userHeadKey(V, 'u1')]);
    expect([again[11], again[12], again[16]]).toEqual([1, String(t), '3']);
  });

  it('sends skip_dedup and no member for the records the caller deduplicated itself (--dedup local), and neither for the others', async () => {
    const { redis, calls } = recordingRedis();
    const writer = new FeatureWriter(redis, operators, { prefix: 'cf', allowedLatenessMs: 24 * HOUR, dedupMarginMs: HOUR, pruneAboveFields: 256 });
    const t = Date.parse('2024-05-01T00:00:00Z');
    await writer.write([{ ...record('u1', 'client', t, 10), dedupDone: true }, record('u2', 'client', t, 11)]);
    const skip = (call: Array<string | number>) => [
      call[ARGV + APPLY_ARGS.indexOf('skip_dedup')],
      (call[ARGV + APPLY_ARGS.length + APPLY_EVENT_ARGS.indexOf('dedup_member')] as unknown as Buffer).length,
    ];
    expect(calls.map(skip)).toEqual([
      ['1', 0],
      ['', 8],
    ]);
  });

  it("prunes each user's dedup set of a source by the ingest clock of that user's own records: not by another topic read a day ahead, nor by another user's record from a clock far ahead", async () => {
    const { redis, calls } = recordingRedis();
    const writer = new FeatureWriter(redis, operators, { prefix: 'cf', allowedLatenessMs: 24 * HOUR, dedupMarginMs: HOUR, pruneAboveFields: 256 });
    const t = Date.parse('2024-05-01T00:00:00Z');
    await writer.write([record('u1', 'client', t, 1), record('u1', 'billing', t + 26 * HOUR, 1), record('u2', 'client', t + 10 * 24 * HOUR, 2), record('u1', 'client', t - 5_000, 3)]);
    const before = (call: Array<string | number>) => [call[3], call[4], call[8], call[9]];
    expect(calls.map(before)).toEqual([
      [userStateKey(V, 'u1'), userDedupKey(V, 'u1', 'client'), Math.floor((t - 25 * HOUR) / 1000), encodePruneSpec(operators.tileBounds(t))],
      [userStateKey(V, 'u1'), userDedupKey(V, 'u1', 'billing'), Math.floor((t + HOUR) / 1000), encodePruneSpec(operators.tileBounds(t + 26 * HOUR))],
      [userStateKey(V, 'u2'), userDedupKey(V, 'u2', 'client'), Math.floor((t + 9 * 24 * HOUR - HOUR) / 1000), encodePruneSpec(operators.tileBounds(t + 10 * 24 * HOUR))],
    ]);
  });

  it('sends a batch of many users in pipelines of at most maxCallsPerPipeline calls, one after the other, and keeps every verdict', async () => {
    const { redis, calls } = recordingRedis();
    const sizes: number[] = [];
    let pending = 0;
    const counting = {
      pipeline: () => {
        const inner = redis.pipeline();
        return {
          call(...args: Array<string | number>) {
            pending += 1;
            inner.call(...(args as [string]));
            return this;
          },
          async exec() {
            sizes.push(pending);
            pending = 0;
            return inner.exec();
          },
        };
      },
    } as unknown as Redis;
    const writer = new FeatureWriter(counting, operators, { prefix: 'cf', allowedLatenessMs: 24 * HOUR, dedupMarginMs: HOUR, pruneAboveFields: 256, maxCallsPerPipeline: 2 });
    const t = Date.parse('2024-05-01T00:00:00Z');
    const verdicts = await writer.write(['u1', 'u2', 'u3', 'u4', 'u5'].map((user, i) => record(user, 'client', t, 10 + i)));
    expect(sizes).toEqual([2, 2, 1]);
    expect(verdicts).toEqual(['applied', 'applied', 'applied', 'applied', 'applied']);
    expect(calls.map((c) => c[3])).toEqual(['u1', 'u2', 'u3', 'u4', 'u5'].map((user) => userStateKey(V, user)));
  });
});
