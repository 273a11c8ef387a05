/**
 * Where the FeatureWriter's client-side CPU goes, and what packing its arguments would
 * save. Not a test: prints figures and writes bench/results/pipeline-<date>-encoding.json.
 *
 *   npx tsx bench/pipeline/encoding-experiment.ts [--events 60000] [--batch 900] [--rounds 5]
 *
 * 1. The real FeatureWriter writes the events to a recorder instead of Redis: its own
 *    JavaScript (grouping, hashing dedup members and partition keys, building arguments).
 * 2. The recorded FCALLs are sent through ioredis, unchanged, to a Redis function that
 *    only walks its arguments and answers like the real one: ioredis's share.
 * 3. The same calls with every event's arguments packed into one string (fields joined by
 *    \x1f, events by \x1e) to a function that splits them: the saving on the client and
 *    the extra Lua work on the server.
 * 4. The same calls grouped k users to one FCALL (what a layout whose hash tags are
 *    buckets of users, not single users, would allow on Redis Cluster): the saving of
 *    fewer round trips.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { DEFAULT_OPTIONS } from '../../sidecar/src/config/index.ts';
import { parseEvent } from '../../sidecar/src/events/index.ts';
import { loadFeatureRegistry } from '../../sidecar/src/features/index.ts';
import { EventStream } from '../../sidecar/src/loadgen/index.ts';
import { FeatureWriter, type StoreRecord } from '../../sidecar/src/store/index.ts';
import { WindowOperators } from '../../sidecar/src/windows/index.ts';
import { describeMachine } from './machine.ts';
import { serverCpuSeconds } from './redis-stats.ts';

const { values } = parseArgs({ options: { events: { type: 'string' }, batch: { type: 'string' }, rounds: { type: 'string' } } });
const EVENTS = Number(values.events ?? 60_000);
const BATCH = Number(values.batch ?? 900);
const LIBRARY = 'cfbench_encoding';
const LUA = `#!lua name=${LIBRARY}
-- ARGV as the real apply function gets it: 5 header args, then per event 7 fields + 3 per op.
local function walk(keys, args)
  local n = tonumber(args[5])
  local i, out = 6, {}
  for e = 1, n do
    local nops = tonumber(args[i + 6])
    i = i + 7 + 3 * nops
    out[e] = 'a'
  end
  return table.concat(out)
end
-- ARGV: 5 header args, then one string: events joined by \\30, fields by \\31.
local function packed(keys, args)
  local out = {}
  for ev in string.gmatch(args[6], '[^\\30]+') do
    local fields = 0
    for _ in string.gmatch(ev, '[^\\31]+') do fields = fields + 1 end
    out[#out + 1] = 'a'
  end
  return table.concat(out)
end
-- ARGV: k, then per user the same arguments as walk (5 header args, then its events).
local function multi(keys, args)
  local k = tonumber(args[1])
  local i, out = 2, {}
  for u = 1, k do
    local n = tonumber(args[i + 4])
    i = i + 5
    for e = 1, n do
      local nops = tonumber(args[i + 6])
      i = i + 7 + 3 * nops
      out[#out + 1] = 'a'
    end
  end
  return table.concat(out)
end
redis.register_function('cfbench_walk', walk)
redis.register_function('cfbench_multi', multi)
redis.register_function('cfbench_packed', packed)
`;

type Call = Array<string | number>;

/** Stands in for ioredis: records the FCALLs the writer builds and answers "applied" to each event. */
function recorder(calls: Call[]): unknown {
  return {
    pipeline() {
      const mine: Call[] = [];
      return {
        call(...args: Call) {
          mine.push(args);
          calls.push(args);
          return this;
        },
        async exec() {
          return mine.map((args) => [null, 'a'.repeat(Number(args[9]))]);
        },
      };
    },
  };
}

function cpu(before: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(before);
  return (d.user + d.system) / 1e6;
}

const registry = loadFeatureRegistry('dbt_project');
const operators = new WindowOperators(registry);
const stream = new EventStream({ seed: 11, users: 200_000, size: 1_024 });
const now = Date.now();
const store: StoreRecord[] = [];
for (let i = 0; i < EVENTS; i++) {
  const r = stream.next(now - EVENTS + i);
  const parsed = parseEvent(r.source, r.value);
  if (!parsed.ok || !operators.isRelevant(parsed.event)) continue;
  const ops = operators.opsFor(parsed.event);
  if (ops.length > 0) store.push({ event: parsed.event, topic: `bench.enc.${r.source}.events`, partition: i % 6, offset: String(i), ops });
}
const batches: StoreRecord[][] = [];
for (let i = 0; i < store.length; i += BATCH) batches.push(store.slice(i, i + BATCH));

// 1. the writer's own JavaScript (median of several passes)
const calls: Call[] = [];
const options = { prefix: 'bench.enc', allowedLatenessMs: registry.policies.allowedLatenessMs, dedupMarginMs: registry.policies.dedupMarginMs, pruneAboveFields: DEFAULT_OPTIONS.pruneAboveFields };
const stubWriter = new FeatureWriter(recorder(calls) as never, operators, options);
for (const batch of batches.slice(0, 3)) await stubWriter.write(batch);
const writerPasses: number[] = [];
for (let pass = 0; pass < 5; pass++) {
  calls.length = 0;
  const c1 = process.cpuUsage();
  for (const batch of batches) await stubWriter.write(batch);
  writerPasses.push(cpu(c1));
}
const writerJs = [...writerPasses].sort((a, b) => a - b)[2] as number;

const redis = new Redis(process.env.CHURNFEAT_REDIS_URL ?? 'redis://127.0.0.1:16379');
await redis.call('FUNCTION', 'LOAD', 'REPLACE', LUA);
const perBatch: Call[][] = [];
{
  let at = 0;
  for (const batch of batches) {
    const users = new Set(batch.map((r) => `${r.event.source}\u0000${r.event.userId}`)).size;
    perBatch.push(calls.slice(at, at + users));
    at += users;
  }
}

async function send(encode: (call: Call) => Call): Promise<{ client: number; server: number }> {
  const server0 = await serverCpuSeconds(redis);
  const c = process.cpuUsage();
  for (const batch of perBatch) {
    const pipe = redis.pipeline();
    for (const call of batch) pipe.call(...(encode(call) as [string, ...Array<string | number>]));
    await pipe.exec();
  }
  return { client: cpu(c), server: (await serverCpuSeconds(redis)) - server0 };
}

// FCALL fn 2 key1 key2 h1..h5 then events
const asIs = (call: Call): Call => ['FCALL', 'cfbench_walk', ...call.slice(2)];
function pack(call: Call): Call {
  const header = call.slice(2, 10);
  const n = Number(call[9]);
  let i = 10;
  const events: string[] = [];
  for (let e = 0; e < n; e++) {
    const nops = Number(call[i + 6]);
    events.push(call.slice(i, i + 7 + 3 * nops).join('\x1f'));
    i += 7 + 3 * nops;
  }
  return ['FCALL', 'cfbench_packed', ...header, events.join('\x1e')];
}
async function sendGrouped(k: number): Promise<{ client: number; server: number }> {
  const server0 = await serverCpuSeconds(redis);
  const c = process.cpuUsage();
  for (const batch of perBatch) {
    const pipe = redis.pipeline();
    for (let g = 0; g < batch.length; g += k) {
      const group = batch.slice(g, g + k);
      const keys: Array<string | number> = [];
      const args: Array<string | number> = [group.length];
      for (const call of group) {
        keys.push(call[3] as string, call[4] as string);
        for (let a = 5; a < call.length; a++) args.push(call[a] as string | number);
      }
      pipe.call('FCALL', 'cfbench_multi', keys.length, ...keys, ...args);
    }
    await pipe.exec();
  }
  return { client: cpu(c), server: (await serverCpuSeconds(redis)) - server0 };
}
// Packing is the writer's job in the proposal, so its cost is counted with the send. The
// machine is shared, so the variants are interleaved over several rounds and the median kept.
const ROUNDS = Number(values.rounds ?? 5);
type Run = { client: number; server: number };
const variants: Record<string, () => Promise<Run>> = {
  asIs: () => send(asIs),
  packed: () => send(pack),
  grouped1: () => sendGrouped(1),
  grouped4: () => sendGrouped(4),
  grouped8: () => sendGrouped(8),
  grouped16: () => sendGrouped(16),
};
const runs: Record<string, Run[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (const run of Object.values(variants)) await run();
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of Object.entries(variants)) (runs[name] as Run[]).push(await run());
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const med = (name: string): Run => ({ client: median((runs[name] as Run[]).map((r) => r.client)), server: median((runs[name] as Run[]).map((r) => r.server)) });
const walkRun = med('asIs');
const packedRun = med('packed');
const grouped: Record<string, Run> = { 1: med('grouped1'), 4: med('grouped4'), 8: med('grouped8'), 16: med('grouped16') };
await redis.call('FUNCTION', 'DELETE', LIBRARY);
const machine = await describeMachine(redis);
redis.disconnect();

const n = store.length;
// Bytes on the wire to Redis (RESP) of the recorded calls, per written event.
let respBytes = 0;
for (const call of calls) {
  const args = ['FCALL', ...call.slice(1)].map(String);
  respBytes += `*${args.length}\r\n`.length;
  for (const arg of args) respBytes += `$${Buffer.byteLength(arg)}\r\n`.length + Buffer.byteLength(arg) + 2;
}
const us = (s: number): number => Math.round((s * 1e8) / n) / 100;
const result = {
  experiment: 'feature-writer encoding',
  date: new Date().toISOString(),
  command: `npx tsx bench/pipeline/encoding-experiment.ts ${process.argv.slice(2).join(' ')}`.trim(),
  machine,
  rounds: ROUNDS,
  events: n,
  calls: calls.length,
  eventsPerCall: Math.round((n / calls.length) * 100) / 100,
  argsPerCall: Math.round((calls.reduce((s, c) => s + c.length, 0) / calls.length) * 10) / 10,
  respBytesPerEvent: Math.round(respBytes / n),
  microsPerEvent: {
    writerJavaScript: us(writerJs),
    ioredisAsIs: us(walkRun.client),
    ioredisPackedIncludingPacking: us(packedRun.client),
    redisServerAsIsWalkOnly: us(walkRun.server),
    redisServerPackedSplit: us(packedRun.server),
  },
  groupedUsersPerCall: Object.fromEntries(Object.entries(grouped).map(([k, r]) => [k, { ioredisClient: us(r.client), redisServerWalkOnly: us(r.server) }])),
};
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
mkdirSync('bench/results', { recursive: true });
writeFileSync(`bench/results/pipeline-${result.date.slice(0, 10)}-encoding.json`, `${JSON.stringify(result, null, 2)}\n`);
