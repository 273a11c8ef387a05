/**
 * Runs the streaming sidecar until SIGINT/SIGTERM.
 *   npx tsx sidecar/src/cli/sidecar.ts        (options from CHURNFEAT_* env vars)
 * A bad feature definition or option exits 2 with a message naming the file/field/option.
 */
import { createServer } from 'node:http';
import { ChurnfeatError } from '../errors.ts';
import { optionsFromEnv, resolveOptions } from '../config/index.ts';
import { Sidecar } from '../pipeline/index.ts';

async function main(): Promise<void> {
  let sidecar: Sidecar;
  try {
    sidecar = new Sidecar(resolveOptions(optionsFromEnv()));
  } catch (error) {
    if (error instanceof ChurnfeatError) {
      process.stderr.write(`churnfeat sidecar: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  await sidecar.start();
  process.stdout.write(
    `churnfeat sidecar: consuming ${Object.values(sidecar.topics.sources).join(', ')} as group ${sidecar.options.groupId}; ${sidecar.registry.features.length} features (registry ${sidecar.registry.version})\n`,
  );
  const server =
    sidecar.options.metricsPort > 0
      ? createServer((req, res) => {
          if (req.url === '/metrics') {
            void sidecar.metrics.registry.metrics().then((body) => {
              res.writeHead(200, { 'content-type': sidecar.metrics.registry.contentType });
              res.end(body);
            });
          } else {
            res.writeHead(404).end();
          }
        }).listen(sidecar.options.metricsPort, '127.0.0.1')
      : null;
  const shutdown = async (): Promise<void> => {
    server?.close();
    await sidecar.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
  void sidecar.fatal.then(async (error) => {
    process.stderr.write(`churnfeat sidecar: the consumer stopped for good (${error.message}); exiting 1 so the orchestrator restarts it\n`);
    server?.close();
    await sidecar.stop();
    process.exit(1);
  });
}

await main();
