import { describe, expect, it } from 'vitest';
import {
  checkGc,
  LifecycleRefusal,
  planCutover,
  planRetire,
  planRollback,
  rollbackTarget,
  runtimeRegistry,
  type BootstrapProgress,
  type CatalogView,
  type VersionRecord,
  type VersionState,
} from '../../../sidecar/src/store/index.ts';
import { fixtureRegistry } from '../../helpers/registry.ts';

const AT = '2026-12-01T12:00:00.000Z';
const registry = runtimeRegistry(fixtureRegistry());

function record(version: string, state: VersionState, extra: Partial<VersionRecord> = {}): VersionRecord {
  return {
    version,
    state,
    registeredAt: AT,
    registeredBy: 'test',
    previous: null,
    activatedAt: null,
    retiredAt: null,
    collectedAt: null,
    parity: null,
    registry: { ...registry, version },
    ...extra,
  };
}

const passed = { passed: true, mismatches: 0, sampleSize: 500, asOf: AT, at: AT };
const failed = { passed: false, mismatches: 7, sampleSize: 500, asOf: AT, at: AT };

const LOADING: BootstrapProgress = {
  state: 'loading',
  shards: 1,
  shardsComplete: 0,
  usersLoaded: 40,
  startedAt: AT,
  finishedAt: null,
  perShard: [{ shard: 1, state: 'loading', usersLoaded: 40, finishedAt: null }],
  pendingShards: [1],
};
const COMPLETE: BootstrapProgress = { ...LOADING, state: 'complete', shardsComplete: 1, perShard: [{ shard: 1, state: 'complete', usersLoaded: 40, finishedAt: AT }], pendingShards: [] };

function view(active: string | null, ...records: VersionRecord[]): CatalogView {
  return { active, records: new Map(records.map((r) => [r.version, r])) };
}

/** Applies a plan to a view: what the MULTI writes. */
function apply(before: CatalogView, plan: { records: VersionRecord[]; alias?: string }): CatalogView {
  const records = new Map(before.records);
  for (const r of plan.records) records.set(r.version, r);
  return { active: plan.alias ?? before.active, records };
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LifecycleRefusal);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('the version catalog state machine', () => {
  it('cuts over to a shadow whose parity passed: it becomes active, the old active becomes standby and the rollback target', () => {
    const before = view('v1', record('v1', 'active'), record('v2', 'shadow', { parity: passed }));
    const after = apply(before, planCutover(before, 'v2', null, AT));
    expect(after.active).toBe('v2');
    expect(after.records.get('v2')).toMatchObject({ state: 'active', previous: 'v1', activatedAt: AT });
    expect(after.records.get('v1')?.state).toBe('standby');
    expect(rollbackTarget(after)).toBe('v1');
  });

  it('refuses a cutover without parity, with failed parity, with an unfinished bootstrap, to a retired version, or to the active one, saying why', () => {
    expect(refusal(() => planCutover(view('v1', record('v1', 'active'), record('v2', 'shadow')), 'v2', null, AT))).toContain('has no parity result: run `churnfeat parity --version v2`');
    expect(refusal(() => planCutover(view('v1', record('v1', 'active'), record('v2', 'shadow', { parity: failed })), 'v2', null, AT))).toContain(
      'failed parity (7 unexplained mismatches of 500 users',
    );
    expect(refusal(() => planCutover(view('v1', record('v1', 'active'), record('v2', 'shadow', { parity: passed })), 'v2', LOADING, AT))).toContain('bootstrap is loading, not complete');
    expect(refusal(() => planCutover(view('v1', record('v1', 'active'), record('v2', 'retired', { parity: passed })), 'v2', null, AT))).toContain('is retired');
    expect(refusal(() => planCutover(view('v1', record('v1', 'active')), 'v1', null, AT))).toContain('already active');
    expect(refusal(() => planCutover(view('v1', record('v1', 'active')), 'v9', null, AT))).toContain('not in the catalog (known: v1)');
  });

  it('accepts a cutover whose bootstrap is complete', () => {
    const before = view('v1', record('v1', 'active'), record('v2', 'shadow', { parity: passed }));
    expect(planCutover(before, 'v2', COMPLETE, AT).alias).toBe('v2');
  });

  it('rolls back to the previous version and back again: the version left stays standby, still written', () => {
    const start = view('v1', record('v1', 'active'), record('v2', 'shadow', { parity: passed }));
    const cut = apply(start, planCutover(start, 'v2', null, AT));
    const back = apply(cut, planRollback(cut, AT));
    expect(back.active).toBe('v1');
    expect(back.records.get('v1')).toMatchObject({ state: 'active', previous: 'v2' });
    expect(back.records.get('v2')?.state).toBe('standby');
    const forward = apply(back, planRollback(back, AT));
    expect(forward.active).toBe('v2');
  });

  it('refuses a rollback without a previous version, or when the previous one was retired', () => {
    expect(refusal(() => planRollback(view(null), AT))).toContain('no version is active');
    expect(refusal(() => planRollback(view('v1', record('v1', 'active')), AT))).toContain('first active version');
    const retired = view('v2', record('v2', 'active', { previous: 'v1' }), record('v1', 'retired'));
    expect(refusal(() => planRollback(retired, AT))).toContain('is retired, not standby');
  });

  it('retires a standby rollback target (rollback is then impossible) but never the active version', () => {
    const before = view('v2', record('v2', 'active', { previous: 'v1' }), record('v1', 'standby'));
    const plan = planRetire(before, 'v1', AT);
    expect(plan.detail).toContain('rollback is no longer possible');
    const after = apply(before, plan);
    expect(after.records.get('v1')).toMatchObject({ state: 'retired', retiredAt: AT });
    expect(rollbackTarget(after)).toBeNull();
    expect(refusal(() => planRetire(before, 'v2', AT))).toContain('is active');
    expect(refusal(() => planRetire(after, 'v1', AT))).toContain('already retired');
  });

  it('allows GC of a retired version only: never the active one, the rollback target, or a shadow', () => {
    const catalog = view('v2', record('v2', 'active', { previous: 'v1' }), record('v1', 'standby'), record('v3', 'shadow'), record('v0', 'retired'));
    expect(checkGc(catalog, 'v0').version).toBe('v0');
    expect(refusal(() => checkGc(catalog, 'v2'))).toContain('is active');
    expect(refusal(() => checkGc(catalog, 'v1'))).toContain('rollback target of v2');
    expect(refusal(() => checkGc(catalog, 'v3'))).toContain('is shadow, not retired');
  });

  it('keeps only the runtime part of the registry artifact in a record', () => {
    const full = fixtureRegistry() as unknown as Record<string, unknown>;
    const kept = runtimeRegistry(fixtureRegistry()) as unknown as Record<string, unknown>;
    expect('inputs' in full).toBe(true);
    expect('inputs' in kept).toBe(false);
    expect(kept.features).toEqual(full.features);
  });
});
