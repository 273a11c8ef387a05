import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { PutBucketLifecycleConfigurationCommand } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { pruneLocalLake, readLakeLifecycle, S3LakeStorage } from '../../../sidecar/src/lake/index.ts';
import { churnfeatArgs } from '../../helpers/cli.ts';
import { ensureStackService } from '../../helpers/stack-services.ts';
import { S3_ENDPOINT } from '../../helpers/stack.ts';

function lakeSetup(args: string[]): Promise<{ exitCode?: number | undefined; all?: string | undefined }> {
  return execa(process.execPath, churnfeatArgs('lake-setup', ...args), {
    env: { CHURNFEAT_S3_ENDPOINT: S3_ENDPOINT },
    all: true,
    reject: false,
    timeout: 60_000,
  });
}

describe('lake retention', () => {
  it('applies the 90-day lifecycle rule to events/ and dead_letter/, keeps other rules, and reads it back', async () => {
    const bucket = `churnfeat-lifecycle-${randomBytes(4).toString('hex')}`;
    const storage = new S3LakeStorage({ bucket, prefix: 'raw/', endpoint: S3_ENDPOINT, forcePathStyle: true });
    onTestFinished(() => storage.close());
    await storage.ensureBucket();
    await storage.client.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: bucket,
        LifecycleConfiguration: { Rules: [{ ID: 'other-team-logs', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 7 } }] },
      }),
    );

    for (let run = 0; run < 2; run += 1) {
      const result = await lakeSetup(['--lake', `s3://${bucket}/raw/`]);
      expect(result.exitCode, result.all).toBe(0);
      expect(result.all).toContain('churnfeat-lake-events-expire-90d');
    }

    const rules = await readLakeLifecycle(storage);
    const byPrefix = new Map(rules.map((rule) => [rule.Filter?.Prefix ?? rule.Prefix, rule]));
    expect(rules).toHaveLength(3);
    for (const prefix of ['raw/events/', 'raw/dead_letter/']) {
      expect(byPrefix.get(prefix)?.Status).toBe('Enabled');
      expect(byPrefix.get(prefix)?.Expiration?.Days).toBe(90);
    }
    expect(byPrefix.get('logs/')?.Expiration?.Days).toBe(7);
    expect(byPrefix.has('raw/_state/')).toBe(false);
  });

  it('creates a missing bucket only when asked', async () => {
    const bucket = `churnfeat-new-${randomBytes(4).toString('hex')}`;
    const refused = await lakeSetup(['--lake', `s3://${bucket}/`]);
    expect(refused.exitCode).not.toBe(0);
    const created = await lakeSetup(['--lake', `s3://${bucket}/`, '--create-bucket', '--retention-days', '30']);
    expect(created.exitCode, created.all).toBe(0);
    const storage = new S3LakeStorage({ bucket, prefix: '', endpoint: S3_ENDPOINT, forcePathStyle: true });
    onTestFinished(() => storage.close());
    expect((await readLakeLifecycle(storage)).map((rule) => rule.Expiration?.Days)).toEqual([30, 30]);
  });

  it('prunes date partitions of a local lake folder older than the retention', async () => {
    const root = mkdtempSync(join(tmpdir(), 'churnfeat-prune-'));
    onTestFinished(() => rmSync(root, { recursive: true, force: true }));
    const now = Date.parse('2025-06-01T12:00:00Z');
    for (const date of ['2025-02-28', '2025-03-03', '2025-05-31']) {
      for (const kind of ['events', 'dead_letter']) {
        const dir = join(root, kind, 'source=client', `date=${date}`, 'hour=00');
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, 'x.parquet'), '');
      }
    }
    const removed = await pruneLocalLake(root, 90, now);
    expect(removed.sort()).toEqual(['dead_letter/source=client/date=2025-02-28', 'events/source=client/date=2025-02-28']);
    expect(readdirSync(join(root, 'events', 'source=client')).sort()).toEqual(['date=2025-03-03', 'date=2025-05-31']);
  });
});

let stopS3: () => Promise<void> = async () => undefined;
beforeAll(async () => {
  stopS3 = await ensureStackService('s3', Number(new URL(S3_ENDPOINT).port));
});
afterAll(async () => {
  await stopS3();
});
