/** The compiled churnfeat CLI in tests: its arguments, and a sidecar running as a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { onTestFinished } from 'vitest';
import type { RecordVerdict } from '../../sidecar/src/metrics/index.ts';
import { freePort } from './stack-services.ts';
import { BROKERS, REDIS_CLUSTER, REDIS_URL, type TestNamespace } from './stack.ts';

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
  /** Its whole /metrics exposition. */
  metricsText(): Promise<string>;
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

/** Starts `node dist/cli/churnfeat.js sidecar` with the namespace's CHURNFEAT_* settings (and `env`, e.g. CHURNFEAT_DEDUP). */
export async function spawnSidecar(ns: TestNamespace, env: NodeJS.ProcessEnv = {}): Promise<ChildSidecar> {
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
      ...env,
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
    async metricsText() {
      // A pooled keep-alive socket can be reset by the server just as it is reused (a process
      // woken from SIGSTOP closes its idle sockets at once): one fresh retry, then the error.
      for (let attempt = 1; ; attempt++) {
        try {
          const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { headers: { connection: 'close' } });
          return await response.text();
        } catch (error) {
          if (attempt >= 3 || gone) throw error;
        }
      }
    },
    async totals() {
      return parseTotals(await handle.metricsText());
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

/** A lake writer in a child process (`churnfeat lake-writer`: one process, so SIGKILL hits the writer itself). */
export interface WriterProcess {
  child: ChildProcess;
  /** Its stdout lines so far (one JSON log line each). */
  lines: string[];
  exited: Promise<number | null>;
}

/** Starts `node dist/cli/churnfeat.js lake-writer` on the namespace's topics, landing in `lakeRoot`; killed when the test ends. */
export function spawnLakeWriter(ns: TestNamespace, lakeRoot: string, options: { flushRecords: number; flushIntervalMs?: number; clientId?: string }): WriterProcess {
  const child = spawn(process.execPath, churnfeatArgs('lake-writer', ...(options.clientId ? ['--client-id', options.clientId] : [])), {
    env: {
      ...process.env,
      CHURNFEAT_KAFKA_BROKERS: BROKERS.join(','),
      CHURNFEAT_TOPIC_NAMESPACE: ns.options.topicNamespace,
      CHURNFEAT_LAKE_GROUP_ID: `${ns.id}-lake`,
      CHURNFEAT_LAKE_URI: lakeRoot,
      CHURNFEAT_LAKE_FLUSH_RECORDS: String(options.flushRecords),
      CHURNFEAT_LAKE_FLUSH_INTERVAL_MS: String(options.flushIntervalMs ?? 300),
      CHURNFEAT_LAKE_SESSION_TIMEOUT_MS: '6000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop() ?? '';
    lines.push(...parts);
  });
  const stderr: string[] = [];
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  void exited.then(() => {
    if (stderr.length > 0 && child.signalCode === null) process.stderr.write(`lake writer stderr:\n${stderr.join('')}`);
  });
  return { child, lines, exited };
}

/** How many of a child's JSON log lines have `"event":"<event>"`. */
export function countLogEvents(lines: readonly string[], event: string): number {
  return lines.filter((line) => line.includes(`"event":"${event}"`)).length;
}

/** What one run of the compiled CLI printed, and its exit code. */
export interface CliRun {
  code: number | null;
  stdout: string;
  /** stdout and stderr interleaved, for assertion messages. */
  output: string;
}

/** Runs `node dist/cli/churnfeat.js <command> <args>` to its end; `env` is added to this process's. */
export function runChurnfeat(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, churnfeatArgs(command, ...args), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let output = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      output += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, output }));
  });
}

/** The CLI flags that point a command at the test Redis (`--redis-cluster` too when it is the Cluster). */
export function redisCliArgs(): string[] {
  return ['--redis-url', REDIS_URL, ...(REDIS_CLUSTER ? ['--redis-cluster'] : [])];
}

/** The arguments of `churnfeat bootstrap` of `version` from a test's lake and warehouse into base prefix `prefix` (its group `<prefix>-g`), then `args`. */
export function bootstrapCliArgs(ns: TestNamespace, load: { version: string; lakeRoot: string; duckdbPath: string }, prefix: string, ...args: string[]): string[] {
  return [
    '--version',
    load.version,
    '--lake',
    load.lakeRoot,
    '--duckdb-path',
    load.duckdbPath,
    '--topic-namespace',
    ns.options.topicNamespace,
    ...redisCliArgs(),
    '--brokers',
    ns.options.brokers.join(','),
    '--no-progress',
    '--key-prefix',
    prefix,
    '--group',
    `${prefix}-g`,
    ...args,
  ];
}
