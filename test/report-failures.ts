/**
 * The end of `make test`'s output: every failed test of the vitest groups, read from the JSON
 * reports the groups wrote (reports/tests/<group>.json), so the last lines of a CI log name what
 * failed even when the group's own report scrolled out of sight hours earlier.
 *
 *   node test/report-failures.ts reports/tests/*.json
 *
 * Prints one line per failed test (file, test name, the first line of its error) and the
 * per-group counts; exits 0 whatever it finds (the Makefile keeps the groups' own exit codes).
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, relative } from 'node:path';

/** The part of vitest's JSON reporter output (Jest's format) that this reads. */
interface JsonReport {
  numTotalTests: number;
  numFailedTests: number;
  numPassedTests: number;
  testResults: {
    name: string;
    status: string;
    message?: string;
    assertionResults: { fullName: string; status: string; failureMessages?: string[]; duration?: number | null }[];
  }[];
}

function firstLine(text: string | undefined): string {
  const line = (text ?? '').split('\n').find((l) => l.trim() !== '') ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

for (const path of process.argv.slice(2)) {
  const group = basename(path, '.json');
  if (!existsSync(path)) {
    console.log(`[tests] ${group}: no report (the group did not run to its end)`);
    continue;
  }
  let report: JsonReport;
  try {
    report = JSON.parse(readFileSync(path, 'utf8')) as JsonReport;
  } catch (err) {
    console.log(`[tests] ${group}: unreadable report ${path}: ${(err as Error).message}`);
    continue;
  }
  console.log(`[tests] ${group}: ${report.numPassedTests} passed, ${report.numFailedTests} failed of ${report.numTotalTests}`);
  for (const file of report.testResults) {
    const name = relative(process.cwd(), file.name);
    const failed = file.assertionResults.filter((t) => t.status === 'failed');
    // a file that failed outside any test (import error, hook timeout) has no failed assertion
    if (failed.length === 0 && file.status === 'failed') console.log(`[tests]   FAIL ${name}: ${firstLine(file.message)}`);
    for (const t of failed) console.log(`[tests]   FAIL ${name} > ${t.fullName}: ${firstLine(t.failureMessages?.[0])}`);
  }
}
