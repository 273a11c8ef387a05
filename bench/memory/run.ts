/**
 * The memory benchmark: Redis memory per daily-active user and Redis CPU per applied event
 * and per read, on a private redis-server with Redis's default encodings. Not a test: it
 * prints figures and writes bench/results/memory-<date>[-<label>].json with the machine.
 *
 * The state is built through the sidecar's own code (BatchProcessor + FeatureWriter + the
 * Redis functions), users sending 1,728 events a day over 6 evening hours for 8 simulated
 * days (bench/pipeline/dau-memory.ts). Memory is MEMORY USAGE of every key of the users
 * (exact); CPU figures come from INFO of the private server and are noisy on a shared machine.
 *
 * `--dedup local` runs the sidecar's own dedup (sidecar/src/dedup) instead of the store's and
 * adds the index's heap bytes per member and the changelog's bytes per event; `--dedup both`
 * runs the two modes one after the other on the same server, so their ratio is measured under
 * the same machine load (quote the ratio, not the absolute figures).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { loadFeatureRegistry } from '../../sidecar/src/features/index.ts';
import { STORE_PROTOCOL_VERSION } from '../../sidecar/src/store/index.ts';
import { simulateDauMemory } from '../pipeline/dau-memory.ts';
import { writeReport } from '../report/svg.ts';
import { describeMachine, machineBusySeconds } from '../pipeline/machine.ts';
import { startRedisServer } from '../serving/redis-process.ts';
import { numberFlags, parseFlags } from '../common/cli.ts';

const USAGE = `memory benchmark (not a test): prints figures, writes bench/results/memory-<date>[-<label>].json
  --users N        simulated daily-active users (default 100)
  --days N         simulated days (default 8)
  --events N       events per user per day (default 1728 = 120K/s * 86400 / 6M DAU)
  --own-title-share X  share of plays of a user's own few titles (default 0.9)
  --dedup M        redis (default), local (the sidecar's partition index), or both (one after the other, same server)
  --label L        suffix of the results file`;

const { values } = parseFlags(
  {
    options: {
      users: { type: 'string' },
      days: { type: 'string' },
      events: { type: 'string' },
      'own-title-share': { type: 'string' },
      dedup: { type: 'string' },
      label: { type: 'string' },
      help: { type: 'boolean' },
    },
  },
  USAGE,
);
const num = numberFlags(USAGE, { integer: false, min: 0 });

const dedupModes =
  values.dedup === undefined || values.dedup === 'redis' ? (['redis'] as const) : values.dedup === 'local' ? (['local'] as const) : values.dedup === 'both' ? (['redis', 'local'] as const) : null;
if (dedupModes === null) {
  console.error(`bad --dedup ${values.dedup}\n${USAGE}`);
  process.exit(2);
}

const server = await startRedisServer();
const redis = new Redis(server.url);
try {
  const machine = await describeMachine(redis);
  const runs: Array<{ mode: 'redis' | 'local'; summary: Record<string, unknown> & { otherBusyCores: number | null }; result: Awaited<ReturnType<typeof simulateDauMemory>> }> = [];
  for (const mode of dedupModes) {
    const busy0 = machineBusySeconds();
    const wall0 = Date.now();
    const registry = loadFeatureRegistry('dbt_project');
    const result = await simulateDauMemory({
      redis,
      registry,
      keyPrefix: mode === 'redis' ? 'mem' : 'meml',
      dedup: mode,
      seed: 7,
      users: num(values.users, 100),
      days: num(values.days, 8),
      eventsPerUserDay: num(values.events, 1_728),
      activeHours: 6,
      ownTitleShare: num(values['own-title-share'], 0.9),
      onDay: (day, m) =>
        console.log(
          `[dedup ${mode}] day ${day}: ${(m.bytesPerUser / 1000).toFixed(1)} KB/user (state hash ${(m.stateBytesPerUser / 1000).toFixed(1)} KB; read head ${(m.headBytesPerUser / 1000).toFixed(2)} KB; dedup ${(m.dedupBytesPerUser / 1000).toFixed(1)} KB; ${m.keysPerUser.toFixed(1)} keys), ` +
            `Redis ${m.redisCpuMicrosPerEvent} µs/event, ${m.redisCommandsPerEvent} commands/event`,
        ),
    });
    const busy1 = machineBusySeconds();
    const wallS = (Date.now() - wall0) / 1000;
    const last = result.byDay[result.byDay.length - 1];
    const otherBusyCores = busy0 !== null && busy1 !== null ? Math.round(((busy1 - busy0) / wallS - result.cpuSeconds / wallS) * 100) / 100 : null;
    const summary = {
      storeProtocolVersion: STORE_PROTOCOL_VERSION,
      dedup: mode,
      localDedup: result.localDedup,
      kbPerDailyActiveUser: last ? Math.round(last.bytesPerUser / 10) / 100 : null,
      stateKbPerDailyActiveUser: last ? Math.round(last.stateBytesPerUser / 10) / 100 : null,
      dedupKbPerDailyActiveUser: last ? Math.round(last.dedupBytesPerUser / 10) / 100 : null,
      headKbPerDailyActiveUser: last ? Math.round(last.headBytesPerUser / 10) / 100 : null,
      redisCpuMicrosPerEventDays2to8: result.byDay.slice(1).map((d) => d.redisCpuMicrosPerEvent),
      redisCpuMicrosPerRead: result.reads.redisCpuMicrosPerRead,
      redisCpuMicrosPerHgetallOfState: result.reads.redisCpuMicrosPerHgetall,
      redisCpuMicrosPerJsonRead: result.reads.redisCpuMicrosPerJsonRead,
      redisCpuMicrosPerHgetOfOneField: result.reads.redisCpuMicrosPerHget,
      redisCpuMicrosPerGetOfHead: result.reads.redisCpuMicrosPerHeadGet,
      headBytesPerUser: result.reads.headBytesPerUser,
      readCommandstats: result.reads.commandstats,
      applyCommandstatsLastDay: last?.commandsPerEvent ?? null,
      harnessEventsPerCpuSecond: Math.round(result.events / result.cpuSeconds),
      otherBusyCores,
    };
    if (result.localDedup)
      console.log(
        `[dedup local] sidecar index: ${result.localDedup.members} members of ${result.localDedup.users} users, ${result.localDedup.heapBytes} heap bytes = ${result.localDedup.heapBytesPerMember} bytes/member (entries ${result.localDedup.entryBytes} bytes); changelog ${result.localDedup.changelogRecords} records, ${result.localDedup.changelogBytesPerEvent} bytes/event`,
      );
    console.log(
      `[dedup ${mode}] memory per daily-active user: ${summary.kbPerDailyActiveUser} KB; Redis CPU per read (cf_fields) ${summary.redisCpuMicrosPerRead} µs (JSON read cf_read ${result.reads.redisCpuMicrosPerJsonRead} µs; HGETALL of the state ${result.reads.redisCpuMicrosPerHgetall} µs; HGET of one field ${result.reads.redisCpuMicrosPerHget} µs; GET of the read head ${result.reads.redisCpuMicrosPerHeadGet} µs, ${result.reads.headBytesPerUser} bytes; inside commands per read: ${JSON.stringify(result.reads.commandstats)}); harness ${summary.harnessEventsPerCpuSecond} events/CPU-s; other busy cores ${otherBusyCores}`,
    );
    runs.push({ mode, summary, result });
    console.log(`[dedup ${mode}] apply profile of the last day, per applied event (calls, wall-clock µs inside): ${JSON.stringify(summary.applyCommandstatsLastDay)}`);
  }
  const ratio = (pick: (r: (typeof runs)[number]) => number | null | undefined): number | null => {
    const [a, b] = [runs.find((r) => r.mode === 'redis'), runs.find((r) => r.mode === 'local')];
    const x = a ? pick(a) : null;
    const y = b ? pick(b) : null;
    return x && y ? Math.round((y / x) * 1000) / 1000 : null;
  };
  const meanCpu = (r: (typeof runs)[number]): number => {
    const days = r.result.byDay.slice(1);
    return days.reduce((sum, d) => sum + d.redisCpuMicrosPerEvent, 0) / Math.max(1, days.length);
  };
  const comparison =
    runs.length === 2
      ? {
          localOverRedisKbPerDailyActiveUser: ratio((r) => r.result.byDay[r.result.byDay.length - 1]?.bytesPerUser),
          localOverRedisRedisCpuPerEventDays2to8: ratio(meanCpu),
          redisCpuMicrosPerEventDays2to8Mean: Object.fromEntries(runs.map((r) => [r.mode, Math.round(meanCpu(r) * 100) / 100])),
        }
      : null;
  if (comparison)
    console.log(
      `local / redis in this run: memory per user ${comparison.localOverRedisKbPerDailyActiveUser}, Redis CPU per event ${comparison.localOverRedisRedisCpuPerEventDays2to8} (means of days 2-8: ${JSON.stringify(comparison.redisCpuMicrosPerEventDays2to8Mean)})`,
    );
  const [{ summary, result }] = runs as [(typeof runs)[number]];
  const otherBusyCores = summary.otherBusyCores;
  const date = new Date().toISOString().slice(0, 10);
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/memory-${date}${values.label ? `-${values.label}` : ''}.json`;
  const body = runs.length === 1 ? { summary, result } : { comparison, runs };
  writeFileSync(file, `${JSON.stringify({ command: `npx tsx bench/memory/run.ts ${process.argv.slice(2).join(' ')}`.trim(), machine, ...body }, null, 2)}\n`);
  const days = result.byDay.map((d) => `day ${d.day}`);
  const svg = writeReport(file, [
    {
      title: `Redis memory per daily-active user by day (store protocol ${STORE_PROTOCOL_VERSION})`,
      yLabel: 'KB per user',
      xLabels: days,
      kind: 'bars',
      series: [
        { name: 'state hash', values: result.byDay.map((d) => d.stateBytesPerUser / 1000) },
        { name: 'dedup', values: result.byDay.map((d) => d.dedupBytesPerUser / 1000) },
        { name: 'read head', values: result.byDay.map((d) => d.headBytesPerUser / 1000) },
        { name: 'all keys', values: result.byDay.map((d) => d.bytesPerUser / 1000) },
        ...runs.slice(1).map((r) => ({ name: `all keys (dedup ${r.mode})`, values: r.result.byDay.map((d) => d.bytesPerUser / 1000) })),
      ],
      target: { value: 16, label: 'target 16 KB' },
    },
    {
      title: `Redis CPU per applied event by day (other busy cores ${otherBusyCores ?? 'n/a'})`,
      yLabel: 'µs per event',
      xLabels: days,
      kind: 'lines',
      series: runs.map((r) => ({ name: `Redis µs/event (dedup ${r.mode})`, values: r.result.byDay.map((d) => d.redisCpuMicrosPerEvent) })),
      target: { value: 5, label: 'target 5 µs' },
    },
  ]);
  console.log(`wrote ${file} and ${svg}`);
} finally {
  redis.disconnect();
  await server.stop();
}
