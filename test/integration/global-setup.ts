import { execa } from 'execa';
import { createConnection } from 'node:net';

/**
 * Builds dist/ (the compiled CLI the tests start as child processes), starts the local stack
 * once per test run (Kafka and Redis on the project's own ports, idempotent), and stops on
 * teardown only what this run started.
 */
const SERVICES = [
  { name: 'kafka', port: Number(process.env.CHURNFEAT_KAFKA_PORT ?? 19092) },
  { name: 'redis', port: Number(process.env.CHURNFEAT_REDIS_PORT ?? 16379) },
] as const;

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export default async function setup(): Promise<() => Promise<void>> {
  // Which Node runs the tests (and the child processes they start: process.execPath).
  process.stdout.write(`integration tests on node ${process.version} (${process.execPath})\n`);
  // Tests start the compiled CLI (dist/cli/churnfeat.js) as production does: build it first (incremental).
  await execa('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  const started: string[] = [];
  for (const service of SERVICES) {
    if (await portOpen(service.port)) continue;
    await execa('scripts/stack/start.sh', [service.name], { stdio: 'inherit' });
    started.push(service.name);
  }
  process.env.CHURNFEAT_KAFKA_BROKERS ??= `127.0.0.1:${SERVICES[0].port}`;
  process.env.CHURNFEAT_REDIS_URL ??= `redis://127.0.0.1:${SERVICES[1].port}`;
  return async () => {
    for (const name of started) await execa('scripts/stack/stop.sh', [name], { stdio: 'inherit' });
  };
}
