import { execa } from 'execa';
import { STACK_PORTS } from '../helpers/stack.ts';
import { ensureStackService } from '../helpers/stack-services.ts';

/**
 * Builds dist/ (the tests start the compiled CLI), starts the high-availability clusters of
 * scripts/stack/ha.sh once for the whole group (3-broker Kafka, Redis primary + replica with
 * three Sentinels, a 3-master Redis Cluster) and the stack's single Redis, and stops on
 * teardown what it started (CHURNFEAT_HA_KEEP=1 keeps the clusters for the next run).
 */
export default async function setup(): Promise<() => Promise<void>> {
  await execa('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  const stopRedis = await ensureStackService('redis', STACK_PORTS.redis);
  await execa('scripts/stack/ha.sh', ['start', 'all'], { stdio: 'inherit' });
  return async () => {
    if (process.env.CHURNFEAT_HA_KEEP !== '1') await execa('scripts/stack/ha.sh', ['stop', 'all'], { stdio: 'inherit' });
    await stopRedis();
  };
}
