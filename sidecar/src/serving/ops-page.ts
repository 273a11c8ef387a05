import { createRequire } from 'node:module';
import { readFileSync, realpathSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { collectOps, type OpsDataProvider } from './ops-data.ts';

/** What the operations routes read. */
export interface OpsPageOptions {
  providers: readonly OpsDataProvider[];
  /** The other services' /metrics (sidecar, lake writer, canary). */
  scrapeUrls: readonly string[];
  /** Where the parity reports are ('' none): served read-only under /ops/reports/. */
  reportsDir: string;
}

// chart.js exports no subpath for its UMD build: it sits beside the CommonJS entry.
const CHART_JS = join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');

/** The page: a static shell; its script fetches ops/data.json and draws tables and Chart.js bars. */
const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>churnfeat operations</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1d2330;background:#f6f7f9}
h1{font-size:1.4rem;margin:0 0 .2rem} .sub{color:#667;margin-bottom:1rem}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:.8rem 1rem;margin:0 0 1rem}
h2{font-size:1.05rem;margin:0 0 .4rem} .note{color:#667;font-size:.9em;margin:.2rem 0 .5rem}
.status{font-size:.75em;padding:.1rem .4rem;border-radius:3px;margin-left:.5rem;vertical-align:middle}
.ok{background:#dff3e4;color:#1b6b33}.empty{background:#eef;color:#335}.unavailable{background:#fde2e1;color:#8a1c14}.not_built{background:#f1ecd9;color:#6b5711}
table{border-collapse:collapse;font-variant-numeric:tabular-nums} td,th{padding:.2rem .6rem;border-bottom:1px solid #eceff3;text-align:left}
.chart{max-width:720px;height:220px}
</style></head>
<body><h1>churnfeat operations</h1><div class="sub" id="generated">loading…</div><main id="sections"></main>
<script src="ops/assets/chart.umd.min.js"></script>
<script>
function cell(v){const td=document.createElement('td');if(v&&typeof v==='object'){const a=document.createElement('a');a.href=v.href;a.textContent=v.text;td.appendChild(a);}else td.textContent=v===null||v===undefined?'–':String(v);return td;}
async function load(){
  const data=await (await fetch('ops/data.json')).json();
  document.getElementById('generated').textContent='generated '+data.generatedAt+' · read-only';
  const main=document.getElementById('sections');main.replaceChildren();
  for(const s of data.sections){
    const sec=document.createElement('section');sec.id='section-'+s.id;sec.dataset.status=s.status;
    const h=document.createElement('h2');h.textContent=s.title;const st=document.createElement('span');st.className='status '+s.status;st.textContent=s.status.replace('_',' ');h.appendChild(st);sec.appendChild(h);
    if(s.note){const n=document.createElement('div');n.className='note';n.textContent=s.note;sec.appendChild(n);}
    if(s.chart&&window.Chart){const box=document.createElement('div');box.className='chart';const c=document.createElement('canvas');c.dataset.chart=s.id;box.appendChild(c);sec.appendChild(box);
      new Chart(c,{type:'bar',data:{labels:s.chart.labels,datasets:[{label:s.chart.unit||'',data:s.chart.values,backgroundColor:'#4c78a8'}]},options:{animation:false,maintainAspectRatio:false,plugins:{legend:{display:false}}}});}
    if(s.table){const t=document.createElement('table');const hr=document.createElement('tr');for(const c of s.table.columns){const th=document.createElement('th');th.textContent=c;hr.appendChild(th);}t.appendChild(hr);
      for(const r of s.table.rows){const tr=document.createElement('tr');for(const v of r)tr.appendChild(cell(v));t.appendChild(tr);}sec.appendChild(t);}
    main.appendChild(sec);
  }
  document.body.dataset.loaded='true';
}
load().catch(e=>{document.getElementById('generated').textContent='failed to load: '+e;document.body.dataset.loaded='error';});
</script></body></html>`;

/** A file under `root` named by a request path, or null when it escapes the folder or does not exist. */
function fileUnder(root: string, relative: string): string | null {
  try {
    const base = realpathSync(root);
    const path = realpathSync(resolve(base, relative));
    return path.startsWith(base + sep) ? path : null;
  } catch {
    return null;
  }
}

/**
 * GET /ops (the page), /ops/data.json (every section), /ops/assets/chart.umd.min.js (Chart.js
 * from node_modules: the page works offline), /ops/reports/* (parity report.html and
 * report.json, read-only). Nothing here writes, and no section carries a credential.
 */
export function registerOpsRoutes(app: FastifyInstance, options: OpsPageOptions): void {
  const chartJs = readFileSync(CHART_JS);
  // Relative links ("ops/...") resolve from /ops without a trailing slash.
  app.get('/ops', async (_request, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(PAGE));
  app.get('/ops/data.json', async (_request, reply) => {
    const sections = await collectOps(options.providers, options.scrapeUrls);
    return reply.header('cache-control', 'no-store').send({ generatedAt: new Date().toISOString(), sections });
  });
  app.get('/ops/assets/chart.umd.min.js', async (_request, reply) => reply.type('application/javascript; charset=utf-8').header('cache-control', 'max-age=86400').send(chartJs));
  app.get<{ Params: { '*': string } }>('/ops/reports/*', async (request, reply) => {
    const wanted = request.params['*'];
    const path = options.reportsDir === '' || !/^[A-Za-z0-9._/-]+\/report\.(html|json)$/.test(wanted) ? null : fileUnder(options.reportsDir, wanted);
    if (path === null) return reply.code(404).send({ error: 'not_found', message: 'no such report' });
    return reply.type(path.endsWith('.html') ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8').send(readFileSync(path));
  });
}
