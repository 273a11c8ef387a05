/**
 * `churnfeat sidecar`: the streaming sidecar (Kafka -> window operators -> Redis) until
 * SIGTERM/SIGINT, then it drains (finishes the batch in flight, commits) and exits 0.
 */
import { loadOptions, SIDECAR_OPTIONS } from '../../sidecar/src/config/index.ts';
import { Sidecar } from '../../sidecar/src/pipeline/index.ts';
import { say, tableUsage, untilSignal, type Command } from '../command.ts';
import { startMetricsServer } from './metrics-server.ts';

export const command: Command = {
  usage: () => tableUsage('sidecar [options]', 'Runs the streaming sidecar until SIGTERM/SIGINT (then drains and exits 0).', SIDECAR_OPTIONS),
  async run(argv) {
    const sidecar = new Sidecar(loadOptions(SIDECAR_OPTIONS, argv));
    await sidecar.start();
    say(
      'sidecar',
      `consuming ${Object.values(sidecar.topics.sources).join(', ')} as group ${sidecar.groupId}; ${sidecar.registry.features.length} features (registry ${sidecar.registry.version}, ${sidecar.versionState})`,
    );
    const server = startMetricsServer(sidecar.options.metricsPort, sidecar.metrics.registry);
    return untilSignal(
      'sidecar',
      async () => {
        server?.close();
        await sidecar.stop();
      },
      undefined,
      sidecar.fatal,
    );
  },
};
