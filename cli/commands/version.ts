/**
 * `churnfeat version <sub>`: the lifecycle of the registry versions' online state
 * (docs/lifecycle.md): list, status, cutover, rollback, retire, gc, diff, audit. Every mutating
 * step takes --dry-run, is checked against the catalog and leaves an audit entry (who, what,
 * when, which versions), refusals included.
 */
import { hostname, userInfo } from 'node:os';
import { SingleBar } from 'cli-progress';
import type { Redis } from 'ioredis';
import { describeBootstrapProgress, readBootstrapProgress } from '../../sidecar/src/bootstrap/index.ts';
import { createRedisClient, defineOption, loadOptions, REDIS_STORE_OPTIONS, SCHEMAS } from '../../sidecar/src/config/index.ts';
import { UsageError } from '../../sidecar/src/config/option-table.ts';
import {
  appendAudit,
  checkGc,
  collectVersionKeys,
  collectVersionLibrary,
  countVersionKeys,
  diffVersions,
  LifecycleRefusal,
  planCutover,
  planRetire,
  planRollback,
  readActiveVersion,
  readAudit,
  readCatalog,
  rollbackTarget,
  runTransition,
  transact,
  watermarkKey,
  versionPrefix,
  type LibraryCollection,
  type VersionRecord,
} from '../../sidecar/src/store/index.ts';
import { EXIT, tableUsage, type Command } from '../command.ts';

export const VERSION_OPTIONS = {
  ...REDIS_STORE_OPTIONS,
  actor: defineOption<string>({
    kind: 'string',
    description: "who runs the step, in the audit entry; '' = the OS user@host",
    default: '',
    env: ['CHURNFEAT_ACTOR'],
    schema: { type: 'string', maxLength: 200 },
  }),
  dryRun: defineOption<boolean>({
    kind: 'boolean',
    description: 'cutover, rollback, retire, gc: check and say what would happen, change nothing (audited as dry-run)',
    default: false,
    schema: SCHEMAS.boolean,
  }),
  gcBatch: defineOption<number>({ kind: 'integer', description: 'gc: keys per UNLINK batch', default: 500, env: ['CHURNFEAT_GC_BATCH'], schema: { type: 'integer', minimum: 1, maximum: 10_000 } }),
  gcPauseMs: defineOption<number>({
    kind: 'integer',
    description: 'gc: pause after each batch, ms (Redis serves others in between)',
    default: 5,
    env: ['CHURNFEAT_GC_PAUSE_MS'],
    schema: { type: 'integer', minimum: 0, maximum: 10_000 },
  }),
  gcIdleMs: defineOption<number>({
    kind: 'integer',
    description: "gc: refuse while the version's watermarks were written within this, ms (its sidecar still runs); 0 = no check",
    default: 30_000,
    schema: SCHEMAS.nonNegativeInteger,
  }),
  users: defineOption<number>({ kind: 'integer', description: 'diff: users sampled', default: 500, schema: { type: 'integer', minimum: 1, maximum: 100_000 } }),
  json: defineOption<boolean>({ kind: 'boolean', description: 'list, status, diff, audit: print JSON', default: false, schema: SCHEMAS.boolean }),
} as const;

type VersionOptions = ReturnType<typeof loadOptions<typeof VERSION_OPTIONS>>;

/** Each subcommand: its positional arguments and what it does. */
const SUBCOMMANDS = {
  list: { args: [], about: 'every version in the catalog: state, parity, the active one and the rollback target' },
  status: { args: ['VERSION'], about: "one version's record (state, parity, bootstrap, features) without its registry" },
  cutover: { args: ['VERSION'], about: 'atomic alias switch to VERSION; refused unless its parity passed and its bootstrap (if any) is complete' },
  rollback: { args: [], about: 'the alias back to the previous version (kept written as standby)' },
  retire: { args: ['VERSION'], about: 'stop writing a shadow or standby version (its sidecar exits); then gc' },
  gc: { args: ['VERSION'], about: "remove a retired version's keys in bounded batches (SCAN + UNLINK, progress bar)" },
  diff: { args: ['A', 'B'], about: 'per-feature summary of two versions over a user sample: equal / different / only in one, max abs diff' },
  audit: { args: [], about: 'every lifecycle operation: when, who, what, which versions, outcome' },
} as const satisfies Record<string, { args: readonly string[]; about: string }>;

type Subcommand = keyof typeof SUBCOMMANDS;

function usageText(): string {
  const rows = Object.entries(SUBCOMMANDS).map(([name, { args, about }]) => `  ${[name, ...args].join(' ').padEnd(18)}${about}`);
  return tableUsage(
    'version <subcommand> [ARGS] [options]',
    `The lifecycle of the registry versions' online state (docs/lifecycle.md).\n\nsubcommands:\n${rows.join('\n')}`,
    VERSION_OPTIONS,
    'Exit 0 done, 1 refused (the reason is printed) or failed, 2 bad command line.\n',
  );
}

const VERSION_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** Splits `<sub> ARG... --options`: the positional arguments come before the first option. */
function parseCommandLine(argv: readonly string[]): { sub: Subcommand; args: string[]; rest: string[] } {
  const [sub, ...tail] = argv;
  if (sub === undefined) throw new UsageError(`a subcommand is needed: ${Object.keys(SUBCOMMANDS).join(', ')}`);
  if (!(sub in SUBCOMMANDS)) throw new UsageError(`unknown subcommand ${JSON.stringify(sub)} (${Object.keys(SUBCOMMANDS).join(', ')})`);
  const firstOption = tail.findIndex((arg) => arg.startsWith('-'));
  const args = firstOption === -1 ? tail : tail.slice(0, firstOption);
  const rest = firstOption === -1 ? [] : tail.slice(firstOption);
  const wanted = SUBCOMMANDS[sub as Subcommand].args;
  if (args.length !== wanted.length) throw new UsageError(`${sub} takes ${wanted.length === 0 ? 'no argument' : wanted.join(' ')}, got ${args.length === 0 ? 'none' : args.join(' ')}`);
  for (const arg of args) if (!VERSION_ID.test(arg)) throw new UsageError(`${JSON.stringify(arg)} is not a version id (${VERSION_ID.source})`);
  return { sub: sub as Subcommand, args, rest };
}

function actorOf(options: VersionOptions): string {
  if (options.actor !== '') return options.actor;
  let user = process.env.USER ?? 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (a container's arbitrary uid): the USER variable
  }
  return `${user}@${hostname()}`;
}

const out = (line: string): void => void process.stdout.write(`${line}\n`);

function parityText(record: VersionRecord): string {
  if (record.parity === null) return 'parity not run';
  return `parity ${record.parity.passed ? 'passed' : 'FAILED'} (${record.parity.mismatches} unexplained of ${record.parity.sampleSize} users, at ${record.parity.at})`;
}

/** A record without its registry (what list and status print). */
function summaryOf(record: VersionRecord, active: string | null, back: string | null) {
  const { registry, ...rest } = record;
  return { ...rest, served: record.version === active, rollbackTarget: record.version === back, features: registry.features.map((f) => f.name) };
}

async function list(redis: Redis, options: VersionOptions): Promise<number> {
  const [active, records] = await Promise.all([readActiveVersion(redis, options.keyPrefix), readCatalog(redis, options.keyPrefix)]);
  const back = rollbackTarget({ active, records });
  const sorted = [...records.values()].sort((a, b) => a.registeredAt.localeCompare(b.registeredAt));
  if (options.json) {
    out(JSON.stringify({ active, rollbackTarget: back, versions: sorted.map((r) => summaryOf(r, active, back)) }, null, 2));
    return EXIT.ok;
  }
  if (sorted.length === 0) out(`no version registered under prefix ${options.keyPrefix}`);
  for (const r of sorted)
    out(
      `${r.version === active ? '*' : ' '} ${r.version}  ${r.state.padEnd(9)} ${String(r.registry.features.length).padStart(3)} features  ${parityText(r)}${r.version === back ? '  (rollback target)' : ''}`,
    );
  return EXIT.ok;
}

async function status(redis: Redis, options: VersionOptions, version: string): Promise<number> {
  // No key count here: that is a SCAN of the whole keyspace (`gc --dry-run` does it).
  const [active, records, bootstrap] = await Promise.all([
    readActiveVersion(redis, options.keyPrefix),
    readCatalog(redis, options.keyPrefix),
    readBootstrapProgress(redis, options.keyPrefix, version),
  ]);
  const record = records.get(version);
  if (!record) throw new LifecycleRefusal(`version ${version} is not in the catalog (known: ${[...records.keys()].join(', ') || 'none'})`);
  const summary = { ...summaryOf(record, active, rollbackTarget({ active, records })), bootstrap };
  if (options.json) {
    out(JSON.stringify(summary, null, 2));
    return EXIT.ok;
  }
  const { bootstrap: _bootstrap, ...rest } = summary;
  for (const [key, value] of Object.entries(rest)) out(`${key.padEnd(16)} ${typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)}`);
  const [head, ...shards] = bootstrap === null ? ['none ran'] : describeBootstrapProgress(bootstrap);
  out(`${'bootstrap'.padEnd(16)} ${head}`);
  for (const line of shards) out(`${''.padEnd(16)} ${line}`);
  return EXIT.ok;
}

/** Refuses GC while the version's sidecar still publishes watermarks: it would write the keys back. */
async function checkIdle(redis: Redis, options: VersionOptions, version: string): Promise<void> {
  if (options.gcIdleMs === 0) return;
  const marks = Object.values(await redis.hgetall(watermarkKey(versionPrefix(options.keyPrefix, version)))).map(Number);
  const newest = Math.max(0, ...marks.filter(Number.isFinite));
  const [seconds] = (await redis.time()) as [number | string, number | string];
  const ageMs = Number(seconds) * 1000 - newest;
  if (newest > 0 && ageMs < options.gcIdleMs)
    throw new LifecycleRefusal(`a sidecar still writes version ${version} (its watermarks are ${Math.round(ageMs / 1000)} s old, limit ${options.gcIdleMs / 1000} s): stop its deployment first`);
}

function describeLibrary(collected: LibraryCollection, dryRun: boolean): string {
  if (collected.usedBy.length > 0) return `function library ${collected.library} kept: base prefix(es) ${collected.usedBy.join(', ')} still run the version`;
  if (dryRun) return `would delete function library ${collected.library} on every master`;
  return collected.deletedOn > 0 ? `function library ${collected.library} deleted on ${collected.deletedOn} master(s)` : `function library ${collected.library} was gone already`;
}

async function gc(redis: Redis, options: VersionOptions, version: string, actor: string): Promise<number> {
  const step = { action: 'gc', actor, versions: { version } };
  try {
    await transact(redis, options.keyPrefix, (view) => ({ records: [], detail: `${checkGc(view, version).state}` }), { dryRun: true });
    await checkIdle(redis, options, version);
  } catch (error) {
    if (error instanceof LifecycleRefusal) await appendAudit(redis, options.keyPrefix, { ...step, outcome: 'refused', detail: error.message });
    throw error;
  }
  const counted = await countVersionKeys(redis, options.keyPrefix, version);
  if (options.dryRun) {
    const detail = `would remove ${counted.keys} keys of ${counted.users} users (batches of ${options.gcBatch}, ${options.gcPauseMs} ms apart); ${describeLibrary(await collectVersionLibrary(redis, options.keyPrefix, version, { dryRun: true }), true)}`;
    await appendAudit(redis, options.keyPrefix, { ...step, outcome: 'dry-run', detail });
    out(`gc ${version} (dry run): ${detail}`);
    return EXIT.ok;
  }
  const bar = new SingleBar({
    format: 'gc {version} [{bar}] {percentage}% | {value}/{total} keys | {users} users | {rate} keys/s | ETA {eta_formatted}',
    noTTYOutput: true,
    notTTYSchedule: 2_000,
    etaBuffer: 50,
  });
  const started = performance.now();
  bar.start(Math.max(counted.keys, 1), 0, { version, users: 0, rate: 0 });
  const done = await collectVersionKeys(redis, options.keyPrefix, version, {
    batch: options.gcBatch,
    pauseMs: options.gcPauseMs,
    onProgress: (p) => {
      const seconds = (performance.now() - started) / 1000;
      // Keys written after the count (should be none: the sidecar is stopped) grow the total.
      if (p.deleted > bar.getTotal()) bar.setTotal(p.deleted);
      bar.update(p.deleted, { users: p.usersDeleted, rate: Math.round(p.deleted / Math.max(seconds, 0.001)) });
    },
  });
  bar.stop();
  const seconds = (performance.now() - started) / 1000;
  const at = new Date().toISOString();
  const library = describeLibrary(await collectVersionLibrary(redis, options.keyPrefix, version), false);
  const detail = `removed ${done.deleted} keys of ${done.usersDeleted} users in ${seconds.toFixed(1)} s (${Math.round(done.deleted / Math.max(seconds, 0.001))} keys/s); ${library}`;
  await runTransition(redis, options.keyPrefix, step, (view) => ({ records: [{ ...checkGc(view, version), state: 'collected', collectedAt: at }], detail }));
  out(`gc ${version}: ${detail}`);
  return EXIT.ok;
}

async function diff(redis: Redis, options: VersionOptions, a: string, b: string): Promise<number> {
  const records = await readCatalog(redis, options.keyPrefix);
  const of = (version: string) => {
    const record = records.get(version);
    if (!record) throw new LifecycleRefusal(`version ${version} is not in the catalog (known: ${[...records.keys()].join(', ') || 'none'})`);
    return { version, registry: record.registry };
  };
  const result = await diffVersions(redis, options.keyPrefix, of(a), of(b), options.users);
  if (options.json) {
    out(JSON.stringify(result, null, 2));
    return EXIT.ok;
  }
  out(`diff ${a} vs ${b}: ${result.users} users at ${new Date(result.asOfMs).toISOString()}`);
  out(`  ${'feature'.padEnd(32)} ${'equal'.padStart(7)} ${'differ'.padStart(7)} ${'only A'.padStart(7)} ${'only B'.padStart(7)}  max |a-b|`);
  for (const f of result.features) {
    if (!f.inA || !f.inB) out(`  ${f.feature.padEnd(32)} only in ${f.inA ? a : b}`);
    else out(`  ${f.feature.padEnd(32)} ${String(f.equal).padStart(7)} ${String(f.different).padStart(7)} ${String(f.onlyInA).padStart(7)} ${String(f.onlyInB).padStart(7)}  ${f.maxAbsDiff ?? '-'}`);
  }
  return EXIT.ok;
}

async function audit(redis: Redis, options: VersionOptions): Promise<number> {
  const entries = await readAudit(redis, options.keyPrefix);
  if (options.json) out(JSON.stringify(entries, null, 2));
  else
    for (const e of entries)
      out(
        `${e.at}  ${e.action.padEnd(9)} ${e.outcome.padEnd(8)} ${e.actor}  ${Object.entries(e.versions)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}  ${e.detail}`,
      );
  return EXIT.ok;
}

async function runSubcommand(redis: Redis, sub: Subcommand, args: string[], options: VersionOptions): Promise<number> {
  const actor = actorOf(options);
  const at = new Date().toISOString();
  const prefix = options.keyPrefix;
  const dry = options.dryRun ? ' (dry run: nothing changed)' : '';
  switch (sub) {
    case 'list':
      return list(redis, options);
    case 'status':
      return status(redis, options, args[0] as string);
    case 'audit':
      return audit(redis, options);
    case 'diff':
      return diff(redis, options, args[0] as string, args[1] as string);
    case 'gc':
      return gc(redis, options, args[0] as string, actor);
    case 'cutover': {
      const target = args[0] as string;
      const bootstrap = await readBootstrapProgress(redis, prefix, target);
      const plan = await runTransition(redis, prefix, { action: 'cutover', actor, versions: { to: target }, dryRun: options.dryRun }, (view) => planCutover(view, target, bootstrap, at));
      out(`cutover: ${plan.detail}${dry}`);
      return EXIT.ok;
    }
    case 'rollback': {
      const plan = await runTransition(redis, prefix, { action: 'rollback', actor, versions: {}, dryRun: options.dryRun }, (view) => {
        const result = planRollback(view, at);
        return result;
      });
      out(`rollback: ${plan.detail}${dry}`);
      return EXIT.ok;
    }
    case 'retire': {
      const version = args[0] as string;
      const plan = await runTransition(redis, prefix, { action: 'retire', actor, versions: { version }, dryRun: options.dryRun }, (view) => planRetire(view, version, at));
      out(`retire: ${plan.detail}${dry}`);
      return EXIT.ok;
    }
  }
}

export const command: Command = {
  usage: usageText,
  async run(argv) {
    const { sub, args, rest } = parseCommandLine(argv);
    const options = loadOptions(VERSION_OPTIONS, rest);
    const redis = createRedisClient(options, { lazyConnect: true, maxRetriesPerRequest: 2, connectTimeout: 5_000 });
    try {
      await redis.connect();
      return await runSubcommand(redis, sub, args, options);
    } catch (error) {
      if (error instanceof LifecycleRefusal) {
        process.stderr.write(`churnfeat version ${sub}: refused: ${error.message}\n`);
        return EXIT.failed;
      }
      throw error;
    } finally {
      redis.disconnect();
    }
  },
};
