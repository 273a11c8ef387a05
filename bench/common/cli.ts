/**
 * What every benchmark's command line and harness share (nothing outside bench/ imports it):
 * flags and number flags that exit 2 with the usage on a bad value, and the heap after a full
 * collection.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A reader of number flags for one benchmark: `(text, fallback)` gives `fallback` when the flag is
 * absent, the number when it is one (an integer >= 1 unless `options` says otherwise), and
 * otherwise prints "bad number" and the usage and exits 2.
 */
export function numberFlags(usage: string, options: { integer?: boolean; min?: number } = {}): (text: string | undefined, fallback: number) => number {
  const integer = options.integer ?? true;
  const min = options.min ?? 1;
  return (text, fallback) => {
    const n = text === undefined ? fallback : Number(text);
    if (!(integer ? Number.isInteger(n) : Number.isFinite(n)) || n < min) {
      console.error(`bad number ${text}\n${usage}`);
      process.exit(2);
    }
    return n;
  };
}

/** The heap in use after a full collection (bytes); exposes gc to this process the first time. */
export function heapAfterGc(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/**
 * `parseArgs` that prints what is wrong and the usage, and exits 2, on an unknown flag or a missing
 * value; and prints the usage and exits 0 on `--help` (when the config declares it).
 */
export function parseFlags<T extends ParseArgsConfig>(config: T, usage: string): ReturnType<typeof parseArgs<T>> {
  let parsed: ReturnType<typeof parseArgs<T>>;
  try {
    parsed = parseArgs(config);
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    process.exit(2);
  }
  if ((parsed.values as Record<string, unknown>).help === true) {
    console.log(usage);
    process.exit(0);
  }
  return parsed;
}
