/**
 * The compiled `churnfeat` CLI, as production runs it (`node dist/cli/churnfeat.js <command>`).
 * The integration global setup builds dist/ first (npm run build).
 */
export const CHURNFEAT_CLI = 'dist/cli/churnfeat.js';

/** Arguments for `spawn(process.execPath, churnfeatArgs('sidecar', ...))`. */
export function churnfeatArgs(command: string, ...args: string[]): string[] {
  return [CHURNFEAT_CLI, command, ...args];
}
