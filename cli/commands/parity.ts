/** `churnfeat parity`: the online/offline parity job (parity/src/cli.ts). */
import { UsageError } from '../../sidecar/src/config/index.ts';
import { PARITY_USAGE, parityMain } from '../../parity/src/cli.ts';
import { EXIT, type Command } from '../command.ts';

export const command: Command = {
  usage: () => PARITY_USAGE,
  async run(argv) {
    try {
      return await parityMain(argv);
    } catch (error) {
      if (error instanceof UsageError) throw error;
      // Exit 2 for any failure to run: the Airflow DAG tells "could not run" (2) from "mismatches" (1).
      process.stderr.write(`churnfeat parity: ${error instanceof Error ? error.message : String(error)}\n`);
      return EXIT.usage;
    }
  },
};
