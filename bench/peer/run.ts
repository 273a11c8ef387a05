/**
 * The side-by-side with the Apache Flink peer: collects the runs its bench.py made (the same
 * 600K-event workload through the sidecar and the Flink job, interleaved in one session) into
 * bench/results/peer-<date>[-<label>].json with the ratios. Not a test.
 *
 *   npx tsx bench/peer/run.ts --peer-dir ../shared/peers/flink [--scratch .cache/peer-flink] [--label L]
 *
 * It first runs the peer's `compare` of the first sidecar and the first Flink run (identical
 * features for every user is the precondition of comparing costs) and refuses to write the
 * file when they differ. bench/peer/README.md gives the commands that make the runs.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

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
const byVariant = new Map<string, Run[]>();
for (const run of runs) byVariant.set(run.variant, [...(byVariant.get(run.variant) ?? []), run]);
const summary = Object.fromEntries(
  [...byVariant].map(([variant, list]) => [
    variant,
    {
      runs: list.map((r) => r.label),
      eventsPerCpuSecond: median(list.map((r) => r.events_per_cpu_s)),
      steadyEventsPerCpuSecond: median(list.map((r) => r.steady_5_95.events_per_cpu_s)),
      redisMicrosPerEvent: Math.round((median(list.map((r) => r.redis_cpu_s)) / (list[0] as Run).events) * 1e7) / 10,
      redisMemoryBytes: median(list.map((r) => r.redis_used_memory_bytes)),
      otherBusyCores: list.map((r) => r.other_busy_cores),
    },
  ]),
);
const sidecarRuns = runs.filter((r) => r.system === 'sidecar');
const flinkRuns = runs.filter((r) => r.system === 'flink');
const first = (list: Run[]): string => (list[0] as Run).label;
const compare = JSON.parse(
  execFileSync('python3', [join(peerDir, 'bench.py'), 'compare', first(sidecarRuns), first(flinkRuns)], { cwd: main, encoding: 'utf8', env: { ...process.env, PF_MAIN: main, PF_SCRATCH: scratch } }),
) as { users_compared: number; users_differing: number };
if (compare.users_differing !== 0) {
  console.error(`the sidecar and Flink runs differ for ${compare.users_differing} users: the costs are not comparable`);
  process.exit(1);
}
const sidecar = summary.sidecar as (typeof summary)[string];
const ratios = Object.fromEntries(
  Object.entries(summary)
    .filter(([variant]) => variant !== 'sidecar')
    .map(([variant, s]) => [
      variant,
      {
        eventsPerCpuSecond: Math.round((sidecar.eventsPerCpuSecond / s.eventsPerCpuSecond) * 100) / 100,
        steadyEventsPerCpuSecond: Math.round((sidecar.steadyEventsPerCpuSecond / s.steadyEventsPerCpuSecond) * 100) / 100,
        redisCpuPerEvent: Math.round((sidecar.redisMicrosPerEvent / s.redisMicrosPerEvent) * 100) / 100,
        redisMemory: Math.round((sidecar.redisMemoryBytes / s.redisMemoryBytes) * 100) / 100,
      },
    ]),
);
for (const [variant, s] of Object.entries(summary)) {
  console.log(
    `${variant.padEnd(32)} ${s.runs.length} runs: ${s.eventsPerCpuSecond} events/CPU-s (steady ${s.steadyEventsPerCpuSecond}), Redis ${s.redisMicrosPerEvent} µs/event, ${(s.redisMemoryBytes / 2 ** 20).toFixed(1)} MiB`,
  );
}
console.log(`sidecar / Flink (>1: sidecar does more per CPU-second; <1 on Redis: sidecar costs less): ${JSON.stringify(ratios)}`);
console.log(`identical features for all ${compare.users_compared} users (${first(sidecarRuns)} vs ${first(flinkRuns)})`);
mkdirSync('bench/results', { recursive: true });
const file = `bench/results/peer-${new Date().toISOString().slice(0, 10)}${values.label ? `-${values.label}` : ''}.json`;
writeFileSync(
  file,
  `${JSON.stringify({ summary, sidecar: summary.sidecar, ratios, parity: compare, verdicts: sidecarRuns.map((r) => r.verdicts), runs: runs.map(({ label, system, variant, events, cpu_s, redis_cpu_s, events_per_cpu_s, redis_used_memory_bytes, other_busy_cores }) => ({ label, system, variant, events, cpu_s, redis_cpu_s, events_per_cpu_s, redis_used_memory_bytes, other_busy_cores })) }, null, 2)}\n`,
);
console.log(`wrote ${file}`);
