import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEvent } from '../../../sidecar/src/events/index.ts';
import { decodeRunning, encodeRunning, FeatureReader, readRecord, runningField, tileField, userStateKey, versionPrefix } from '../../../sidecar/src/store/index.ts';
import { tileIndex } from '../../../sidecar/src/windows/index.ts';
import { compileOfflineSql, runParity, type ParityResult } from '../../../parity/src/index.ts';
import { renderInChromium } from '../../helpers/browser.ts';
import { churnfeatArgs } from '../../helpers/cli.ts';
import { parityDbtOptions, parityOptionsFor, type ParityPipeline, startParityPipeline } from '../../helpers/parity-pipeline.ts';
import { BROKERS, REDIS_URL } from '../../helpers/stack.ts';

let pipeline: ParityPipeline;
let offlineSqlFile: string;

beforeAll(async () => {
  pipeline = await startParityPipeline();
  // Later runs reuse one compiled query (the first run compiles through dbt itself).
  const sql = await compileOfflineSql(parityDbtOptions(pipeline.duckdbPath, pipeline.lakeRoot));
  offlineSqlFile = join(pipeline.work, 'parity.sql');
  writeFileSync(offlineSqlFile, `-- churnfeat-parity lake_events=${sql.lakeEvents}\n${sql.pointInTime}\n`);
}, 600_000);

afterAll(async () => {
  await pipeline?.cleanup();
});

describe('online/offline parity job', () => {
  let healthy: ParityResult;

  it('finds zero mismatches over a realistic generated day, active and rare users alike', async () => {
    healthy = await runParity(parityOptionsFor(pipeline, pipeline.stacks.healthy, { users: 120 }));
    expect(healthy.mismatches).toEqual([]);
    expect(healthy.status).toBe('pass');
    expect(healthy.exitCode).toBe(0);
    expect(healthy.registry.same).toBe(true);
    expect(healthy.snapshot.committedOffsets).toBe(true);
    expect(healthy.snapshot.lakeManifests).toBe(true);
    // The result is recorded in the version's catalog record: what `churnfeat version cutover` checks (docs/lifecycle.md).
    const catalogRedis = new Redis(REDIS_URL);
    const record = await readRecord(catalogRedis, pipeline.stacks.healthy.keyPrefix, pipeline.registry.version).finally(() => catalogRedis.disconnect());
    expect(record?.parity).toMatchObject({ passed: true, mismatches: 0, sampleSize: healthy.sample.sampled, asOf: healthy.asOf });
    expect(healthy.sample.sampled).toBe(120);
    expect(healthy.sample.strata.map((s) => s.name)).toEqual(['rare', 'light', 'regular', 'active']);
    expect(healthy.sample.strata.every((s) => s.sampled === 30)).toBe(true);
    expect(healthy.sample.strata[0]!.maxEvents).toBeLessThan(healthy.sample.strata[3]!.minEvents);
    // Not a vacuous pass: every feature has non-empty values for some users.
    for (const feature of healthy.features) {
      const distribution = feature.distribution;
      const nonEmpty = distribution.kind === 'numeric' ? distribution.bins.filter((b) => b.hi > 0).reduce((n, b) => n + b.online, 0) : distribution.categories.reduce((n, c) => n + c.online, 0);
      expect(nonEmpty, feature.name).toBeGreaterThan(0);
    }
    const json = JSON.parse(readFileSync(healthy.reports.json, 'utf8')) as ParityResult;
    expect(json.totals).toEqual(healthy.totals);
  });

  it('writes an HTML report that headless Chromium renders with a summary and one chart per feature', async () => {
    const screenshot = join('reports', 'test', 'parity', 'parity-report.png');
    const seen = await renderInChromium(healthy.reports.html, screenshot);
    expect(seen.status).toBe('pass');
    expect(seen.summaryText).toContain('PASS');
    expect(seen.charts).toEqual({ 'mismatch-rate': 1, distribution: pipeline.registry.features.length });
    expect(seen.externalRequests).toEqual([]);
  });

  it('reports a corrupted online tile as unexplained and fails', async () => {
    const feature = pipeline.registry.features.find((f) => f.name === 'watch_time_last_24h')!;
    const user = await firstUserWith(feature.name, healthy);
    const redis = new Redis(REDIS_URL);
    const field = tileField(feature.id, tileIndex(pipeline.asOfMs, feature.granularityMs) - 2);
    // the tile gains 7 behind the apply function's back, and so does the running total the read sums it from (store protocol 3)
    const corrupt = async (delta: number): Promise<void> => {
      const key = userStateKey(versionPrefix(pipeline.stacks.healthy.keyPrefix, pipeline.registry.version), user);
      await redis.hincrby(key, field, delta);
      const running = decodeRunning((await redis.hget(key, runningField(feature.id))) ?? '');
      if (running) await redis.hset(key, runningField(feature.id), encodeRunning({ ...running, total: running.total + delta }));
    };
    await corrupt(7);
    try {
      const result = await runParity(parityOptionsFor(pipeline, pipeline.stacks.healthy, { users: 120, offlineSqlFile, outDir: join('reports', 'test', 'parity', 'corrupted') }));
      expect(result.exitCode).toBe(1);
      expect(result.totals.unexplained).toBe(1);
      expect(result.mismatches).toMatchObject([{ userId: user, feature: feature.name, class: 'unexplained', field: 'value' }]);
      expect(Number(result.mismatches[0]!.online.value) - Number(result.mismatches[0]!.offline.value)).toBe(7);
      expect((await readRecord(redis, pipeline.stacks.healthy.keyPrefix, pipeline.registry.version))?.parity).toMatchObject({ passed: false, mismatches: 1 });
      // The threshold tolerates that many unexplained mismatches.
      const tolerated = await runParity(parityOptionsFor(pipeline, pipeline.stacks.healthy, { users: 120, offlineSqlFile, threshold: 1, outDir: join('reports', 'test', 'parity', 'corrupted') }));
      expect(tolerated.exitCode).toBe(0);
    } finally {
      await corrupt(-7);
      redis.disconnect();
    }
  });

  it('explains mismatches of a snapshot read after its as_of by events that arrived in between', async () => {
    // as_of inside the day: late events ingested after it are in the online state already.
    const late = pipeline.workload
      .filter((r) => r.kind === 'valid')
      .map((r) => ({ r, parsed: parseEvent(r.source, r.value) }))
      .find(
        ({ r, parsed }) =>
          parsed.ok && parsed.event.eventType === 'playback_heartbeat' && r.ingestMs > pipeline.maxIngestMs - 6 * 3_600_000 && parsed.event.ingestMs - parsed.event.eventMs > 10 * 60_000,
      );
    expect(late).toBeDefined();
    const event = (late!.parsed as { ok: true; event: { eventMs: number } }).event;
    const result = await runParity(
      parityOptionsFor(pipeline, pipeline.stacks.healthy, { asOfMs: event.eventMs + 60_000, users: 1_000, offlineSqlFile, outDir: join('reports', 'test', 'parity', 'past-as-of') }),
    );
    expect(result.totals.mismatches).toBeGreaterThan(0);
    expect(result.totals.byClass.arrived_after_snapshot).toBe(result.totals.mismatches);
    expect(result.exitCode).toBe(0);
  });

  it('classifies the mismatches of a sidecar with a shorter allowed lateness as the too-late policy', async () => {
    const result = await runParity(parityOptionsFor(pipeline, pipeline.stacks.late, { users: 1_000, offlineSqlFile }));
    expect(result.totals.mismatches).toBeGreaterThan(0);
    expect(result.totals.byClass.too_late_policy).toBe(result.totals.mismatches);
    expect(result.exitCode).toBe(0);
  });

  it('catches a build whose operator is one tile off: unexplained mismatches, non-zero exit code from the CLI', async () => {
    const out = join('reports', 'test', 'parity', 'broken');
    const stack = pipeline.stacks.broken;
    const cli = await execa(
      process.execPath,
      [
        ...churnfeatArgs('parity'),
        '--as-of',
        String(pipeline.asOfMs),
        '--users',
        '80',
        '--out',
        out,
        '--key-prefix',
        stack.keyPrefix,
        '--topic-namespace',
        pipeline.ns.options.topicNamespace,
        '--brokers',
        BROKERS.join(','),
        '--sidecar-group',
        stack.groupId,
        '--lake',
        pipeline.lakeRoot,
        '--duckdb-path',
        pipeline.duckdbPath,
        '--lake-root',
        pipeline.lakeRoot,
        '--offline-sql',
        offlineSqlFile,
      ],
      { env: { CHURNFEAT_REDIS_URL: REDIS_URL }, reject: false, all: true, timeout: 300_000 },
    );
    expect(cli.exitCode, cli.all).toBe(1);
    expect(cli.stdout).toContain('parity FAIL');
    const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as ParityResult;
    expect(report.registry.same).toBe(false);
    expect(report.totals.unexplained).toBeGreaterThan(0);
    expect(new Set(report.mismatches.filter((m) => m.class === 'unexplained').map((m) => m.feature))).toEqual(new Set(['watch_time_last_24h']));
    const seen = await renderInChromium(join(out, 'report.html'), join('reports', 'test', 'parity', 'parity-report-broken.png'));
    expect(seen.status).toBe('fail');
  });

  it('reads the broken build with its own registry: its extra tile is found at an as_of long after the data', async () => {
    // The read function returns the raw fields and the reading process computes the windows with
    // the registry it is given. Read with the checkout's registry, this build's values came out
    // as dbt's at an as_of ~22 h after the newest event (0 mismatches): the nightly DAG's as_of,
    // midnight, passed the broken build whenever the day's data ended in the small hours.
    const asOfMs = pipeline.maxIngestMs + 22 * 3_600_000;
    const feature = pipeline.registry.features.find((f) => f.name === 'watch_time_last_24h')!;
    const extraTileStart = (tileIndex(asOfMs, feature.granularityMs) - feature.windowMs / feature.granularityMs) * feature.granularityMs;
    // the broken window's extra tile holds heartbeats, so the builds must disagree there
    const heartbeatAt = (r: (typeof pipeline.workload)[number]): number | null => {
      const parsed = r.kind === 'valid' ? parseEvent(r.source, r.value) : null;
      return parsed?.ok && parsed.event.eventType === 'playback_heartbeat' ? Math.min(parsed.event.eventMs, parsed.event.ingestMs) : null;
    };
    expect(
      pipeline.workload.some((r) => {
        const at = heartbeatAt(r);
        return at !== null && at >= extraTileStart && at < extraTileStart + feature.granularityMs;
      }),
    ).toBe(true);
    const result = await runParity(parityOptionsFor(pipeline, pipeline.stacks.broken, { asOfMs, users: 150, offlineSqlFile, outDir: join('reports', 'test', 'parity', 'broken-hash-read') }));
    expect(result.registry.same).toBe(false);
    expect(result.totals.unexplained).toBeGreaterThan(0);
    expect(new Set(result.mismatches.filter((m) => m.class === 'unexplained').map((m) => m.feature))).toEqual(new Set(['watch_time_last_24h']));
    expect(result.exitCode).toBe(1);
  });
});

/** A sampled user whose online value of `feature` at as_of is positive. */
async function firstUserWith(feature: string, result: ParityResult): Promise<string> {
  const redis = new Redis(REDIS_URL);
  try {
    const reader = new FeatureReader(redis, pipeline.registry, pipeline.stacks.healthy.keyPrefix);
    const users = result.sample.strata.flatMap((s) => s.users);
    const reads = await reader.readMany(users, pipeline.asOfMs);
    const found = users.find((_, i) => Number(reads[i]?.features[feature]?.value ?? 0) > 0);
    if (!found) throw new Error(`no sampled user has ${feature} > 0`);
    return found;
  } finally {
    redis.disconnect();
  }
}
