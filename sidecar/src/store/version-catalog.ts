import type { Redis } from 'ioredis';
import type { FeatureRegistry } from '../features/index.ts';
import { ChurnfeatError } from '../errors.ts';
import { nodeOfKey } from './function-library.ts';
import { activeVersionKey, bootstrapKey, lifecycleAuditKey, versionCatalogKey } from './redis-layout.ts';

/**
 * The lifecycle of a registry version's online state (docs/lifecycle.md):
 *
 *   shadow  --cutover-->  active  --cutover of another-->  standby  --retire-->  retired  --gc-->  collected
 *                           ^                                 |
 *                           +------------ rollback -----------+
 *
 * - `shadow`: its sidecar writes it, nobody reads it (parity and diff do).
 * - `active`: the alias names it; every read is answered from it.
 * - `standby`: was active, is still written; the rollback target when the active record names it as `previous`.
 * - `retired`: no longer written (its sidecar stops on seeing it) and waiting for GC.
 * - `collected`: GC removed its keys; the record stays for the history.
 *
 * The alias (`activeVersionKey`) is the truth readers follow; the catalog records carry the
 * state machine and are written in the same MULTI as the alias, so the two never disagree.
 */
export type VersionState = 'shadow' | 'active' | 'standby' | 'retired' | 'collected';

export const VERSION_STATES = ['shadow', 'active', 'standby', 'retired', 'collected'] as const satisfies readonly VersionState[];

/** The result of the parity job for one version (what cutover checks). */
export interface VersionParity {
  passed: boolean;
  /** Unexplained mismatches (the exit-1 count of the parity job). */
  mismatches: number;
  /** Users compared. */
  sampleSize: number;
  /** The as-of instant the parity compared at (ISO 8601). */
  asOf: string;
  /** When the job recorded this (ISO 8601). */
  at: string;
}

/** One version's record in the catalog hash (`versionCatalogKey`), stored as JSON. */
export interface VersionRecord {
  version: string;
  state: VersionState;
  /** When and by whom it was first registered (a sidecar starting with it). */
  registeredAt: string;
  registeredBy: string;
  /** The version that was active when this one was cut over to: where rollback goes. */
  previous: string | null;
  activatedAt: string | null;
  retiredAt: string | null;
  collectedAt: string | null;
  parity: VersionParity | null;
  /**
   * The registry the version runs (the runtime part of its artifact): a serving process
   * started with another artifact answers for this version with these features.
   */
  registry: FeatureRegistry;
}

/** What `bootstrapKey` says, when the bootstrap loader ran for the version. */
export type BootstrapState = 'loading' | 'complete' | null;

/** One shard loader's progress (an unsharded load is shard 1 of 1). */
export interface BootstrapShardProgress {
  shard: number;
  /** `complete`; `loading` once it checkpointed a batch; `not started` before. */
  state: 'complete' | 'loading' | 'not started';
  usersLoaded: number;
  finishedAt: string | null;
}

/** A version's bootstrap as its key says (bootstrap/bootstrap-progress.ts reads it): what `version status` prints and cutover checks. */
export interface BootstrapProgress {
  state: 'loading' | 'complete';
  /** The shard count the loaders recorded; null while only the cut is taken (no loader started). */
  shards: number | null;
  shardsComplete: number;
  /** Users loaded over every shard. */
  usersLoaded: number;
  startedAt: string | null;
  finishedAt: string | null;
  /** Per shard, 1..shards (empty while `shards` is null). */
  perShard: BootstrapShardProgress[];
  /** The shards not complete yet, 1-based (every shard complete and the state still loading: the last loader stopped before recording the completion). */
  pendingShards: number[];
}

/** One lifecycle operation as the audit stream keeps it. */
export interface AuditEntry {
  /** Stream id (ms-seq). */
  id: string;
  at: string;
  actor: string;
  action: string;
  /** The versions involved, e.g. "from=a to=b". */
  versions: Record<string, string>;
  /** Free text: why, what was refused, counts. */
  detail: string;
  outcome: 'done' | 'refused' | 'dry-run';
}

/** A refused lifecycle step: the message says why (the CLI prints it, exit 1). */
export class LifecycleRefusal extends ChurnfeatError {
  constructor(message: string) {
    super('version_refused', message);
    this.name = 'LifecycleRefusal';
  }
}

/** The runtime part of a registry (the artifact's `inputs` and unit-test features stay out of Redis). */
export function runtimeRegistry(registry: FeatureRegistry): FeatureRegistry {
  const { inputs: _inputs, unitTestFeatures: _unit, ...runtime } = registry as FeatureRegistry & { inputs?: unknown; unitTestFeatures?: unknown };
  return runtime;
}

export function parseRecord(text: string): VersionRecord {
  return JSON.parse(text) as VersionRecord;
}

/** The whole catalog: version -> record. */
export async function readCatalog(redis: Redis, prefix: string): Promise<Map<string, VersionRecord>> {
  const raw = await redis.hgetall(versionCatalogKey(prefix));
  return new Map(Object.entries(raw).map(([version, text]) => [version, parseRecord(text)]));
}

export async function readRecord(redis: Redis, prefix: string, version: string): Promise<VersionRecord | null> {
  const text = await redis.hget(versionCatalogKey(prefix), version);
  return text === null ? null : parseRecord(text);
}

/** The version the alias names, or null before any version registered. */
export function readActiveVersion(redis: Redis, prefix: string): Promise<string | null> {
  return redis.get(activeVersionKey(prefix));
}

/**
 * The version readers follow and its registry: the alias's version with its catalog record's
 * registry (or `startup` itself when that is the version), or `startup` before any version
 * registered. For one-shot tools; the serving process caches this in serving/version-resolver.ts.
 */
export async function resolveActiveVersion(redis: Redis, prefix: string, startup: FeatureRegistry): Promise<{ version: string; registry: FeatureRegistry }> {
  const version = (await readActiveVersion(redis, prefix)) ?? startup.version;
  if (version === startup.version) return { version, registry: startup };
  const record = await readRecord(redis, prefix, version);
  if (record === null) throw new LifecycleRefusal(`the alias names version ${version}, which has no catalog record: its registry is unknown`);
  return { version, registry: record.registry };
}

export async function readBootstrapState(redis: Redis, prefix: string, version: string): Promise<BootstrapState> {
  const state = await redis.hget(bootstrapKey(prefix, version), 'state');
  return state === null ? null : state === 'complete' ? 'complete' : 'loading';
}

function nowIso(clock: () => number): string {
  return new Date(clock()).toISOString();
}

/** Appends one audit entry (XADD, capped at about 10 000 entries). */
export async function appendAudit(redis: Redis, prefix: string, entry: Omit<AuditEntry, 'id' | 'at'>, clock: () => number = Date.now): Promise<void> {
  await redis.xadd(lifecycleAuditKey(prefix), 'MAXLEN', '~', '10000', '*', ...auditFields(entry, clock));
}

function auditFields(entry: Omit<AuditEntry, 'id' | 'at'>, clock: () => number): string[] {
  return ['at', nowIso(clock), 'actor', entry.actor, 'action', entry.action, 'versions', JSON.stringify(entry.versions), 'outcome', entry.outcome, 'detail', entry.detail];
}

/** The audit stream, oldest first (at most `count` entries, newest ones). */
export async function readAudit(redis: Redis, prefix: string, count = 1_000): Promise<AuditEntry[]> {
  const entries = await redis.xrevrange(lifecycleAuditKey(prefix), '+', '-', 'COUNT', count);
  return entries.reverse().map(([id, flat]) => {
    const fields = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i] as string, flat[i + 1] as string);
    return {
      id,
      at: fields.get('at') ?? '',
      actor: fields.get('actor') ?? '',
      action: fields.get('action') ?? '',
      versions: JSON.parse(fields.get('versions') ?? '{}') as Record<string, string>,
      outcome: (fields.get('outcome') ?? 'done') as AuditEntry['outcome'],
      detail: fields.get('detail') ?? '',
    };
  });
}

/** What the registration of a version on a sidecar's start found and did. */
export interface Registration {
  record: VersionRecord;
  /** True when this call created the record. */
  created: boolean;
}

/**
 * Registers a sidecar's registry version in the catalog: a new version is `shadow`, unless no
 * version is active yet, then it becomes the active one (alias set with NX, so two first
 * sidecars cannot both win). An existing record is never demoted nor promoted; a retired or
 * collected version refuses (its keys are, or are about to be, garbage-collected).
 */
export async function registerVersion(redis: Redis, prefix: string, registry: FeatureRegistry, registeredBy: string, clock: () => number = Date.now): Promise<Registration> {
  const catalog = versionCatalogKey(prefix);
  const existing = await readRecord(redis, prefix, registry.version);
  if (existing) {
    if (existing.state === 'retired' || existing.state === 'collected')
      throw new LifecycleRefusal(`registry version ${registry.version} is ${existing.state} (since ${existing.retiredAt}): a sidecar must not write it again; deploy an active or new version`);
    return { record: existing, created: false };
  }
  const at = nowIso(clock);
  const record: VersionRecord = {
    version: registry.version,
    state: 'shadow',
    registeredAt: at,
    registeredBy,
    previous: null,
    activatedAt: null,
    retiredAt: null,
    collectedAt: null,
    parity: null,
    registry: runtimeRegistry(registry),
  };
  const created = (await redis.hsetnx(catalog, registry.version, JSON.stringify(record))) === 1;
  if (!created) return { record: (await readRecord(redis, prefix, registry.version)) as VersionRecord, created: false };
  let final = record;
  const first = (await redis.set(activeVersionKey(prefix), registry.version, 'NX')) === 'OK';
  if (first) {
    final = { ...record, state: 'active', activatedAt: at };
    await redis.hset(catalog, registry.version, JSON.stringify(final));
  }
  await appendAudit(redis, prefix, { actor: registeredBy, action: 'register', versions: { version: registry.version }, outcome: 'done', detail: first ? 'first version: active' : 'shadow' }, clock);
  return { record: final, created: true };
}

/** Stores a parity result in the version's record (what cutover checks). */
export async function recordParity(redis: Redis, prefix: string, version: string, parity: VersionParity, actor: string): Promise<VersionRecord> {
  const result = await transact(redis, prefix, (catalog) => {
    const record = catalog.records.get(version);
    if (!record) throw new LifecycleRefusal(`version ${version} is not in the catalog ${versionCatalogKey(prefix)}`);
    return { records: [{ ...record, parity }], detail: `parity ${parity.passed ? 'passed' : 'failed'}: ${parity.mismatches} unexplained of ${parity.sampleSize} users at ${parity.asOf}` };
  });
  await appendAudit(redis, prefix, { actor, action: 'parity', versions: { version }, outcome: 'done', detail: result.detail });
  return result.records[0] as VersionRecord;
}

/** The catalog as a transition sees it. */
export interface CatalogView {
  active: string | null;
  records: ReadonlyMap<string, VersionRecord>;
}

/** What a transition writes: the changed records, the new alias (if it moves), and the audit detail. */
export interface TransitionPlan {
  records: VersionRecord[];
  alias?: string;
  detail: string;
  /** The versions the audit entry names, when the plan found them (rollback: from, to). */
  versions?: Record<string, string>;
}

function need(view: CatalogView, version: string): VersionRecord {
  const record = view.records.get(version);
  if (!record) throw new LifecycleRefusal(`version ${version} is not in the catalog (known: ${[...view.records.keys()].join(', ') || 'none'})`);
  return record;
}

/**
 * Cutover to `target`: refused when it is already active, retired or collected, when its
 * parity has not passed (never ran, or failed), or when its bootstrap key exists and is not
 * `complete` (the refusal names the shards still pending). The active version becomes `standby` and the rollback target.
 */
export function planCutover(view: CatalogView, target: string, bootstrap: BootstrapProgress | null, at: string): TransitionPlan {
  const record = need(view, target);
  if (view.active === target) throw new LifecycleRefusal(`version ${target} is already active`);
  if (record.state === 'retired' || record.state === 'collected') throw new LifecycleRefusal(`version ${target} is ${record.state}: its keys are not written any more`);
  if (record.parity === null) throw new LifecycleRefusal(`version ${target} has no parity result: run \`churnfeat parity --version ${target}\` first`);
  if (!record.parity.passed)
    throw new LifecycleRefusal(
      `version ${target} failed parity (${record.parity.mismatches} unexplained mismatches of ${record.parity.sampleSize} users at ${record.parity.at}): fix and run parity again`,
    );
  if (bootstrap !== null && bootstrap.state !== 'complete') throw new LifecycleRefusal(`version ${target}'s bootstrap is ${bootstrap.state}, not complete: ${bootstrapRemedy(bootstrap)}`);
  const records: VersionRecord[] = [{ ...record, state: 'active', previous: view.active, activatedAt: at }];
  if (view.active !== null) {
    const old = view.records.get(view.active);
    if (old) records.push({ ...old, state: 'standby' });
  }
  return { records, alias: target, detail: `alias ${view.active ?? '(none)'} -> ${target}`, versions: { from: view.active ?? '', to: target } };
}

/** What is left of an incomplete bootstrap and how to finish it (the cutover refusal's second half). */
export function bootstrapRemedy(bootstrap: BootstrapProgress): string {
  if (bootstrap.shards === null) return 'only its cut is taken: run the `churnfeat bootstrap` loader(s) and wait for them to finish';
  if (bootstrap.shards === 1) return `${bootstrap.usersLoaded} users loaded so far: resume \`churnfeat bootstrap\` and wait for it to finish`;
  const done = `${bootstrap.shardsComplete} of ${bootstrap.shards} shards complete`;
  if (bootstrap.pendingShards.length === 0)
    return `${done}, its completion not recorded (the last loader stopped first): run any shard's loader again (\`churnfeat bootstrap --users 1/${bootstrap.shards}\`)`;
  const pending = bootstrap.pendingShards.map((k) => `${k}/${bootstrap.shards}`).join(', ');
  return `${done}; pending shard(s) ${pending}: resume \`churnfeat bootstrap --users k/${bootstrap.shards}\` for each and wait for them to finish`;
}

/** Rollback: the alias goes back to the active version's `previous`, which must still be written (standby). */
export function planRollback(view: CatalogView, at: string): TransitionPlan {
  if (view.active === null) throw new LifecycleRefusal('no version is active: nothing to roll back');
  const active = need(view, view.active);
  if (active.previous === null) throw new LifecycleRefusal(`version ${active.version} was the first active version: there is no previous version to roll back to`);
  const target = need(view, active.previous);
  if (target.state !== 'standby') throw new LifecycleRefusal(`the previous version ${target.version} is ${target.state}, not standby: it was not kept written, so it cannot serve`);
  return {
    records: [
      { ...target, state: 'active', previous: active.version, activatedAt: at },
      { ...active, state: 'standby' },
    ],
    alias: target.version,
    detail: `alias ${active.version} -> ${target.version} (rollback)`,
    versions: { from: active.version, to: target.version },
  };
}

/** The version rollback would go to, when there is one. */
export function rollbackTarget(view: CatalogView): string | null {
  return view.active === null ? null : (view.records.get(view.active)?.previous ?? null);
}

/** Retire: a shadow or standby version stops being written (its sidecar exits on seeing it); never the active one. */
export function planRetire(view: CatalogView, version: string, at: string): TransitionPlan {
  const record = need(view, version);
  if (view.active === version) throw new LifecycleRefusal(`version ${version} is active: cut over to another version first`);
  if (record.state === 'retired' || record.state === 'collected') throw new LifecycleRefusal(`version ${version} is already ${record.state}`);
  const records: VersionRecord[] = [{ ...record, state: 'retired', retiredAt: at }];
  const note = rollbackTarget(view) === version ? ' (it was the rollback target: rollback is no longer possible)' : '';
  if (note !== '' && view.active !== null) {
    const active = view.records.get(view.active);
    if (active) records.push({ ...active, previous: null });
  }
  return { records, detail: `${version}: ${record.state} -> retired${note}` };
}

/** GC is allowed for a retired version only (never the active one, never the rollback target). */
export function checkGc(view: CatalogView, version: string): VersionRecord {
  const record = need(view, version);
  if (view.active === version) throw new LifecycleRefusal(`version ${version} is active: GC would delete what every read is served from`);
  if (rollbackTarget(view) === version) throw new LifecycleRefusal(`version ${version} is the rollback target of ${view.active}: retire it first`);
  if (record.state !== 'retired' && record.state !== 'collected') throw new LifecycleRefusal(`version ${version} is ${record.state}, not retired: run \`churnfeat version retire ${version}\` first`);
  return record;
}

const MAX_ATTEMPTS = 5;

/**
 * Runs a transition optimistically: WATCH the alias and the catalog, read, plan, then one
 * MULTI writes the records and the alias; a concurrent change makes EXEC fail and the plan is
 * made again from what is there now. (In a Cluster the lifecycle keys share one hash tag.) A
 * dry run only reads (nothing to watch); a refused plan UNWATCHes on the node of the watched
 * keys (a keyless UNWATCH goes to a random node of a Cluster, and the watch left behind would
 * fail the connection's next EXEC).
 */
export async function transact(redis: Redis, prefix: string, plan: (view: CatalogView) => TransitionPlan, options: { dryRun?: boolean } = {}): Promise<TransitionPlan> {
  const alias = activeVersionKey(prefix);
  const catalog = versionCatalogKey(prefix);
  const readView = async (): Promise<CatalogView> => {
    const [active, raw] = await Promise.all([redis.get(alias), redis.hgetall(catalog)]);
    return { active, records: new Map(Object.entries(raw).map(([version, text]) => [version, parseRecord(text)])) };
  };
  if (options.dryRun) return plan(await readView());
  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
    await redis.watch(alias, catalog);
    let result: TransitionPlan;
    try {
      result = plan(await readView());
    } catch (error) {
      // the refusal is what the caller sees; were UNWATCH to fail, the watch left would only fail this connection's next EXEC once (retried)
      await nodeOfKey(redis, alias)
        .then((node) => node.unwatch())
        .catch(() => undefined);
      throw error;
    }
    const multi = redis.multi();
    for (const record of result.records) multi.hset(catalog, record.version, JSON.stringify(record));
    if (result.alias !== undefined) multi.set(alias, result.alias);
    if ((await multi.exec()) !== null) return result;
  }
  throw new ChurnfeatError('version_refused', `the catalog ${catalog} kept changing under ${MAX_ATTEMPTS} attempts: another lifecycle command is running; try again`, { retryable: true });
}

/** A lifecycle step run end to end: transaction (or dry run), then its audit entry; a refusal is audited too. */
export async function runTransition(
  redis: Redis,
  prefix: string,
  step: { action: string; actor: string; versions: Record<string, string>; dryRun?: boolean },
  plan: (view: CatalogView) => TransitionPlan,
): Promise<TransitionPlan> {
  try {
    const result = await transact(redis, prefix, plan, { dryRun: step.dryRun });
    await appendAudit(redis, prefix, { actor: step.actor, action: step.action, versions: result.versions ?? step.versions, outcome: step.dryRun ? 'dry-run' : 'done', detail: result.detail });
    return result;
  } catch (error) {
    if (error instanceof LifecycleRefusal) await appendAudit(redis, prefix, { actor: step.actor, action: step.action, versions: step.versions, outcome: 'refused', detail: error.message });
    throw error;
  }
}
