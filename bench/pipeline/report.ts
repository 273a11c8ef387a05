/**
 * The pipeline benchmark's charts (issue 18 item 8), written next to its results file:
 * freshness (event -> readable) by quantile at each load, events per CPU-second per stage
 * against the target, and Redis memory per user by simulated day when phase 5 ran.
 *
 *   npx tsx bench/pipeline/report.ts bench/results/pipeline-<date>[-<label>].json
 *
 * redraws the SVG of a results file; run.ts calls {@link writePipelineReport} itself.
 */
import { redrawWhenRun, writeReport, type Chart } from '../report/svg.ts';

/** The quantiles a freshness result keeps of its probe latencies (`probeLatencyCdfMs`). */
export const CDF_QUANTILES = [0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1] as const;

/** The parts of a pipeline results file the charts read (older files lack some). */
interface PipelineResults {
  ceilings?: { [stage in 'jsonParse' | 'parseEvent' | 'parseAndOps']?: { eventsPerCpuSecond: number } };
  kafkaAlone?: { eventsPerCpuSecond: number };
  stages?: { processor?: { eventsPerCpuSecond: number }; writer?: { eventsPerCpuSecond: number } };
  throughput?: { steady: { eventsPerCpuSecond: number } };
  freshness?: Array<{ load: number; targetRate: number; probeLatencyMs: { p50: number; p95: number; p99: number; max: number }; probeLatencyCdfMs?: number[] }>;
  dauMemory?: { byDay: Array<{ day: number; bytesPerUser: number; hashBytesPerUser: number; zsetBytesPerUser: number }> } | null;
}

const label = (q: number): string => (q === 1 ? 'max' : `p${Math.round(q * 100)}`);

/** The charts of one results file. */
export function pipelineCharts(results: PipelineResults): Chart[] {
  const charts: Chart[] = [];
  const freshness = results.freshness ?? [];
  if (freshness.length > 0) {
    // Files written before the CDF was kept have p50/p95/p99/max only: those points are drawn.
    const kept = freshness.every((f) => f.probeLatencyCdfMs?.length === CDF_QUANTILES.length);
    const quantiles: readonly number[] = kept ? CDF_QUANTILES : [0.5, 0.95, 0.99, 1];
    charts.push({
      title: 'Freshness: event -> readable (probe) by quantile, per load',
      yLabel: 'ms',
      xLabels: quantiles.map(label),
      kind: 'lines',
      series: freshness.map((f) => ({
        name: `${Math.round(f.load * 100)}% (${f.targetRate}/s)`,
        values: kept ? (f.probeLatencyCdfMs as number[]) : [f.probeLatencyMs.p50, f.probeLatencyMs.p95, f.probeLatencyMs.p99, f.probeLatencyMs.max],
      })),
      target: { value: 1_000, label: 'target p99 < 1 s at 50%' },
    });
  }
  const stages: Array<[string, number | undefined]> = [
    ['JSON.parse', ceilingOf(results, 'jsonParse')],
    ['parseEvent', ceilingOf(results, 'parseEvent')],
    ['parse + ops', ceilingOf(results, 'parseAndOps')],
    ['kafkajs fetch', results.kafkaAlone?.eventsPerCpuSecond],
    ['processor', results.stages?.processor?.eventsPerCpuSecond],
    ['writer', results.stages?.writer?.eventsPerCpuSecond],
    ['whole sidecar', results.throughput?.steady.eventsPerCpuSecond],
  ];
  const present = stages.filter((s): s is [string, number] => typeof s[1] === 'number');
  if (present.length > 0)
    charts.push({
      title: 'Events per CPU-second, per stage (each alone) and the whole sidecar',
      yLabel: 'events / CPU-s',
      xLabels: present.map(([name]) => name),
      kind: 'bars',
      series: [{ name: 'events per CPU-second', values: present.map(([, v]) => Math.round(v)) }],
      target: { value: 60_000, label: 'target 60K / core' },
    });
  const days = results.dauMemory?.byDay ?? [];
  if (days.length > 0)
    charts.push({
      title: 'Redis memory per daily-active user, by simulated day',
      yLabel: 'KB',
      xLabels: days.map((d) => `day ${d.day}`),
      kind: 'lines',
      series: [
        { name: 'total', values: days.map((d) => d.bytesPerUser / 1000) },
        { name: 'state', values: days.map((d) => d.hashBytesPerUser / 1000) },
        { name: 'dedup', values: days.map((d) => d.zsetBytesPerUser / 1000) },
      ],
      target: { value: 16, label: 'target 16 KB' },
    });
  return charts;
}

function ceilingOf(results: PipelineResults, name: 'jsonParse' | 'parseEvent' | 'parseAndOps'): number | undefined {
  return results.ceilings?.[name]?.eventsPerCpuSecond;
}

/** Writes `<results file>.svg`; returns its path. */
export function writePipelineReport(resultsFile: string, results: PipelineResults): string {
  return writeReport(resultsFile, pipelineCharts(results));
}

redrawWhenRun<PipelineResults>(import.meta.url, 'usage: npx tsx bench/pipeline/report.ts bench/results/pipeline-<date>.json', pipelineCharts);
