import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { ChurnfeatError } from '../../../sidecar/src/errors.ts';
import { APPLY_ARGS, APPLY_KEYS, FeatureWriter, functionNames, registryKey, userStateKey, versionPrefix, type StoreRecord, type WriteRetry } from '../../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../../sidecar/src/windows/index.ts';
import { event } from '../../helpers/events.ts';
import { fixtureRegistry } from '../../helpers/registry.ts';

const HOUR = 3_600_000;
const registry = fixtureRegistry();
/** The registry version's keyspace the writer writes. */
const V = versionPrefix('cf', registry.version);
const operators = new WindowOperators(registry);

/** What ioredis hands back for a Redis error reply. */
class ReplyError extends Error {
  override name = 'ReplyError';
}

type Answer = (call: Array<string | number>) => [Error | null, unknown];

/** Where n_events sits in a pipelined FCALL: 'FCALL', the function, the key count, the keys, then the header arguments. */
const N_EVENTS_ARG = 3 + APPLY_KEYS.length + APPLY_ARGS.indexOf('n_events');

/**
 * A Redis stand-in that answers each pipelined round with the next scripted answer (an
 * answer per call, or an error thrown by exec), and records rounds and library loads.
 */
function scriptedRedis(rounds: Array<Answer | Error>) {
  const seen: Array<Array<Array<string | number>>> = [];
  const commands: Array<Array<string | number>> = [];
  const redis = {
    pipeline() {
      const calls: Array<Array<string | number>> = [];
      const pipeline = {
        call(...args: Array<string | number>) {
          calls.push(args);
          return pipeline;
        },
        async exec() {
          seen.push(calls);
          const round = rounds.shift() ?? ((args) => [null, 'a'.repeat(Number(args[N_EVENTS_ARG]))]);
          if (round instanceof Error) throw round;
          return calls.map(round);
        },
      };
      return pipeline;
    },
    async call(...args: Array<string | number>) {
      commands.push(args);
      return 'OK';
    },
    async set(...args: Array<string | number>) {
      commands.push(['SET', ...args]);
      return 'OK';
    },
  };
  return { redis: redis as unknown as Redis, rounds: seen, commands };
}

const applied: Answer = (args) => [null, 'a'.repeat(Number(args[N_EVENTS_ARG]))];

function record(userId: string, offset: number): StoreRecord {
  const e = event({ userId, source: 'client', eventType: 'playback_error', ingestMs: 10 * HOUR, attributes: { error_code: 'E1' } });
  return { event: e, topic: 't.client.events', partition: 0, offset: String(offset), ops: operators.opsFor(e) };
}

function writer(redis: Redis): FeatureWriter {
  return new FeatureWriter(redis, operators, { prefix: 'cf', allowedLatenessMs: 24 * HOUR, dedupMarginMs: HOUR, pruneAboveFields: 256, backoff: { baseMs: 2, maxMs: 8 } });
}

describe('the feature writer while Redis is away', () => {
  it('loads this registry\'s library again on "Function not found" and retries only the calls that failed, at once', async () => {
    const { redis, rounds, commands } = scriptedRedis([(args) => (args[3] === userStateKey(V, 'u1') ? applied(args) : [new ReplyError('ERR Function not found'), null])]);
    const retries: WriteRetry[] = [];
    let reloads = 0;
    const verdicts = await writer(redis).write([record('u1', 1), record('u2', 2)], { onRetry: (r) => void retries.push(r), onReload: () => (reloads += 1) });
    expect(verdicts).toEqual(['applied', 'applied']);
    expect(rounds.map((calls) => calls.map((c) => c[3]))).toEqual([[userStateKey(V, 'u1'), userStateKey(V, 'u2')], [userStateKey(V, 'u2')]]);
    expect(retries.map((r) => [r.reason, r.delayMs])).toEqual([['library_missing', 0]]);
    expect(reloads).toBe(1);
    expect(commands[0]?.slice(0, 3)).toEqual(['FUNCTION', 'LOAD', 'REPLACE']);
    expect(String(commands[0]?.[3])).toContain(`#!lua name=${functionNames(registry.version).library}`);
    expect(commands[1]).toEqual(['SET', registryKey(versionPrefix('cf', registry.version)), registry.version]);
  });

  it('keeps the verdicts of the pipelines that ran when a later pipeline of the same batch fails, and retries only that one and the ones not sent', async () => {
    const down = new Error('Connection is closed.');
    const { redis, rounds } = scriptedRedis([applied, down]);
    const capped = new FeatureWriter(redis, operators, {
      prefix: 'cf',
      allowedLatenessMs: 24 * HOUR,
      dedupMarginMs: HOUR,
      pruneAboveFields: 256,
      backoff: { baseMs: 2, maxMs: 8 },
      maxCallsPerPipeline: 2,
    });
    const verdicts = await capped.write([record('u1', 1), record('u2', 2), record('u3', 3), record('u4', 4), record('u5', 5)]);
    expect(verdicts).toEqual(Array(5).fill('applied'));
    expect(rounds.map((calls) => calls.map((c) => c[3]))).toEqual([['u1', 'u2'], ['u3', 'u4'], ['u3', 'u4'], ['u5']].map((users) => users.map((user) => userStateKey(V, user))));
  });

  it('waits with capped exponential backoff and jitter while Redis cannot be reached, then goes on', async () => {
    const down = new Error('Connection is closed.');
    const { redis } = scriptedRedis([down, down, down, down, down]);
    const retries: WriteRetry[] = [];
    expect(await writer(redis).write([record('u1', 1)], { onRetry: (r) => void retries.push(r) })).toEqual(['applied']);
    expect(retries.map((r) => r.reason)).toEqual(Array(5).fill('redis_unavailable'));
    // caps 2, 4, 8, 8, 8 ms: each wait is between half its cap and the cap
    [2, 4, 8, 8, 8].forEach((cap, i) => {
      expect(retries[i]?.delayMs).toBeGreaterThanOrEqual(cap / 2);
      expect(retries[i]?.delayMs).toBeLessThanOrEqual(cap);
    });
  });

  it('throws a function error at once: retrying cannot help', async () => {
    const { redis, rounds } = scriptedRedis([() => [new ReplyError('ERR user_script:12: bad argument'), null]]);
    const error = await writer(redis)
      .write([record('u1', 1)])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChurnfeatError);
    expect((error as ChurnfeatError).code).toBe('redis_script_failed');
    expect(rounds.length).toBe(1);
  });

  it('gives up with redis_unavailable when the caller stops (shutdown, partition revoked)', async () => {
    const { redis } = scriptedRedis([new Error('Connection is closed.')]);
    const error = await writer(redis)
      .write([record('u1', 1)], { shouldContinue: () => false })
      .catch((e: unknown) => e);
    expect((error as ChurnfeatError).code).toBe('redis_unavailable');
  });
});
