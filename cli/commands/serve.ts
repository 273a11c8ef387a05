/** `churnfeat serve`: the serving HTTP API until SIGTERM/SIGINT. */
import { COMMON_OPTIONS, loadOptions } from '../../sidecar/src/config/index.ts';
import { DELETION_OPENAPI_PATHS, DeletionRegistry, deletionOpsProvider, registerDeletionGauges, registerDeletionRoutes } from '../../sidecar/src/deletion/index.ts';
import { lakeStorageFromUri } from '../../sidecar/src/lake/index.ts';
import { SERVE_OPTIONS, startServingService } from '../../sidecar/src/serving/index.ts';
import { say, tableUsage, untilSignal, type Command } from '../command.ts';

/** The serving options, plus where the deletion registry lives (the admin endpoint POST /admin/v1/deletions and the SLA gauge). */
export const SERVE_COMMAND_OPTIONS = { ...SERVE_OPTIONS, lakeUri: COMMON_OPTIONS.lakeUri, s3Endpoint: COMMON_OPTIONS.s3Endpoint } as const;

export const command: Command = {
  usage: () => tableUsage('serve [options]', 'Runs the serving HTTP API (GET /v1/features/{user_id}, /readyz, /metrics) until SIGTERM/SIGINT.', SERVE_COMMAND_OPTIONS),
  async run(argv) {
    const { lakeUri, s3Endpoint, ...options } = loadOptions(SERVE_COMMAND_OPTIONS, argv);
    const deletions = new DeletionRegistry(lakeStorageFromUri(lakeUri, { endpoint: s3Endpoint || undefined }));
    const service = await startServingService(options, undefined, {
      adminRoutes: (scope) => registerDeletionRoutes(scope, deletions),
      adminOpenApi: DELETION_OPENAPI_PATHS,
      opsProviders: [deletionOpsProvider(deletions)],
    });
    registerDeletionGauges(service.metrics.registry, deletions);
    say('serve', `listening on ${service.url} (registry ${service.client.registry.version})`);
    return untilSignal('serve', () => service.close());
  },
};
