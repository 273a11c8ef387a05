/**
 * The monthly bill of docs/capacity.md, regenerated from measured results files. Not a test:
 * it prints the sizing and the bill and writes bench/results/cost-<date>.json.
 *
 * Measured inputs (newest file of each kind under the results folder unless given; newest =
 * the latest date in the file name, then the latest commit of the file, or its mtime when the
 * file is new or changed: a fresh clone gives every file the same mtime):
 *   --memory FILE   bench/memory/run.ts: KB per daily-active user (state and dedup), Redis µs per read
 *   --peer FILE     the side-by-side summary (bench/results/peer-*.json): the sidecar's events per
 *                   CPU-second and Redis µs per event on the 600K workload (one FCALL per user, as
 *                   at production cardinality)
 *   --offline FILE  bench/offline/run.ts: the lake's Parquet compression ratio, int rows per lake
 *                   record, DuckDB CPU-seconds of each query of the scheduled dbt runs (hourly:
 *                   int_feature_events 2 h; daily: 48 h, int_users_seen, the marts) at a few lake sizes
 *   --results-dir D where the inputs are looked for and the bill is written (default bench/results)
 * Everything else is a stated assumption (the seed's scale, AWS list prices, the parts no
 * benchmark here measures); each is printed with the figure so a reader can change it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const USAGE = 'cost model (not a test): npx tsx bench/cost/run.ts [--memory FILE] [--peer FILE] [--offline FILE] [--results-dir DIR]';
const { values } = parseArgs({
  options: { memory: { type: 'string' }, peer: { type: 'string' }, offline: { type: 'string' }, 'results-dir': { type: 'string' }, help: { type: 'boolean' } },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const resultsDir = values['results-dir'] ?? 'bench/results';

/** When a results file was written: its last commit, or its mtime when it is new or changed since (or git cannot say). */
function writtenAtMs(path: string): number {
  const mtime = statSync(path).mtimeMs;
  try {
    if (execFileSync('git', ['status', '--porcelain', '--', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '') return mtime;
    const committed = execFileSync('git', ['log', '-1', '--format=%ct', '--', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return committed === '' ? mtime : Number(committed) * 1000;
  } catch {
    return mtime;
  }
}

/** The newest results file of a kind: the latest date in its name, then the latest written. */
function newest(prefix: string): string {
  const files = readdirSync(resultsDir)
    .filter((f) => f.startsWith(prefix) && f.endsWith('.json'))
    .map((f) => ({ f, date: /(\d{4}-\d{2}-\d{2})/.exec(f)?.[1] ?? '', at: writtenAtMs(join(resultsDir, f)) }))
    .sort((a, b) => a.date.localeCompare(b.date) || a.at - b.at || a.f.localeCompare(b.f));
  const file = files[files.length - 1]?.f;
  if (file === undefined) {
    console.error(`no ${resultsDir}/${prefix}*.json: run the benchmark first\n${USAGE}`);
    process.exit(2);
  }
  return join(resultsDir, file);
}

const memoryFile = values.memory ?? newest('memory-');
const peerFile = values.peer ?? newest('peer-');
const offlineFile = values.offline ?? newest('offline-');
interface MemorySummary {
  kbPerDailyActiveUser: number;
  stateKbPerDailyActiveUser: number;
  redisCpuMicrosPerRead: number;
  harnessEventsPerCpuSecond?: number;
  /** --dedup local: the sidecar's index (bench/memory/run.ts) */
  localDedup?: { members: number; heapBytesPerMember: number; changelogBytesPerEvent: number } | null;
}
// One mode per file, or both dedup modes of one run (`bench/memory/run.ts --dedup both`: runs[] + comparison).
const memoryResults = JSON.parse(readFileSync(memoryFile, 'utf8')) as {
  summary?: MemorySummary;
  runs?: Array<{ mode: 'redis' | 'local'; summary: MemorySummary }>;
  comparison?: { localOverRedisRedisCpuPerEventDays2to8: number };
  options?: { users?: number };
};
const memoryOf = (mode: 'redis' | 'local'): MemorySummary | undefined => memoryResults.runs?.find((r) => r.mode === mode)?.summary;
const memory = { summary: (memoryOf('redis') ?? memoryResults.summary) as MemorySummary };
if (memory.summary === undefined) throw new Error(`${memoryFile}: no summary of a --dedup redis run`);
const localMemory = memoryOf('local');
type SidecarSummary = { eventsPerCpuSecond: number; redisMicrosPerEvent: number };
const peerResults = JSON.parse(readFileSync(peerFile, 'utf8')) as { sidecar?: SidecarSummary; workloads?: Array<{ events: number; summary: Record<string, SidecarSummary> }> };
// one summary per workload size since the 2.4M run (the largest is the steadier figure); older files had one
const largestWorkload = [...(peerResults.workloads ?? [])].sort((a, b) => b.events - a.events)[0];
const peer = { sidecar: (largestWorkload?.summary.sidecar ?? peerResults.sidecar) as SidecarSummary };
if (peer.sidecar === undefined) throw new Error(`${peerFile}: no sidecar summary`);

interface OfflineProfile {
  parquetBytesRead: number;
  parquetRowsScanned: number;
  processCpuS: number;
}
interface OfflineSize {
  days: number;
  lakeRecords: number;
  lakeParquetBytes: number;
  intFeatureEventsRows: number;
  lookbackHours: { project: number; hourly: number };
  /** max(W + g) of the registry: how far back of as_of fct_user_features reads int_feature_events. */
  featureReachMs: number;
  profiles: Record<'fullRefresh' | 'incremental' | 'incrementalHourlyLookback' | 'usersSeen' | 'fctUserFeatures' | 'fctFeatureTiles', OfflineProfile>;
}
const offline = JSON.parse(readFileSync(offlineFile, 'utf8')) as {
  compression: { dayFile: number; hourlyFiles: number; rawBytesPerEvent: number; parquetBytesPerEventDay: number };
  sizes: OfflineSize[];
};

// an offline file written before the scheduled runs were measured cannot bill them: say so
const neededProfiles: Array<keyof OfflineSize['profiles']> = ['fullRefresh', 'incremental', 'incrementalHourlyLookback', 'usersSeen', 'fctUserFeatures', 'fctFeatureTiles'];
for (const size of offline.sizes) {
  const missing = [...neededProfiles.filter((name) => size.profiles?.[name] === undefined), ...(typeof size.featureReachMs === 'number' ? [] : ['featureReachMs'])];
  if (missing.length > 0) {
    console.error(`${offlineFile}: the ${size.days}-day lake has no ${missing.join(', ')}: it predates the scheduled dbt runs; rerun npx tsx bench/offline/run.ts\n${USAGE}`);
    process.exit(2);
  }
}

/** The seed's scale and the assumptions of docs/capacity.md §5-§6. */
const A = {
  peakEventsPerS: 350_000,
  averageEventsPerS: 120_000,
  readsPerS: 20_000,
  subscribers: 20_000_000,
  activeUsersIn25h: 6_250_000,
  usersWithState: 16_000_000,
  podTargetUtilization: 0.65,
  podVcpuLimit: 1.5,
  hostVcpus: 8,
  hostMonthly: 211, // c7g.2xlarge
  hostMemoryGb: 16, // c7g.2xlarge
  hostMemoryUsable: 0.75, // of a host's memory for the pods' heaps (--dedup local sizes hosts by it)
  benchmarkUsers: 40, // the memory benchmark's daily-active users, when its file does not say
  changelogRetentionHours: 80, // --dedup local: the changelog topics keep the dedup horizon + slack (docs/local-dedup.md)
  kafkaReplication: 3,
  mskStoragePerGbMonth: 0.1,
  redisShardCpuBudget: 0.5, // of one core per shard at peak
  redisUsableGbPerNode: 21, // cache.r7g.xlarge, 75% of 26.32 GiB
  redisNodeMonthly: 319,
  mskMonthly: 3_000, // 3 x kafka.m7g.2xlarge + 12 TB of the new topics
  interAzMonthly: 1_700, // sidecar -> Redis writes, with rack-aware fetching
  // the lake: 8-15 TB/day raw (the seed); 120K events/s x ~1 KB = 10.4 TB/day is the central case
  lakeRawTbPerDay: { low: 8, central: 10.4, high: 15 },
  lakeRetentionDays: 90,
  lakeStandardDays: 30, // then S3 Standard-IA (a lifecycle transition; lake-setup sets the 90-day expiry)
  s3StandardPerGbMonth: 0.023,
  s3StandardIaPerGbMonth: 0.0125,
  // Snowflake (not reachable here: list prices and a conversion, stated as such)
  snowflakeStoragePerTbMonth: 23, // capacity storage, us-east-1
  snowflakeDollarsPerCredit: 3, // Enterprise, on demand
  snowflakeVcpuPerCredit: 8, // an X-Small warehouse: 1 credit/hour, ~8 vCPU
  snowflakeSlowdownVsDuckdb: 2, // external Parquet in S3 and a remote warehouse vs DuckDB on local files: an assumption to check on the first real run
  dbtRunsPerMonth: 730, // hourly
  dbtDailyRunsPerMonth: 30.4,
  trainingSpineRowsPerDay: 20_000_000, // one label row per subscriber per day, both modes kept
  trainingYears: 2,
  trainingBytesPerRow: 64, // ~16 numeric columns compressed: an assumption, not measured
  // not measured here (their issues own them): monthly list-price estimates, stated as such
  airflowMonthly: 1_000, // MWAA small environment + workers running dbt
  servingMonthly: 1_300, // pods for 20K reads/s
  servingReplyBytes: 1_000, // one feature read's reply, 2/3 of them across AZs
  interAzPerGb: 0.02, // $0.01 out + $0.01 in
  monitoringMonthly: 500,
};

const eventsPerCore = peer.sidecar.eventsPerCpuSecond;
const pods = Math.ceil(A.peakEventsPerS / (A.podTargetUtilization * eventsPerCore));
const hosts = Math.ceil((pods * A.podVcpuLimit) / A.hostVcpus);
const redisCores = (A.peakEventsPerS * peer.sidecar.redisMicrosPerEvent + A.readsPerS * memory.summary.redisCpuMicrosPerRead) / 1e6;
const shardsByCpu = Math.ceil(redisCores / A.redisShardCpuBudget);
const memoryGb = (A.activeUsersIn25h * memory.summary.kbPerDailyActiveUser + (A.usersWithState - A.activeUsersIn25h) * memory.summary.stateKbPerDailyActiveUser) / 1e6;
const shardsByMemory = Math.ceil(memoryGb / A.redisUsableGbPerNode);
const shards = Math.max(shardsByCpu, shardsByMemory);

// `--dedup local` (docs/local-dedup.md), when the memory file measured it beside redis mode in one
// run: Redis holds no dedup hash and spends the measured local/redis share of its CPU per event; the
// sidecar spends the measured extra CPU per event (the harness' events per CPU-second of both modes)
// and holds the index on its heap (bytes per member x members per daily-active user), so its hosts
// are sized by CPU or by memory, whichever needs more; the changelog topics add Kafka storage.
const localDedup = (() => {
  if (localMemory?.localDedup == null || memoryResults.comparison === undefined || !localMemory.harnessEventsPerCpuSecond || !memory.summary.harnessEventsPerCpuSecond) return null;
  const index = localMemory.localDedup;
  const extraCpuPerEventS = 1 / localMemory.harnessEventsPerCpuSecond - 1 / memory.summary.harnessEventsPerCpuSecond;
  const localEventsPerCore = 1 / (1 / eventsPerCore + Math.max(0, extraCpuPerEventS));
  const localPods = Math.ceil(A.peakEventsPerS / (A.podTargetUtilization * localEventsPerCore));
  const membersPerDau = index.members / (memoryResults.options?.users ?? A.benchmarkUsers);
  const heapGb = (A.activeUsersIn25h * membersPerDau * index.heapBytesPerMember) / 1e9;
  const hostsByCpu = Math.ceil((localPods * A.podVcpuLimit) / A.hostVcpus);
  const hostsByMemory = Math.ceil(heapGb / (A.hostMemoryGb * A.hostMemoryUsable));
  const localHosts = Math.max(hostsByCpu, hostsByMemory);
  const cores = (A.peakEventsPerS * peer.sidecar.redisMicrosPerEvent * memoryResults.comparison.localOverRedisRedisCpuPerEventDays2to8 + A.readsPerS * memory.summary.redisCpuMicrosPerRead) / 1e6;
  const gb = (A.activeUsersIn25h * localMemory.kbPerDailyActiveUser + (A.usersWithState - A.activeUsersIn25h) * localMemory.stateKbPerDailyActiveUser) / 1e6;
  const localShards = Math.max(Math.ceil(cores / A.redisShardCpuBudget), Math.ceil(gb / A.redisUsableGbPerNode));
  const changelogTb = (index.changelogBytesPerEvent * A.averageEventsPerS * A.changelogRetentionHours * 3600 * A.kafkaReplication) / 1e12;
  return {
    eventsPerCore: Math.round(localEventsPerCore),
    pods: localPods,
    heapGb: Math.round(heapGb),
    hostsByCpu,
    hostsByMemory,
    hosts: localHosts,
    redisCores: Math.round(cores * 100) / 100,
    redisGb: Math.round(gb),
    shards: localShards,
    changelogTb: Math.round(changelogTb * 10) / 10,
    monthly: { sidecar: localHosts * A.hostMonthly, redis: 2 * localShards * A.redisNodeMonthly, changelog: changelogTb * 1000 * A.mskStoragePerGbMonth },
  };
})();

// The lake, at the compression measured on one file per day (production files are hour-sized per
// partition at ~1.7M events, closer to the day file than to the benchmark's small hourly files).
const ratio = offline.compression.dayFile;
const lakeTb = (rawTbPerDay: number): number => (rawTbPerDay * A.lakeRetentionDays) / ratio;
const lakeMonthly = (rawTbPerDay: number): number => {
  const tbPerDay = rawTbPerDay / ratio;
  const standard = tbPerDay * Math.min(A.lakeStandardDays, A.lakeRetentionDays);
  const ia = tbPerDay * Math.max(0, A.lakeRetentionDays - A.lakeStandardDays);
  return 1000 * (standard * A.s3StandardPerGbMonth + ia * A.s3StandardIaPerGbMonth);
};

// The scheduled dbt runs (churnfeat_dbt_hourly, churnfeat_dbt_daily), from DuckDB's CPU on the
// lakes measured: the marginal CPU-seconds per lake record of each query (the slope between the
// smallest and the largest lake, which leaves out the fixed cost of a query on a small lake),
// times the records that query reads in production:
//   int_feature_events  the batch's hours (lookback + the new hour): 3 h hourly, 49 h daily;
//                       a full refresh, for scale, the whole 90 days
//   int_users_seen      the daily run's 49 h of the lake's user_id/ingest_ms/kafka_ts_ms
//   fct_user_features   int_feature_events within the longest window's reach before as_of
//                       (featureReachMs, 31 days: the point-in-time bound), the users table
//   fct_feature_tiles   still the whole int_feature_events for the changed keys (90 days)
const smallest = offline.sizes.reduce((a, b) => (b.days < a.days ? b : a));
const largest = offline.sizes.reduce((a, b) => (b.days > a.days ? b : a));
type Query = keyof OfflineSize['profiles'];
const perRecord = (query: Query): number => {
  const slope = (largest.profiles[query].processCpuS - smallest.profiles[query].processCpuS) / (largest.lakeRecords - smallest.lakeRecords);
  return Number.isFinite(slope) && slope > 0 ? slope : largest.profiles[query].processCpuS / largest.lakeRecords;
};
const prodEventsPerDay = A.averageEventsPerS * 86_400;
const prodRecords90d = prodEventsPerDay * A.lakeRetentionDays;
const reachDays = Math.min(A.lakeRetentionDays, largest.featureReachMs / 86_400_000);
const batchRecords = (lookbackHours: number): number => (prodEventsPerDay * (lookbackHours + 1)) / 24;
const creditsOf = (cpuS: number): number => (cpuS * A.snowflakeSlowdownVsDuckdb) / 3600 / A.snowflakeVcpuPerCredit;
const run = {
  fullRefresh: creditsOf(perRecord('fullRefresh') * prodRecords90d),
  // a batch costs what a full build costs per record it reads (the benchmark's 48 h batch covers its small lakes whole)
  incremental: creditsOf(perRecord('fullRefresh') * batchRecords(largest.lookbackHours.project)),
  incrementalHourlyLookback: creditsOf(perRecord('fullRefresh') * batchRecords(largest.lookbackHours.hourly)),
  // CPU per lake row it read on the largest lake, fixed cost included (it reads the whole of the smaller ones)
  usersSeen: creditsOf((largest.profiles.usersSeen.processCpuS / Math.max(1, largest.profiles.usersSeen.parquetRowsScanned)) * batchRecords(largest.lookbackHours.project)),
  fctUserFeatures: creditsOf(perRecord('fctUserFeatures') * prodEventsPerDay * reachDays),
  fctFeatureTiles: creditsOf(perRecord('fctFeatureTiles') * prodRecords90d),
};
const marts = run.usersSeen + run.fctUserFeatures + run.fctFeatureTiles;
// Parquet bytes: the share of the lake's bytes each query reads, on the 90-day production lake
const lakeShare = (query: Query): number => largest.profiles[query].parquetBytesRead / largest.lakeParquetBytes;
const prodLakeTb = lakeTb(A.lakeRawTbPerDay.central);
const batchTb = (lookbackHours: number): number => (lakeShare('fullRefresh') * prodLakeTb * (lookbackHours + 1)) / 24 / A.lakeRetentionDays;
const runTb = {
  fullRefresh: lakeShare('fullRefresh') * prodLakeTb,
  incremental: batchTb(largest.lookbackHours.project),
  incrementalHourlyLookback: batchTb(largest.lookbackHours.hourly),
  // the daily users table reads 3 of the lake's columns over the batch's hours
  usersSeen: (lakeShare('usersSeen') / lakeShare('incremental')) * batchTb(largest.lookbackHours.project) || 0,
  fctUserFeatures: 0, // no lake file: int_feature_events and int_users_seen only
  fctFeatureTiles: 0,
};
const monthly = (credits: number): number => credits * A.dbtRunsPerMonth * A.snowflakeDollarsPerCredit;
const perMonth = (credits: number, runsPerMonth: number): number => credits * runsPerMonth * A.snowflakeDollarsPerCredit;
// The schedule the DAGs run (the bill's line), and for scale every model hourly as the hourly DAG
// ran before the daily DAG existed (with today's bounded marts) and a full refresh every hour.
const schedules = {
  fullRefreshHourly: perMonth(run.fullRefresh + marts, A.dbtRunsPerMonth),
  everyModelHourly: perMonth(run.incremental + marts, A.dbtRunsPerMonth),
  scheduled: perMonth(run.incrementalHourlyLookback, A.dbtRunsPerMonth) + perMonth(run.incremental + marts, A.dbtDailyRunsPerMonth),
};
// storage: int_feature_events for the lake's 90 days (rows per lake record measured, bytes per row
// taken as the lake's Parquet bytes per record) + 2 years of training features
const intTb = ((largest.intFeatureEventsRows / largest.lakeRecords) * prodEventsPerDay * A.lakeRetentionDays * offline.compression.parquetBytesPerEventDay) / 1e12;
const trainingTb = (A.trainingSpineRowsPerDay * 2 * 365 * A.trainingYears * A.trainingBytesPerRow) / 1e12;
const snowflakeStorage = (intTb + trainingTb) * A.snowflakeStoragePerTbMonth;
const servingInterAz = ((A.readsPerS * A.servingReplyBytes * (2 / 3) * 86_400 * 30.4) / 1e9) * A.interAzPerGb;

const bill = {
  sidecar: hosts * A.hostMonthly,
  redis: 2 * shards * A.redisNodeMonthly,
  msk: A.mskMonthly,
  interAz: A.interAzMonthly + servingInterAz,
  lakeS3: lakeMonthly(A.lakeRawTbPerDay.central),
  snowflakeStorage,
  snowflakeCompute: schedules.scheduled,
  airflow: A.airflowMonthly,
  serving: A.servingMonthly,
  monitoring: A.monitoringMonthly,
};
const total = Object.values(bill).reduce((a, b) => a + b, 0);
const measuredPart = bill.sidecar + bill.redis + bill.lakeS3 + bill.snowflakeCompute;
const round2 = (v: number): number => Math.round(v * 100) / 100;
const sizing = {
  eventsPerCore,
  pods,
  hosts,
  redisCores: round2(redisCores),
  shardsByCpu,
  memoryGb: Math.round(memoryGb),
  shardsByMemory,
  shards,
  redisNodes: 2 * shards,
  lakeCompressionRatio: ratio,
  lakeTb: { low: Math.round(lakeTb(A.lakeRawTbPerDay.low)), central: Math.round(lakeTb(A.lakeRawTbPerDay.central)), high: Math.round(lakeTb(A.lakeRawTbPerDay.high)) },
  lakeS3Monthly: { low: Math.round(lakeMonthly(A.lakeRawTbPerDay.low)), central: Math.round(lakeMonthly(A.lakeRawTbPerDay.central)), high: Math.round(lakeMonthly(A.lakeRawTbPerDay.high)) },
  dbtRun: {
    creditsPerRun: Object.fromEntries(Object.entries(run).map(([k, v]) => [k, round2(v)])),
    lakeTbReadPerRun: Object.fromEntries(Object.entries(runTb).map(([k, v]) => [k, Math.round(v * 1000) / 1000])),
    monthlyIfHourly: Object.fromEntries(Object.entries(run).map(([k, v]) => [k, Math.round(monthly(v))])),
    schedulesMonthly: Object.fromEntries(Object.entries(schedules).map(([k, v]) => [k, Math.round(v)])),
    lookbackHours: largest.lookbackHours,
    featureReachDays: round2(reachDays),
  },
  snowflakeStorageTb: { intFeatureEvents: Math.round(intTb), trainingFeatures2y: round2(trainingTb) },
};
const k = (dollars: number): string => `$${(dollars / 1000).toFixed(1)}K`;
console.log(
  `inputs: ${memoryFile} (${memory.summary.kbPerDailyActiveUser} KB/DAU, ${memory.summary.redisCpuMicrosPerRead} µs/read), ${peerFile} (${eventsPerCore} events/CPU-s, ${peer.sidecar.redisMicrosPerEvent} µs Redis/event), ${offlineFile} (compression ${ratio}x, ${largest.days}-day lake)`,
);
console.log(
  `sidecar: ${pods} pods on ${hosts} hosts; Redis: ${sizing.redisCores} cores at peak -> ${shardsByCpu} shards by CPU, ${sizing.memoryGb} GB -> ${shardsByMemory} shards by memory: ${shards} shards, ${2 * shards} nodes`,
);
console.log(
  `lake: ${sizing.lakeTb.central} TB for ${A.lakeRetentionDays} days at ${A.lakeRawTbPerDay.central} TB/day raw (${sizing.lakeTb.low}-${sizing.lakeTb.high} TB for 8-15 TB/day: ${k(sizing.lakeS3Monthly.low)}-${k(sizing.lakeS3Monthly.high)}/month)`,
);
console.log(
  `dbt runs (credits per run): int_feature_events full refresh ${sizing.dbtRun.creditsPerRun.fullRefresh}, hourly ${sizing.dbtRun.creditsPerRun.incrementalHourlyLookback} (lookback ${largest.lookbackHours.hourly} h), daily ${sizing.dbtRun.creditsPerRun.incremental} (lookback ${largest.lookbackHours.project} h); daily marts: int_users_seen ${sizing.dbtRun.creditsPerRun.usersSeen}, fct_user_features ${sizing.dbtRun.creditsPerRun.fctUserFeatures} (${round2(reachDays)} days of int_feature_events), fct_feature_tiles ${sizing.dbtRun.creditsPerRun.fctFeatureTiles}`,
);
console.log(
  `  Snowflake compute/month: full refresh + marts hourly ${k(schedules.fullRefreshHourly)}; every model hourly (incremental 48 h + marts) ${k(schedules.everyModelHourly)}; as the DAGs run (hourly 2 h; daily 48 h + marts) ${k(schedules.scheduled)} (the bill's line)`,
);
for (const [item, dollars] of Object.entries(bill)) console.log(`  ${item.padEnd(16)} ${k(dollars)}`);
console.log(`total ${k(total)}/month (from measured figures: ${k(measuredPart)}) against $60K (seed) and $30K (issue 18)`);
const localTotal = localDedup ? total - bill.sidecar - bill.redis + localDedup.monthly.sidecar + localDedup.monthly.redis + localDedup.monthly.changelog : null;
if (localDedup && localTotal !== null)
  console.log(
    `with --dedup local: sidecar ${localDedup.eventsPerCore} events/CPU-s -> ${localDedup.pods} pods, index ${localDedup.heapGb} GB of heap -> ${localDedup.hosts} hosts (${localDedup.hostsByCpu} by CPU, ${localDedup.hostsByMemory} by memory) ${k(localDedup.monthly.sidecar)}; Redis ${localDedup.redisCores} cores, ${localDedup.redisGb} GB -> ${localDedup.shards} shards ${k(localDedup.monthly.redis)}; changelog ${localDedup.changelogTb} TB ${k(localDedup.monthly.changelog)}: total ${k(localTotal)}/month`,
  );
else console.log(`(${memoryFile} has no --dedup local run beside the redis one: the local-dedup bill is not computed; bench/memory/run.ts --dedup both)`);
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `cost-${new Date().toISOString().slice(0, 10)}.json`);
writeFileSync(
  file,
  `${JSON.stringify({ inputs: { memory: memoryFile, peer: peerFile, offline: offlineFile }, assumptions: A, sizing, bill, total, localDedup: localDedup ? { ...localDedup, total: localTotal } : null }, null, 2)}\n`,
);
console.log(`wrote ${file}`);
