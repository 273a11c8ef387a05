import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SOURCES } from '../../../sidecar/src/events/index.ts';
import { LocalLakeStorage, readAllManifests } from '../../../sidecar/src/lake/index.ts';
import { generateWorkload, prng } from '../../../sidecar/src/loadgen/workload.ts';
import { countLogEvents as count, spawnLakeWriter } from '../../helpers/cli.ts';
import { createTestTopics, produceWorkload, testAdmin } from '../../helpers/kafka.ts';
import { highWatermarks, lakeViolations, landedOffsets, waitUntilLanded } from '../../helpers/lake.ts';
import { testNamespace } from '../../helpers/stack.ts';
import { waitFor } from '../../helpers/wait.ts';

const HOUR = 3_600_000;

describe('lake writer crash recovery', () => {
  it('holds every offset exactly once after the writer is killed with SIGKILL in the middle of flushes', async () => {
    const ns = testNamespace();
    await createTestTopics(ns);
    const end = Math.floor(Date.now() / HOUR) * HOUR - 27 * HOUR;
    // Twelve hours of traffic: flushes regularly span an hour boundary and split into files.
    const workload = generateWorkload({ seed: 99, users: 200, eventsPerUser: 80, startMs: end - 12 * HOUR, endMs: end, invalidShare: 0.02 });
    await produceWorkload(ns, workload);
    const highs = await highWatermarks(
      await testAdmin(),
      SOURCES.map((s) => ns.topics.sources[s]),
    );
    const root = mkdtempSync(join(tmpdir(), 'churnfeat-lake-crash-'));
    onTestFinished(() => rmSync(root, { recursive: true, force: true }));
    const storage = new LocalLakeStorage(root);
    const rand = prng(2024);

    let killedMidFlush = 0;
    let recoveries = 0;
    for (let attempt = 0; attempt < 12 && (killedMidFlush < 3 || attempt < 5); attempt += 1) {
      // A different flush size on every run: the replayed batches never line up with the
      // first attempt's, which is what the manifest's pending range has to absorb.
      const writer = spawnLakeWriter(ns, root, { flushRecords: 150 + Math.floor(rand() * 600) });
      const landedBefore = 1 + Math.floor(rand() * 4);
      await waitFor('the writer to land some files', async () => count(writer.lines, 'landed') >= landedBefore || writer.child.exitCode !== null, { timeoutMs: 60_000, intervalMs: 5 });
      expect(writer.child.exitCode, writer.lines.join('\n')).toBeNull();
      // Kill while a flush is in progress (the manifest carries a pending range) when we can
      // catch one within a second; otherwise wherever the writer is.
      const deadline = Date.now() + 1_000;
      let midFlush = false;
      while (Date.now() < deadline && !midFlush) {
        midFlush = (await readAllManifests(storage)).some((m) => m.pending !== null);
        if (!midFlush) await new Promise((resolve) => setTimeout(resolve, 2));
      }
      writer.child.kill('SIGKILL');
      await writer.exited;
      recoveries += count(writer.lines, 'recovering');
      if ((await readAllManifests(storage)).some((m) => m.pending !== null)) killedMidFlush += 1;
    }

    const final = spawnLakeWriter(ns, root, { flushRecords: 500 });
    await waitUntilLanded(storage, highs, 150_000);
    final.child.kill('SIGTERM');
    expect(await final.exited).toBe(0);
    recoveries += count(final.lines, 'recovering');

    expect(killedMidFlush).toBeGreaterThanOrEqual(1);
    expect(recoveries).toBeGreaterThanOrEqual(1);
    const landed = await landedOffsets(root);
    expect(lakeViolations(landed, highs)).toEqual([]);
    expect(landed.length).toBe(workload.length);
    const manifests = await readAllManifests(storage);
    expect(manifests.every((m) => m.pending === null)).toBe(true);
  }, 600_000);
});
