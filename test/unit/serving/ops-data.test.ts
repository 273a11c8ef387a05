import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { Registry } from 'prom-client';
import { describe, expect, it, onTestFinished } from 'vitest';
import { PipelineMetrics } from '../../../sidecar/src/metrics/index.ts';
import {
  bucketQuantile,
  collectOps,
  notBuiltProvider,
  parsePrometheusText,
  readParityRuns,
  registerOpsRoutes,
  registerParityGauges,
  samplesOf,
  type OpsDataProvider,
} from '../../../sidecar/src/serving/index.ts';

function reportsDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ops-data-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function writeRun(dir: string, name: string, report: Record<string, unknown>, html = true): void {
  mkdirSync(join(dir, name), { recursive: true });
  writeFileSync(join(dir, name, 'report.json'), JSON.stringify(report));
  if (html) writeFileSync(join(dir, name, 'report.html'), '<html></html>');
}

describe('operations page data', () => {
  it("parses what prom-client exposes, labels with escapes included, and the histogram's quantiles match the sidecar's own", async () => {
    const metrics = new PipelineMetrics();
    metrics.invalid.inc({ source: 'client', reason: 'malformed_json' }, 3);
    for (const s of [0.07, 0.3, 0.4, 1.5, 8, 20]) metrics.ingestToReadable.observe({ source: 'client' }, s);
    const samples = parsePrometheusText(await metrics.registry.metrics());
    expect(samplesOf([{ url: 'x', samples }], 'churnfeat_invalid_records_total')).toEqual([
      { name: 'churnfeat_invalid_records_total', labels: { source: 'client', reason: 'malformed_json' }, value: 3 },
    ]);
    const buckets = samples.filter((s) => s.name === 'churnfeat_ingest_to_readable_seconds_bucket');
    expect(buckets.find((b) => b.labels.le === '+Inf')?.value).toBe(6);
    expect(bucketQuantile(0.5, buckets)).toBeCloseTo(0.5, 6);
    expect(parsePrometheusText('a{l="x\\"y"} 2\nnot a line\n# HELP b\nb 1e3')).toEqual([
      { name: 'a', labels: { l: 'x"y' }, value: 2 },
      { name: 'b', labels: {}, value: 1000 },
    ]);
  });

  it('lists parity runs newest first, skips unreadable reports, and exports the newest run as gauges', async () => {
    const dir = reportsDir();
    writeRun(dir, 'parity-a', { status: 'pass', finishedAt: '2026-01-01T06:00:00Z', asOf: '2026-01-01T05:00:00Z', totals: { comparisons: 10, unexplained: 0 } });
    writeRun(dir, 'nightly/parity-b', { status: 'fail', finishedAt: '2026-01-02T06:00:00Z', asOf: '2026-01-02T05:00:00Z', totals: { comparisons: 12, unexplained: 4 } }, false);
    mkdirSync(join(dir, 'broken'));
    writeFileSync(join(dir, 'broken', 'report.json'), '{');
    const runs = readParityRuns(dir);
    expect(runs.map((r) => [r.name, r.status, r.htmlPath])).toEqual([
      ['nightly/parity-b', 'fail', null],
      ['parity-a', 'pass', 'parity-a/report.html'],
    ]);
    const registry = new Registry();
    registerParityGauges(registry, dir);
    const text = await registry.metrics();
    expect(text).toMatch(/^churnfeat_parity_last_passed 0$/m);
    expect(text).toMatch(/^churnfeat_parity_last_unexplained_mismatches 4$/m);
    expect(text).toMatch(/^churnfeat_parity_last_finished_timestamp_seconds 1767333600$/m);
  });

  it('a provider that throws becomes an unavailable section; an unreachable scrape target is named without its path', async () => {
    const failing: OpsDataProvider = { id: 'boom', title: 'Boom', collect: () => Promise.reject(new Error('no data')) };
    const sections = await collectOps([failing, notBuiltProvider('deletions', 'Deletions', 'later')], ['http://127.0.0.1:1/metrics?token=secret']);
    expect(sections.map((s) => [s.id, s.status])).toEqual([
      ['boom', 'unavailable'],
      ['deletions', 'not_built'],
      ['scrape', 'unavailable'],
    ]);
    expect(sections[0]?.note).toBe('no data');
    expect(sections[2]?.note).toMatch(/^127\.0\.0\.1:1: /);
    expect(sections[2]?.note).not.toContain('secret');
  });

  it('serves report files from the reports folder only', async () => {
    const dir = reportsDir();
    writeRun(dir, 'parity-a', { status: 'pass', finishedAt: '2026-01-01T06:00:00Z' });
    writeFileSync(join(dir, 'secret.txt'), 'no');
    const app = Fastify();
    registerOpsRoutes(app, { providers: [], scrapeUrls: [], reportsDir: dir });
    onTestFinished(() => app.close());
    expect((await app.inject('/ops/reports/parity-a/report.html')).statusCode).toBe(200);
    for (const path of ['/ops/reports/../secret.txt', '/ops/reports/parity-a/../../etc/report.json', '/ops/reports/%2e%2e/report.json', '/ops/reports/secret.txt']) {
      expect((await app.inject(path)).statusCode, path).toBe(404);
    }
    const page = await app.inject('/ops');
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).not.toMatch(/https?:\/\//);
    const chart = await app.inject('/ops/assets/chart.umd.min.js');
    expect(chart.statusCode).toBe(200);
    expect(chart.body.length).toBeGreaterThan(100_000);
  });
});
