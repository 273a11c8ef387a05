/**
 * The online/offline parity job's command line: `churnfeat parity [run] [options]` and
 * `churnfeat parity compile-sql --out FILE [--dbt-target T]` (also runnable alone:
 * `node dist/parity/src/cli.js ...`). `churnfeat parity --help` lists every option with its
 * env variable and default (parity/src/options.ts).
 *
 * Exit codes: 0 pass, 1 unexplained mismatches above the threshold, 2 the job could not run
 * (bad option included).
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { describeOptions, readArgOptions, readEnvOptions, UsageError } from '../../sidecar/src/config/index.ts';
import { compileOfflineSql } from './dbt.ts';
import { PARITY_OPTIONS, parityOptionsFrom } from './options.ts';
import { runParity, summarizeParity } from './run-parity.ts';

export const PARITY_USAGE = `usage: churnfeat parity [run] [options]        sample users, compare online (Redis) with offline (dbt), write reports
       churnfeat parity compile-sql --out FILE    compile the offline SQL once (e.g. where dbt has the Snowflake adapter)

Exit 0 pass, 1 unexplained mismatches above --threshold, 2 the job could not run.

options:
${describeOptions(PARITY_OPTIONS)}
`;

/** Runs the parity command line; returns the exit code. Throws UsageError on a bad command line. */
export async function parityMain(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, out: (line: string) => void = (line) => void process.stdout.write(line)): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    out(PARITY_USAGE);
    return 0;
  }
  const command = argv[0] === 'compile-sql' || argv[0] === 'run' ? argv[0] : 'run';
  const { options: flags } = readArgOptions(PARITY_OPTIONS, argv[0] === command ? argv.slice(1) : argv);
  const options = parityOptionsFrom({ ...readEnvOptions(PARITY_OPTIONS, env), ...flags }, env);

  if (command === 'compile-sql') {
    if (flags.outDir === undefined) throw new UsageError('compile-sql needs --out FILE');
    const sql = await compileOfflineSql(options.dbt);
    await mkdir(dirname(resolve(flags.outDir)), { recursive: true });
    await writeFile(flags.outDir, `-- churnfeat-parity lake_events=${sql.lakeEvents}\n${sql.pointInTime}\n`);
    out(`compiled parity SQL (lake events: ${sql.lakeEvents}) to ${flags.outDir}\n`);
    return 0;
  }

  out(
    `parity: ${options.users} users at ${options.asOfMs === null ? 'now' : new Date(options.asOfMs).toISOString()}, prefix ${options.keyPrefix}, warehouse ${options.warehouse.kind}${options.dbtBuild ? ' (dbt build first)' : ''} ...\n`,
  );
  const result = await runParity(options);
  out(`${summarizeParity(result)}\n`);
  for (const feature of result.features) {
    out(`  ${feature.name.padEnd(28)} ${String(feature.mismatches).padStart(5)} / ${feature.compared} differ${feature.byClass.unexplained ? ` (${feature.byClass.unexplained} unexplained)` : ''}\n`);
  }
  out(`JSON ${result.reports.json}\nHTML ${result.reports.html}\n`);
  return result.exitCode;
}

// import.meta.main exists from Node 24.2; older Nodes compare the script path, so they reach
// the version check (or run the job) instead of exiting 0 having done nothing.
const isEntry = import.meta.main ?? (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url));
if (isEntry) {
  try {
    process.exitCode = await parityMain(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`parity: ${error instanceof Error ? error.message : String(error)}\n${error instanceof UsageError ? PARITY_USAGE : ''}`);
    process.exitCode = 2;
  }
}
