/**
 * Small SVG charts for the benchmarks' reports (issue 18 item 8): each benchmark writes one
 * `.svg` next to its results file with the plots a reader would rather look at than read.
 * No dependency: a chart is a few rectangles, polylines and labels.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/** One named series of y values, one per x label. */
export interface Series {
  name: string;
  values: ReadonlyArray<number | null>;
}

/** One chart: grouped bars (`bars`) or lines (`lines`) over the x labels. */
export interface Chart {
  title: string;
  yLabel: string;
  xLabels: readonly string[];
  kind: 'bars' | 'lines';
  series: readonly Series[];
  /** A horizontal line drawn across the chart, e.g. the target. */
  target?: { value: number; label: string };
}

const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#b07aa1'];
const WIDTH = 640;
const HEIGHT = 300;
const PAD = { left: 64, right: 16, top: 36, bottom: 56 };

const escape = (text: string): string => text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
const fmt = (v: number): string => (Math.abs(v) >= 100 ? String(Math.round(v)) : String(Math.round(v * 100) / 100));

function chartSvg(chart: Chart, offsetY: number): string {
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const all = chart.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  if (chart.target) all.push(chart.target.value);
  const max = Math.max(1e-9, ...all) * 1.1;
  const y = (v: number): number => PAD.top + plotH - (v / max) * plotH;
  const n = Math.max(1, chart.xLabels.length);
  const slot = plotW / n;
  const parts: string[] = [`<g transform="translate(0,${offsetY})">`];
  parts.push(`<text x="${WIDTH / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escape(chart.title)}</text>`);
  for (let k = 0; k <= 4; k++) {
    const v = (max / 1.1) * (k / 4);
    parts.push(`<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    parts.push(`<text x="${PAD.left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="10">${fmt(v)}</text>`);
  }
  parts.push(`<text x="14" y="${PAD.top + plotH / 2}" font-size="11" transform="rotate(-90 14 ${PAD.top + plotH / 2})" text-anchor="middle">${escape(chart.yLabel)}</text>`);
  chart.xLabels.forEach((label, i) => {
    parts.push(`<text x="${PAD.left + slot * (i + 0.5)}" y="${PAD.top + plotH + 14}" text-anchor="middle" font-size="10">${escape(label)}</text>`);
  });
  chart.series.forEach((series, s) => {
    const color = COLORS[s % COLORS.length] as string;
    if (chart.kind === 'bars') {
      const barW = (slot * 0.8) / chart.series.length;
      series.values.forEach((v, i) => {
        if (v === null) return;
        const x = PAD.left + slot * i + slot * 0.1 + barW * s;
        parts.push(`<rect x="${x}" y="${y(v)}" width="${barW}" height="${PAD.top + plotH - y(v)}" fill="${color}"><title>${escape(`${series.name} ${chart.xLabels[i]}: ${fmt(v)}`)}</title></rect>`);
      });
    } else {
      const points = series.values.flatMap((v, i) => (v === null ? [] : [`${PAD.left + slot * (i + 0.5)},${y(v)}`]));
      parts.push(`<polyline points="${points.join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`);
      series.values.forEach((v, i) => {
        if (v !== null) parts.push(`<circle cx="${PAD.left + slot * (i + 0.5)}" cy="${y(v)}" r="3" fill="${color}"><title>${escape(`${series.name} ${chart.xLabels[i]}: ${fmt(v)}`)}</title></circle>`);
      });
    }
    const lx = PAD.left + s * 150;
    parts.push(`<rect x="${lx}" y="${HEIGHT - 22}" width="10" height="10" fill="${color}"/><text x="${lx + 14}" y="${HEIGHT - 13}" font-size="11">${escape(series.name)}</text>`);
  });
  if (chart.target) {
    const ty = y(chart.target.value);
    parts.push(`<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${ty}" y2="${ty}" stroke="#e15759" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${WIDTH - PAD.right}" y="${ty - 4}" text-anchor="end" font-size="10" fill="#e15759">${escape(chart.target.label)}</text>`);
  }
  parts.push('</g>');
  return parts.join('\n');
}

/** The SVG text of charts stacked one under the other. */
export function renderCharts(charts: readonly Chart[]): string {
  const body = charts.map((chart, i) => chartSvg(chart, i * HEIGHT)).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT * charts.length}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${body}\n</svg>\n`;
}

/** Writes the charts as `<results file without .json>.svg` and returns its path. */
export function writeReport(resultsFile: string, charts: readonly Chart[]): string {
  const file = resultsFile.replace(/\.json$/, '') + '.svg';
  writeFileSync(file, renderCharts(charts));
  return file;
}

/**
 * The command line of a benchmark's report module, `npx tsx bench/<name>/report.ts FILE`: when
 * `moduleUrl` (its import.meta.url) is the script run, redraws FILE's charts next to it; exits 2
 * with `usage` on anything but one file.
 */
export function redrawWhenRun<T>(moduleUrl: string, usage: string, charts: (results: T) => readonly Chart[]): void {
  if (moduleUrl !== pathToFileURL(process.argv[1] ?? '').href) return;
  const file = process.argv[2];
  if (!file || process.argv.length > 3) {
    console.error(usage);
    process.exit(2);
  }
  console.log(`wrote ${writeReport(file, charts(JSON.parse(readFileSync(file, 'utf8')) as T))}`);
}
