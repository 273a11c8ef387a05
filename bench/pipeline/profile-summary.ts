/**
 * Summarizes a V8 CPU profile (`node --cpu-prof`): self time by package / source area and
 * the hottest functions, so a report can say where the sidecar's time goes.
 *   npx tsx bench/pipeline/profile-summary.ts <file.cpuprofile> [--top 25]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Self time of one area or function, in ms and as a share of the profile's busy (non-idle) time. */
export interface ProfileRow {
  name: string;
  selfMs: number;
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  busyMs: number;
  areas: ProfileRow[];
  functions: ProfileRow[];
  /** The hottest functions inside each of the busiest areas. */
  functionsByArea: Record<string, ProfileRow[]>;
}

/**
 * The area a frame belongs to: a dependency by package name, the sidecar by source folder,
 * Node's own modules, or V8's pseudo-frames (GC, program, idle).
 */
export function areaOf(url: string, functionName: string): string {
  if (url === '') {
    if (functionName === '(garbage collector)') return 'v8: garbage collector';
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(program)') return 'v8: program (native, unattributed)';
    return `native: ${functionName || '(anonymous)'}`;
  }
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return `dep: ${modules[1]}`;
  if (url.startsWith('node:')) return `node: ${url.slice(5).split('/')[0]}`;
  const src = /\/(sidecar\/src\/[^/]+)\//.exec(url);
  if (src) return src[1] as string;
  const bench = /\/(bench\/[^/]+)\//.exec(url);
  if (bench) return bench[1] as string;
  return 'other';
}

function shortUrl(url: string): string {
  const at = url.search(/(node_modules|sidecar\/src|bench)\//);
  return at >= 0 ? url.slice(at) : url;
}

export function summarizeProfile(profile: CpuProfile, top = 25): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, index) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  const areaFunctions = new Map<string, Map<string, number>>();
  let idle = 0;
  let total = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    total += us;
    const { functionName, url, lineNumber } = node.callFrame;
    const area = areaOf(url, functionName);
    if (area === '(idle)') {
      idle += us;
      continue;
    }
    areas.set(area, (areas.get(area) ?? 0) + us);
    const fn = `${functionName || '(anonymous)'} ${url ? `${shortUrl(url)}:${lineNumber + 1}` : ''}`.trim();
    functions.set(fn, (functions.get(fn) ?? 0) + us);
    let inArea = areaFunctions.get(area);
    if (!inArea) areaFunctions.set(area, (inArea = new Map()));
    inArea.set(fn, (inArea.get(fn) ?? 0) + us);
  }
  const busy = total - idle;
  const rows = (map: Map<string, number>, limit: number): ProfileRow[] =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, us]) => ({ name, selfMs: Math.round(us / 100) / 10, share: busy > 0 ? Math.round((us / busy) * 1000) / 1000 : 0 }));
  const topAreas = rows(areas, 10).map((row) => row.name);
  const functionsByArea = Object.fromEntries(topAreas.map((area) => [area, rows(areaFunctions.get(area) ?? new Map(), 8)]));
  return { totalMs: total / 1000, idleMs: idle / 1000, busyMs: busy / 1000, areas: rows(areas, 40), functions: rows(functions, top), functionsByArea };
}

export function summarizeProfileFile(path: string, top = 25): ProfileSummary {
  return summarizeProfile(JSON.parse(readFileSync(path, 'utf8')) as CpuProfile, top);
}

export function formatProfile(summary: ProfileSummary): string {
  const pct = (share: number): string => `${(share * 100).toFixed(1).padStart(5)}%`;
  const lines = [`profile: ${(summary.busyMs / 1000).toFixed(1)} s busy, ${(summary.idleMs / 1000).toFixed(1)} s idle`, '  self time by area:'];
  for (const row of summary.areas) lines.push(`    ${pct(row.share)}  ${row.name}`);
  lines.push('  hottest functions (self):');
  for (const row of summary.functions) lines.push(`    ${pct(row.share)}  ${row.name}`);
  for (const [area, rows] of Object.entries(summary.functionsByArea)) {
    lines.push(`  inside ${area}:`);
    for (const row of rows) lines.push(`    ${pct(row.share)}  ${row.name}`);
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: npx tsx bench/pipeline/profile-summary.ts <file.cpuprofile> [--top N]\n');
    process.exit(2);
  }
  const topIndex = process.argv.indexOf('--top');
  const top = topIndex > 0 ? Number(process.argv[topIndex + 1]) : 25;
  process.stdout.write(`${formatProfile(summarizeProfileFile(file, top))}\n`);
}
