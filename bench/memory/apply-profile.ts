/**
 * Where the apply function's Redis CPU goes (not a test): the apply calls of a memory-benchmark
 * workload (bench/pipeline/dau-memory.ts, the sidecar's own writer) are recorded once, then
 * replayed on a private redis-server against variants of the function library, interleaved
 * round by round, each replay on an empty server from day 1. Redis CPU (INFO cpu) is counted
 * over the replay of days 2..N, per event; a variant's difference to `full` is the cost of what
 * it leaves out. Writes bench/results/apply-profile-<date>[-<label>].json.
 *
 * Variants:
 * - `full`: the library as the writer loads it;
 * - `no-head`: the same calls without the read head key (the apply skips the head's rebuild and SET);
 * - `skip-dedup`: the calls with `skip_dedup` set (`--dedup local`: no dedup buckets);
 * - `skip-dedup-no-head`: both;
 * - `args-only`: an apply that returns at once: FCALL's own cost and the arguments turned into Lua strings;
 * - `args-only-packed`: the same with each event's arguments joined into one argument (W4's floor).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { loadFeatureRegistry } from '../../sidecar/src/features/index.ts';
import { APPLY_ARGS, APPLY_EVENT_ARGS, APPLY_KEYS, APPLY_OP_ARGS, functionNames, LUA_TEMPLATE, renderFunctionLibrary, SKIP_DEDUP, STORE_PROTOCOL_VERSION } from '../../sidecar/src/store/index.ts';
import { simulateDauMemory } from '../pipeline/dau-memory.ts';
import { describeMachine, machineBusySeconds } from '../pipeline/machine.ts';
import { commandMicros, serverCpuSeconds } from '../pipeline/redis-stats.ts';
import { startRedisServer } from '../serving/redis-process.ts';
import { numberFlags, parseFlags } from '../common/cli.ts';

const USAGE = `apply profile (not a test): Redis CPU per applied event of variants of the apply function, writes bench/results/apply-profile-<date>[-<label>].json
  --users N        simulated daily-active users (default 40)
  --days N         simulated days (default 8)
  --rounds N       replays of each variant, interleaved (default 3)
  --variants A,B   only these variants (default: all; \`full\` always runs)
  --baseline-lua F also replay a \`baseline\` variant: the Lua template F (e.g. \`git show main:sidecar/src/store/lua/churnfeat.lua\`)
                   rendered with this tree's constants, interleaved with \`full\` (an A/B of two templates in one run)
  --label L        suffix of the results file`;

const { values } = parseFlags(
  {
    options: {
      users: { type: 'string' },
      days: { type: 'string' },
      rounds: { type: 'string' },
      label: { type: 'string' },
      variants: { type: 'string' },
      'baseline-lua': { type: 'string' },
      help: { type: 'boolean' },
    },
  },
  USAGE,
);
const num = numberFlags(USAGE);
const users = num(values.users, 40);
const days = num(values.days, 8);
const rounds = num(values.rounds, 3);
const only = values.variants?.split(',');

type Args = Array<string | number | Buffer>;
/** One recorded FCALL: numkeys, keys, then the arguments (encodeApplyArgs). */
type RecordedCall = { day: number; args: Args; events: number };

const registry = loadFeatureRegistry('dbt_project');
const names = functionNames(registry.version);
const library = renderFunctionLibrary(registry);
const NUMKEYS = APPLY_KEYS.length;
const SKIP_AT = 1 + NUMKEYS + APPLY_ARGS.indexOf('skip_dedup');
const N_EVENTS_AT = 1 + NUMKEYS + APPLY_ARGS.indexOf('n_events');

function eventsOf(args: Args): number {
  return Number(args[N_EVENTS_AT]);
}

/** The calls without the read head key. */
function withoutHead(args: Args): Args {
  const headAt = 1 + APPLY_KEYS.indexOf('head');
  return [NUMKEYS - 1, ...args.slice(1, headAt), ...args.slice(headAt + 1)];
}

function skippingDedup(args: Args): Args {
  const out = args.slice();
  out[SKIP_AT] = SKIP_DEDUP;
  return out;
}

/** Each event's arguments joined into one (byte-exact: Buffers kept as bytes). */
function packed(args: Args): Args {
  const head = args.slice(0, 1 + NUMKEYS + APPLY_ARGS.length);
  const out: Args = [...head];
  let at = head.length;
  for (let e = 0; e < eventsOf(args); e++) {
    const nops = Number(args[at + APPLY_EVENT_ARGS.indexOf('n_ops')]);
    const width = APPLY_EVENT_ARGS.length + APPLY_OP_ARGS.length * nops;
    out.push(Buffer.concat(args.slice(at, at + width).map((a) => (Buffer.isBuffer(a) ? a : Buffer.from(String(a))))));
    at += width;
  }
  return out;
}

const returnAtOnce = (text: string): string => {
  const marker = 'local function apply(keys, args)\n';
  if (!text.includes(marker)) throw new Error('the apply function is not where the profile expects it');
  return text.replace(marker, `${marker}  if true then return '' end\n`);
};

/** The library with `from` replaced by `to` (once; throws when the template moved). */
const edited = (text: string, from: string, to: string): string => {
  if (!text.includes(from)) throw new Error(`the profile's edit does not apply: ${from}`);
  return text.replace(from, to);
};

const allVariants: Array<{ name: string; library: string; args: (a: Args) => Args }> = [
  { name: 'full', library, args: (a) => a },
  { name: 'no-head', library, args: withoutHead },
  { name: 'skip-dedup', library, args: skippingDedup },
  { name: 'skip-dedup-no-head', library, args: (a) => withoutHead(skippingDedup(a)) },
  // the head built (its plan, its fields read, its text) but not written
  { name: 'head-not-written', library: edited(library, "if text then redis.call('SET', head_key, text, 'PX', ttl)", 'if false then'), args: (a) => a },
  // the head's plan and fields read, no text built, not written
  { name: 'head-fields-only', library: edited(library, '  local values = c.mget(names)\n', '  local values = c.mget(names)\n  if values then return nil end\n'), args: (a) => a },
  // the head's plan (the tiles it holds) and its e:, l:, r:, s: fields read, not its tiles
  { name: 'head-plan-only', library: edited(library, '  local values = c.mget(names)\n', '  if names then return nil end\n  local values = c.mget(names)\n'), args: (a) => a },
  // no head built: deleted at the end of each call instead
  { name: 'head-deleted', library: edited(library, '  local head = c.mget(READ_HEAD)\n', '  if c then return nil end\n  local head = c.mget(READ_HEAD)\n'), args: (a) => a },
  // the head built 11 times per call (the 10 extra builds' cost, over 10, is one build's)
  {
    name: 'head-built-11x',
    library: edited(library, '    local text = build_head(c, oldest)\n', '    for _ = 1, 10 do build_head(c, oldest) end\n    local text = build_head(c, oldest)\n'),
    args: (a) => a,
  },
  { name: 'args-only', library: returnAtOnce(library), args: (a) => a },
  { name: 'args-only-packed', library: returnAtOnce(library), args: packed },
];
if (values['baseline-lua'] !== undefined)
  allVariants.splice(1, 0, { name: 'baseline', library: library.slice(0, -LUA_TEMPLATE.length) + readFileSync(values['baseline-lua'], 'utf8'), args: (a) => a });
const variants = allVariants.filter((v) => only === undefined || v.name === 'full' || v.name === 'baseline' || only.includes(v.name));

const server = await startRedisServer();
const redis = new Redis(server.url);
try {
  const machine = await describeMachine(redis);
  // record the writer's apply calls (its pipelines' FCALLs of the apply function), day by day
  const calls: RecordedCall[] = [];
  let day = 1;
  const pipeline = redis.pipeline.bind(redis);
  redis.pipeline = ((...a: Parameters<typeof redis.pipeline>) => {
    const p = pipeline(...a);
    const call = p.call.bind(p) as (...c: unknown[]) => unknown;
    (p as unknown as { call: (...c: unknown[]) => unknown }).call = (...c: unknown[]) => {
      if (c[0] === 'FCALL' && c[1] === names.apply) {
        const args = c.slice(2) as Args;
        calls.push({ day, args, events: eventsOf(args) });
      }
      return call(...c);
    };
    return p;
  }) as typeof redis.pipeline;
  await simulateDauMemory({
    redis,
    registry,
    keyPrefix: 'prof',
    seed: 7,
    users,
    days,
    eventsPerUserDay: 1_728,
    activeHours: 6,
    ownTitleShare: 0.9,
    onDay: (d) => {
      day = d + 1;
      console.log(`recorded day ${d}: ${calls.length} calls`);
    },
  });
  redis.pipeline = pipeline;
  const measuredEvents = calls.filter((c) => c.day >= 2).reduce((sum, c) => sum + c.events, 0);
  const busy0 = machineBusySeconds();
  const wall0 = Date.now();
  const byVariant = new Map<string, Array<{ cpuMicrosPerEvent: number; fcallMicrosPerEvent: number }>>(variants.map((v) => [v.name, []]));
  for (let round = 0; round < rounds; round++) {
    for (const variant of variants) {
      await redis.flushall();
      await redis.call('FUNCTION', 'LOAD', 'REPLACE', variant.library);
      const replay = async (some: RecordedCall[]): Promise<void> => {
        for (let i = 0; i < some.length; i += 50) {
          const p = pipeline();
          for (const c of some.slice(i, i + 50)) p.call('FCALL', names.apply, ...variant.args(c.args));
          for (const [error] of (await p.exec()) ?? []) if (error) throw error;
        }
      };
      await replay(calls.filter((c) => c.day < 2));
      const cpu0 = await serverCpuSeconds(redis);
      const usec0 = (await commandMicros(redis)).get('fcall') ?? 0;
      await replay(calls.filter((c) => c.day >= 2));
      const cpuMicrosPerEvent = Math.round((((await serverCpuSeconds(redis)) - cpu0) * 1e8) / measuredEvents) / 100;
      const fcallMicrosPerEvent = Math.round(((((await commandMicros(redis)).get('fcall') ?? 0) - usec0) * 100) / measuredEvents) / 100;
      byVariant.get(variant.name)?.push({ cpuMicrosPerEvent, fcallMicrosPerEvent });
      console.log(`round ${round + 1} ${variant.name}: Redis ${cpuMicrosPerEvent} µs/event (INFO cpu), FCALL ${fcallMicrosPerEvent} µs/event inside`);
    }
  }
  const wallS = (Date.now() - wall0) / 1000;
  const busy1 = machineBusySeconds();
  const median = (xs: number[]): number => {
    const s = xs.slice().sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)] as number;
  };
  const summary = Object.fromEntries(
    [...byVariant].map(([name, runs]) => [
      name,
      { medianCpuMicrosPerEvent: median(runs.map((r) => r.cpuMicrosPerEvent)), medianFcallMicrosPerEvent: median(runs.map((r) => r.fcallMicrosPerEvent)), runs },
    ]),
  );
  const full = summary.full?.medianCpuMicrosPerEvent ?? 0;
  const split = Object.fromEntries(Object.entries(summary).map(([name, s]) => [name, Math.round((full - s.medianCpuMicrosPerEvent) * 100) / 100]));
  console.log(`median Redis µs/event: ${JSON.stringify(Object.fromEntries(Object.entries(summary).map(([n, s]) => [n, s.medianCpuMicrosPerEvent])))}`);
  console.log(`full minus variant (µs/event, the cost of what the variant leaves out): ${JSON.stringify(split)}`);
  const calls2 = calls.filter((c) => c.day >= 2);
  const workload = {
    users,
    days,
    calls: calls.length,
    measuredEvents,
    eventsPerCall: Math.round((measuredEvents / calls2.length) * 100) / 100,
    argumentsPerCall: Math.round((calls2.reduce((sum, c) => sum + c.args.length - 1 - NUMKEYS, 0) / calls2.length) * 10) / 10,
    argumentsPerCallPacked: Math.round((calls2.reduce((sum, c) => sum + packed(c.args).length - 1 - NUMKEYS, 0) / calls2.length) * 10) / 10,
  };
  console.log(`workload: ${JSON.stringify(workload)}`);
  const date = new Date().toISOString().slice(0, 10);
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/apply-profile-${date}${values.label ? `-${values.label}` : ''}.json`;
  const otherBusyCores = busy0 !== null && busy1 !== null ? Math.round(((busy1 - busy0) / wallS) * 100) / 100 : null;
  writeFileSync(
    file,
    `${JSON.stringify({ command: `npx tsx bench/memory/apply-profile.ts ${process.argv.slice(2).join(' ')}`.trim(), machine, storeProtocolVersion: STORE_PROTOCOL_VERSION, workload, busyCoresDuringReplays: otherBusyCores, summary, fullMinusVariant: split }, null, 2)}\n`,
  );
  console.log(`wrote ${file}`);
} finally {
  redis.disconnect();
  await server.stop();
}
