/**
 * Prepares the raw event lake and applies its retention (90 days unless told otherwise).
 *   npx tsx sidecar/src/cli/lake-setup.ts [--lake <folder | s3://bucket/prefix>]
 *       [--retention-days 90] [--create-bucket] [--prune]
 * s3://: applies the lifecycle rules (events/ and dead_letter/ expire after the retention;
 * other rules on the bucket are kept) and prints them as read back from the bucket.
 * --create-bucket creates a missing bucket (local stand-ins). The S3 endpoint comes from
 * CHURNFEAT_S3_ENDPOINT (unset for AWS). A folder: creates it; a folder has no lifecycle,
 * so --prune deletes the date partitions older than the retention instead.
 * Defaults: --lake from CHURNFEAT_LAKE_URI, else CHURNFEAT_LAKE_ROOT, else .cache/lake.
 */
import { mkdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { applyLakeLifecycle, LAKE_RETENTION_DAYS, lakeStorageFromUri, LocalLakeStorage, pruneLocalLake, S3LakeStorage } from '../lake/index.ts';

const { values } = parseArgs({
  options: {
    lake: { type: 'string' },
    'retention-days': { type: 'string', default: String(LAKE_RETENTION_DAYS) },
    'create-bucket': { type: 'boolean', default: false },
    prune: { type: 'boolean', default: false },
  },
});
const uri = values.lake ?? process.env.CHURNFEAT_LAKE_URI ?? process.env.CHURNFEAT_LAKE_ROOT ?? '.cache/lake';
const days = Number(values['retention-days']);
if (!Number.isInteger(days) || days < 1) {
  process.stderr.write(`lake-setup: --retention-days must be a positive integer (got ${values['retention-days']})\n`);
  process.exit(2);
}
const storage = lakeStorageFromUri(uri, { endpoint: process.env.CHURNFEAT_S3_ENDPOINT || undefined });
if (storage instanceof S3LakeStorage) {
  if (values['create-bucket'] && (await storage.ensureBucket())) process.stdout.write(`created bucket ${storage.bucket}\n`);
  const rules = await applyLakeLifecycle(storage, days).catch((error: { name?: string; message?: string }) => {
    process.stderr.write(
      error.name === 'NoSuchBucket' ? `lake-setup: bucket ${storage.bucket} does not exist (pass --create-bucket to create it)\n` : `lake-setup: ${error.message ?? String(error)}\n`,
    );
    process.exit(2);
  });
  process.stdout.write(`lifecycle of s3://${storage.bucket} (lake ${storage.uri}):\n${JSON.stringify(rules, null, 2)}\n`);
  storage.close();
} else if (storage instanceof LocalLakeStorage) {
  await mkdir(storage.root, { recursive: true });
  if (values.prune) {
    const removed = await pruneLocalLake(storage.root, days);
    process.stdout.write(`pruned ${removed.length} date partitions older than ${days} days from ${uri}${removed.length ? `:\n  ${removed.join('\n  ')}` : ''}\n`);
  } else {
    process.stdout.write(`lake folder ${uri} ready; a folder has no lifecycle rule: run with --prune to delete partitions older than ${days} days\n`);
  }
}
