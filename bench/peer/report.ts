/**
 * The side-by-side's charts (issue 18 item 8), written next to bench/results/peer-*.json:
 * per workload, events per CPU-second, Redis CPU per event and Redis memory of the sidecar and
 * each Flink variant (medians of their runs).
 *
 *   npx tsx bench/peer/report.ts bench/results/peer-<date>[-<label>].json
 *
 * redraws the SVG of a results file; run.ts calls {@link writePeerReport} itself.
 */
import { redrawWhenRun, writeReport, type Chart } from '../report/svg.ts';

/** One variant's medians in a workload, as run.ts writes them. */
interface VariantSummary {
  eventsPerCpuSecond: number;
  steadyEventsPerCpuSecond: number;
  redisMicrosPerEvent: number;
  redisMemoryBytes: number;
}

interface PeerResults {
  workloads: Array<{ events: number; summary: Record<string, VariantSummary> }>;
}

const workloadName = (events: number): string => (events >= 1e6 ? `${events / 1e6}M events` : `${Math.round(events / 1e3)}K events`);

/** The charts of one results file: one bar group per workload, one bar per variant. */
export function peerCharts(results: PeerResults): Chart[] {
  const variants = [...new Set(results.workloads.flatMap((w) => Object.keys(w.summary)))];
  const xLabels = results.workloads.map((w) => workloadName(w.events));
  const chart = (title: string, yLabel: string, of: (s: VariantSummary) => number): Chart => ({
    title,
    yLabel,
    xLabels,
    kind: 'bars',
    series: variants.map((variant) => ({
      name: variant.length > 22 ? `${variant.slice(0, 21)}…` : variant,
      values: results.workloads.map((w) => {
        const s = w.summary[variant];
        return s ? of(s) : null;
      }),
    })),
  });
  return [
    chart('Events per process CPU-second (whole run)', 'events / CPU-s', (s) => s.eventsPerCpuSecond),
    chart('Redis CPU per event', 'µs', (s) => s.redisMicrosPerEvent),
    chart('Redis memory after the run', 'MiB', (s) => s.redisMemoryBytes / 2 ** 20),
  ];
}

/** Writes `<results file>.svg`; returns its path. */
export function writePeerReport(resultsFile: string, results: PeerResults): string {
  return writeReport(resultsFile, peerCharts(results));
}

redrawWhenRun<PeerResults>(import.meta.url, 'usage: npx tsx bench/peer/report.ts bench/results/peer-<date>.json', peerCharts);
