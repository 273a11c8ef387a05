import { createConnection } from 'node:net';
import { execa } from 'execa';

export const S3_ENDPOINT = process.env.CHURNFEAT_S3_ENDPOINT ?? `http://127.0.0.1:${process.env.CHURNFEAT_S3_PORT ?? 15000}`;

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
export async function ensureStackService(name: 's3' | 'fakesnow', port: number): Promise<() => Promise<void>> {
  if (await portOpen(port)) return async () => undefined;
  await execa('scripts/stack/start.sh', [name], { stdio: 'inherit' });
  return async () => {
    await execa('scripts/stack/stop.sh', [name], { stdio: 'inherit' });
  };
}
