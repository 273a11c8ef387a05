/**
 * `churnfeat lake-setup`: prepares the raw event lake and applies its retention.
 * s3://: applies the lifecycle rules (events/ and dead_letter/ expire after the retention;
 * other rules on the bucket are kept) and prints them as read back from the bucket;
 * --create-bucket creates a missing bucket (local stand-ins). A folder: creates it; a folder
 * has no lifecycle, so --prune deletes the date partitions older than the retention instead.
 */
import { mkdir } from 'node:fs/promises';
import { COMMON_OPTIONS, defineOption, loadOptions, SCHEMAS } from '../../sidecar/src/config/index.ts';
import { applyLakeLifecycle, LAKE_RETENTION_DAYS, lakeStorageFromUri, LocalLakeStorage, pruneLocalLake, S3LakeStorage } from '../../sidecar/src/lake/index.ts';
import { EXIT, tableUsage, type Command } from '../command.ts';

export const LAKE_SETUP_OPTIONS = {
  lakeUri: COMMON_OPTIONS.lakeUri,
  s3Endpoint: COMMON_OPTIONS.s3Endpoint,
  retentionDays: defineOption<number>({
    kind: 'integer',
    description: 'days events/ and dead_letter/ are kept',
    default: LAKE_RETENTION_DAYS,
    schema: { type: 'integer', minimum: 1 },
  }),
  createBucket: defineOption<boolean>({ kind: 'boolean', description: 'create a missing bucket (s3:// lakes on local stand-ins)', default: false, schema: SCHEMAS.boolean }),
  prune: defineOption<boolean>({ kind: 'boolean', description: 'folder lakes: delete the date partitions older than the retention', default: false, schema: SCHEMAS.boolean }),
} as const;

export const command: Command = {
  usage: () => tableUsage('lake-setup [options]', 'Prepares the raw event lake and applies its retention (S3 lifecycle rules, or --prune on a folder).', LAKE_SETUP_OPTIONS),
  async run(argv) {
    const options = loadOptions(LAKE_SETUP_OPTIONS, argv);
    const days = options.retentionDays;
    const uri = options.lakeUri;
    const storage = lakeStorageFromUri(uri, { endpoint: options.s3Endpoint || undefined });
    if (storage instanceof S3LakeStorage) {
      try {
        if (options.createBucket && (await storage.ensureBucket())) process.stdout.write(`created bucket ${storage.bucket}\n`);
        const rules = await applyLakeLifecycle(storage, days);
        process.stdout.write(`lifecycle of s3://${storage.bucket} (lake ${storage.uri}):\n${JSON.stringify(rules, null, 2)}\n`);
      } catch (error) {
        const e = error as { name?: string; message?: string };
        process.stderr.write(
          e.name === 'NoSuchBucket' ? `churnfeat lake-setup: bucket ${storage.bucket} does not exist (pass --create-bucket to create it)\n` : `churnfeat lake-setup: ${e.message ?? String(error)}\n`,
        );
        return EXIT.usage;
      } finally {
        storage.close();
      }
    } else if (storage instanceof LocalLakeStorage) {
      await mkdir(storage.root, { recursive: true });
      if (options.prune) {
        const removed = await pruneLocalLake(storage.root, days);
        process.stdout.write(`pruned ${removed.length} date partitions older than ${days} days from ${uri}${removed.length ? `:\n  ${removed.join('\n  ')}` : ''}\n`);
      } else {
        process.stdout.write(`lake folder ${uri} ready; a folder has no lifecycle rule: run with --prune to delete partitions older than ${days} days\n`);
      }
    }
    return EXIT.ok;
  },
};
