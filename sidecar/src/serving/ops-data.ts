import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Gauge, type Registry } from 'prom-client';
import type { FeatureRegistry } from '../features/index.ts';
import { bucketQuantile, samplesOf, scrapeAll, sumBy, type ScrapeResult } from './ops-scrape.ts';
import type { WatermarkSnapshot } from './watermarks.ts';

/** A table of the operations page. Cells are plain text or numbers; `link` cells become anchors. */
export interface OpsTable {
  columns: string[];
  rows: Array<Array<string | number | null | { text: string; href: string }>>;
}

/** A bar chart of the page: one bar per label. */
export interface OpsChart {
  labels: string[];
  values: number[];
  unit?: string;
}

/** What one section of the page shows. `not_built`: the module that feeds it does not exist yet. */
export interface OpsSection {
  status: 'ok' | 'empty' | 'unavailable' | 'not_built';
  note?: string;
  table?: OpsTable;
  chart?: OpsChart;
}

/**
 * One section of the operations page: the plug-in point for other modules (deletion requests,
 * feature versions, ...). `collect` runs on every GET /ops/data.json; it must not throw (a
 * failure is a section with status 'unavailable') and must return nothing secret.
 */
export interface OpsDataProvider {
  id: string;
  title: string;
  collect(context: OpsCollectContext): Promise<OpsSection>;
}

/** What every provider gets for one page load: one scrape of the configured /metrics targets, shared. */
export interface OpsCollectContext {
  nowMs: number;
  scrape: ScrapeResult[];
}

const SCRAPE_NOTE = 'from the scraped /metrics targets (CHURNFEAT_OPS_SCRAPE_URLS)';

function noTargets(context: OpsCollectContext): OpsSection | null {
  if (context.scrape.length === 0) return { status: 'unavailable', note: 'no /metrics targets configured (CHURNFEAT_OPS_SCRAPE_URLS)' };
  return null;
}

/** The feature registry this service serves. */
export function registryProvider(registry: FeatureRegistry): OpsDataProvider {
  return {
    id: 'registry',
    title: 'Feature registry',
    collect: async () => ({
      status: 'ok',
      note: `registry version ${registry.version}, ${registry.features.length} features`,
      table: {
        columns: ['feature', 'source', 'aggregation', 'window', 'freshness SLO'],
        rows: registry.features.map((f) => [f.name, f.source, f.aggregation, String(f.windowMs / 1000) + ' s', String(f.freshnessSloMs / 1000) + ' s']),
      },
    }),
  };
}

/** Per-partition watermarks (from Redis, this service's cache) and the sidecar group's lag (scraped). */
export function partitionsProvider(watermarks: { snapshot(): WatermarkSnapshot }): OpsDataProvider {
  return {
    id: 'partitions',
    title: 'Partitions: watermarks and consumer lag',
    collect: async (context) => {
      const lag = new Map<string, number>();
      for (const s of samplesOf(context.scrape, 'churnfeat_consumer_lag_records')) {
        const source = /\.([a-z]+)\.events$/.exec(s.labels.topic ?? '')?.[1] ?? s.labels.topic ?? '';
        const key = `${source}:${s.labels.partition}`;
        lag.set(key, Math.max(lag.get(key) ?? 0, s.value));
      }
      const entries = watermarks.snapshot().entries();
      if (entries.length === 0 && lag.size === 0) return { status: 'empty', note: 'no watermark published and no lag scraped yet' };
      const keys = [...new Set([...entries.map((e) => `${e.source}:${e.partition}`), ...lag.keys()])].sort();
      const byKey = new Map(entries.map((e) => [`${e.source}:${e.partition}`, e.watermarkMs]));
      return {
        status: 'ok',
        note: `watermarks from Redis; lag ${SCRAPE_NOTE}`,
        table: {
          columns: ['partition', 'watermark', 'watermark age (s)', 'lag (records)'],
          rows: keys.map((key) => {
            const wm = byKey.get(key);
            return [key, wm === undefined ? null : new Date(wm).toISOString(), wm === undefined ? null : Math.round((context.nowMs - wm) / 100) / 10, lag.get(key) ?? null];
          }),
        },
        chart: { labels: keys, values: keys.map((key) => lag.get(key) ?? 0), unit: 'records' },
      };
    },
  };
}

/** Freshness quantiles since the sidecar (and canary) started, per source. */
export function freshnessProvider(): OpsDataProvider {
  const histograms = [
    ['pipeline: ingest -> readable', 'churnfeat_ingest_to_readable_seconds_bucket'],
    ['pipeline: event -> readable', 'churnfeat_event_to_readable_seconds_bucket'],
    ['canary: probe -> readable', 'churnfeat_canary_readable_seconds_bucket'],
  ] as const;
  return {
    id: 'freshness',
    title: 'Freshness p50 / p95 / p99',
    collect: async (context) => {
      const missing = noTargets(context);
      if (missing) return missing;
      const rows: OpsTable['rows'] = [];
      for (const [what, metric] of histograms) {
        const samples = samplesOf(context.scrape, metric);
        for (const source of [...new Set(samples.map((s) => s.labels.source ?? ''))].sort()) {
          const buckets = samples.filter((s) => (s.labels.source ?? '') === source);
          const q = (p: number) => {
            const v = bucketQuantile(p, buckets);
            return v === null ? null : Math.round(v * 1000) / 1000;
          };
          rows.push([what, source, q(0.5), q(0.95), q(0.99)]);
        }
      }
      if (rows.length === 0) return { status: 'empty', note: `no freshness histogram ${SCRAPE_NOTE}` };
      return { status: 'ok', note: `seconds, interpolated in buckets, since each process started; ${SCRAPE_NOTE}`, table: { columns: ['measure', 'source', 'p50 (s)', 'p95 (s)', 'p99 (s)'], rows } };
    },
  };
}

/** Records by verdict (applied, duplicate, replayed, too_late, invalid, irrelevant). */
export function verdictsProvider(): OpsDataProvider {
  return {
    id: 'verdicts',
    title: 'Records by verdict',
    collect: async (context) => {
      const missing = noTargets(context);
      if (missing) return missing;
      const totals = sumBy(samplesOf(context.scrape, 'churnfeat_records_total'), 'verdict');
      const labels = Object.keys(totals).sort();
      if (labels.length === 0) return { status: 'empty', note: `no churnfeat_records_total ${SCRAPE_NOTE}` };
      return {
        status: 'ok',
        note: `since each sidecar started; ${SCRAPE_NOTE}`,
        table: { columns: ['verdict', 'records'], rows: labels.map((l) => [l, totals[l] as number]) },
        chart: { labels, values: labels.map((l) => totals[l] as number), unit: 'records' },
      };
    },
  };
}

/** Dead-lettered records by reason code and source. */
export function deadLettersProvider(): OpsDataProvider {
  return {
    id: 'dead-letters',
    title: 'Dead letters by reason',
    collect: async (context) => {
      const missing = noTargets(context);
      if (missing) return missing;
      const samples = samplesOf(context.scrape, 'churnfeat_invalid_records_total');
      const byKey: Record<string, number> = {};
      for (const s of samples) byKey[`${s.labels.reason}|${s.labels.source}`] = (byKey[`${s.labels.reason}|${s.labels.source}`] ?? 0) + s.value;
      const keys = Object.keys(byKey).sort();
      if (keys.length === 0) return { status: 'empty', note: `no dead letter counted ${SCRAPE_NOTE}` };
      const byReason = sumBy(samples, 'reason');
      const reasons = Object.keys(byReason).sort();
      return {
        status: 'ok',
        note: `since each sidecar started; ${SCRAPE_NOTE}`,
        table: { columns: ['reason', 'source', 'records'], rows: keys.map((k) => [...(k.split('|') as [string, string]), byKey[k] as number]) },
        chart: { labels: reasons, values: reasons.map((r) => byReason[r] as number), unit: 'records' },
      };
    },
  };
}

/** One parity run as its report.json says. */
export interface ParityRun {
  name: string;
  status: string;
  finishedAt: string;
  asOf: string;
  unexplained: number;
  comparisons: number;
  htmlPath: string | null;
}

/** The parity runs under a reports folder: every `<dir>/report.json` one or two levels down, newest first. */
export function readParityRuns(reportsDir: string): ParityRun[] {
  const runs: ParityRun[] = [];
  const visit = (dir: string, rel: string, depth: number): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    if (names.includes('report.json')) {
      try {
        const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { status?: string; finishedAt?: string; asOf?: string; totals?: { unexplained?: number; comparisons?: number } };
        runs.push({
          name: rel,
          status: String(report.status ?? 'unknown'),
          finishedAt: String(report.finishedAt ?? ''),
          asOf: String(report.asOf ?? ''),
          unexplained: Number(report.totals?.unexplained ?? 0),
          comparisons: Number(report.totals?.comparisons ?? 0),
          htmlPath: names.includes('report.html') ? `${rel}/report.html` : null,
        });
      } catch {
        // A report being written, or not a parity report: left out.
      }
    }
    if (depth === 0) return;
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const path = join(dir, name);
      if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) visit(path, rel === '' ? name : `${rel}/${name}`, depth - 1);
    }
  };
  visit(reportsDir, '', 2);
  return runs.filter((r) => r.name !== '').sort((a, b) => b.finishedAt.localeCompare(a.finishedAt));
}

/** Recent parity runs with links to their HTML reports (served under /ops/reports/). */
export function parityProvider(reportsDir: string, limit = 10): OpsDataProvider {
  return {
    id: 'parity',
    title: 'Recent parity runs',
    collect: async () => {
      if (reportsDir === '') return { status: 'unavailable', note: 'no reports folder configured (CHURNFEAT_OPS_REPORTS_DIR)' };
      const runs = readParityRuns(reportsDir).slice(0, limit);
      if (runs.length === 0) return { status: 'empty', note: 'no parity report found' };
      return {
        status: 'ok',
        note: `the ${runs.length} newest runs`,
        table: {
          columns: ['run', 'status', 'finished', 'as of', 'comparisons', 'unexplained', 'report'],
          rows: runs.map((r) => [r.name, r.status, r.finishedAt, r.asOf, r.comparisons, r.unexplained, r.htmlPath === null ? null : { text: 'report.html', href: `ops/reports/${r.htmlPath}` }]),
        },
      };
    },
  };
}

/** A section whose module another issue is building: shown as such until a real provider replaces it (same id). */
export function notBuiltProvider(id: string, title: string, note: string): OpsDataProvider {
  return { id, title, collect: async () => ({ status: 'not_built', note }) };
}

/**
 * The parity gauges the alerts read (ChurnfeatParityFailed, ChurnfeatParityMissing), computed at
 * scrape time from the newest report in the reports folder.
 */
export function registerParityGauges(registry: Registry, reportsDir: string): void {
  if (reportsDir === '') return;
  const newest = () => readParityRuns(reportsDir)[0];
  new Gauge({
    name: 'churnfeat_parity_last_passed',
    help: 'Whether the newest parity run passed (1) or failed (0); absent without a report.',
    registers: [registry],
    collect() {
      const run = newest();
      if (run) this.set(run.status === 'pass' ? 1 : 0);
      else this.reset();
    },
  });
  new Gauge({
    name: 'churnfeat_parity_last_unexplained_mismatches',
    help: 'Unexplained mismatches of the newest parity run.',
    registers: [registry],
    collect() {
      const run = newest();
      if (run) this.set(run.unexplained);
      else this.reset();
    },
  });
  new Gauge({
    name: 'churnfeat_parity_last_finished_timestamp_seconds',
    help: 'When the newest parity run finished (unix seconds).',
    registers: [registry],
    collect() {
      const run = newest();
      const ms = run ? Date.parse(run.finishedAt) : Number.NaN;
      if (Number.isFinite(ms)) this.set(ms / 1000);
      else this.reset();
    },
  });
}

/** Every section, in page order: the built-in providers plus the placeholders other modules replace. */
export function defaultOpsProviders(options: { registry: FeatureRegistry; watermarks: { snapshot(): WatermarkSnapshot }; reportsDir: string }): OpsDataProvider[] {
  return [
    registryProvider(options.registry),
    notBuiltProvider(
      'versions',
      'Feature versions (active / shadow)',
      `active: registry ${options.registry.version} (the one this service serves); shadow versions appear once \`churnfeat version\` exists`,
    ),
    partitionsProvider(options.watermarks),
    freshnessProvider(),
    verdictsProvider(),
    deadLettersProvider(),
    parityProvider(options.reportsDir),
    notBuiltProvider('deletions', 'Open deletion requests', 'appears once the deletion module (`churnfeat delete request|status`) exists'),
  ];
}

/** Collects every section for one page load: one shared scrape, then every provider at once. */
export async function collectOps(providers: readonly OpsDataProvider[], scrapeUrls: readonly string[], nowMs = Date.now()): Promise<Array<{ id: string; title: string } & OpsSection>> {
  const context: OpsCollectContext = { nowMs, scrape: await scrapeAll(scrapeUrls) };
  const sections = await Promise.all(
    providers.map(async (p) => {
      try {
        return { id: p.id, title: p.title, ...(await p.collect(context)) };
      } catch (error) {
        return { id: p.id, title: p.title, status: 'unavailable' as const, note: error instanceof Error ? error.message : String(error) };
      }
    }),
  );
  const failed = context.scrape.filter((s) => s.error !== undefined);
  if (failed.length > 0) sections.push({ id: 'scrape', title: 'Scrape targets', status: 'unavailable', note: failed.map((f) => `${new URL(f.url).host}: ${f.error}`).join('; ') });
  return sections;
}
