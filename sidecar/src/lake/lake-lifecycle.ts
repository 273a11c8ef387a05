import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { GetBucketLifecycleConfigurationCommand, PutBucketLifecycleConfigurationCommand, type LifecycleRule } from '@aws-sdk/client-s3';
import { LAKE_KINDS } from './lake-layout.ts';
import type { S3LakeStorage } from './lake-storage.ts';

/** Days the raw lake keeps an object (events and dead letters). */
export const LAKE_RETENTION_DAYS = 90;

const RULE_PREFIX = 'churnfeat-lake-';

/** The lake's lifecycle rules: expire events/ and dead_letter/ after `days`; manifests stay. */
export function lakeLifecycleRules(prefix: string, days: number = LAKE_RETENTION_DAYS): LifecycleRule[] {
  return LAKE_KINDS.map((kind) => ({
    ID: `${RULE_PREFIX}${kind}-expire-${days}d`,
    Status: 'Enabled',
    Filter: { Prefix: `${prefix}${kind}/` },
    Expiration: { Days: days },
    AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
  }));
}

async function currentRules(storage: S3LakeStorage): Promise<LifecycleRule[]> {
  try {
    const current = await storage.client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: storage.bucket }));
    return current.Rules ?? [];
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchLifecycleConfiguration') return [];
    throw error;
  }
}

/**
 * Applies the lake's lifecycle rules to the bucket, keeping every rule that is not the
 * lake's own for this prefix (a PUT replaces the bucket's whole configuration).
 * Returns the rules as read back from the bucket.
 */
export async function applyLakeLifecycle(storage: S3LakeStorage, days: number = LAKE_RETENTION_DAYS): Promise<LifecycleRule[]> {
  const ours = lakeLifecycleRules(storage.prefix, days);
  const ourPrefixes = new Set(ours.map((rule) => rule.Filter?.Prefix));
  const others = (await currentRules(storage)).filter((rule) => !(rule.ID?.startsWith(RULE_PREFIX) && ourPrefixes.has(rule.Filter?.Prefix ?? rule.Prefix)));
  await storage.client.send(new PutBucketLifecycleConfigurationCommand({ Bucket: storage.bucket, LifecycleConfiguration: { Rules: [...others, ...ours] } }));
  return readLakeLifecycle(storage);
}

/** The bucket's lifecycle rules as S3 reports them. */
export async function readLakeLifecycle(storage: S3LakeStorage): Promise<LifecycleRule[]> {
  return currentRules(storage);
}

/**
 * The local folder's stand-in for the lifecycle rule (a folder has none): deletes the
 * date= partitions of events/ and dead_letter/ older than `days` before `nowMs`.
 * Returns the partition folders removed, relative to the lake root.
 */
export async function pruneLocalLake(root: string, days: number = LAKE_RETENTION_DAYS, nowMs: number = Date.now()): Promise<string[]> {
  const cutoff = new Date(nowMs - days * 86_400_000).toISOString().slice(0, 10);
  const removed: string[] = [];
  for (const kind of LAKE_KINDS) {
    const sources = await readdir(join(root, kind)).catch(() => [] as string[]);
    for (const source of sources) {
      for (const date of await readdir(join(root, kind, source)).catch(() => [] as string[])) {
        const match = /^date=(\d{4}-\d{2}-\d{2})$/.exec(date);
        if (match && (match[1] as string) < cutoff) {
          await rm(join(root, kind, source, date), { recursive: true, force: true });
          removed.push(`${kind}/${source}/${date}`);
        }
      }
    }
  }
  return removed;
}
