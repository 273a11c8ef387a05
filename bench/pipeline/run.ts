/**
 * The pipeline benchmark: what one sidecar core sustains, against what ceiling, how fresh
 * features are under load, and what Redis spends per event and per user. Not a test: it
 * prints figures and writes bench/results/pipeline-<date>[-<label>].json with the machine.
 *
 *   . scripts/stack/env.sh && scripts/stack/start.sh kafka redis
 *   npx tsx bench/pipeline/run.ts [--events 600000] [--profile] ...
 *
 * Phases (one run, one namespace `bench.<id>` of topics, group and Redis keys, all deleted
 * at the end unless --keep):
 *   1. produce N pre-generated 1 KB events with the load generator CLI (virtual clock);
 *   2. ceilings: JSON.parse, parseEvent, parseEvent + window operators on the same events,
 *      regenerated in this process (the SHA-256 of the stream proves they are the same);
 *   3. throughput: the sidecar (bench/pipeline/sidecar-child.ts, a child process) drains the
 *      backlog; events/s and events per CPU-second of the sidecar process in the steady part,
 *      Redis commands and CPU per event, memory per user;
 *   4. freshness: the load generator produces at 50% and 90% of the drained rate with
 *      event_ts = now while probe events measure event -> readable by reading Redis;
 *   5. steady-state memory of a daily active user (the seed's 1,728 events/day) over 8
 *      simulated days, through the sidecar's BatchProcessor and Redis function.
 * `--help` lists the options.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { Redis } from 'ioredis';
import { loadFeatureRegistry } from '../../sidecar/src/features/index.ts';
import { ensureTopics, LOCAL_PARTITIONS, topicNames } from '../../sidecar/src/kafka/index.ts';
import { parseLoadgenArgs } from '../../sidecar/src/loadgen/cli-options.ts';
import { EventStream, runLoad, type LoadSummary, type StreamRecord } from '../../sidecar/src/loadgen/index.ts';
import { measureCeilings } from './ceiling.ts';
import { measureStages, type StageCosts } from './stage-costs.ts';
import { simulateDauMemory } from './dau-memory.ts';
import { FreshnessProbe } from './freshness-probe.ts';
import { CDF_QUANTILES, writePipelineReport } from './report.ts';
import { parseCpuList, Pinning, pinProcess } from './cpu-pinning.ts';
import { describeMachine, machineBusySeconds, processCpuSeconds, stackPid } from './machine.ts';
import { formatProfile, summarizeProfileFile, type ProfileSummary } from './profile-summary.ts';
import { deleteKeys, redisDelta, serverCpuSeconds, snapshot, userMemory, type RedisDelta, type UserMemory } from './redis-stats.ts';
import type { ChildStats } from './sidecar-child.ts';
import { bucketDelta, histogramQuantile, percentiles, quantile, round, type Percentiles } from './stats.ts';

const USAGE = `pipeline benchmark (not a test): prints figures, writes bench/results/pipeline-<date>.json

  npx tsx bench/pipeline/run.ts [options]

  --events N              pre-produced events for the throughput phase (default 600000)
  --users N               users of the generated stream (default 200000)
  --seed N                load generator seed (default 7)
  --size N                event size in bytes (default 1024)
  --ceiling-events N      events the ceilings are measured on (default 200000)
  --loads LIST            freshness loads as fractions of the drained rate (default 0.5,0.9)
  --freshness-seconds S   measured seconds per load, after the warm-up (default 40)
  --warmup-seconds S      warm-up per load (default 8)
  --probe-rate N          probe events per second (default 40)
  --dau-users N           users of the steady-state memory simulation (default 100)
  --dau-days N            simulated days (default 8)
  --dau-events N          events per active user per day (default 1728 = 120K/s * 86400 / 6M DAU)
  --dau-own-title-share X share of plays of a user's own few titles (default 0.9; 0 = every play a new title, the worst case)
  --partitions-concurrently N  SidecarOptions.partitionsConsumedConcurrently (default: the sidecar's)
  --node-flags=FLAGS      extra node flags for the sidecar process, e.g. --node-flags=--max-semi-space-size=64
  --profile               CPU-profile the sidecar during the throughput phase (node --cpu-prof)
  --skip-freshness        skip phase 4
  --loadgen-cpus LIST     pin the freshness phase's load generator to these CPUs (taskset list, e.g. 1)
  --pipeline-cpus LIST    pin the sidecar, the stack's Redis and broker to these CPUs during phase 4 (e.g. 0);
                          their previous affinity is restored after it
  --skip-dau              skip phase 5
  --label TEXT            results file pipeline-<date>-<label>.json
  --keep                  keep topics and keys (default: delete them)
`;

interface Args {
  events: number;
  users: number;
  seed: number;
  size: number;
  ceilingEvents: number;
  loads: number[];
  freshnessSeconds: number;
  warmupSeconds: number;
  probeRate: number;
  dauUsers: number;
  dauDays: number;
  dauEvents: number;
  dauOwnTitleShare: number;
  partitionsConcurrently: number | null;
  nodeFlags: string[];
  profile: boolean;
  skipFreshness: boolean;
  loadgenCpus: string | null;
  pipelineCpus: string | null;
  skipDau: boolean;
  label: string | null;
  keep: boolean;
}

function parse(): Args {
  const { values } = parseArgs({
    strict: true,
    options: {
      events: { type: 'string' },
      users: { type: 'string' },
      seed: { type: 'string' },
      size: { type: 'string' },
      'ceiling-events': { type: 'string' },
      loads: { type: 'string' },
      'freshness-seconds': { type: 'string' },
      'warmup-seconds': { type: 'string' },
      'probe-rate': { type: 'string' },
      'dau-users': { type: 'string' },
      'dau-days': { type: 'string' },
      'dau-events': { type: 'string' },
      'dau-own-title-share': { type: 'string' },
      'partitions-concurrently': { type: 'string' },
      'node-flags': { type: 'string' },
      profile: { type: 'boolean' },
      'skip-freshness': { type: 'boolean' },
      'loadgen-cpus': { type: 'string' },
      'pipeline-cpus': { type: 'string' },
      'skip-dau': { type: 'boolean' },
      label: { type: 'string' },
      keep: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const num = (name: string, fallback: number, min = 1): number => {
    const text = values[name as keyof typeof values] as string | undefined;
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isFinite(value) || value < min) throw new Error(`option --${name} must be a number >= ${min}, got ${JSON.stringify(text)}`);
    return value;
  };
  const loads = (values.loads ?? '0.5,0.9').split(',').map(Number);
  if (loads.some((l) => !(l > 0 && l <= 1.5))) throw new Error(`option --loads must be fractions in (0, 1.5], got ${values.loads}`);
  const label = values.label ?? null;
  if (label !== null && !/^[A-Za-z0-9_.-]{1,40}$/.test(label)) throw new Error('option --label must match [A-Za-z0-9_.-]{1,40}');
  return {
    events: num('events', 600_000),
    users: num('users', 200_000),
    seed: num('seed', 7, 0),
    size: num('size', 1_024, 200),
    ceilingEvents: num('ceiling-events', 200_000),
    loads,
    freshnessSeconds: num('freshness-seconds', 40),
    warmupSeconds: num('warmup-seconds', 8, 0),
    probeRate: num('probe-rate', 40),
    dauUsers: num('dau-users', 100),
    dauDays: num('dau-days', 8),
    dauEvents: num('dau-events', 1_728),
    dauOwnTitleShare: num('dau-own-title-share', 0.9, 0),
    partitionsConcurrently: values['partitions-concurrently'] === undefined ? null : num('partitions-concurrently', 4),
    nodeFlags: (values['node-flags'] ?? '').split(/\s+/).filter((f) => f.length > 0),
    profile: Boolean(values.profile),
    skipFreshness: Boolean(values['skip-freshness']),
    loadgenCpus: values['loadgen-cpus'] === undefined ? null : parseCpuList(values['loadgen-cpus'], os.cpus().length),
    pipelineCpus: values['pipeline-cpus'] === undefined ? null : parseCpuList(values['pipeline-cpus'], os.cpus().length),
    skipDau: Boolean(values['skip-dau']),
    label,
    keep: Boolean(values.keep),
  };
}

const BROKERS = (process.env.CHURNFEAT_KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const REDIS_URL = process.env.CHURNFEAT_REDIS_URL ?? 'redis://127.0.0.1:16379';
const children = new Set<ChildProcess>();

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs the load generator CLI as a child process (pinned to `cpus` when given) and returns its JSON summary. */
async function loadgen(argv: string[], cpus: string | null = null): Promise<{ summary: LoadSummary; pid: number }> {
  const child = fork('cli/churnfeat.ts', ['loadgen', ...argv, '--json', '--quiet'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  children.add(child);
  if (cpus !== null) pinProcess(child.pid as number, cpus);
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  children.delete(child);
  if (code !== 0) throw new Error(`load generator exited with ${code}`);
  return { summary: JSON.parse(out.trim().split('\n').pop() as string) as LoadSummary, pid: child.pid as number };
}

interface KafkaOnly {
  client: string;
  records: number;
  bytes: number;
  seconds: number;
  cpuSeconds: number;
  cpuMicrosPerEvent: number;
  eventsPerCpuSecond: number;
}

/** Consumes the backlog with the Kafka client alone (bench/pipeline/kafka-consume-child.ts). */
async function kafkaOnly(ns: Namespace, events: number, partitionsConcurrently: number | null): Promise<KafkaOnly> {
  const child = fork('bench/pipeline/kafka-consume-child.ts', [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    env: {
      ...process.env,
      CHURNFEAT_KAFKA_BROKERS: BROKERS.join(','),
      BENCH_TOPICS: Object.values(ns.topics.sources).join(','),
      BENCH_GROUP: `${ns.groupId}.kafka-only`,
      BENCH_EXPECT: String(events),
      ...(partitionsConcurrently === null ? {} : { BENCH_PARTITIONS_CONCURRENTLY: String(partitionsConcurrently) }),
    },
  });
  children.add(child);
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  children.delete(child);
  if (code !== 0) throw new Error(`kafka-only consumer exited with ${code}`);
  const r = JSON.parse(out.trim().split('\n').pop() as string) as Omit<KafkaOnly, 'cpuMicrosPerEvent' | 'eventsPerCpuSecond'>;
  return { ...r, cpuMicrosPerEvent: round((r.cpuSeconds * 1e6) / r.records, 2), eventsPerCpuSecond: Math.round(r.records / r.cpuSeconds) };
}

/** The sidecar in a child process (bench/pipeline/sidecar-child.ts), asked for stats over IPC. */
class SidecarChild {
  private constructor(private readonly child: ChildProcess) {}

  static async start(env: NodeJS.ProcessEnv, profileDir: string | null, nodeFlags: readonly string[] = []): Promise<SidecarChild> {
    const execArgv = ['--import', 'tsx', ...nodeFlags, ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])];
    const child = fork('bench/pipeline/sidecar-child.ts', [], { execArgv, serialization: 'advanced', env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    children.add(child);
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      child.once('exit', (code) => reject(new Error(`sidecar child exited with ${code} before it was ready`)));
    });
    return new SidecarChild(child);
  }

  get pid(): number {
    return this.child.pid as number;
  }

  stats(): Promise<ChildStats> {
    return new Promise((resolve) => {
      this.child.once('message', (message) => resolve(message as ChildStats));
      this.child.send({ type: 'stats' });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
    children.delete(this.child);
  }
}

const cpuOf = (s: ChildStats): number => (s.cpuUserUs + s.cpuSystemUs) / 1e6;

/** CPU seconds so far of this run's own processes that are not the sidecar: Redis, the broker, this harness. */
async function oursCpu(redis: Redis): Promise<{ redis: number; broker: number | null; harness: number; machine: number | null }> {
  const broker = stackPid('kafka');
  const harness = process.cpuUsage();
  return { redis: await serverCpuSeconds(redis), broker: broker === null ? null : processCpuSeconds(broker), harness: (harness.user + harness.system) / 1e6, machine: machineBusySeconds() };
}

/**
 * How the machine's busy cores split over a window: the sidecar, the load generator, Redis,
 * the broker, this harness, and everything else (other work on a shared machine, which
 * slows the wall-clock figures down).
 */
function coreSplit(a: Awaited<ReturnType<typeof oursCpu>>, b: Awaited<ReturnType<typeof oursCpu>>, seconds: number, sidecarCpu: number, loadgenCpu: number): Record<string, number | null> {
  const per = (x: number | null, y: number | null): number | null => (x === null || y === null ? null : round((y - x) / seconds, 2));
  const machine = per(a.machine, b.machine);
  const redisCores = per(a.redis, b.redis) as number;
  const broker = per(a.broker, b.broker);
  const harness = per(a.harness, b.harness) as number;
  const sidecar = round(sidecarCpu / seconds, 2);
  const loadgen = round(loadgenCpu / seconds, 2);
  const other = machine === null ? null : round(machine - sidecar - loadgen - redisCores - (broker ?? 0) - harness, 2);
  return { machine, sidecar, loadgen, redis: redisCores, broker, harness, other };
}
const uniqueOf = (s: ChildStats): number => (s.totals.consumed ?? 0) - (s.totals.replayed ?? 0);

interface Throughput {
  events: number;
  drainSeconds: number;
  /** The steady part: from 5% to 95% of the backlog consumed. */
  steady: { seconds: number; events: number; eventsPerSecond: number; cpuSeconds: number; eventsPerCpuSecond: number; coresUsed: number; eventLoopUtilization: number };
  totals: Record<string, number>;
  replayedShare: number;
  redis: {
    commandsPerEvent: number;
    roundTripsPerEvent: number;
    byCommandPerEvent: Record<string, number>;
    cpuMicrosPerEvent: number;
    eventsPerRedisCpuSecond: number;
    connectedClientsAtStart: number;
  };
  kafkaBrokerCpuMicrosPerEvent: number | null;
  machineBusyCores: number | null;
  /** Busy cores in the steady window by process: the other work on the machine shows as `other`. */
  cores: Record<string, number | null>;
  sidecarRssMiB: number;
  /** Mean records per eachBatch call. */
  averageBatch: number;
  memoryAfterDrain: UserMemory;
  eventsPerUser: number;
  profile?: ProfileSummary;
}

async function throughputPhase(args: Args, ns: Namespace, redis: Redis): Promise<{ result: Throughput; sidecar: SidecarChild }> {
  const profileDir = args.profile ? mkdtempSync(join(os.tmpdir(), 'churnfeat-prof-')) : null;
  const before = await snapshot(redis);
  const sidecar = await SidecarChild.start(ns.sidecarEnv, profileDir, args.nodeFlags);
  const samples: ChildStats[] = [];
  const broker = stackPid('kafka');
  const brokerCpu: Array<number | null> = [];
  const busy: Array<number | null> = [];
  const redisAt: Array<Awaited<ReturnType<typeof snapshot>>> = [];
  const ours: Array<Awaited<ReturnType<typeof oursCpu>>> = [];
  const started = Date.now();
  let lastProgress = Date.now();
  let last = 0;
  for (;;) {
    const s = await sidecar.stats();
    samples.push(s);
    brokerCpu.push(broker === null ? null : processCpuSeconds(broker));
    busy.push(machineBusySeconds());
    redisAt.push(await snapshot(redis));
    ours.push(await oursCpu(redis));
    const unique = uniqueOf(s);
    if (unique > last) {
      last = unique;
      lastProgress = Date.now();
    }
    if (unique >= args.events) break;
    if (Date.now() - lastProgress > 60_000) throw new Error(`the sidecar stopped making progress at ${unique} of ${args.events} events`);
    if (samples.length % 10 === 0) log(`  consumed ${unique} (${s.totals.replayed ?? 0} replayed re-deliveries), ${((Date.now() - started) / 1000).toFixed(0)} s`);
    await sleep(500);
  }
  const after = await snapshot(redis);
  const firstIndex = samples.findIndex((s) => uniqueOf(s) >= args.events * 0.05);
  const lastIndex = samples.findIndex((s) => uniqueOf(s) >= args.events * 0.95);
  const a = samples[firstIndex] as ChildStats;
  const b = samples[lastIndex] as ChildStats;
  const seconds = (b.atMs - a.atMs) / 1000;
  const events = uniqueOf(b) - uniqueOf(a);
  const cpu = cpuOf(b) - cpuOf(a);
  const eluActive = b.elu.active - a.elu.active;
  const eluIdle = b.elu.idle - a.elu.idle;
  const redisWindow = redisDelta(redisAt[firstIndex] as Awaited<ReturnType<typeof snapshot>>, redisAt[lastIndex] as Awaited<ReturnType<typeof snapshot>>);
  const whole: RedisDelta = redisDelta(before, after);
  const brokerA = brokerCpu[firstIndex];
  const brokerB = brokerCpu[lastIndex];
  const busyA = busy[firstIndex];
  const busyB = busy[lastIndex];
  const final = samples[samples.length - 1] as ChildStats;
  const byCommandPerEvent: Record<string, number> = {};
  for (const [command, calls] of Object.entries(whole.byCommand)) byCommandPerEvent[command] = round(calls / args.events, 3);
  const memory = await userMemory(redis, ns.keyPrefix, 2_000);
  let profile: ProfileSummary | undefined;
  let running = sidecar;
  if (profileDir) {
    await sidecar.stop();
    const file = readdirSync(profileDir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(profileDir, f))
      .map((path) => ({ path, summary: summarizeProfileFile(path, 40) }))
      .sort((x, y) => y.summary.busyMs - x.summary.busyMs)[0];
    profile = file?.summary;
    rmSync(profileDir, { recursive: true, force: true });
    running = await SidecarChild.start(ns.sidecarEnv, null, args.nodeFlags);
  }
  return {
    sidecar: running,
    result: {
      events: args.events,
      drainSeconds: round((final.atMs - (samples[0] as ChildStats).atMs) / 1000, 1),
      steady: {
        seconds: round(seconds, 2),
        events,
        eventsPerSecond: Math.round(events / seconds),
        cpuSeconds: round(cpu, 2),
        eventsPerCpuSecond: Math.round(events / cpu),
        coresUsed: round(cpu / seconds, 2),
        eventLoopUtilization: round(eluActive / (eluActive + eluIdle), 3),
      },
      totals: final.totals,
      replayedShare: round((final.totals.replayed ?? 0) / Math.max(1, final.totals.consumed ?? 0), 4),
      redis: {
        commandsPerEvent: round(whole.allCalls / args.events, 3),
        roundTripsPerEvent: round(whole.topLevelCalls / args.events, 4),
        byCommandPerEvent,
        cpuMicrosPerEvent: round((redisWindow.cpuSeconds * 1e6) / events, 2),
        eventsPerRedisCpuSecond: Math.round(events / redisWindow.cpuSeconds),
        connectedClientsAtStart: before.connectedClients,
      },
      kafkaBrokerCpuMicrosPerEvent: brokerA != null && brokerB != null ? round(((brokerB - brokerA) * 1e6) / events, 2) : null,
      machineBusyCores: busyA != null && busyB != null ? round((busyB - busyA) / seconds, 2) : null,
      cores: coreSplit(ours[firstIndex] as Awaited<ReturnType<typeof oursCpu>>, ours[lastIndex] as Awaited<ReturnType<typeof oursCpu>>, seconds, cpu, 0),
      sidecarRssMiB: Math.round(final.rssBytes / 2 ** 20),
      averageBatch: round((final.totals.consumed ?? 0) / Math.max(1, final.batches), 1),
      memoryAfterDrain: memory,
      eventsPerUser: round(args.events / Math.max(1, memory.users), 2),
      ...(profile ? { profile } : {}),
    },
  };
}

interface FreshnessResult {
  load: number;
  targetRate: number;
  achievedRate: number;
  loadgenMaxBehind: number;
  probes: { sent: number; unresolved: number; sendErrors: number };
  probeLatencyMs: Percentiles;
  /** The probe latencies at each of report.ts CDF_QUANTILES (the freshness chart). */
  probeLatencyCdfMs: number[];
  /** From the sidecar's own histogram over the measured window (bucketed; interpolated). */
  sidecarIngestToReadableMs: { p50: number; p95: number; p99: number; count: number };
  sidecarCoresUsed: number;
  sidecarEventsPerCpuSecond: number;
  backlogAtEnd: number;
  machineBusyCores: number | null;
  loadgenCoresUsed: number;
  /** Busy cores in the measured window by process (see coreSplit). */
  cores: Record<string, number | null>;
}

async function freshnessPhase(
  args: Args,
  ns: Namespace,
  redis: Redis,
  sidecar: SidecarChild,
  producer: import('kafkajs').Producer,
  load: number,
  maxRate: number,
  index: number,
): Promise<FreshnessResult> {
  const rate = Math.max(1, Math.round(load * maxRate));
  const total = args.warmupSeconds + args.freshnessSeconds;
  log(`freshness at ${Math.round(load * 100)}% of ${maxRate}/s = ${rate}/s for ${total} s (${args.warmupSeconds} s warm-up)`);
  const registry = loadFeatureRegistry('dbt_project');
  const probe = new FreshnessProbe({ producer, redis, topics: ns.topics, keyPrefix: ns.keyPrefix, registry, tag: `${ns.id}x${index}x`, rate: args.probeRate, size: args.size });
  const produced0 = await sidecar.stats();
  const gen = loadgen(
    [
      '--namespace',
      ns.topicNamespace,
      '--rate',
      String(rate),
      '--duration',
      String(total),
      '--clock',
      'live',
      '--size',
      String(args.size),
      '--users',
      String(args.users),
      '--seed',
      String(args.seed + 100 + index),
      '--on-time-delay',
      '0-0',
    ],
    args.loadgenCpus,
  );
  probe.start(args.warmupSeconds * 1000);
  await sleep(args.warmupSeconds * 1000);
  const a = await sidecar.stats();
  const busyA = machineBusySeconds();
  const oursA = await oursCpu(redis);
  const { summary } = await gen;
  const b = await sidecar.stats();
  const busyB = machineBusySeconds();
  const oursB = await oursCpu(redis);
  const probes = await probe.stop(30_000);
  // Drained? compare what the sidecar has taken since the phase began with what was produced.
  await sleep(1_000);
  const c = await sidecar.stats();
  const consumedInPhase = uniqueOf(c) - uniqueOf(produced0);
  const seconds = (b.atMs - a.atMs) / 1000;
  const delta = bucketDelta(a.ingestToReadable, b.ingestToReadable);
  const count = delta[delta.length - 1]?.count ?? 0;
  return {
    load,
    targetRate: rate,
    achievedRate: Math.round(summary.achievedRate),
    loadgenMaxBehind: summary.maxBehind,
    probes,
    probeLatencyMs: percentiles(probe.latenciesMs),
    probeLatencyCdfMs: CDF_QUANTILES.map((q) =>
      quantile(
        [...probe.latenciesMs].sort((x, y) => x - y),
        q,
      ),
    ),
    sidecarIngestToReadableMs: {
      p50: round(histogramQuantile(delta, 0.5) * 1000, 0),
      p95: round(histogramQuantile(delta, 0.95) * 1000, 0),
      p99: round(histogramQuantile(delta, 0.99) * 1000, 0),
      count,
    },
    sidecarCoresUsed: round((cpuOf(b) - cpuOf(a)) / seconds, 2),
    sidecarEventsPerCpuSecond: Math.round((uniqueOf(b) - uniqueOf(a)) / (cpuOf(b) - cpuOf(a))),
    backlogAtEnd: Math.max(0, summary.produced + probes.sent - consumedInPhase),
    machineBusyCores: busyA != null && busyB != null ? round((busyB - busyA) / seconds, 2) : null,
    loadgenCoresUsed: round(summary.cpuSeconds / (summary.elapsedMs / 1000), 2),
    cores: coreSplit(oursA, oursB, seconds, cpuOf(b) - cpuOf(a), (summary.cpuSeconds * seconds) / (summary.elapsedMs / 1000)),
  };
}

interface Namespace {
  id: string;
  topicNamespace: string;
  keyPrefix: string;
  groupId: string;
  topics: ReturnType<typeof topicNames>;
  sidecarEnv: NodeJS.ProcessEnv;
}

function namespace(args: Args): Namespace {
  const id = `b${Date.now().toString(36)}`;
  const topicNamespace = `bench.${id}`;
  const keyPrefix = `bench.${id}`;
  const groupId = `bench.${id}.sidecar`;
  return {
    id,
    topicNamespace,
    keyPrefix,
    groupId,
    topics: topicNames(topicNamespace),
    sidecarEnv: {
      CHURNFEAT_KAFKA_BROKERS: BROKERS.join(','),
      CHURNFEAT_REDIS_URL: REDIS_URL,
      CHURNFEAT_TOPIC_NAMESPACE: topicNamespace,
      CHURNFEAT_KEY_PREFIX: keyPrefix,
      CHURNFEAT_GROUP_ID: groupId,
      ...(args.partitionsConcurrently === null ? {} : { BENCH_PARTITIONS_CONCURRENTLY: String(args.partitionsConcurrently) }),
    },
  };
}

function fmt(n: number): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US') : String(n);
}

async function main(): Promise<void> {
  const args = parse();
  const redis = new Redis(REDIS_URL);
  const kafka = new Kafka({ clientId: 'churnfeat-bench', brokers: BROKERS, logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  const ns = namespace(args);
  const machine = await describeMachine(redis);
  const registry = loadFeatureRegistry('dbt_project');
  log(`churnfeat pipeline benchmark ${ns.id}: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, node ${machine.node}, redis ${machine.redis}, kafka ${machine.kafka}`);
  let sidecar: SidecarChild | null = null;
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  const dauPrefix = `${ns.keyPrefix}.dau`;
  try {
    await ensureTopics(admin, ns.topics);
    // 1. the backlog
    const startMs = Date.now();
    const genArgs = [
      '--namespace',
      ns.topicNamespace,
      '--rate',
      '0',
      '--count',
      String(args.events),
      '--size',
      String(args.size),
      '--users',
      String(args.users),
      '--seed',
      String(args.seed),
      '--clock',
      'virtual',
      '--start-ms',
      String(startMs),
    ];
    log(`1. producing ${fmt(args.events)} events of ${args.size} bytes to ${ns.topicNamespace}.* ...`);
    const produced = await loadgen(genArgs);
    log(
      `   ${fmt(produced.summary.produced)} events in ${(produced.summary.elapsedMs / 1000).toFixed(1)} s (${fmt(Math.round(produced.summary.achievedRate))}/s, ${fmt(Math.round(produced.summary.produced / produced.summary.cpuSeconds))} per loadgen CPU-second); sha256 ${produced.summary.sha256.slice(0, 16)}`,
    );

    // 2. ceilings, on the same events regenerated here
    const parsed = parseLoadgenArgs(genArgs);
    if (parsed === 'help') throw new Error('unreachable');
    const kept: StreamRecord[] = [];
    const regenerated = await runLoad({
      stream: new EventStream(parsed.stream),
      rate: 0,
      count: args.events,
      clock: 'virtual',
      virtualStartMs: startMs,
      sinks: [{ write: async (records) => void (kept.length < args.ceilingEvents && kept.push(...records.slice(0, args.ceilingEvents - kept.length))) }],
    });
    const sameEvents = regenerated.sha256 === produced.summary.sha256;
    log(`2. ceilings on ${fmt(kept.length)} of the same events (stream sha256 ${sameEvents ? 'equal' : 'DIFFERENT'}) ...`);
    const ceilings = measureCeilings(kept, registry);
    log(
      `   JSON.parse ${fmt(Math.round(ceilings.jsonParse.eventsPerCpuSecond))}/CPU-s; parseEvent ${fmt(Math.round(ceilings.parseEvent.eventsPerCpuSecond))}/CPU-s; parseEvent + window ops ${fmt(Math.round(ceilings.parseAndOps.eventsPerCpuSecond))}/CPU-s`,
    );

    log(`   the Kafka client alone (kafkajs, the sidecar's consumer settings, records untouched) ...`);
    const kafkaAlone = await kafkaOnly(ns, args.events, args.partitionsConcurrently);
    log(`   kafkajs alone: ${fmt(kafkaAlone.eventsPerCpuSecond)} events per CPU-second (${kafkaAlone.cpuMicrosPerEvent} us/event), ${fmt(Math.round(kafkaAlone.records / kafkaAlone.seconds))}/s wall`);

    // 3. throughput
    log(`3. throughput: the sidecar drains the backlog${args.nodeFlags.length > 0 ? ` (node ${args.nodeFlags.join(' ')})` : ''}${args.profile ? ' (profiled)' : ''} ...`);
    const { result: throughput, sidecar: running } = await throughputPhase(args, ns, redis);
    sidecar = running;
    const ratio = throughput.steady.eventsPerCpuSecond / ceilings.parseEvent.eventsPerCpuSecond;
    log(
      `   steady: ${fmt(throughput.steady.eventsPerSecond)} events/s wall, ${fmt(throughput.steady.eventsPerCpuSecond)} events per sidecar CPU-second (${throughput.steady.coresUsed} cores used, event loop ${Math.round(throughput.steady.eventLoopUtilization * 100)}% busy); ${round(ratio, 3)} of the parseEvent ceiling`,
    );
    log(`   busy cores in that window: ${JSON.stringify(throughput.cores)}`);
    log(
      `   replayed re-deliveries: ${fmt(throughput.totals.replayed ?? 0)} (${(throughput.replayedShare * 100).toFixed(1)}% of records consumed)${throughput.replayedShare > 0.01 ? '  <-- the sidecar re-fetches batches it already applied' : ''}`,
    );
    log(
      `   redis: ${throughput.redis.commandsPerEvent} commands/event (${throughput.redis.roundTripsPerEvent} round trips), ${throughput.redis.cpuMicrosPerEvent} us Redis CPU/event = ${fmt(throughput.redis.eventsPerRedisCpuSecond)} events per Redis CPU-second`,
    );
    log(`   memory: ${fmt(Math.round(throughput.memoryAfterDrain.bytesPerUser))} bytes/user at ${throughput.eventsPerUser} events/user (${fmt(throughput.memoryAfterDrain.users)} users)`);
    if (throughput.profile) log(formatProfile(throughput.profile).replace(/^/gm, '   '));
    const batchSize = Math.max(1, Math.round(throughput.averageBatch));
    log(`   stages in-process on ${fmt(kept.length)} of the events, batches of ${batchSize} (the sidecar's mean batch) ...`);
    const stages: StageCosts = await measureStages(redis, registry, kept, ns.keyPrefix, batchSize);
    kept.length = 0;
    const sidecarMicros = 1e6 / throughput.steady.eventsPerCpuSecond;
    log(
      `   per event: Kafka client ${kafkaAlone.cpuMicrosPerEvent} us + BatchProcessor ${stages.processor.cpuMicrosPerEvent} us (of which parseEvent ${round(1e6 / ceilings.parseEvent.eventsPerCpuSecond, 2)} us, window ops ${round(1e6 / ceilings.parseAndOps.eventsPerCpuSecond - 1e6 / ceilings.parseEvent.eventsPerCpuSecond, 2)} us, FeatureWriter ${stages.writer.cpuMicrosPerEvent} us per written event) = ${round(kafkaAlone.cpuMicrosPerEvent + stages.processor.cpuMicrosPerEvent, 2)} us; the sidecar process spends ${round(sidecarMicros, 2)} us`,
    );

    // 4. freshness
    const freshness: FreshnessResult[] = [];
    if (!args.skipFreshness) {
      await producer.connect();
      const pinning = new Pinning();
      pinning.pin(sidecar.pid, args.pipelineCpus);
      pinning.pin(stackPid('redis'), args.pipelineCpus);
      pinning.pin(stackPid('kafka'), args.pipelineCpus);
      if (args.loadgenCpus !== null || args.pipelineCpus !== null)
        log(`4. freshness with the load generator on CPUs ${args.loadgenCpus ?? 'any'}, the sidecar, Redis and broker on ${args.pipelineCpus ?? 'any'}`);
      try {
        for (const [index, load] of args.loads.entries()) {
          const result = await freshnessPhase(args, ns, redis, sidecar, producer, load, throughput.steady.eventsPerSecond, index);
          freshness.push(result);
          const p = result.probeLatencyMs;
          log(
            `   ${Math.round(load * 100)}%: ${fmt(result.achievedRate)}/s produced; probes (n=${p.count}) p50 ${p.p50} ms, p95 ${p.p95} ms, p99 ${p.p99} ms, max ${p.max} ms; sidecar histogram ingest->readable p50 ${result.sidecarIngestToReadableMs.p50} ms, p99 ${result.sidecarIngestToReadableMs.p99} ms; sidecar ${result.sidecarCoresUsed} cores; backlog at end ${fmt(result.backlogAtEnd)}; busy cores ${JSON.stringify(result.cores)}`,
          );
        }
      } finally {
        pinning.restore();
      }
    }
    await sidecar.stop();
    sidecar = null;

    // 5. steady-state memory of a daily active user
    let dau: Awaited<ReturnType<typeof simulateDauMemory>> | null = null;
    if (!args.skipDau) {
      log(`5. steady-state memory: ${args.dauUsers} users x ${args.dauDays} days x ${fmt(args.dauEvents)} events/day through BatchProcessor + Redis function ...`);
      dau = await simulateDauMemory({
        redis,
        registry,
        keyPrefix: dauPrefix,
        seed: args.seed + 1_000,
        users: args.dauUsers,
        days: args.dauDays,
        eventsPerUserDay: args.dauEvents,
        activeHours: 6,
        ownTitleShare: args.dauOwnTitleShare,
        onDay: (day, m) =>
          log(
            `   day ${day}: Redis ${m.redisCpuMicrosPerEvent} us CPU and ${m.redisCommandsPerEvent} commands per event; ${fmt(Math.round(m.bytesPerUser))} bytes/user (hash ${fmt(Math.round(m.hashBytesPerUser))} B, ${Math.round(m.hashFields)} fields; dedup ${fmt(Math.round(m.zsetBytesPerUser))} B, ${Math.round(m.zsetMembers)} members) ${JSON.stringify(m.encodings)}`,
          ),
      });
    }

    if (dau)
      log(
        `   reads: ${dau.reads.redisCpuMicrosPerRead} us Redis CPU per feature read (FCALL_RO, ${fmt(dau.reads.count)} reads of these users); HGETALL of the same state: ${dau.reads.redisCpuMicrosPerHgetall} us`,
      );

    const results = {
      benchmark: 'pipeline',
      id: ns.id,
      date: new Date().toISOString(),
      command: `npx tsx bench/pipeline/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
      machine: { ...machine, loadAverageAtEnd: os.loadavg().map((l) => round(l, 2)) },
      options: args,
      registry: registry.version,
      partitions: LOCAL_PARTITIONS,
      loadgen: { produced: produced.summary, sameEventsInCeiling: sameEvents },
      ceilings,
      kafkaAlone,
      stages,
      throughput,
      ratioToParseEventCeiling: round(ratio, 3),
      freshness,
      dauMemory: dau,
      targets: {
        eventsPerCorePerSecond: { target: 60_000, measured: throughput.steady.eventsPerCpuSecond, met: throughput.steady.eventsPerCpuSecond >= 60_000 },
        freshnessP99At50PercentMs: { target: 1_000, measured: freshness[0]?.probeLatencyMs.p99 ?? null, met: (freshness[0]?.probeLatencyMs.p99 ?? Infinity) < 1_000 },
      },
    };
    mkdirSync('bench/results', { recursive: true });
    const file = `bench/results/pipeline-${results.date.slice(0, 10)}${args.label ? `-${args.label}` : ''}.json`;
    writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
    log(`results written to ${file}, charts to ${writePipelineReport(file, results)}`);
  } finally {
    await sidecar?.stop().catch(() => undefined);
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
    await producer.disconnect().catch(() => undefined);
    if (!args.keep) {
      const topics = [...Object.values(ns.topics.sources), ns.topics.deadLetter, ns.topics.late];
      await admin.deleteTopics({ topics }).catch(() => undefined);
      await admin.deleteGroups([ns.groupId]).catch(() => undefined);
      const deleted = (await deleteKeys(redis, ns.keyPrefix)) + (await deleteKeys(redis, dauPrefix));
      log(`cleaned up: topics ${ns.topicNamespace}.*, group ${ns.groupId}, ${fmt(deleted)} Redis keys under ${ns.keyPrefix}`);
    }
    await admin.disconnect();
    redis.disconnect();
  }
}

process.once('SIGINT', () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  process.exit(130);
});

await main();
