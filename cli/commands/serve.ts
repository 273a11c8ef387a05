/** `churnfeat serve`: the serving HTTP API until SIGTERM/SIGINT. */
import { loadOptions } from '../../sidecar/src/config/index.ts';
import { SERVE_OPTIONS, startServingService } from '../../sidecar/src/serving/index.ts';
import { say, tableUsage, untilSignal, type Command } from '../command.ts';

export const command: Command = {
  usage: () => tableUsage('serve [options]', 'Runs the serving HTTP API (GET /v1/features/{user_id}, /readyz, /metrics) until SIGTERM/SIGINT.', SERVE_OPTIONS),
  async run(argv) {
    const service = await startServingService(loadOptions(SERVE_OPTIONS, argv));
    say('serve', `listening on ${service.url} (registry ${service.client.registry.version})`);
    return untilSignal('serve', () => service.close());
  },
};
