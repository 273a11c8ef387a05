/**
 * `churnfeat compile`: validates the feature definitions and writes the compiled registry.
 * A thin call of the compile entry (sidecar/src/cli/compile-features.ts) in a child process
 * of the same Node, so its arguments and output stay that entry's own.
 */
import { spawn } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, type Command } from '../command.ts';

// Beside this file's own extension: .js in dist/, .ts when run from source.
const ENTRY = fileURLToPath(new URL(`../../sidecar/src/cli/compile-features${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

export const command: Command = {
  usage: () => `usage: churnfeat compile [dbt_project] [--out FILE]

Validates the feature definitions in the dbt project's YAML meta and prints the compiled
registry (or writes it to FILE). Exits 2 naming the file, the feature and the field when a
definition is invalid.
`,
  run(argv) {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [...process.execArgv, ENTRY, ...argv], { stdio: 'inherit' });
      const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
      process.on('SIGTERM', forward);
      process.on('SIGINT', forward);
      child.on('error', (error) => {
        process.stderr.write(`churnfeat compile: ${error.message}\n`);
        resolve(EXIT.failed);
      });
      child.on('exit', (code, signal) => resolve(code ?? (signal ? EXIT.failed : EXIT.ok)));
    });
  },
};
