/**
 * Runs the serving HTTP service until SIGINT/SIGTERM.
 *   npx tsx sidecar/src/cli/serve.ts        (options from CHURNFEAT_* env vars, see serving/serve-options.ts)
 * A bad feature definition or option exits 2 with a message naming the file/field/option.
 */
import { ChurnfeatError } from '../errors.ts';
import { resolveServeOptions, serveOptionsFromEnv, startServingService, type ServingService } from '../serving/index.ts';

async function main(): Promise<void> {
  let service: ServingService;
  try {
    service = await startServingService(resolveServeOptions(serveOptionsFromEnv()));
  } catch (error) {
    if (error instanceof ChurnfeatError) {
      process.stderr.write(`churnfeat serve: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  process.stdout.write(`churnfeat serve: listening on ${service.url} (registry ${service.client.registry.version})\n`);
  const shutdown = async (): Promise<void> => {
    await service.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
}

await main();
