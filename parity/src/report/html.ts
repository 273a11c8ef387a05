import { MISMATCH_CLASSES, type MismatchClass } from '../classify.ts';
import type { FeatureSummary, ParityResult } from '../result.ts';
import type { Distribution } from './distribution.ts';

/**
 * The parity report as one self-contained HTML page: inline CSS and inline SVG charts, no
 * script, no font, no request to anywhere, so it opens from a file, a CI artifact or mail.
 */

const CLASS_COLORS: Record<MismatchClass, string> = {
  arrived_after_snapshot: '#0891b2',
  too_late_policy: '#ca8a04',
  dedup_horizon: '#7c3aed',
  lake_incomplete: '#64748b',
  unexplained: '#dc2626',
};
const ONLINE = '#2563eb';
const OFFLINE = '#ea580c';

function esc(value: unknown): string {
  return String(value).replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

function pct(rate: number): string {
  return `${(rate * 100).toFixed(rate > 0 && rate < 0.001 ? 3 : 1)} %`;
}

function shown(value: number | string | null): string {
  return value === null ? 'null' : typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** Horizontal bars: each feature's mismatch rate, stacked by class. */
function mismatchRateChart(features: readonly FeatureSummary[]): string {
  const rowHeight = 28;
  const left = 220;
  const width = 640;
  const plot = width - left - 70;
  const height = features.length * rowHeight + 40;
  const maxRate = Math.max(0.01, ...features.map((f) => f.mismatchRate));
  const rows = features.map((feature, i) => {
    const y = 10 + i * rowHeight;
    let x = left;
    const segments = MISMATCH_CLASSES.filter((c) => feature.byClass[c] > 0).map((c) => {
      const w = (feature.byClass[c] / Math.max(1, feature.compared) / maxRate) * plot;
      const rect = `<rect x="${x.toFixed(1)}" y="${y}" width="${Math.max(w, 1).toFixed(1)}" height="${rowHeight - 10}" fill="${CLASS_COLORS[c]}"><title>${esc(c)}: ${feature.byClass[c]}</title></rect>`;
      x += w;
      return rect;
    });
    return `<text x="${left - 8}" y="${y + 13}" text-anchor="end" class="label">${esc(feature.name)}</text>
      <rect x="${left}" y="${y}" width="${plot}" height="${rowHeight - 10}" class="track"/>
      ${segments.join('')}
      <text x="${left + plot + 6}" y="${y + 13}" class="value">${pct(feature.mismatchRate)}</text>`;
  });
  const axisY = 10 + features.length * rowHeight;
  return `<svg class="chart" data-chart="mismatch-rate" role="img" aria-label="Mismatch rate per feature" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">
    ${rows.join('\n')}
    <line x1="${left}" y1="${axisY}" x2="${left + plot}" y2="${axisY}" class="axis"/>
    <text x="${left}" y="${axisY + 16}" class="tick">0 %</text>
    <text x="${left + plot}" y="${axisY + 16}" text-anchor="end" class="tick">${pct(maxRate)}</text>
  </svg>`;
}

/** Grouped bars: the feature's value histogram online next to offline. */
function distributionChart(feature: FeatureSummary): string {
  const distribution: Distribution = feature.distribution;
  const groups = distribution.kind === 'numeric' ? distribution.bins : distribution.categories;
  const all = [
    ...groups.map((g) => ({ label: g.label, online: g.online, offline: g.offline })),
    ...(distribution.nulls.online + distribution.nulls.offline > 0 ? [{ label: 'null', ...distribution.nulls }] : []),
  ];
  const width = 420;
  const height = 210;
  const top = 24;
  const bottom = 56;
  const left = 40;
  const plotW = width - left - 10;
  const plotH = height - top - bottom;
  const max = Math.max(1, ...all.flatMap((g) => [g.online, g.offline]));
  const slot = plotW / Math.max(1, all.length);
  const bar = Math.max(1, Math.min(18, slot / 2 - 2));
  const bars = all.map((g, i) => {
    const x = left + i * slot + slot / 2;
    const ho = (g.online / max) * plotH;
    const hf = (g.offline / max) * plotH;
    const rotate = all.length > 6;
    return `<rect x="${(x - bar - 1).toFixed(1)}" y="${(top + plotH - ho).toFixed(1)}" width="${bar.toFixed(1)}" height="${ho.toFixed(1)}" fill="${ONLINE}"><title>${esc(g.label)} online: ${g.online}</title></rect>
      <rect x="${(x + 1).toFixed(1)}" y="${(top + plotH - hf).toFixed(1)}" width="${bar.toFixed(1)}" height="${hf.toFixed(1)}" fill="${OFFLINE}"><title>${esc(g.label)} offline: ${g.offline}</title></rect>
      <text x="${x.toFixed(1)}" y="${top + plotH + 14}" class="tick" ${rotate ? `text-anchor="end" transform="rotate(-35 ${x.toFixed(1)} ${top + plotH + 14})"` : 'text-anchor="middle"'}>${esc(g.label.length > 14 ? `${g.label.slice(0, 13)}…` : g.label)}</text>`;
  });
  return `<svg class="chart" data-chart="distribution" data-feature="${esc(feature.name)}" role="img" aria-label="Values of ${esc(feature.name)} online and offline" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg">
    <rect x="${left}" y="4" width="10" height="10" fill="${ONLINE}"/><text x="${left + 14}" y="13" class="tick">online</text>
    <rect x="${left + 70}" y="4" width="10" height="10" fill="${OFFLINE}"/><text x="${left + 84}" y="13" class="tick">offline</text>
    <line x1="${left}" y1="${top + plotH}" x2="${left + plotW}" y2="${top + plotH}" class="axis"/>
    <line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" class="axis"/>
    <text x="${left - 4}" y="${top + 4}" text-anchor="end" class="tick">${max}</text>
    <text x="${left - 4}" y="${top + plotH}" text-anchor="end" class="tick">0</text>
    ${bars.join('\n')}
  </svg>`;
}

function classBadges(byClass: Record<MismatchClass, number>): string {
  return MISMATCH_CLASSES.map(
    (c) => `<span class="badge" style="border-color:${CLASS_COLORS[c]}"><i style="background:${CLASS_COLORS[c]}"></i>${esc(c)} <b data-class="${c}">${byClass[c]}</b></span>`,
  ).join(' ');
}

/** Renders the report page. */
export function renderParityHtml(result: ParityResult): string {
  const verdict = result.status === 'pass' ? 'PASS' : 'FAIL';
  const strata = result.sample.strata.map((s) => `<tr><td>${esc(s.name)}</td><td>${s.minEvents}–${s.maxEvents}</td><td>${s.population}</td><td>${s.sampled}</td></tr>`).join('');
  const features = result.features
    .map(
      (f) => `<article class="feature" data-feature="${esc(f.name)}">
        <h3>${esc(f.name)}</h3>
        <p class="meta">${esc(f.aggregation)} over ${esc(f.window)} in ${esc(f.granularity)} tiles · source ${esc(f.source)} · ${f.mismatches} of ${f.compared} users differ (${pct(f.mismatchRate)})</p>
        ${distributionChart(f)}
      </article>`,
    )
    .join('\n');
  const mismatches = result.mismatches
    .map(
      (m) => `<tr class="${esc(m.class)}"><td>${esc(m.userId)}</td><td>${esc(m.stratum)}</td><td>${esc(m.feature)}</td><td>${esc(m.field)}</td>
        <td>${esc(shown(m.online.value))}<br><small>${esc(m.online.latestEventMs ?? 'null')}</small></td>
        <td>${esc(shown(m.offline.value))}<br><small>${esc(m.offline.latestEventMs ?? 'null')}</small></td>
        <td><span class="tag" style="background:${CLASS_COLORS[m.class]}">${esc(m.class)}</span></td><td>${esc(m.explanation)}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>churnfeat parity ${esc(result.asOf)}: ${verdict}</title>
<style>
  :root { color-scheme: light; }
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1180px; padding: 0 16px; color: #0f172a; background: #f8fafc; }
  h1 { font-size: 22px; margin: 0 0 4px; }
  h2 { font-size: 17px; margin: 28px 0 10px; }
  h3 { font-size: 14px; margin: 0 0 2px; }
  section, article { background: #fff; border: 1px solid #e2e8f0; border-radius: 8px; padding: 14px 16px; }
  #summary { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 10px 18px; }
  #summary .verdict { grid-column: 1 / -1; display: flex; align-items: center; gap: 12px; }
  .pill { font-weight: 700; padding: 3px 12px; border-radius: 999px; color: #fff; }
  .pass .pill { background: #16a34a; } .fail .pill { background: #dc2626; }
  .kv span { display: block; color: #64748b; font-size: 12px; } .kv b { font-size: 16px; }
  .badges { grid-column: 1 / -1; }
  .badge { display: inline-flex; align-items: center; gap: 5px; border: 1px solid; border-radius: 6px; padding: 2px 8px; margin: 2px; font-size: 12px; }
  .badge i { width: 9px; height: 9px; border-radius: 2px; display: inline-block; }
  .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(450px, 1fr)); gap: 14px; }
  .meta { color: #475569; font-size: 12px; margin: 0 0 6px; }
  svg .label { font-size: 12px; fill: #0f172a; } svg .value, svg .tick { font-size: 10px; fill: #475569; }
  svg .track { fill: #f1f5f9; } svg .axis { stroke: #94a3b8; stroke-width: 1; }
  table { border-collapse: collapse; width: 100%; font-size: 12px; background: #fff; }
  th, td { border-bottom: 1px solid #e2e8f0; padding: 5px 8px; text-align: left; vertical-align: top; }
  th { background: #f1f5f9; }
  .tag { color: #fff; border-radius: 4px; padding: 1px 6px; white-space: nowrap; }
  .empty { color: #16a34a; font-weight: 600; }
  code { font-size: 12px; }
</style>
</head>
<body>
<h1>Online / offline feature parity</h1>
<p class="meta">as_of ${esc(result.asOf)} (${result.asOfMs}) · ${esc(result.warehouse)} warehouse · Redis prefix <code>${esc(result.keyPrefix)}</code> · run ${esc(result.startedAt)} → ${esc(result.finishedAt)}</p>
<section id="summary" class="${result.status}" data-status="${result.status}" data-unexplained="${result.totals.unexplained}" data-mismatches="${result.totals.mismatches}">
  <div class="verdict"><span class="pill">${verdict}</span><span>${result.totals.unexplained} unexplained mismatches (threshold ${result.threshold}); exit code ${result.exitCode}</span></div>
  <div class="kv"><span>users compared</span><b>${result.sample.sampled}</b> of ${result.sample.population}</div>
  <div class="kv"><span>features</span><b>${result.features.length}</b></div>
  <div class="kv"><span>comparisons</span><b>${result.totals.comparisons}</b></div>
  <div class="kv"><span>mismatches</span><b>${result.totals.mismatches}</b> (${result.totals.usersWithMismatch} users)</div>
  <div class="kv"><span>registry online / dbt</span><b>${esc(result.registry.onlineVersion)}</b>${result.registry.same ? ' (same)' : ` ≠ ${esc(result.registry.dbtVersion)}`}</div>
  <div class="kv"><span>offsets bounded by</span><b>${result.snapshot.committedOffsets ? 'applied + committed' : 'applied'}</b>${result.snapshot.lakeManifests ? ' · lake manifests checked' : ''}</div>
  <div class="badges">${classBadges(result.totals.byClass)}</div>
</section>

<h2>Mismatch rate per feature</h2>
<section id="mismatch-rates">${mismatchRateChart(result.features)}</section>

<h2>Value distributions, online vs offline</h2>
<div id="distributions" class="grid">
${features}
</div>

<h2>Sample strata (lake events per user up to as_of)</h2>
<table id="strata"><thead><tr><th>stratum</th><th>events</th><th>population</th><th>sampled</th></tr></thead><tbody>${strata}</tbody></table>

<h2>Mismatches</h2>
${
  result.mismatches.length === 0
    ? '<p id="mismatches" class="empty">None: every sampled user has the same value and latest event time online and offline for every feature.</p>'
    : `<table id="mismatches"><thead><tr><th>user</th><th>stratum</th><th>feature</th><th>differs in</th><th>online (latest ms)</th><th>offline (latest ms)</th><th>class</th><th>explanation</th></tr></thead><tbody>${mismatches}</tbody></table>${result.totals.mismatches > result.mismatches.length ? `<p class="meta">first ${result.mismatches.length} of ${result.totals.mismatches} listed; report.json has the same list.</p>` : ''}`
}
</body>
</html>
`;
}
