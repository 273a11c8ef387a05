import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

/** What a headless Chromium saw when it opened a report. */
export interface RenderedReport {
  status: string | null;
  summaryText: string;
  /** Rendered chart SVGs (non-zero size) by data-chart kind. */
  charts: Record<string, number>;
  /** Requests for anything but the report file itself (must be none: the page is self-contained). */
  externalRequests: string[];
}

/** Opens an HTML file in Debian's Chromium (playwright-core), inspects it and saves a screenshot. */
export async function renderInChromium(htmlPath: string, screenshotPath: string): Promise<RenderedReport> {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const url = pathToFileURL(htmlPath).href;
    const externalRequests: string[] = [];
    page.on('request', (request) => {
      if (request.url() !== url) externalRequests.push(request.url());
    });
    await page.goto(url, { waitUntil: 'load' });
    const seen = await page.evaluate(() => {
      const summary = document.querySelector('#summary');
      const charts: Record<string, number> = {};
      for (const svg of Array.from(document.querySelectorAll('svg.chart'))) {
        const box = svg.getBoundingClientRect();
        if (box.width > 0 && box.height > 0 && svg.querySelectorAll('rect, text').length > 0) {
          const kind = svg.getAttribute('data-chart') ?? 'unknown';
          charts[kind] = (charts[kind] ?? 0) + 1;
        }
      }
      return { status: summary?.getAttribute('data-status') ?? null, summaryText: (summary as HTMLElement | null)?.innerText ?? '', charts };
    });
    mkdirSync(dirname(screenshotPath), { recursive: true });
    await page.screenshot({ path: screenshotPath, fullPage: true });
    return { ...seen, externalRequests };
  } finally {
    await browser.close();
  }
}
