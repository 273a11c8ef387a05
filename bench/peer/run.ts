/**
 * The side-by-side with the Apache Flink peer: collects the runs its bench.py made (the same
 * workload through the sidecar and the Flink job, interleaved in one session) into
 * bench/results/peer-<date>[-<label>].json with the ratios, one summary per workload size (the
 * 600K and the 2.4M-event topic sets: a run's `events`). Not a test.
 *
 *   npx tsx bench/peer/run.ts --peer-dir ../shared/peers/flink [--scratch .cache/peer-flink] [--label L]
 *
 * Per workload it runs the peer's `compare` of the first sidecar and the first Flink run (identical
 * features for every user is the precondition of comparing costs) and refuses to write the
 * file when they differ. bench/peer/README.md gives the commands that make the runs.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writePeerReport } from './report.ts';

const { values } = parseArgs({ options: { 'peer-dir': { type: 'string' }, scratch: { type: 'string' }, main: { type: 'string' }, label: { type: 'string' }, help: { type: 'boolean' } } });
const USAGE = 'usage: npx tsx bench/peer/run.ts --peer-dir DIR [--scratch .cache/peer-flink] [--main .cache/peer-main] [--label L]';
if (values.help || values['peer-dir'] === undefined) {
  console.log(USAGE);
  process.exit(values.help ? 0 : 2);
}
const scratch = resolve(values.scratch ?? '.cache/peer-flink');
const main = resolve(values.main ?? '.cache/peer-main');
const peerDir = resolve(values['peer-dir']);

interface Run {
  label: string;
  system: 'sidecar' | 'flink';
  variant: string;
  events: number;
  cpu_s: number;
  redis_cpu_s: number;
  events_per_cpu_s: number;
  steady_5_95: { events_per_cpu_s: number; events: number; redis_cpu: number };
  redis_used_memory_bytes: number;
  other_busy_cores: number;
  verdicts?: Record<string, number>;
}

const runs: Run[] = readdirSync(join(scratch, 'results'))
  .filter((f) => /^run-.*\.json$/.test(f))
  .map((f) => JSON.parse(readFileSync(join(scratch, 'results', f), 'utf8')) as Run)
  .sort((a, b) => a.label.localeCompare(b.label));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;
const first = (list: Run[]): string => (list[0] as Run).label;

/** One workload (a produced topic set of N events): the medians per variant, the sidecar/Flink ratios and the parity check of its first runs. */
function summarizeWorkload(list: Run[]) {
  const byVariant = new Map<string, Run[]>();
  for (const run of list) byVariant.set(run.variant, [...(byVariant.get(run.variant) ?? []), run]);
  const summary = Object.fromEntries(
    [...byVariant].map(([variant, runsOfVariant]) => [
      variant,
      {
        runs: runsOfVariant.map((r) => r.label),
        eventsPerCpuSecond: median(runsOfVariant.map((r) => r.events_per_cpu_s)),
        steadyEventsPerCpuSecond: median(runsOfVariant.map((r) => r.steady_5_95.events_per_cpu_s)),
        redisMicrosPerEvent: round((median(runsOfVariant.map((r) => r.redis_cpu_s)) / (runsOfVariant[0] as Run).events) * 1e6, 1),
        redisMemoryBytes: median(runsOfVariant.map((r) => r.redis_used_memory_bytes)),
        otherBusyCores: runsOfVariant.map((r) => r.other_busy_cores),
      },
    ]),
  );
  const sidecarRuns = list.filter((r) => r.system === 'sidecar');
  const flinkRuns = list.filter((r) => r.system === 'flink');
  if (sidecarRuns.length === 0 || flinkRuns.length === 0) throw new Error(`workload of ${list[0]?.events} events: needs a sidecar run and a Flink run`);
  const parity = JSON.parse(
    execFileSync('python3', [join(peerDir, 'bench.py'), 'compare', first(sidecarRuns), first(flinkRuns)], { cwd: main, encoding: 'utf8', env: { ...process.env, PF_MAIN: main, PF_SCRATCH: scratch } }),
  ) as { users_compared: number; users_differing: number };
  const sidecar = summary.sidecar as (typeof summary)[string];
  const ratios = Object.fromEntries(
    Object.entries(summary)
      .filter(([variant]) => variant !== 'sidecar')
      .map(([variant, s]) => [
        variant,
        {
          eventsPerCpuSecond: round(sidecar.eventsPerCpuSecond / s.eventsPerCpuSecond, 2),
          steadyEventsPerCpuSecond: round(sidecar.steadyEventsPerCpuSecond / s.steadyEventsPerCpuSecond, 2),
          redisCpuPerEvent: round(sidecar.redisMicrosPerEvent / s.redisMicrosPerEvent, 2),
          redisMemory: round(sidecar.redisMemoryBytes / s.redisMemoryBytes, 2),
        },
      ]),
  );
  return { events: (list[0] as Run).events, summary, ratios, parity, verdicts: sidecarRuns.map((r) => r.verdicts) };
}

const byEvents = new Map<number, Run[]>();
for (const run of runs) byEvents.set(run.events, [...(byEvents.get(run.events) ?? []), run]);
const workloads = [...byEvents.keys()].sort((a, b) => a - b).map((events) => summarizeWorkload(byEvents.get(events) as Run[]));
let differing = false;
for (const w of workloads) {
  console.log(`workload of ${w.events} events:`);
  for (const [variant, s] of Object.entries(w.summary)) {
    console.log(
      `  ${variant.padEnd(32)} ${s.runs.length} runs: ${s.eventsPerCpuSecond} events/CPU-s (steady ${s.steadyEventsPerCpuSecond}), Redis ${s.redisMicrosPerEvent} µs/event, ${(s.redisMemoryBytes / 2 ** 20).toFixed(1)} MiB`,
    );
  }
  console.log(`  sidecar / Flink (>1: sidecar does more per CPU-second; <1 on Redis: sidecar costs less): ${JSON.stringify(w.ratios)}`);
  if (w.parity.users_differing !== 0) {
    differing = true;
    console.error(`  the sidecar and Flink runs differ for ${w.parity.users_differing} users: the costs are not comparable`);
  } else console.log(`  identical features for all ${w.parity.users_compared} users`);
}
if (differing) process.exit(1);
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/peer-${new Date().toISOString().slice(0, 10)}${values.label ? `-${values.label}` : ''}.json`;
const results = {
  workloads,
  runs: runs.map(({ label, system, variant, events, cpu_s, redis_cpu_s, events_per_cpu_s, redis_used_memory_bytes, other_busy_cores }) => ({
    label,
    system,
    variant,
    events,
    cpu_s,
    redis_cpu_s,
    events_per_cpu_s,
    redis_used_memory_bytes,
    other_busy_cores,
  })),
};
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
console.log(`wrote ${file} and ${writePeerReport(file, results)}`);
