/**
 * The sidecar as the benchmark runs it: the same `Sidecar` class and the same CHURNFEAT_*
 * options as `churnfeat sidecar` (cli/commands/sidecar.ts), in a child process of its own that answers the
 * harness over IPC with its own `process.cpuUsage()`, event-loop utilization and metrics.
 *
 * Bench-only knobs (env), for options the CLI does not read from the environment:
 *   BENCH_PARTITIONS_CONCURRENTLY  SidecarOptions.partitionsConsumedConcurrently
 *
 * Started by bench/pipeline/run.ts with `node --import tsx` (one process, so its CPU time
 * is the sidecar's alone); not meant to be run by hand.
 */
import { performance } from 'node:perf_hooks';
import { optionsFromEnv, resolveOptions } from '../../sidecar/src/config/index.ts';
import { Sidecar } from '../../sidecar/src/pipeline/index.ts';

export interface HistogramBucket {
  le: number;
  count: number;
}

/** What the child reports when asked. */
export interface ChildStats {
  type: 'stats';
  atMs: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  elu: { idle: number; active: number; utilization: number };
  rssBytes: number;
  heapUsedBytes: number;
  totals: Record<string, number>;
  eventToReadable: HistogramBucket[];
  ingestToReadable: HistogramBucket[];
  batches: number;
  batchSecondsSum: number;
}

async function histogram(sidecar: Sidecar, name: 'eventToReadable' | 'ingestToReadable'): Promise<HistogramBucket[]> {
  const byLe = new Map<number, number>();
  for (const value of (await sidecar.metrics[name].get()).values) {
    if (value.metricName?.endsWith('_bucket') !== true) continue;
    const label = (value.labels as Record<string, string | number | undefined>).le;
    const le = label === '+Inf' ? Number.POSITIVE_INFINITY : Number(label);
    byLe.set(le, (byLe.get(le) ?? 0) + value.value);
  }
  return [...byLe].sort((a, b) => a[0] - b[0]).map(([le, count]) => ({ le, count }));
}

async function stats(sidecar: Sidecar): Promise<ChildStats> {
  const cpu = process.cpuUsage();
  const elu = performance.eventLoopUtilization();
  const memory = process.memoryUsage();
  const batch = await sidecar.metrics.batchSeconds.get();
  let batches = 0;
  let batchSecondsSum = 0;
  for (const value of batch.values) {
    if (value.metricName?.endsWith('_count')) batches += value.value;
    if (value.metricName?.endsWith('_sum')) batchSecondsSum += value.value;
  }
  return {
    type: 'stats',
    atMs: Date.now(),
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    elu,
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    totals: await sidecar.metrics.totals(),
    eventToReadable: await histogram(sidecar, 'eventToReadable'),
    ingestToReadable: await histogram(sidecar, 'ingestToReadable'),
    batches,
    batchSecondsSum,
  };
}

async function main(): Promise<void> {
  const overrides = optionsFromEnv();
  const concurrently = process.env.BENCH_PARTITIONS_CONCURRENTLY;
  if (concurrently !== undefined) overrides.partitionsConsumedConcurrently = Number(concurrently);
  const sidecar = new Sidecar(resolveOptions(overrides));
  await sidecar.start();
  process.on('message', (message: { type?: string }) => {
    if (message.type === 'stats') void stats(sidecar).then((s) => process.send?.(s));
  });
  const shutdown = async (): Promise<void> => {
    await sidecar.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
  process.send?.({ type: 'ready', registry: sidecar.registry.version, features: sidecar.registry.features.length });
}

await main();
