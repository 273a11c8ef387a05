import { describe, expect, it } from 'vitest';
import { bootstrapProgressOf, describeBootstrapProgress } from '../../../sidecar/src/bootstrap/index.ts';
import { LifecycleRefusal, planCutover, runtimeRegistry, type CatalogView, type VersionRecord } from '../../../sidecar/src/store/index.ts';
import { fixtureRegistry } from '../../helpers/registry.ts';

const AT = '2026-12-01T12:00:00.000Z';
const registry = runtimeRegistry(fixtureRegistry());
const parity = { passed: true, mismatches: 0, sampleSize: 500, asOf: AT, at: AT };

function catalog(): CatalogView {
  const base = { registeredAt: AT, registeredBy: 'test', previous: null, activatedAt: null, retiredAt: null, collectedAt: null, parity };
  const records: VersionRecord[] = [
    { ...base, version: 'v1', state: 'active', registry: { ...registry, version: 'v1' } },
    { ...base, version: 'v2', state: 'shadow', registry: { ...registry, version: 'v2' } },
  ];
  return { active: 'v1', records: new Map(records.map((r) => [r.version, r])) };
}

function cutoverRefusal(record: Record<string, string>): string {
  try {
    planCutover(catalog(), 'v2', bootstrapProgressOf(record), AT);
  } catch (error) {
    expect(error).toBeInstanceOf(LifecycleRefusal);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

/** The fields of a bootstrap key as the loaders leave them (bootstrap-loader.ts): the cut, then per shard its checkpoint, users and state. */
const cut = { cut: '[]', state: 'loading', version: 'v2', group: 'g', users_loaded: '0', checkpoint: '', started_at: AT };
const sharded = {
  ...cut,
  shards: '3',
  'shard:1:checkpoint': 'u-9',
  'shard:1:users_loaded': '30',
  'shard:1:state': 'complete',
  'shard:1:finished_at': AT,
  'shard:2:checkpoint': 'u-4',
  'shard:2:users_loaded': '12',
};

describe('the bootstrap progress of a version', () => {
  it('is null without a bootstrap key, and says when only the cut is taken', () => {
    expect(bootstrapProgressOf({})).toBeNull();
    expect(bootstrapProgressOf(cut)).toMatchObject({ state: 'loading', shards: null, perShard: [], pendingShards: [] });
    expect(cutoverRefusal(cut)).toContain('only its cut is taken');
  });

  it('gives per shard complete or not and the users loaded, and the pending shards', () => {
    const progress = bootstrapProgressOf(sharded);
    expect(progress).toMatchObject({ state: 'loading', shards: 3, shardsComplete: 1, usersLoaded: 42, startedAt: AT, finishedAt: null, pendingShards: [2, 3] });
    expect(progress?.perShard).toEqual([
      { shard: 1, state: 'complete', usersLoaded: 30, finishedAt: AT },
      { shard: 2, state: 'loading', usersLoaded: 12, finishedAt: null },
      { shard: 3, state: 'not started', usersLoaded: 0, finishedAt: null },
    ]);
    const text = describeBootstrapProgress(progress as NonNullable<typeof progress>);
    expect(text[0]).toBe('loading: 1/3 shard(s) complete, 42 users loaded; pending: 2, 3');
    expect(text.slice(1)).toEqual([`  shard 1/3  complete    30 users loaded, finished at ${AT}`, '  shard 2/3  loading     12 users loaded', '  shard 3/3  not started 0 users loaded']);
  });

  it('makes the cutover refusal name the pending shards, or the missing completion when every shard is complete', () => {
    expect(cutoverRefusal(sharded)).toContain('1 of 3 shards complete; pending shard(s) 2/3, 3/3');
    const allDone = { ...sharded, 'shard:2:state': 'complete', 'shard:3:state': 'complete', 'shard:3:users_loaded': '5' };
    expect(bootstrapProgressOf(allDone)).toMatchObject({ state: 'loading', shardsComplete: 3, pendingShards: [] });
    expect(cutoverRefusal(allDone)).toContain('3 of 3 shards complete, its completion not recorded');
  });

  it('reads an unsharded load as shard 1 of 1, and a complete one with its total', () => {
    const unsharded = { ...cut, shards: '1', checkpoint: 'u-3', users_loaded: '7' };
    expect(bootstrapProgressOf(unsharded)).toMatchObject({ state: 'loading', shards: 1, usersLoaded: 7, pendingShards: [1] });
    expect(cutoverRefusal(unsharded)).toContain('bootstrap is loading, not complete: 7 users loaded so far');
    const complete = bootstrapProgressOf({ ...sharded, 'shard:2:state': 'complete', 'shard:3:state': 'complete', state: 'complete', users_loaded: '50', finished_at: AT });
    expect(complete).toMatchObject({ state: 'complete', shardsComplete: 3, usersLoaded: 50, finishedAt: AT, pendingShards: [] });
    expect(planCutover(catalog(), 'v2', complete, AT).alias).toBe('v2');
  });
});
