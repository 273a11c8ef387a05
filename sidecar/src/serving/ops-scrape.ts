/** Reading other services' Prometheus /metrics for the operations page. */
import { histogramQuantile } from '../metrics/index.ts';

/** One sample of the Prometheus text exposition format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * Parses the text exposition format (what prom-client writes): comments and blank lines are
 * skipped, a line that does not parse is skipped too (the page shows what it could read).
 */
export function parsePrometheusText(text: string): Sample[] {
  const out: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = LINE.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const m of (match[2] ?? '').matchAll(LABEL)) labels[m[1] as string] = (m[2] as string).replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
    const value = match[3] === '+Inf' ? Infinity : match[3] === '-Inf' ? -Infinity : Number(match[3]);
    out.push({ name: match[1] as string, labels, value });
  }
  return out;
}

/** What one scrape gave: the samples, or why there are none. */
export interface ScrapeResult {
  url: string;
  samples: Sample[];
  error?: string;
}

/** Scrapes every URL at once, each within `timeoutMs`; a failed target is reported, not thrown. */
export async function scrapeAll(urls: readonly string[], timeoutMs = 2_000): Promise<ScrapeResult[]> {
  return Promise.all(
    urls.map(async (url) => {
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
        if (!response.ok) return { url, samples: [], error: `HTTP ${response.status}` };
        return { url, samples: parsePrometheusText(await response.text()) };
      } catch (error) {
        return { url, samples: [], error: error instanceof Error ? error.message : String(error) };
      }
    }),
  );
}

/** The samples of one metric, over every scraped target. */
export function samplesOf(results: readonly ScrapeResult[], name: string): Sample[] {
  return results.flatMap((r) => r.samples.filter((s) => s.name === name));
}

/** Sums a metric's samples by one label. */
export function sumBy(samples: readonly Sample[], label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    const key = s.labels[label] ?? '';
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

/** A quantile of a histogram's buckets summed over targets (PromQL's histogram_quantile arithmetic); null without observations. */
export function bucketQuantile(q: number, buckets: readonly Sample[]): number | null {
  const value = histogramQuantile(q, { values: buckets.map((b) => ({ labels: b.labels, value: b.value, metricName: b.name })) });
  return Number.isNaN(value) ? null : value;
}
