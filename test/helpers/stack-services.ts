/** Stack services for tests: is a port answering, a free port, start a service unless it is up. */
import { createConnection, createServer } from 'node:net';
import { execa } from 'execa';

/** A TCP port that was free a moment ago (for a child's metrics endpoint, a private server). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Whether something accepts connections on 127.0.0.1:`port` (1 s timeout). */
export function portOpen(port: number): Promise<boolean> {
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

/**
 * Starts a stack service (scripts/stack/start.sh) unless its port already answers; returns
 * a function that stops it again only when this call started it.
 */
export async function ensureStackService(name: 'kafka' | 'redis' | 's3' | 'fakesnow', port: number): Promise<() => Promise<void>> {
  if (await portOpen(port)) return async () => undefined;
  await execa('scripts/stack/start.sh', [name], { stdio: 'inherit' });
  return async () => {
    await execa('scripts/stack/stop.sh', [name], { stdio: 'inherit' });
  };
}
