/**
 * `churnfeat lake-writer`: lands the raw source topics in the Parquet lake until
 * SIGTERM/SIGINT, then lands what is buffered and exits 0. Logs one JSON object per line.
 */
import { loadOptions } from '../../sidecar/src/config/index.ts';
import { LAKE_WRITER_OPTIONS, LakeWriter } from '../../sidecar/src/lake/index.ts';
import { tableUsage, untilSignal, type Command } from '../command.ts';
import { startMetricsServer } from './metrics-server.ts';

function log(event: string, fields: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), event, ...fields })}\n`);
}

export const command: Command = {
  usage: () => tableUsage('lake-writer [options]', 'Runs the lake writer until SIGTERM/SIGINT (then lands what is buffered and exits 0).', LAKE_WRITER_OPTIONS),
  async run(argv) {
    const writer = new LakeWriter(loadOptions(LAKE_WRITER_OPTIONS, argv), { log });
    await writer.start();
    const server = startMetricsServer(writer.options.metricsPort, writer.metrics.registry);
    return untilSignal(
      'lake-writer',
      async () => {
        server?.close();
        await writer.stop();
      },
      undefined,
      writer.fatal,
    );
  },
};
