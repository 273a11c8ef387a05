import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { describe, expect, it } from 'vitest';

/** Every .ts file under a folder. */
function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? tsFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/**
 * The metric names sidecar/src registers with prom-client: `name: 'churnfeat_…'` of every
 * Counter/Gauge/Histogram, the `${prefix}_…` names of consumerProgressGauges for each prefix it
 * is called with, and the series a histogram adds (_bucket, _sum, _count).
 */
function exportedMetrics(): Set<string> {
  const names = new Set<string>();
  const sources = tsFiles('sidecar/src').map((f) => readFileSync(f, 'utf8'));
  const templates: string[] = [];
  for (const text of sources) {
    for (const m of text.matchAll(/new (Counter|Gauge|Histogram|Summary)(?:<[^>]*>)?\(\{\s*name: (?:'([a-z_:]+)'|`\$\{prefix\}(_[a-z_]+)`)/g)) {
      const kind = m[1] as string;
      const base = m[2];
      if (base === undefined) {
        templates.push(m[3] as string);
        continue;
      }
      names.add(base);
      if (kind === 'Histogram' || kind === 'Summary') for (const suffix of ['_bucket', '_sum', '_count']) names.add(base + suffix);
    }
  }
  for (const text of sources) for (const m of text.matchAll(/consumerProgressGauges\('([a-z_]+)'/g)) for (const t of templates) names.add(`${m[1]}${t}`);
  return names;
}

/** The recording rules of monitoring/prometheus/*.yml: queries may read them like any series. */
function recordedSeries(): Set<string> {
  const out = new Set<string>();
  for (const f of readdirSync('monitoring/prometheus').filter((n) => /\.ya?ml$/.test(n))) {
    const file = load(readFileSync(`monitoring/prometheus/${f}`, 'utf8')) as { groups: Array<{ rules: Array<{ record?: string }> }> };
    for (const rule of file.groups.flatMap((g) => g.rules)) if (rule.record) out.add(rule.record);
  }
  return out;
}

function externalMetrics(): Set<string> {
  return new Set(
    readFileSync('monitoring/external-metrics.txt', 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'))
      .map((l) => l.split(/\s/)[0] as string),
  );
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'le']);

/** The metric names a PromQL query reads: identifiers outside strings, label matchers, label lists and ranges, that are not functions or keywords. */
function metricNamesOf(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\$\{?\w+\}?/g, ' ');
  return [...stripped.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![a-zA-Z0-9_:]|\s*\()/g)].map((m) => m[1] as string).filter((n) => !KEYWORDS.has(n.toLowerCase()) && !/^\d/.test(n));
}

interface Panel {
  title?: string;
  targets?: Array<{ expr?: string }>;
  panels?: Panel[];
}

const DASHBOARDS = readdirSync('monitoring/grafana/dashboards').filter((f) => f.endsWith('.json'));

describe('Grafana dashboards', () => {
  it('reads metric names out of PromQL', () => {
    expect(metricNamesOf('histogram_quantile(0.95, sum by (le) (rate(a_bucket{route=~"/v1/.*"}[$__rate_interval])))')).toEqual(['a_bucket']);
    expect(metricNamesOf('time() - max(b_seconds) > 26 * 3600 or absent(c)')).toEqual(['b_seconds', 'c']);
    expect(metricNamesOf('x / on (topic) group_left y')).toEqual(['x', 'y']);
  });

  it('finds the metrics the code registers, histogram series and consumer gauges included', () => {
    const names = exportedMetrics();
    for (const name of ['churnfeat_records_total', 'churnfeat_serving_request_duration_seconds_bucket', 'churnfeat_consumer_lag_records', 'churnfeat_lake_consumer_lag_records', 'churnfeat_parity_last_passed']) {
      expect(names).toContain(name);
    }
    expect(names).not.toContain('churnfeat_records_total_bucket');
  });

  for (const file of DASHBOARDS) {
    it(`every panel query of ${file} names only metrics the code exports, recording rules or the listed external exporters`, () => {
      const known = new Set([...exportedMetrics(), ...recordedSeries(), ...externalMetrics()]);
      const dashboard = JSON.parse(readFileSync(`monitoring/grafana/dashboards/${file}`, 'utf8')) as { panels: Panel[] };
      const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
      const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr ?? '' })));
      expect(queries.length).toBeGreaterThan(10);
      for (const { title, expr } of queries) {
        const names = metricNamesOf(expr);
        expect(names.length, `${title}: ${expr}`).toBeGreaterThan(0);
        expect(
          names.filter((n) => !known.has(n)),
          `${title}: ${expr}`,
        ).toEqual([]);
      }
    });
  }

  it('every metric the alerts read is exported, recorded or external too', () => {
    const known = new Set([...exportedMetrics(), ...recordedSeries(), ...externalMetrics()]);
    for (const f of readdirSync('monitoring/prometheus').filter((n) => /\.ya?ml$/.test(n))) {
      const file = load(readFileSync(`monitoring/prometheus/${f}`, 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }> };
      for (const rule of file.groups.flatMap((g) => g.rules)) {
        expect(
          metricNamesOf(rule.expr).filter((n) => !known.has(n)),
          `${f} ${rule.alert ?? rule.record}`,
        ).toEqual([]);
      }
    }
  });
});
