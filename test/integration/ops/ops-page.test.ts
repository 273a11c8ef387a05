/**
 * The operations page (GET /ops) of the serving service, with live data from the local stack:
 * a real sidecar consumes a real workload from Kafka into Redis; its /metrics are served over
 * HTTP and scraped by the page; a parity report sits in the reports folder. Headless Chromium
 * (Debian's, via playwright-core) opens the page and a screenshot goes to reports/ops/.
 */
import { createServer, type Server } from 'node:http';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { describe, expect, it, onTestFinished } from 'vitest';
import { generateWorkload } from '../../../sidecar/src/loadgen/workload.ts';
import { startServingService } from '../../../sidecar/src/serving/index.ts';
import { conformanceRegistry as registry, startSidecar, tempDir } from '../../helpers/consumers.ts';
import { createTestTopics, produceWorkload } from '../../helpers/kafka.ts';
import { HOUR } from '../../helpers/reference.ts';
import { REDIS_URL, testNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const SCREENSHOT = 'reports/ops/ops-page.png';

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as { port: number }).port}/metrics`)));
}

describe('operations page', () => {
  it('renders registry, watermarks and lag, freshness, verdicts, dead letters and parity runs from the live stack in headless Chromium', async () => {
    const ns = testNamespace();
    await createTestTopics(ns, { client: 3, billing: 1, support: 1 });
    const end = Math.floor(Date.now() / HOUR) * HOUR;
    const workload = generateWorkload({ seed: 17, users: 200, eventsPerUser: 10, startMs: end - 2 * HOUR, endMs: end, invalidShare: 0.02 });
    const sidecar = await startSidecar(ns);
    await produceWorkload(ns, workload);
    await waitFor('the sidecar applied the workload', async () => (await sidecar.metrics.totals()).consumed >= workload.length, { timeoutMs: 120_000 });

    const metricsServer = createServer((_req, res) => {
      void sidecar.metrics.registry.metrics().then((body) => res.writeHead(200, { 'content-type': sidecar.metrics.registry.contentType }).end(body));
    });
    const metricsUrl = await listen(metricsServer);
    onTestFinished(() => void metricsServer.close());

    // One parity run, laid out as `churnfeat parity --out <dir>` writes it.
    const reports = tempDir('ops-reports-');
    mkdirSync(join(reports, 'parity-2026-01-01'));
    writeFileSync(
      join(reports, 'parity-2026-01-01', 'report.json'),
      JSON.stringify({ status: 'fail', finishedAt: '2026-01-01T06:10:00.000Z', asOf: '2026-01-01T06:00:00.000Z', totals: { comparisons: 4200, unexplained: 3 } }),
    );
    writeFileSync(join(reports, 'parity-2026-01-01', 'report.html'), '<!doctype html><title>parity report</title><h1 id="summary">parity report</h1>');

    const service = await startServingService(
      { redisUrl: REDIS_URL, keyPrefix: ns.options.keyPrefix, host: '127.0.0.1', port: 0, logLevel: 'silent', opsScrapeUrls: [metricsUrl], opsReportsDir: reports },
      registry,
    );
    onTestFinished(() => service.close());
    await waitFor(
      'the serving service sees the watermarks',
      async () => {
        const data = (await (await fetch(`${service.url}/ops/data.json`)).json()) as { sections: Array<{ id: string; table?: { rows: unknown[][] } }> };
        return data.sections.find((s) => s.id === 'partitions')?.table?.rows.some((row) => row[1] !== null);
      },
      { timeoutMs: 30_000 },
    );

    // The parity gauges the alerts read come from the same report.
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).toMatch(/^churnfeat_parity_last_passed 0$/m);
    expect(metrics).toMatch(/^churnfeat_parity_last_unexplained_mismatches 3$/m);

    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });
    onTestFinished(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const foreign: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(service.url)) foreign.push(request.url());
    });
    await page.goto(`${service.url}/ops`);
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 });
    const seen = await page.evaluate(() => {
      const sections: Record<string, { status: string; text: string; charts: number }> = {};
      for (const s of Array.from(document.querySelectorAll('section'))) {
        const charts = Array.from(s.querySelectorAll('canvas')).filter((c) => c.width > 0 && c.height > 0).length;
        sections[s.id.replace('section-', '')] = { status: s.dataset.status ?? '', text: (s as HTMLElement).innerText, charts };
      }
      return sections;
    });
    mkdirSync('reports/ops', { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    expect(foreign, 'the page loads nothing from outside the service').toEqual([]);
    expect(seen.registry?.text).toContain(registry.version);
    expect(seen.registry?.text).toContain(registry.features[0]?.name);
    expect(seen.partitions?.status).toBe('ok');
    expect(seen.partitions?.text).toMatch(/client:0/);
    expect(seen.partitions?.charts).toBe(1);
    expect(seen.freshness?.status).toBe('ok');
    expect(seen.freshness?.text).toMatch(/pipeline: ingest -> readable\s+client/);
    const totals = await sidecar.metrics.totals();
    expect(seen.verdicts?.status).toBe('ok');
    expect(seen.verdicts?.text).toContain(`applied\t${totals.applied}`);
    expect(seen.verdicts?.charts).toBe(1);
    expect(seen['dead-letters']?.status).toBe('ok');
    expect(seen.parity?.text).toContain('parity-2026-01-01');
    expect(seen.deletions?.status).toBe('not_built');
    expect(seen.versions?.text).toContain(registry.version);

    // The report link opens the report through the service; a path out of the folder does not.
    await page.click('#section-parity a');
    await page.waitForSelector('#summary');
    expect(await page.title()).toBe('parity report');
    expect((await fetch(`${service.url}/ops/reports/..%2f..%2fetc/report.json`)).status).toBe(404);
  }, 240_000);
});
