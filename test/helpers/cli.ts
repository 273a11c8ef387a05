/** The compiled churnfeat CLI in tests: its arguments, and a sidecar running as a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { onTestFinished } from 'vitest';
import type { RecordVerdict } from '../../sidecar/src/metrics/index.ts';
import { freePort } from './stack-services.ts';
import type { TestNamespace } from './stack.ts';

/**
 * The compiled `churnfeat` CLI, as production runs it (`node dist/cli/churnfeat.js <command>`).
 * The integration global setup builds dist/ first (npm run build).
 */
export const CHURNFEAT_CLI = 'dist/cli/churnfeat.js';

/** Arguments for `spawn(process.execPath, churnfeatArgs('sidecar', ...))`. */
export function churnfeatArgs(command: string, ...args: string[]): string[] {
  return [CHURNFEAT_CLI, command, ...args];
}

export type Totals = Record<RecordVerdict | 'consumed', number>;

/** A sidecar running as its own process (`churnfeat sidecar`, compiled), as in production. */
export interface ChildSidecar {
  pid: number;
  /** The process's own record counters, scraped from its /metrics endpoint (they die with it). */
  totals(): Promise<Totals>;
  /** Everything the process wrote to stdout and stderr. */
  output(): string;
  /** kill -9, and wait for the process to be gone. */
  kill(): Promise<void>;
  /** SIGTERM (graceful stop), and wait for the exit. */
  stop(): Promise<void>;
  exited(): boolean;
}

/** Parses the conservation counters out of a Prometheus text exposition. */
export function parseTotals(text: string): Totals {
  const totals: Totals = { consumed: 0, applied: 0, duplicate: 0, replayed: 0, deleted: 0, too_late: 0, invalid: 0, irrelevant: 0 };
  for (const line of text.split('\n')) {
    const verdict = /^churnfeat_records_total\{[^}]*verdict="([a-z_]+)"[^}]*\} ([0-9.e+]+)$/.exec(line);
    if (verdict) totals[verdict[1] as RecordVerdict] += Number(verdict[2]);
    const consumed = /^churnfeat_records_consumed_total\{[^}]*\} ([0-9.e+]+)$/.exec(line);
    if (consumed) totals.consumed += Number(consumed[1]);
  }
  return totals;
}

/** Starts `node dist/cli/churnfeat.js sidecar` with the namespace's CHURNFEAT_* settings. */
export async function spawnSidecar(ns: TestNamespace): Promise<ChildSidecar> {
  const metricsPort = await freePort();
  const child: ChildProcess = spawn(process.execPath, churnfeatArgs('sidecar'), {
    env: {
      ...process.env,
      CHURNFEAT_KAFKA_BROKERS: ns.options.brokers.join(','),
      CHURNFEAT_REDIS_URL: ns.options.redisUrl,
      CHURNFEAT_KEY_PREFIX: ns.options.keyPrefix,
      CHURNFEAT_TOPIC_NAMESPACE: ns.options.topicNamespace,
      CHURNFEAT_GROUP_ID: ns.options.groupId,
      CHURNFEAT_METRICS_PORT: String(metricsPort),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let gone = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      gone = true;
      resolve();
    }),
  );
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const handle: ChildSidecar = {
    pid: child.pid as number,
    async totals() {
      const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      return parseTotals(await response.text());
    },
    output: () => out,
    exited: () => gone,
    async kill() {
      if (!gone) child.kill('SIGKILL');
      await exit;
    },
    async stop() {
      if (!gone) child.kill('SIGTERM');
      await exit;
    },
  };
  onTestFinished(() => handle.kill());
  return handle;
}
