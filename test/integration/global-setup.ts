import { execa } from 'execa';
import { BROKERS, REDIS_URL, STACK_PORTS } from '../helpers/stack.ts';
import { ensureStackService } from '../helpers/stack-services.ts';

/**
 * Builds dist/ (the compiled CLI the tests start as child processes), starts the local stack
 * once per test run (Kafka and Redis on the project's own ports, idempotent), and stops on
 * teardown only what this run started.
 */
export default async function setup(): Promise<() => Promise<void>> {
  // Which Node runs the tests (and the child processes they start: process.execPath).
  process.stdout.write(`integration tests on node ${process.version} (${process.execPath})\n`);
  // Tests start the compiled CLI (dist/cli/churnfeat.js) as production does: build it first (incremental).
  await execa('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  const stops = [await ensureStackService('kafka', STACK_PORTS.kafka), await ensureStackService('redis', STACK_PORTS.redis)];
  process.env.CHURNFEAT_KAFKA_BROKERS ??= BROKERS.join(',');
  process.env.CHURNFEAT_REDIS_URL ??= REDIS_URL;
  return async () => {
    for (const stop of stops) await stop();
  };
}
