import { describeOptions, type OptionTable } from '../sidecar/src/config/index.ts';

/** The exit codes of every churnfeat command. */
export const EXIT = {
  /** Done, or drained after SIGTERM/SIGINT. */
  ok: 0,
  /** A check failed (parity, canary --once, demo), or the job failed while running. */
  failed: 1,
  /** Bad command line, bad option or bad feature definition: nothing ran. */
  usage: 2,
} as const;

/** One subcommand of `churnfeat`. */
export interface Command {
  /** The text `churnfeat <name> --help` prints. */
  usage(): string;
  /** Runs the command with the arguments after its name; resolves to the exit code. */
  run(argv: readonly string[]): Promise<number>;
}

/** Usage text of a command whose flags are an option table (plus any lines of its own). */
export function tableUsage(synopsis: string, about: string, table: OptionTable, extra = ''): string {
  return `usage: churnfeat ${synopsis}\n\n${about}\n\nOptions (flag > env variable > default):\n${describeOptions(table)}\n${extra}`;
}

/** A progress or status line on stdout, prefixed with the command's name. */
export function say(name: string, line: string): void {
  process.stdout.write(`churnfeat ${name}: ${line}\n`);
}

/** How long a service may take to drain after SIGTERM/SIGINT before it exits 1 anyway (under Kubernetes' default 30 s grace period). */
export const DRAIN_DEADLINE_MS = 25_000;

/**
 * Resolves once the service has drained after SIGTERM or SIGINT: `stop` runs once; 0 when
 * it finished in time, 1 when it failed or passed the deadline. A second signal exits at once (1).
 */
export function untilSignal(name: string, stop: () => Promise<void>, deadlineMs = DRAIN_DEADLINE_MS, fatal?: Promise<Error>): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    // A consumer kafkajs stopped for good: exit 1 so the orchestrator restarts the process,
    // rather than leave it alive and consuming nothing.
    void fatal?.then(async (error) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`churnfeat ${name}: the consumer stopped for good (${error.message}); exiting 1 so the orchestrator restarts it\n`);
      await stop().catch(() => undefined);
      resolve(EXIT.failed);
    });
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        process.stderr.write(`churnfeat ${name}: second ${signal}, exiting without finishing the drain\n`);
        process.exit(EXIT.failed);
      }
      stopping = true;
      process.stderr.write(`churnfeat ${name}: ${signal}, draining (at most ${deadlineMs / 1000} s)\n`);
      const timer = setTimeout(() => {
        process.stderr.write(`churnfeat ${name}: drain took longer than ${deadlineMs / 1000} s, exiting\n`);
        resolve(EXIT.failed);
      }, deadlineMs);
      timer.unref();
      stop().then(
        () => {
          clearTimeout(timer);
          process.stderr.write(`churnfeat ${name}: stopped\n`);
          resolve(EXIT.ok);
        },
        (error: unknown) => {
          clearTimeout(timer);
          process.stderr.write(`churnfeat ${name}: drain failed: ${error instanceof Error ? error.message : String(error)}\n`);
          resolve(EXIT.failed);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
