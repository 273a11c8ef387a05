/**
 * `churnfeat lake-compact --day D`: rewrites every hourly events object of the closed UTC date
 * D, per source, into user-hash buckets (`--buckets`, 16,384 in production), dropping the rows
 * of erased users (the deletion registry); the commit is one manifest PUT, so readers never see
 * both copies of a row, and a crashed run is finished by the next (docs/deletion.md).
 * Prints one JSON report per source. Exit 0 done (or nothing to do), 1 failed, 2 bad option.
 */
import { loadOptions } from '../../sidecar/src/config/index.ts';
import { UsageError } from '../../sidecar/src/config/option-table.ts';
import { compactionAccounting, compactLakeDay, DeletionRegistry, LAKE_COMPACT_OPTIONS, readCompactionManifest } from '../../sidecar/src/deletion/index.ts';
import { SOURCES } from '../../sidecar/src/events/index.ts';
import { lakeStorageFromUri, S3LakeStorage } from '../../sidecar/src/lake/index.ts';
import { EXIT, tableUsage, type Command } from '../command.ts';

export const command: Command = {
  usage: () => tableUsage('lake-compact --day YYYY-MM-DD [options]', 'Compacts a closed day of the events lake into user-hash buckets (idempotent, resumable).', LAKE_COMPACT_OPTIONS),
  async run(argv) {
    const options = loadOptions(LAKE_COMPACT_OPTIONS, argv);
    if (options.day === '' || Number.isNaN(Date.parse(`${options.day}T00:00:00Z`))) throw new UsageError('--day: a UTC date YYYY-MM-DD is required');
    const today = new Date().toISOString().slice(0, 10);
    if (options.day >= today) throw new UsageError(`--day: ${options.day} is not closed yet (today is ${today} UTC)`);
    const storage = lakeStorageFromUri(options.lakeUri, { endpoint: options.s3Endpoint || undefined });
    try {
      const targets = new Map<string, number>();
      for (const r of await new DeletionRegistry(storage).all()) targets.set(r.user_id, Math.max(targets.get(r.user_id) ?? 0, r.deleted_before_ms));
      for (const source of SOURCES) {
        const report = await compactLakeDay(storage, { source, date: options.day, buckets: options.buckets, targets });
        const manifest = await readCompactionManifest(storage, source, options.day);
        process.stdout.write(`${JSON.stringify({ ...report, accounting: manifest ? compactionAccounting(manifest) : null })}\n`);
      }
      return EXIT.ok;
    } finally {
      if (storage instanceof S3LakeStorage) storage.close();
    }
  },
};
