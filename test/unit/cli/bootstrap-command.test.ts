import { describe, expect, it } from 'vitest';
import { main } from '../../../cli/churnfeat.ts';
import { defaultVersionGroup } from '../../../sidecar/src/bootstrap/index.ts';

async function run(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text) });
  return { code, stdout, stderr };
}

describe('churnfeat bootstrap command line', () => {
  it('lists its options with their env variables and defaults', async () => {
    const { code, stdout } = await run('bootstrap', '--help');
    expect(code).toBe(0);
    for (const text of [
      '--cut-only',
      '--dry-run',
      '--rebuild',
      '--dbt-build',
      '--batch-users',
      'CHURNFEAT_BOOTSTRAP_BATCH_USERS',
      'CHURNFEAT_BOOTSTRAP_GROUP',
      '--warehouse-table',
      '--no-progress',
      '--users',
      'CHURNFEAT_BOOTSTRAP_USERS',
    ])
      expect(stdout).toContain(text);
  });

  it.each([
    [['--batch-users', '0'], 'batch-users'],
    [['--version', 'a b'], 'version'],
    [['--warehouse-table', 'x; drop table y'], 'warehouse-table'],
    [['--no-such-flag'], 'no-such-flag'],
    [['--users', '3'], 'users'],
    [['--users', '0/3'], 'users'],
    [['--users', '4/3'], 'users'],
  ])('exits 2 with the usage on %j, naming the option', async (argv, name) => {
    const { code, stderr } = await run('bootstrap', ...argv);
    expect(code).toBe(2);
    expect(stderr).toContain(name);
  });

  it('derives the version sidecar group from the version', () => {
    expect(defaultVersionGroup('abc123')).toBe('churnfeat-sidecar-abc123');
  });
});
