/**
 * Two figures of issue 16's follow-ups, measured in one run:
 * - the parser with several listed schema versions (sidecar/src/events/contract-set.ts):
 *   records/s of parseEvent for live-version events with one listed version (today) and with
 *   two (after a breaking v2), for events of the older version (two validator calls) and for
 *   events no version accepts (two calls and the longer detail); as ratios of the first;
 * - the detector's history snapshot (quality-monitor.ts RedisHistoryStore): its size as JSON
 *   and gzip after the 5-week evaluation stream, and the time to take, compress, decompress
 *   and restore it.
 *
 *   npx tsx bench/quality/versions-history.ts [--records 100000] [--out FILE]
 *
 * Writes bench/results/quality-versions-history-<date>.json. A measurement, not a test.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { AnySchemaObject } from 'ajv';
import { compileEventContracts, parseEvent, SOURCE_SCHEMAS, SOURCES, type EventContracts, type ListedVersion, type Source } from '../../sidecar/src/events/index.ts';
import { VolumeDetector, type HistorySnapshot } from '../../sidecar/src/quality/index.ts';
import { syntheticStream, type StreamOptions } from '../../sidecar/src/quality/seasonal-stream.ts';

const { values } = parseArgs({ options: { records: { type: 'string', default: '100000' }, out: { type: 'string' } } });
const n = Number(values.records);

/** The live schemas as v2 (breaking) and a v1 whose playback_error named its code `code`. */
function twoVersions(): EventContracts {
  const v1 = structuredClone(SOURCE_SCHEMAS.client) as { allOf: Array<Record<string, any>> };
  const branch = v1.allOf.find((b) => b.if?.properties?.event_type?.const === 'playback_error');
  if (branch) branch.then = { properties: { attributes: { type: 'object', required: ['code'], properties: { code: { type: 'string' } } } } };
  const files: Record<string, AnySchemaObject> = { 'client.v1': v1 as AnySchemaObject, ...Object.fromEntries(SOURCES.map((s) => [s, SOURCE_SCHEMAS[s]])) };
  const manifest = Object.fromEntries(SOURCES.map((s) => [s, [{ version: 1, schema: s }]])) as Record<Source, ListedVersion[]>;
  manifest.client = [
    { version: 1, schema: 'client.v1' },
    { version: 2, schema: 'client', breaking: true, migration: 'code -> error_code' },
  ];
  return compileEventContracts(manifest, (file) => files[file] as AnySchemaObject);
}

function records(attributes: (i: number) => Record<string, unknown>): Buffer[] {
  const t0 = Date.parse('2026-01-05T00:00:00Z');
  return Array.from({ length: n }, (_, i) => {
    const ts = new Date(t0 + i * 10).toISOString();
    return Buffer.from(
      JSON.stringify({
        event_id: `e-${i}`,
        user_id: `u-${i % 5000}`,
        device_id: `d-${i % 5000}`,
        event_type: 'playback_error',
        event_ts: ts,
        ingest_ts: ts,
        attributes: { platform: 'web', ...attributes(i) },
      }),
    );
  });
}

function rate(bytes: readonly Buffer[], contracts?: EventContracts): { perSecond: number; valid: number } {
  let valid = 0;
  for (const b of bytes.slice(0, 2_000)) parseEvent('client', b, contracts ? { contracts } : {});
  const start = performance.now();
  for (const b of bytes) if (parseEvent('client', b, contracts ? { contracts } : {}).ok) valid += 1;
  return { perSecond: Math.round(bytes.length / ((performance.now() - start) / 1000)), valid };
}

const two = twoVersions();
const live = records((i) => ({ error_code: `E${i % 7}` }));
const old = records((i) => ({ code: `E${i % 7}` }));
const none = records(() => ({ neither: true }));
// rounds (the first warms the JIT up), the median of each case
const cases: Record<string, () => { perSecond: number; valid: number }> = {
  liveOneVersion: () => rate(live),
  liveTwoVersions: () => rate(live, two),
  oldVersionTwoVersions: () => rate(old, two),
  invalidTwoVersions: () => rate(none, two),
};
const ROUNDS = 5;
const runs: Record<string, Array<{ perSecond: number; valid: number }>> = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const order = Object.entries(cases);
// the order rotates each round, so no case always runs right after the same one (GC, JIT)
for (let round = 0; round < ROUNDS; round += 1) {
  for (let i = 0; i < order.length; i += 1) {
    const [k, run] = order[(i + round) % order.length] as [string, () => { perSecond: number; valid: number }];
    (runs[k] as Array<{ perSecond: number; valid: number }>).push(run());
  }
}
const parser = Object.fromEntries(
  Object.entries(runs).map(([k, list]) => {
    const sorted = list.slice(1).sort((a, b) => a.perSecond - b.perSecond);
    return [k, { perSecond: (sorted[Math.floor(sorted.length / 2)] as { perSecond: number }).perSecond, valid: (list[0] as { valid: number }).valid, rounds: list.map((r) => r.perSecond) }];
  }),
) as Record<string, { perSecond: number; valid: number; rounds: number[] }>;
const base = (parser.liveOneVersion as { perSecond: number }).perSecond;
const ratios = Object.fromEntries(Object.entries(parser).map(([k, v]) => [k, Math.round((v.perSecond / base) * 1000) / 1000]));
console.log(`parseEvent (client playback_error, ${n.toLocaleString()} records each, median of ${ROUNDS - 1} rounds in rotating order after one warm-up):`);
for (const [k, v] of Object.entries(parser)) console.log(`  ${k.padEnd(24)} ${v.perSecond.toLocaleString().padStart(10)} records/s  (${ratios[k]}x)  valid ${v.valid}`);

// the history after the evaluation stream's 5 weeks
const stream: StreamOptions = { seed: 42, weeks: 5, warmupWeeks: 1, perKind: 0, startMs: Date.parse('2026-01-05T00:00:00Z') };
const detector = new VolumeDetector(() => undefined);
for (const { observations } of syntheticStream(stream, [])) detector.observe(observations);
let t = performance.now();
const snapshot = detector.snapshot();
const takeMs = performance.now() - t;
t = performance.now();
const json = JSON.stringify(snapshot);
const gz = gzipSync(json);
const compressMs = performance.now() - t;
t = performance.now();
const back = JSON.parse(gunzipSync(gz).toString('utf8')) as HistorySnapshot;
const restored = new VolumeDetector(() => undefined).restore(back);
const restoreMs = performance.now() - t;
const hours = snapshot.series.reduce((total, s) => total + s.hours.length, 0);
const history = {
  series: snapshot.series.length,
  hours,
  jsonBytes: Buffer.byteLength(json),
  gzipBytes: gz.length,
  gzipBytesPerHour: Math.round((gz.length / hours) * 10) / 10,
  takeMs,
  compressMs,
  restoreMs,
  restoredHours: restored,
};
console.log(
  `history after ${stream.weeks} weeks: ${history.series} series, ${hours.toLocaleString()} hours, ${(history.jsonBytes / 1e6).toFixed(2)} MB JSON, ${(history.gzipBytes / 1e6).toFixed(2)} MB gzip (${history.gzipBytesPerHour} B/hour); take ${takeMs.toFixed(0)} ms, stringify+gzip ${compressMs.toFixed(0)} ms, gunzip+parse+restore ${restoreMs.toFixed(0)} ms`,
);

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

const out = values.out ?? `bench/results/quality-versions-history-${new Date().toISOString().slice(0, 10)}.json`;
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify(
    {
      benchmark: 'quality-versions-history',
      command: `npx tsx bench/quality/versions-history.ts ${process.argv.slice(2).join(' ')}`.trim(),
      at: new Date().toISOString(),
      machine: { cpuModel: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, node: process.version, gitCommit: git(['rev-parse', '--short', 'HEAD']), loadAverage: os.loadavg() },
      records: n,
      parser,
      parserRatiosToLiveOneVersion: ratios,
      history,
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${out}`);
