/**
 * `churnfeat lake-writer`: lands the raw source topics in the Parquet lake until
 * SIGTERM/SIGINT, then lands what is buffered and exits 0. Logs one JSON object per line.
 */
import { loadOptions } from '../../sidecar/src/config/index.ts';
import { DeletionRegistry, ErasedUsers } from '../../sidecar/src/deletion/index.ts';
import { LAKE_WRITER_OPTIONS, LakeWriter, lakeStorageFromUri } from '../../sidecar/src/lake/index.ts';
import { tableUsage, untilSignal, type Command } from '../command.ts';
import { startMetricsServer } from './metrics-server.ts';

function log(event: string, fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), event, ...fields })}\n`);
}

export const command: Command = {
  usage: () => tableUsage('lake-writer [options]', 'Runs the lake writer until SIGTERM/SIGINT (then lands what is buffered and exits 0).', LAKE_WRITER_OPTIONS),
  async run(argv) {
    const options = loadOptions(LAKE_WRITER_OPTIONS, argv);
    const storage = lakeStorageFromUri(options.lakeUri, { endpoint: options.s3Endpoint || undefined });
    // Erased users' records from before their erasure never land (docs/deletion.md).
    const erasedUsers = new ErasedUsers(new DeletionRegistry(storage));
    await erasedUsers.start((error) => log('erased_users_refresh_failed', { error: String(error) }));
    const writer = new LakeWriter(options, { log, storage, erased: erasedUsers.erased });
    await writer.start();
    const server = startMetricsServer(writer.options.metricsPort, writer.metrics.registry);
    return untilSignal(
      'lake-writer',
      async () => {
        server?.close();
        erasedUsers.stop();
        await writer.stop();
      },
      undefined,
      writer.fatal,
    );
  },
};
