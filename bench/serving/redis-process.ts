/**
 * A private redis-server for the benchmark, so a million bench users never land in the
 * shared development Redis and INFO memory measures the bench alone. Stopped by its pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { waitForRedis } from '../../sidecar/src/config/index.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface RedisProcess {
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/**
 * CPU seconds (user + system) a process has used so far, from /proc: a cost that does not
 * inflate when other processes compete for the cores, unlike wall-clock latency.
 */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after "pid (comm) ".
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** USER_HZ: 100 on Linux. */
const CLOCK_TICKS = 100;

/** Starts `redis-server` on a free loopback port without persistence and waits for PING. */
export async function startRedisServer(extraArgs: string[] = []): Promise<RedisProcess> {
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', ...extraArgs], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `redis://127.0.0.1:${port}`;
  try {
    await waitForRedis(url, { exited: () => child.exitCode !== null });
  } catch (error) {
    throw new Error(`redis-server did not start on port ${port}`, { cause: error });
  }
  return {
    url,
    port,
    pid: child.pid as number,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.pid === undefined) return resolve();
        child.once('exit', () => resolve());
        process.kill(child.pid, 'SIGTERM');
      }),
  };
}

/** Machine-wide CPU seconds from /proc/stat: busy (user..softirq), steal (taken by the hypervisor) and idle. */
export function machineCpuSeconds(): { busy: number; steal: number; idle: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] as string;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  return {
    busy: ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0)) / CLOCK_TICKS,
    steal: (steal ?? 0) / CLOCK_TICKS,
    idle: ((idle ?? 0) + (iowait ?? 0)) / CLOCK_TICKS,
  };
}
