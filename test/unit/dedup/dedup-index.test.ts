/**
 * The local dedup index (sidecar/src/dedup) against the store model (store-model.ts applyCall,
 * which the store's property test proves equal to the Redis function): for random sequences of
 * calls (copies of events across dedup tiles, late events, prune bounds moving both ways,
 * several users whose members collide) the index calls "duplicate" exactly where the store
 * does, and holds per user the very entries of the store's dedup hash, bucket by bucket.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PartitionDedupIndex, type DedupChange } from '../../../sidecar/src/dedup/index.ts';
import { applyCall, DEDUP_TILE_S, type ApplyCall, type ModelState } from '../../../sidecar/src/store/index.ts';

const T0_S = 1_780_000_000;
const USERS = ['u-1', 'u-2', 'u-3'];

/** A small member pool: the same member under two users must stay two entries. */
const member = (n: number): Buffer => {
  const bytes = Buffer.alloc(8);
  bytes.writeUInt32BE((n * 2_654_435_761) >>> 0, 0);
  bytes.writeUInt32BE(n, 4);
  return bytes;
};

const callArb = fc.record({
  user: fc.integer({ min: 0, max: USERS.length - 1 }),
  // the bound drifts by whole and partial dedup tiles, sometimes backwards (another call's clock)
  boundStep: fc.integer({ min: -2 * DEDUP_TILE_S, max: 6 * DEDUP_TILE_S }),
  events: fc.array(
    fc.record({
      member: fc.integer({ min: 0, max: 24 }),
      // event time around the bound: late (below it), live, or far ahead (stamp capped)
      ageS: fc.oneof(fc.integer({ min: -3 * DEDUP_TILE_S, max: 12 * DEDUP_TILE_S }), fc.constantFrom(-20_000_000, 30_000_000)),
    }),
    { minLength: 1, maxLength: 6 },
  ),
});

describe('the partition dedup index', () => {
  it('decides duplicate exactly as the store model, and holds the same entries, for random call sequences', () => {
    fc.assert(
      fc.property(fc.array(callArb, { minLength: 1, maxLength: 80 }), fc.boolean(), (calls, replayed) => {
        const index = new PartitionDedupIndex(Number.MAX_SAFE_INTEGER);
        const rebuilt = new PartitionDedupIndex(Number.MAX_SAFE_INTEGER);
        const states = new Map(USERS.map((u) => [u, { fields: new Map(), dedup: new Map() } as ModelState]));
        let boundS = T0_S;
        let offset = 0;
        const changelog: DedupChange[] = [];
        for (const c of calls) {
          boundS += c.boundStep;
          const userId = USERS[c.user] as string;
          const events = c.events.map((e) => ({ member: member(e.member), scoreS: boundS + e.ageS }));
          const call: ApplyCall = {
            stateTtlMs: 1,
            dedupTtlMs: 1,
            dedupPruneBeforeS: boundS,
            pruneBounds: [],
            pruneAboveFields: 1_000,
            events: events.map((e) => ({ source: 'client', partitionKey: 'p:0', offset: String(offset++), dedupMember: e.member, dedupScoreS: e.scoreS, ingestMs: 0, ops: [] })),
          };
          const model = applyCall(states.get(userId) as ModelState, call, []);
          const decision = index.decide({ userId, boundS, clockMs: boundS * 1000, events });
          expect(decision.duplicate).toEqual(model.map((v) => v === 'duplicate'));
          if (decision.change) {
            index.commit([decision.change]);
            changelog.push(decision.change);
          }
          expect(index.bucketsOf(userId)).toEqual((states.get(userId) as ModelState).dedup);
        }
        // a rebuild from the changelog gives the same index
        if (replayed) for (const change of changelog) rebuilt.replay(change.userId, change.appended, change.boundS, change.clockMs);
        if (replayed) for (const u of USERS) expect(rebuilt.bucketsOf(u)).toEqual(index.bucketsOf(u));
      }),
      { numRuns: 300 },
    );
  });

  it('changes nothing until the decision is committed, so a failed batch decides the same again', () => {
    const index = new PartitionDedupIndex(Number.MAX_SAFE_INTEGER);
    const call = {
      userId: 'u-1',
      boundS: T0_S,
      clockMs: T0_S * 1000,
      events: [
        { member: member(1), scoreS: T0_S + 10 },
        { member: member(1), scoreS: T0_S + 20 },
      ],
    };
    expect(index.decide(call).duplicate).toEqual([false, true]);
    const again = index.decide(call);
    expect(again.duplicate).toEqual([false, true]);
    index.commit([again.change as DedupChange]);
    expect(index.decide(call).duplicate).toEqual([true, true]);
    expect(index.members).toBe(1);
  });

  it('drops a user whose newest call is older than the TTL behind the newest call', () => {
    const index = new PartitionDedupIndex(60_000);
    const at = (userId: string, clockMs: number) => index.decide({ userId, boundS: clockMs / 1000 - 3600, clockMs, events: [{ member: member(clockMs), scoreS: clockMs / 1000 }] });
    index.commit([at('u-1', 1_000_000_000).change as DedupChange, at('u-2', 1_000_050_000).change as DedupChange]);
    expect(index.sweep()).toBe(0);
    index.commit([at('u-2', 1_000_070_000).change as DedupChange]);
    expect(index.sweep()).toBe(1);
    expect(index.size).toBe(1);
    expect(index.members).toBe(2);
  });
});
