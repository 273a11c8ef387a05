/**
 * Evaluation of the online volume anomaly detector (sidecar/src/quality/): a multi-week
 * synthetic event-time stream with daily and weekly seasonality and injected anomalies of
 * known start and end runs through the detector far faster than real time (the detector
 * runs on event time); prints precision, recall and detection delay per anomaly kind and
 * writes bench/results/quality-<date>.json.
 *
 *   npx tsx bench/quality/run.ts                       # 5 weeks, 12 anomalies of each kind
 *   npx tsx bench/quality/run.ts --weeks 6 --per-kind 20 --seed 7
 *
 * Flags (default): --weeks (5) --warmup-weeks (1) --per-kind (12) --seed (42)
 *   --tolerance-min minutes after an anomaly's end a detection still counts for it (15)
 *   --out (bench/results/quality-<date>.json)
 * Targets (issue 16): recall >= 0.95, precision >= 0.9, median delay <= 5 min. This is a
 * measurement, not a test: it never fails on a missed target, it reports it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_DETECTOR_OPTIONS, VolumeDetector, type Detection } from '../../sidecar/src/quality/index.ts';
import { score } from './score.ts';
import { planAnomalies, syntheticStream, type StreamOptions } from './synthetic-stream.ts';

const { values } = parseArgs({
  options: {
    weeks: { type: 'string', default: '5' },
    'warmup-weeks': { type: 'string', default: '1' },
    'per-kind': { type: 'string', default: '12' },
    seed: { type: 'string', default: '42' },
    'tolerance-min': { type: 'string', default: '15' },
    out: { type: 'string' },
  },
});

const stream: StreamOptions = {
  seed: Number(values.seed),
  weeks: Number(values.weeks),
  warmupWeeks: Number(values['warmup-weeks']),
  perKind: Number(values['per-kind']),
  // A Monday 00:00 UTC, so hour-of-week figures read naturally.
  startMs: Date.parse('2026-01-05T00:00:00Z'),
};
const anomalies = planAnomalies(stream);
const detections: Detection[] = [];
const detector = new VolumeDetector((d) => detections.push(d));
const started = performance.now();
const cpuStart = process.cpuUsage();
let records = 0;
let batches = 0;
for (const { observations } of syntheticStream(stream, anomalies)) {
  for (const o of observations) records += o.count ?? 1;
  detector.observe(observations);
  batches += 1;
}
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuStart);
const result = score(detections, anomalies, Number(values['tolerance-min']) * 60_000);
const firing = detections.filter((d) => d.state === 'firing');
const evaluatedWeeks = stream.weeks - stream.warmupWeeks;
const all = Object.values(result.byKind);
const totals = {
  injected: all.reduce((s, k) => s + k.injected, 0),
  detected: all.reduce((s, k) => s + k.detected, 0),
  detections: firing.length,
  falsePositives: all.reduce((s, k) => s + k.falsePositives, 0),
};
const summary = {
  recall: totals.detected / totals.injected,
  precision: firing.length ? (firing.length - totals.falsePositives) / firing.length : 1,
  falsePositivesPerWeek: totals.falsePositives / evaluatedWeeks,
  medianDelayMinutesWorstKind: Math.max(...all.map((k) => k.medianDelayMinutes ?? Infinity)),
};
const targets = { recall: 0.95, precision: 0.9, medianDelayMinutes: 5 };
const met = summary.recall >= targets.recall && summary.precision >= targets.precision && summary.medianDelayMinutesWorstKind <= targets.medianDelayMinutes;

console.log(`quality bench: ${stream.weeks} weeks (${stream.warmupWeeks} cold start), ${records.toLocaleString()} records in ${batches} minutes, ${anomalies.length} injected anomalies`);
console.log(`ran in ${seconds.toFixed(1)} s (${Math.round((stream.weeks * 7 * 86400) / seconds).toLocaleString()}x real time), cpu ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s`);
console.log('kind                 injected detected recall  detections FP  precision  median-delay  max-delay (min)');
for (const [kind, k] of Object.entries(result.byKind)) {
  console.log(
    `${kind.padEnd(20)} ${String(k.injected).padStart(8)} ${String(k.detected).padStart(8)} ${k.recall.toFixed(2).padStart(6)} ${String(k.detections).padStart(11)} ${String(k.falsePositives).padStart(3)} ${k.precision.toFixed(2).padStart(10)} ${String(k.medianDelayMinutes ?? '-').padStart(13)} ${String(k.maxDelayMinutes ?? '-').padStart(10)}`,
  );
}
console.log(`overall: recall ${summary.recall.toFixed(3)}, precision ${summary.precision.toFixed(3)}, false positives/week ${summary.falsePositivesPerWeek.toFixed(2)}, worst median delay ${summary.medianDelayMinutesWorstKind} min -> targets ${met ? 'met' : 'NOT met'}`);
for (const d of result.falsePositiveSamples.slice(0, 30)) console.log(`  false positive: ${d.detected_at} ${d.message}`);
for (const a of result.missed.slice(0, 8)) console.log(`  missed: ${a.kind} ${a.source}/${a.eventType}/${a.platform} ${new Date(a.startMs).toISOString()} for ${(a.endMs - a.startMs) / 60_000} min`);

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

const out = values.out ?? `bench/results/quality-${new Date().toISOString().slice(0, 10)}.json`;
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify(
    {
      benchmark: 'quality',
      command: `npx tsx bench/quality/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
      at: new Date().toISOString(),
      machine: { cpuModel: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, gitCommit: git(['rev-parse', '--short', 'HEAD']), loadAverage: os.loadavg() },
      stream: { ...stream, records, minutes: batches, anomalies: anomalies.length },
      detector: DEFAULT_DETECTOR_OPTIONS,
      runSeconds: seconds,
      targets,
      targetsMet: met,
      summary,
      byKind: result.byKind,
      missed: result.missed,
      falsePositiveSamples: result.falsePositiveSamples,
      coldStartRecords: detections.filter((d) => d.kind === 'cold_start').length,
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${out}`);
