/**
 * bench/cost/run.ts reads the newest results file of each kind. A fresh clone gives every file
 * the same mtime, so the newest is the latest date in the name first, and only then the latest
 * written. Runs the script as a process (nothing imports bench/) on a results folder of its own.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const memory = (kb: number) => ({ summary: { kbPerDailyActiveUser: kb, stateKbPerDailyActiveUser: 5, redisCpuMicrosPerRead: 30 } });
const peer = { sidecar: { eventsPerCpuSecond: 30_000, redisMicrosPerEvent: 20 } };
const profile = { parquetBytesRead: 1_000_000, parquetRowsScanned: 40_000, processCpuS: 1 };
const offline = {
  compression: { dayFile: 3, hourlyFiles: 1.5, rawBytesPerEvent: 300, parquetBytesPerEventDay: 100 },
  sizes: [
    {
      days: 2,
      lakeRecords: 40_000,
      lakeParquetBytes: 4_000_000,
      intFeatureEventsRows: 30_000,
      lookbackHours: { project: 48, hourly: 2 },
      featureReachMs: 31 * 86_400_000,
      profiles: {
        fullRefresh: profile,
        incremental: profile,
        incrementalHourlyLookback: { parquetBytesRead: 10_000, parquetRowsScanned: 2_000, processCpuS: 0.05 },
        usersSeen: profile,
        fctUserFeatures: profile,
        fctFeatureTiles: profile,
      },
    },
  ],
};

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the cost script on `dir`; its exit status and stderr (0 and '' when it succeeds). */
function runCost(): { status: number; stderr: string } {
  try {
    execFileSync(process.execPath, ['--import', 'tsx', 'bench/cost/run.ts', '--results-dir', dir], { encoding: 'utf8', stdio: 'pipe' });
    return { status: 0, stderr: '' };
  } catch (error) {
    return { status: (error as { status: number }).status, stderr: String((error as { stderr: string }).stderr) };
  }
}

function write(name: string, content: unknown, mtimeS: number): void {
  writeFileSync(join(dir, name), JSON.stringify(content));
  utimesSync(join(dir, name), mtimeS, mtimeS);
}

describe('the cost model reads the newest results of each kind', () => {
  it('takes the latest date in the name over a later mtime, and the latest mtime within a date', () => {
    dir = mkdtempSync(join(tmpdir(), 'churnfeat-cost-'));
    const now = Date.now() / 1000;
    write('memory-2026-12-02-protocol7.json', memory(12), now - 3600);
    write('memory-2026-12-01-zzz-written-last.json', memory(99), now);
    write('peer-2026-12-01-a.json', peer, now - 60);
    write('peer-2026-12-01-b.json', peer, now - 120);
    write('offline-2026-12-01.json', offline, now);
    execFileSync(process.execPath, ['--import', 'tsx', 'bench/cost/run.ts', '--results-dir', dir], { encoding: 'utf8' });
    const bill = readdirSync(dir).find((f) => f.startsWith('cost-')) as string;
    const result = JSON.parse(readFileSync(join(dir, bill), 'utf8')) as { inputs: Record<string, string>; sizing: { memoryGb: number }; bill: Record<string, number> };
    expect(result.inputs.memory).toBe(join(dir, 'memory-2026-12-02-protocol7.json'));
    expect(result.inputs.peer).toBe(join(dir, 'peer-2026-12-01-a.json'));
    expect(result.inputs.offline).toBe(join(dir, 'offline-2026-12-01.json'));
    // 6.25M users x 12 KB + 9.75M x 5 KB
    expect(result.sizing.memoryGb).toBe(124);
    expect(result.bill.lakeS3).toBeGreaterThan(0);
  });

  it('exits 2 naming the missing kind when a results file is missing', () => {
    dir = mkdtempSync(join(tmpdir(), 'churnfeat-cost-'));
    write('memory-2026-12-01.json', memory(12), Date.now() / 1000);
    const { status, stderr } = runCost();
    expect(status).toBe(2);
    expect(stderr).toContain('peer-*.json');
  });

  it('exits 2 naming the file and the rerun when the offline results predate the scheduled runs', () => {
    dir = mkdtempSync(join(tmpdir(), 'churnfeat-cost-'));
    const now = Date.now() / 1000;
    write('memory-2026-12-01.json', memory(12), now);
    write('peer-2026-12-01.json', peer, now);
    const [size] = offline.sizes;
    const { usersSeen: _usersSeen, ...olderProfiles } = size!.profiles;
    write('offline-2026-12-01.json', { ...offline, sizes: [{ ...size, profiles: olderProfiles }] }, now);
    const { status, stderr } = runCost();
    expect(status).toBe(2);
    expect(stderr).toContain('offline-2026-12-01.json');
    expect(stderr).toContain('usersSeen');
    expect(stderr).toContain('bench/offline/run.ts');
  });
});
