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
import { parseEvent, type NormalizedEvent } from '../../sidecar/src/events/index.ts';
import { DEFAULT_DETECTOR_OPTIONS, eventObservation, VolumeDetector, type Detection, type Observation } from '../../sidecar/src/quality/index.ts';
import { score } from './score.ts';
import { planAnomalies, syntheticStream, type StreamOptions } from '../../sidecar/src/quality/seasonal-stream.ts';

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
console.log(
  `overall: recall ${summary.recall.toFixed(3)}, precision ${summary.precision.toFixed(3)}, false positives/week ${summary.falsePositivesPerWeek.toFixed(2)}, worst median delay ${summary.medianDelayMinutesWorstKind} min -> targets ${met ? 'met' : 'NOT met'}`,
);
for (const d of result.falsePositiveSamples.slice(0, 30)) console.log(`  false positive: ${d.detected_at} ${d.message}`);
for (const a of result.missed.slice(0, 8)) console.log(`  missed: ${a.kind} ${a.source}/${a.eventType}/${a.platform} ${new Date(a.startMs).toISOString()} for ${(a.endMs - a.startMs) / 60_000} min`);

/**
 * Cost in the sidecar's hot path, per record: building the observation and counting it, one
 * record at a time in batches of 500 (as the batch processor hands them over), against
 * parseEvent (JSON.parse + schema validation) of the same records, in the same run.
 */
function hotPathCost(n: number): { parsePerSecond: number; detectorPerSecond: number; detectorShareOfParse: number } {
  const types = ['playback_start', 'search', 'playback_heartbeat', 'playback_error'];
  const t0 = Date.parse('2026-01-05T00:00:00Z');
  const bytes = Array.from({ length: n }, (_, i) => {
    const ts = new Date(t0 + i * 10).toISOString();
    const type = types[i % types.length] as string;
    const attributes: Record<string, unknown> = { platform: ['web', 'ios', 'android', 'tv'][i % 4], app_version: '8.1.2', country: 'US' };
    if (type === 'playback_start') attributes.content_id = `t-${i % 100}`;
    if (type === 'playback_error') attributes.error_code = 'E1';
    if (type === 'playback_heartbeat') attributes.watched_seconds = 30;
    return Buffer.from(JSON.stringify({ event_id: `e-${i}`, user_id: `u-${i % 5000}`, device_id: `d-${i % 5000}`, event_type: type, event_ts: ts, ingest_ts: ts, attributes }));
  });
  let start = performance.now();
  const events: NormalizedEvent[] = [];
  for (const b of bytes) {
    const parsed = parseEvent('client', b);
    if (parsed.ok) events.push(parsed.event);
  }
  const parseSeconds = (performance.now() - start) / 1000;
  const detector = new VolumeDetector(() => undefined);
  start = performance.now();
  for (let i = 0; i < events.length; i += 500) {
    const batch: Observation[] = [];
    for (const event of events.slice(i, i + 500)) batch.push(eventObservation(event, 'client:0', 'event'));
    detector.observe(batch);
  }
  const detectorSeconds = (performance.now() - start) / 1000;
  return { parsePerSecond: Math.round(n / parseSeconds), detectorPerSecond: Math.round(n / detectorSeconds), detectorShareOfParse: Math.round((detectorSeconds / parseSeconds) * 1000) / 1000 };
}

const cost = hotPathCost(300_000);
console.log(
  `hot path: parseEvent ${cost.parsePerSecond.toLocaleString()} records/s, detector ${cost.detectorPerSecond.toLocaleString()} records/s: the detector costs ${(cost.detectorShareOfParse * 100).toFixed(1)}% of parsing`,
);

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
      hotPathCost: cost,
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
