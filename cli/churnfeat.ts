#!/usr/bin/env node
/**
 * `churnfeat <command> [options]`: the one command line of the project (package.json `bin`).
 * Each command runs in this process, so SIGTERM/SIGINT reach the service itself, which then
 * drains. Exit codes: 0 ok, 1 a check or the job failed (a start failure, Redis or Kafka
 * unreachable, is one line: its code and message), 2 bad command line, option or feature
 * definition (nothing ran). No credential of a URL is ever printed. `churnfeat <command> --help` lists a command's options
 * with their env variables and defaults.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ChurnfeatError } from '../sidecar/src/errors.ts';
import { UsageError } from '../sidecar/src/config/option-table.ts';
import { redactSecrets } from '../sidecar/src/config/redact.ts';
import { EXIT, type Command } from './command.ts';

/** The commands, loaded on use (so `churnfeat --help` loads no Kafka, Redis or DuckDB client). */
export const COMMANDS: Record<string, { summary: string; load: () => Promise<{ command: Command }> }> = {
  sidecar: { summary: 'the streaming sidecar: Kafka -> window operators -> Redis, until SIGTERM', load: () => import('./commands/sidecar.ts') },
  serve: { summary: 'the serving HTTP API over the online store, until SIGTERM', load: () => import('./commands/serve.ts') },
  'lake-writer': { summary: 'lands the raw source topics in the Parquet lake, until SIGTERM', load: () => import('./commands/lake-writer.ts') },
  'lake-compact': { summary: 'compacts a closed day of the events lake into user-hash buckets (erasure rewrites one object per user and day)', load: () => import('./commands/lake-compact.ts') },
  'lake-setup': { summary: 'prepares the lake and applies its retention (S3 lifecycle or --prune)', load: () => import('./commands/lake-setup.ts') },
  canary: { summary: 'the freshness canary (probe events timed until readable); --once for one round', load: () => import('./commands/canary.ts') },
  compile: { summary: 'validates the feature definitions and prints the compiled registry', load: () => import('./commands/compile.ts') },
  loadgen: { summary: 'a deterministic, realistic event stream to Kafka and/or an NDJSON file', load: () => import('./commands/loadgen.ts') },
  parity: { summary: 'the online/offline parity job (exit 1: unexplained mismatches)', load: () => import('./commands/parity.ts') },
  'dead-letters': { summary: 'inspect the dead-letter topic, or replay selected dead letters after a fix (audited, once each)', load: () => import('./commands/dead-letters.ts') },
  version: { summary: 'the lifecycle of registry versions: list | status | cutover | rollback | retire | gc | diff | audit', load: () => import('./commands/version.ts') },
  explain: { summary: 'what produced a served feature value: tiles, offsets, watermarks, registry version; --offline: the lake rows', load: () => import('./commands/explain.ts') },
  topics: { summary: "apply: the raw topics' deletion-SLA retention (48 h, 6 h segments) on existing topics; --dry-run", load: () => import('./commands/topics.ts') },
  delete: { summary: 'GDPR/CCPA erasure: request | status | run | verify (every store, 72 h SLA)', load: () => import('./commands/delete.ts') },
  bootstrap: { summary: "loads a registry version's state from the warehouse, cut at exact offsets; resumable; --rebuild after a Redis loss", load: () => import('./commands/bootstrap.ts') },
  demo: { summary: 'the whole pipeline end to end on the local stack, then parity', load: () => import('./commands/demo.ts') },
};

/** The top-level usage text. */
export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length)) + 2;
  const rows = Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(width)}${summary}`);
  return `usage: churnfeat <command> [options]     churnfeat <command> --help

commands:
${rows.join('\n')}

Exit codes: 0 ok, 1 a check or the job failed, 2 bad command line, option or feature definition.
Options come from flags, else CHURNFEAT_* environment variables, else their defaults.
`;
}

/** Error codes of a service that could not start (a dependency unreachable, a version or bootstrap refused): exit 1, one line, no stack. */
const START_FAILURES: ReadonlySet<string> = new Set(['redis_unavailable', 'kafka_unavailable', 'version_refused', 'bootstrap_refused']);

/** The smallest Node major the project runs on (package.json engines). */
export const MIN_NODE_MAJOR = 24;

/** Streams the CLI writes to (tests pass their own). */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

const PROCESS_IO: CliIo = { stdout: (text) => void process.stdout.write(text), stderr: (text) => void process.stderr.write(text) };

/** Runs `churnfeat` with the arguments after the program name; resolves to the exit code. */
export async function main(argv: readonly string[], io: CliIo = PROCESS_IO): Promise<number> {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < MIN_NODE_MAJOR) {
    io.stderr(`churnfeat needs Node >= ${MIN_NODE_MAJOR}, this is ${process.version} (make install puts the pinned Node in .tools/node)\n`);
    return EXIT.usage;
  }
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr(usage());
    return EXIT.usage;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    io.stdout(usage());
    return EXIT.ok;
  }
  const entry = COMMANDS[name];
  if (entry === undefined) {
    io.stderr(`churnfeat: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return EXIT.usage;
  }
  const { command } = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(command.usage());
    return EXIT.ok;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`churnfeat ${name}: ${error.message}\n\n${command.usage()}`);
      return EXIT.usage;
    }
    if (error instanceof ChurnfeatError && (error.code === 'invalid_config' || error.code === 'invalid_feature_definition')) {
      io.stderr(`churnfeat ${name}: ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof ChurnfeatError && START_FAILURES.has(error.code)) {
      // An expected condition (the orchestrator restarts us), not a bug: no stack trace.
      io.stderr(`churnfeat ${name}: ${error.code}: ${redactSecrets(error.message)}\n`);
      return EXIT.failed;
    }
    io.stderr(`churnfeat ${name}: ${redactSecrets(error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`);
    return EXIT.failed;
  }
}

/**
 * kafkajs 2.2.4 arms timers with a negative delay (tulios/kafkajs#1751, unfixed upstream);
 * Node 24 clamps them to 1 ms, as Node 20 did silently, and warns once per process. Only
 * that warning type is dropped, so it does not read as a fault in every service's log.
 */
function dropTimeoutNegativeWarning(): void {
  const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const first = rest[0];
    const type = typeof first === 'string' ? first : ((first as { type?: string } | undefined)?.type ?? (warning instanceof Error ? warning.name : undefined));
    if (type === 'TimeoutNegativeWarning') return;
    emitWarning(warning, ...rest);
  }) as typeof process.emitWarning;
}

// import.meta.main exists from Node 24.2; older Nodes compare the script path, so they reach
// the version check (or run the job) instead of exiting 0 having done nothing.
const isEntry = import.meta.main ?? (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url));
if (isEntry) {
  dropTimeoutNegativeWarning();
  // Services leave no reason to linger once they have drained: exit with their code.
  process.exit(await main(process.argv.slice(2)));
}
